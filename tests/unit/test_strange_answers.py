"""Strange answers with status 200, per route family: the documented outcome, naming the
route (docs/errors.md, "Strange answers").

Non-JSON text, an HTML page, truncated JSON, an empty body (with and without a JSON
content type) and JSON of the wrong shape raise ``UnexpectedResponseError`` naming the
method and the route, on every route that answers JSON; routes that answer nothing
take an empty body; one malformed record in a tolerant list is kept with a
``ResponseShapeWarning`` naming the route and the record.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from invokeai_py_client import AsyncInvokeAIClient, InvokeAIClient
from invokeai_py_client.errors import ResponseShapeWarning, UnexpectedResponseError
from tests.unit.conftest import BASE_URL, V2, body, replay

Call = Callable[[Any], Any]  # the repository -> the result (a coroutine on the async one)

# route family -> (method, path, call, a real answer of the route)
JSON_ROUTES: dict[str, tuple[str, str, Call, Any]] = {
    "list": ("GET", f"{V2}/", lambda r: r.list_models(), body("models_list")),
    "get": ("GET", f"{V2}/i/k", lambda r: r.get_model_by_key("k"), body("model_get_lora_sd1")),
    "get by attrs": (
        "GET",
        f"{V2}/get_by_attrs",
        lambda r: r.get_model_by_attrs("n", "lora", "sd-1"),
        body("model_get_by_attrs"),
    ),
    "get by hash": (
        "GET",
        f"{V2}/get_by_hash",
        lambda r: r.get_model_by_hash("h"),
        body("model_get_by_hash"),
    ),
    "missing": ("GET", f"{V2}/missing", lambda r: r.list_missing_models(), body("models_missing")),
    "models dir": (
        "GET",
        "/api/v1/app/runtime_config",
        lambda r: r.get_models_dir(),
        body("runtime_config"),
    ),
    "install": (
        "POST",
        f"{V2}/install",
        lambda r: r.install_model("/m/x.safetensors"),
        body("install_201_inplace"),
    ),
    "job list": ("GET", f"{V2}/install", lambda r: r.list_install_jobs(), body("install_jobs")),
    "job": ("GET", f"{V2}/install/1", lambda r: r.get_install_job(1), body("install_job_running")),
    "job action": (
        "POST",
        f"{V2}/install/1/pause",
        lambda r: r.pause_install_job(1),
        body("install_pause"),
    ),
    "update": (
        "PATCH",
        f"{V2}/i/k",
        lambda r: r.update_model("k", {"name": "n"}),
        body("model_update"),
    ),
    "convert": (
        "PUT",
        f"{V2}/convert/k",
        lambda r: r.convert_model("k"),
        body("model_get_lora_sd1"),
    ),
    "reidentify": (
        "POST",
        f"{V2}/i/k/reidentify",
        lambda r: r.reidentify_model("k"),
        body("model_reidentify"),
    ),
    "bulk delete": (
        "POST",
        f"{V2}/i/bulk_delete",
        lambda r: r.bulk_delete_models(["k"]),
        body("models_bulk_delete"),
    ),
    "stats": ("GET", f"{V2}/stats", lambda r: r.get_stats(), body("stats")),
    "hf status": ("GET", f"{V2}/hf_login", lambda r: r.hf_status(), body("hf_login_status")),
    "hf login": ("POST", f"{V2}/hf_login", lambda r: r.hf_login("t"), body("hf_login_status")),
    "hf files": (
        "GET",
        f"{V2}/hugging_face",
        lambda r: r.list_huggingface_files("o/r"),
        {"urls": ["https://h/x.safetensors"], "is_diffusers": False},
    ),
    "starters": (
        "GET",
        f"{V2}/starter_models",
        lambda r: r.list_starter_models(),
        body("starter_models"),
    ),
    "scan": ("GET", f"{V2}/scan_folder", lambda r: r.scan_folder("/m"), body("scan_folder")),
    "orphaned": (
        "GET",
        f"{V2}/sync/orphaned",
        lambda r: r.list_orphaned_models(),
        body("orphaned_list"),
    ),
}
NOTHING_ROUTES: dict[str, tuple[str, str, Call]] = {
    "delete": ("DELETE", f"{V2}/i/k", lambda r: r.delete_model("k")),
    "prune": ("DELETE", f"{V2}/install", lambda r: r.prune_install_jobs()),
    "empty cache": ("POST", f"{V2}/empty_model_cache", lambda r: r.empty_model_cache()),
}
VERSION = "/api/v1/app/version"
HTML = "<!doctype html><html><head><title>Invoke</title></head><body></body></html>"


def strange(good: Any) -> dict[str, httpx.Response]:
    """The strange answers to a route whose real answer is ``good``."""
    text = json.dumps(good)
    return {
        "non-JSON text": httpx.Response(200, text="OK", headers={"content-type": "text/plain"}),
        "HTML page": httpx.Response(200, text=HTML, headers={"content-type": "text/html"}),
        "truncated JSON": httpx.Response(
            200,
            content=text[: len(text) // 2].encode(),
            headers={"content-type": "application/json"},
        ),
        "empty JSON body": httpx.Response(200, headers={"content-type": "application/json"}),
        "empty body": httpx.Response(200),
        "wrong shape": httpx.Response(200, json=[1] if isinstance(good, dict) else {"x": 1}),
    }


def answered(route: tuple[str, str], response: httpx.Response, call: Call, is_async: bool) -> Any:
    """The result of ``call`` when ``route`` answers ``response`` (or what it raised)."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        replay(router, "version")
        router.route(method=route[0], path=route[1]).mock(return_value=response)
        try:
            if not is_async:
                with InvokeAIClient(BASE_URL, max_retries=0, verify=False, events=False) as c:
                    return call(c.dnn_model_repo)

            async def run() -> Any:
                async with AsyncInvokeAIClient(BASE_URL, max_retries=0, verify=False) as c:
                    return await call(c.dnn_model_repo)

            return asyncio.run(run())
        except Exception as err:
            return err


