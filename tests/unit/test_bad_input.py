"""Bad input is refused with our own error, and nothing is sent.

The public methods of both clients' repositories and install-job handles are found by
introspection; every parameter of each has a kind in ``bad_values`` (a method or a
parameter the table does not name fails ``test_the_table_names_every_public_method``),
and every bad value of that kind must raise ``InvalidArgumentError`` with no request
counted at the transport (respx), not even the version check.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import respx

from invokeai_py_client import (
    AsyncDnnModelRepository,
    AsyncInvokeAIClient,
    AsyncModelInstJobHandle,
    DnnModelRepository,
    InvokeAIClient,
    InvokeAIError,
    ModelInstJobHandle,
)
from invokeai_py_client.dnn_model import ModelInstJobInfo
from invokeai_py_client.errors import InvalidArgumentError
from tests.unit import bad_values as table
from tests.unit.conftest import BASE_URL, body, replay

CLASSES: dict[type, dict[str, dict[str, str]]] = {
    DnnModelRepository: table.REPOSITORY,
    AsyncDnnModelRepository: table.REPOSITORY,
    ModelInstJobHandle: table.HANDLE,
    AsyncModelInstJobHandle: table.HANDLE,
}
VALID = {"repository": table.VALID_REPOSITORY, "handle": table.VALID_HANDLE}
METHODS = [("repository", m) for m in table.REPOSITORY] + [("handle", m) for m in table.HANDLE]

# Any value, of any kind: whatever happens, only our exceptions come out.
ANY_BAD: list[Any] = [
    None, 0, -1, 3.5, True, b"bytes", object(), [], {}, "", "   ", ".", "..", "a/b",
    table.LONG, table.NAN, ["a", None], [1, 2], {"nmae": "x"},
]  # fmt: skip


def public_methods(cls: type) -> dict[str, list[str]]:
    """Every public method of ``cls`` (found by introspection) and its parameters."""
    found = {}
    for name, member in inspect.getmembers(cls):
        if name.startswith("_") or isinstance(inspect.getattr_static(cls, name), property):
            continue
        if callable(member):
            params = inspect.signature(member).parameters
            found[name] = [p for p in params if p not in ("self", "cls")]
    return found


@pytest.mark.parametrize("cls", list(CLASSES), ids=lambda c: c.__name__)
def test_the_table_names_every_public_method(cls: type) -> None:
    kinds = CLASSES[cls]
    found = public_methods(cls)
    assert sorted(found) == sorted(kinds), "a public method has no entry in bad_values"
    for method, params in found.items():
        assert sorted(params) == sorted(kinds[method]), f"{cls.__name__}.{method}"
        assert all(kinds[method][p] in table.REFUSED for p in params)


def test_every_valid_call_names_its_arguments() -> None:
    for family, method in METHODS:
        kinds = (table.REPOSITORY if family == "repository" else table.HANDLE)[method]
        assert set(VALID[family].get(method, {})) == set(kinds), method


@pytest.fixture
def mocked() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        replay(router, "version")
        router.route().mock(return_value=httpx.Response(418, json={"detail": "teapot"}))
        yield router


INFO = ModelInstJobInfo.model_validate(body("install_201_inplace"))  # status: running


class Target:
    """The repository and a handle of one client, and the substitutes of a valid call."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.repo = client.dnn_model_repo
        self.job = self.repo._handle(INFO)

    def obj(self, family: str) -> Any:
        return self.repo if family == "repository" else self.job

    def args(self, family: str, method: str, **changed: Any) -> dict[str, Any]:
        def real(value: Any) -> Any:
            stand_ins = {id(table.JOB): self.job, id(table.CLIENT): self.client}
            if isinstance(value, list):
                return [real(v) for v in value]
            return stand_ins.get(id(value), INFO if value is table.INFO else value)

        return {k: real(v) for k, v in {**VALID[family].get(method, {}), **changed}.items()}


def _cases(family: str, method: str) -> Iterator[tuple[str, Any, bool]]:
    """(parameter, value, answered None) for every bad value of every parameter."""
    kinds = (table.REPOSITORY if family == "repository" else table.HANDLE)[method]
    for param, kind in kinds.items():
        for value in table.REFUSED[kind]:
            yield param, value, False
        for value in table.ANSWERED_NONE.get(kind, []):
            yield param, value, True


def _check(outcome: Any, answered_none: bool, sent: int, where: str) -> list[str]:
    problems = []
    if sent:
        problems.append(f"{where}: {sent} request(s) sent")
    if answered_none:
        if outcome is not None:
            problems.append(f"{where}: not None but {outcome!r:.80}")
    elif not isinstance(outcome, InvalidArgumentError):
        problems.append(f"{where}: {type(outcome).__name__}: {outcome!r:.100}")
    return problems


@pytest.mark.parametrize(("family", "method"), METHODS, ids=lambda v: v)
def test_sync_refuses_bad_input_unsent(mocked: respx.MockRouter, family: str, method: str) -> None:
    problems: list[str] = []
    with InvokeAIClient(BASE_URL, max_retries=0, verify=False, events=False) as client:
        target = Target(client)
        for param, value, answered_none in _cases(family, method):
            before = mocked.calls.call_count
            try:
                outcome = getattr(target.obj(family), method)(
                    **target.args(family, method, **{param: value})
                )
                if inspect.isgenerator(outcome):
                    outcome = list(outcome)
            except Exception as err:
                outcome = err
            where = f"{method}({param}={value!r:.40})"
            problems += _check(outcome, answered_none, mocked.calls.call_count - before, where)
    assert not problems, "\n".join(problems)
    assert mocked.calls.call_count == 0