def problems_of(family: str, is_async: bool) -> list[str]:
    method, path, call, good = JSON_ROUTES[family]
    found = []
    for case, response in strange(good).items():
        if family == "stats" and case == "wrong shape":
            continue  # covered below: a list is no stats, but [1] is a list
        outcome = answered((method, path), response, call, is_async)
        ok = (
            isinstance(outcome, UnexpectedResponseError)
            and (outcome.method, outcome.route, outcome.status_code) == (method, path, 200)
            and f"{method} {path} -> 200: " in str(outcome)
        )
        if not ok:
            found.append(f"{family} / {case}: {type(outcome).__name__}: {outcome!r:.120}")
    return found


@pytest.mark.parametrize("family", list(JSON_ROUTES))
def test_json_routes_refuse_strange_answers_naming_the_route(family: str) -> None:
    assert problems_of(family, is_async=False) == []


def test_the_async_client_refuses_them_the_same() -> None:
    found = [p for family in JSON_ROUTES for p in problems_of(family, is_async=True)]
    assert found == []


@pytest.mark.parametrize("family", list(NOTHING_ROUTES))
def test_routes_answering_nothing_take_an_empty_body_and_refuse_a_page(family: str) -> None:
    method, path, call = NOTHING_ROUTES[family]
    for response in (httpx.Response(200), httpx.Response(204)):
        assert answered((method, path), response, call, False) is True
    for text, kind in ((HTML, "text/html"), ("OK", "text/plain")):
        page = httpx.Response(200, text=text, headers={"content-type": kind})
        outcome = answered((method, path), page, call, False)
        assert isinstance(outcome, UnexpectedResponseError), outcome
        assert f"{method} {path} -> 200: expected no content" in str(outcome)


def test_a_cover_image_route_refuses_an_html_page() -> None:
    record = {**body("model_get_lora_sd1"), "key": "k", "cover_image": "k.webp"}
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        router.get(f"{V2}/i/k").respond(json=record)
        router.get(f"{V2}/i/k/image").respond(200, text=HTML, headers={"content-type": "text/html"})
        client = InvokeAIClient(BASE_URL, max_retries=0, verify=False, events=False)
        with client, pytest.raises(UnexpectedResponseError, match=rf"GET {V2}/i/k/image -> 200"):
            client.dnn_model_repo.get_model_image("k")