async def _call_async(call: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    result = call(**kwargs)
    if inspect.isasyncgen(result):
        return [item async for item in result]
    return await result


@pytest.mark.parametrize(("family", "method"), METHODS, ids=lambda v: v)
def test_async_refuses_bad_input_unsent(mocked: respx.MockRouter, family: str, method: str) -> None:
    async def run() -> list[str]:
        problems: list[str] = []
        async with AsyncInvokeAIClient(BASE_URL, max_retries=0, verify=False, events=False) as c:
            target = Target(c)
            for param, value, answered_none in _cases(family, method):
                before = mocked.calls.call_count
                call = getattr(target.obj(family), method)
                try:
                    outcome = await _call_async(call, target.args(family, method, **{param: value}))
                except Exception as err:
                    outcome = err
                where = f"async {method}({param}={value!r:.40})"
                problems += _check(outcome, answered_none, mocked.calls.call_count - before, where)
        return problems

    problems = asyncio.run(run())
    assert not problems, "\n".join(problems)
    assert mocked.calls.call_count == 0


def test_valid_calls_are_not_refused(mocked: respx.MockRouter) -> None:
    """The table's valid calls pass the checks (so each refusal above is the bad value's)."""
    refused = []
    with InvokeAIClient(BASE_URL, max_retries=0, verify=False, events=False) as client:
        target = Target(client)
        for family, method in METHODS:
            try:
                result = getattr(target.obj(family), method)(**target.args(family, method))
                if inspect.isgenerator(result):
                    list(result)
            except InvalidArgumentError as err:
                refused.append(f"{method}: {err}")
            except InvokeAIError:
                pass  # the server under test answers 418 to everything
    assert not refused, "\n".join(refused)
    assert mocked.calls.call_count > len(METHODS) // 2


def _any_bad_cases() -> list[tuple[str, str, str, Any]]:
    return [
        (family, method, param, bad)
        for family, method in METHODS
        for param in (table.REPOSITORY if family == "repository" else table.HANDLE)[method]
        for bad in ANY_BAD
    ]


def test_any_value_raises_only_our_errors_sync(mocked: respx.MockRouter) -> None:
    raw = []
    with InvokeAIClient(BASE_URL, max_retries=0, verify=False, events=False) as client:
        target = Target(client)
        for family, method, param, bad in _any_bad_cases():
            try:
                result = getattr(target.obj(family), method)(
                    **target.args(family, method, **{param: bad})
                )
                if inspect.isgenerator(result):
                    list(result)
            except InvokeAIError:
                pass
            except Exception as err:
                raw.append(f"{method}({param}={bad!r:.30}): {type(err).__name__}: {err}")
    assert not raw, "\n".join(raw)
    assert len(_any_bad_cases()) > 1000


def test_any_value_raises_only_our_errors_async(mocked: respx.MockRouter) -> None:
    async def run() -> list[str]:
        raw = []
        async with AsyncInvokeAIClient(BASE_URL, max_retries=0, verify=False, events=False) as c:
            target = Target(c)
            for family, method, param, bad in _any_bad_cases():
                call = getattr(target.obj(family), method)
                try:
                    await _call_async(call, target.args(family, method, **{param: bad}))
                except InvokeAIError:
                    pass
                except Exception as err:
                    raw.append(f"{method}({param}={bad!r:.30}): {type(err).__name__}: {err}")
        return raw

    raw = asyncio.run(run())
    assert not raw, "\n".join(raw)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": "2"},
        {"max_retries": -1},
        {"max_retries": 1.5},
        {"timeout": "30"},
        {"timeout": -1},
        {"timeout": 0},
        {"timeout": float("nan")},
        {"token": 123},
        {"verify": 3},
        {"verify": "/no/such/ca-bundle.pem"},
        {"http_client": "x"},
    ],
    ids=repr,
)
def test_bad_client_settings(kwargs: dict[str, Any]) -> None:
    for cls in (InvokeAIClient, AsyncInvokeAIClient):
        with pytest.raises(InvalidArgumentError):
            cls(BASE_URL, **{"verify": False, **kwargs})  # no CA bundle to load: faster
    for cls in (InvokeAIClient, AsyncInvokeAIClient):
        if set(kwargs) <= {"timeout", "max_retries"}:
            with pytest.raises(InvalidArgumentError):
                cls(BASE_URL, verify=False).with_options(**kwargs)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "non-empty"),
        ("   ", "non-empty"),
        ("ftp://h:9090", "not an http"),
        ("h:9090", "not an http"),
        ("http://", "not an http"),
        ("http:// /", "not an http"),
        ("http://h:port", "not an http"),
    ],
)
def test_bad_server_urls(url: str, says: str) -> None:
    for cls in (InvokeAIClient, AsyncInvokeAIClient):
        with pytest.raises(InvalidArgumentError, match=says):
            cls(url, verify=False)