def test_the_version_route_refuses_strange_answers() -> None:
    for response in strange({"version": "6.14.2"}).values():
        with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
            router.get(VERSION).mock(return_value=response)
            client = InvokeAIClient(BASE_URL, max_retries=0, verify=False, events=False)
            with client, pytest.raises(UnexpectedResponseError, match=f"GET {VERSION} -> 200"):
                client.server_version()


# -- one malformed record in a list ------------------------------------------------------

# tolerant list family -> (path, call, the answer with its records, where they are, id field)
TOLERANT: dict[str, tuple[str, Call, Any, str | None, str]] = {
    "list": (f"{V2}/", lambda r: r.list_models(), body("models_list"), "models", "key"),
    "missing": (
        f"{V2}/missing",
        lambda r: r.list_missing_models(),
        body("models_missing"),
        "models",
        "key",
    ),
    "job list": (
        f"{V2}/install",
        lambda r: r.list_install_jobs(),
        body("install_jobs"),
        None,
        "id",
    ),
    "scan": (f"{V2}/scan_folder", lambda r: r.scan_folder("/m"), body("scan_folder"), None, "path"),
    "orphaned": (
        f"{V2}/sync/orphaned",
        lambda r: r.list_orphaned_models(),
        body("orphaned_list"),
        None,
        "path",
    ),
}
BAD_FIELD = {  # a declared field of each list's records
    "list": "type",
    "missing": "base",
    "job list": "bytes",
    "scan": "is_installed",
    "orphaned": "size_bytes",
}


def with_one_bad(answer: Any, where: str | None, bad: Any) -> tuple[Any, list[Any]]:
    records = list(answer[where] if where else answer)
    assert records, "the fixture has records"
    records[-1] = bad(records[-1])
    return ({**answer, where: records} if where else records), records


@pytest.mark.parametrize("family", list(TOLERANT))
def test_one_malformed_record_is_kept_with_a_warning_naming_the_route(family: str) -> None:
    path, call, answer, where, id_field = TOLERANT[family]
    field = BAD_FIELD[family]
    payload, records = with_one_bad(answer, where, lambda r: {**r, field: {"not": "a value"}})
    response = httpx.Response(200, json=payload)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        result = answered(("GET", path), response, call, False)
    assert isinstance(result, list) and len(result) == len(records), result
    kept = result[-1].info if family == "job list" else result[-1]
    assert kept.extra[field] == {"not": "a value"}
    shape = [w for w in seen if issubclass(w.category, ResponseShapeWarning)]
    assert len(shape) == 1
    message = str(shape[0].message)
    assert message.startswith(f"GET {path}: record {records[-1][id_field]!r}") and field in message


@pytest.mark.parametrize("family", list(TOLERANT))
def test_a_list_item_that_is_no_object_raises_naming_the_route(family: str) -> None:
    path, call, answer, where, _ = TOLERANT[family]
    payload, _ = with_one_bad(answer, where, lambda r: 42)
    outcome = answered(("GET", path), httpx.Response(200, json=payload), call, False)
    assert isinstance(outcome, UnexpectedResponseError)
    assert f"GET {path} -> 200: a list item is not a" in str(outcome)


@pytest.mark.parametrize(
    ("family", "bad"),
    [
        ("starters", lambda a: {**a, "starter_models": [*a["starter_models"][:-1], {"name": 1}]}),
        ("bulk delete", lambda a: {**a, "failed": [{"key": {"k": 1}}]}),
        ("hf files", lambda a: {**a, "urls": "not a list"}),
        ("stats", lambda a: {**a, "loaded_model_sizes": {"k": "big"}}),
    ],
)
def test_one_malformed_item_of_an_object_answer_raises_naming_the_route(
    family: str, bad: Callable[[Any], Any]
) -> None:
    method, path, call, good = JSON_ROUTES[family]
    outcome = answered((method, path), httpx.Response(200, json=bad(good)), call, False)
    assert isinstance(outcome, UnexpectedResponseError), outcome
    assert f"{method} {path} -> 200: the answer does not fit" in str(outcome)
