"""The invokeai.models.model module's decisions, offline: each run against a fake server
(respx) that keeps records and install jobs, counting every write.

``FakeServer`` and ``run_module`` are shared with the other ``test_ansible_*`` files.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx
import pytest
import respx
from ansible.module_utils.testing import patch_module_args

from ansible_collections.invokeai.models.plugins.module_utils import invokeai as utils
from ansible_collections.invokeai.models.plugins.modules import model as model_module
from invokeai_py_client import InvokeAIClient
from tests.unit.conftest import BASE_URL, V2, body, replay

SECRET = "tok-ansible-SECRET-77c1"
LORA = "/srv/models/detail-lora.safetensors"
KEY = re.compile(rf"{V2}/i/(?P<key>[^/]+)$")


def record(source: str, **fields: Any) -> dict[str, Any]:
    """A LoRA record as 6.14.2 sends it, for ``source``."""
    data: dict[str, Any] = copy.deepcopy(body("model_get_lora_sd1"))
    stem = source.rsplit("/", 1)[-1].split(".")[0]
    data.update(key=f"key-{stem}", name=stem, source=source, path=source, hash=f"blake3:{stem}")
    data.update(fields)
    return data


class FakeServer:
    """Records and install jobs in memory; ``writes`` lists every write as
    ``(method, path, query, body)``. An install of a source with ``missing`` in it is
    refused (409); one with ``broken`` ends in error; others complete at once. Installs
    keep ``name`` and ``description`` and drop the other settings, as 6.14.2 does."""

    def __init__(self, router: respx.MockRouter, models: Sequence[dict[str, Any]] = ()) -> None:
        self.models = {m["key"]: copy.deepcopy(m) for m in models}
        self.jobs: list[dict[str, Any]] = []
        self.writes: list[tuple[str, str, dict[str, str], Any]] = []
        self.reads: list[str] = []
        replay(router, "version")
        router.get(f"{V2}/").mock(side_effect=self.listing)
        router.get(f"{V2}/get_by_attrs").mock(side_effect=self.by_attrs)
        router.post(f"{V2}/install").mock(side_effect=self.install)
        router.get(f"{V2}/install").mock(side_effect=lambda r: self.read(r, self.jobs))
        router.get(url__regex=rf"{V2}/install/\d+$").mock(side_effect=self.job)
        router.get(url__regex=KEY.pattern).mock(side_effect=self.get)
        router.patch(url__regex=KEY.pattern).mock(side_effect=self.patch)
        router.delete(url__regex=KEY.pattern).mock(side_effect=self.delete)

    def read(self, request: httpx.Request, answer: Any, status: int = 200) -> httpx.Response:
        self.reads.append(f"{request.method} {request.url.path}")
        return httpx.Response(status, json=answer)

    def write(self, request: httpx.Request) -> Any:
        content = json.loads(request.content) if request.content else None
        params = dict(request.url.params)
        self.writes.append((request.method, request.url.path, params, content))
        return content

    def listing(self, request: httpx.Request) -> httpx.Response:
        wanted = request.url.params
        found = [
            m
            for m in self.models.values()
            if all(
                m.get(f) == wanted[q]
                for q, f in (("model_type", "type"), ("model_name", "name"))
                if q in wanted
            )
            and ("base_models" not in wanted or m["base"] in wanted.get_list("base_models"))
        ]
        return self.read(request, {"models": found})

    def by_attrs(self, request: httpx.Request) -> httpx.Response:
        p = request.url.params
        for m in self.models.values():
            if (m["name"], m["type"], m["base"]) == (p["name"], p["type"], p["base"]):
                return self.read(request, m)
        return self.read(request, {"detail": "model not found"}, 404)

    def get(self, request: httpx.Request, key: str) -> httpx.Response:
        if key in self.models:
            return self.read(request, self.models[key])
        return self.read(request, {"detail": "model not found"}, 404)

    def patch(self, request: httpx.Request, key: str) -> httpx.Response:
        changes = self.write(request)
        self.models[key].update(changes)
        return httpx.Response(200, json=self.models[key])

    def delete(self, request: httpx.Request, key: str) -> httpx.Response:
        self.write(request)
        if self.models.pop(key, None) is None:
            return httpx.Response(404, json={"detail": "model not found"})
        return httpx.Response(204)

    def install(self, request: httpx.Request) -> httpx.Response:
        config = self.write(request)
        source = request.url.params["source"]
        if "missing" in source:
            return httpx.Response(409, json={"detail": f"Unsupported model source: '{source}'"})
        job: dict[str, Any] = copy.deepcopy(body("install_job_completed_inplace"))
        job.update(id=len(self.jobs), config_in=config, local_path=source)
        job["source"] = {"path": source, "inplace": True, "type": "local"}
        if "broken" in source:
            job.update(
                status="error",
                error_reason="InvalidModelConfigException",
                error="Unable to determine model type",
                config_out=None,
            )
        else:
            kept = {k: config[k] for k in ("name", "description") if config.get(k)}
            made = record(source, **kept)
            self.models[made["key"]] = made
            job["config_out"] = made
        self.jobs.append(job)
        return httpx.Response(201, json=job)

    def job(self, request: httpx.Request) -> httpx.Response:
        job_id = int(request.url.path.rsplit("/", 1)[1])
        return self.read(request, self.jobs[job_id])


class OfflineClient(InvokeAIClient):
    """The module's client, without the event stream or retries (nothing to connect to)."""

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> InvokeAIClient:
        return InvokeAIClient.from_url(url, events=False, max_retries=0, **kwargs)


RunModule = Callable[..., dict[str, Any]]


@pytest.fixture
def run_module(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunModule]:
    """``run_module(main, **args)``: the module's JSON result, with ``rc`` (0 or 1);
    ``url`` is the fake server's unless given (``url=None``: not given)."""
    monkeypatch.setattr(utils, "InvokeAIClient", OfflineClient)

    def run(main: Callable[[], None], **args: Any) -> dict[str, Any]:
        capsys.readouterr()
        params = {"url": BASE_URL, **args}
        if params["url"] is None:  # not given at all: the module falls back to INVOKEAI_URL
            del params["url"]
        with patch_module_args(params), pytest.raises(SystemExit) as ended:
            main()
        result: dict[str, Any] = json.loads(capsys.readouterr().out)
        result["rc"] = ended.value.code
        return result

    yield run


@pytest.fixture
def server(router: respx.MockRouter) -> FakeServer:
    return FakeServer(router, [record(LORA, name="Detail LoRA", description="old")])


def test_matching_model_is_kept_with_one_list_request(
    server: FakeServer, run_module: RunModule
) -> None:
    result = run_module(
        model_module.main, source=LORA, name="Detail LoRA", config={"description": "old"}
    )
    assert (result["rc"], result["changed"], result["action"]) == (0, False, "keep")
    assert result["model"]["key"] == "key-detail-lora"
    assert server.writes == []
    assert server.reads == [f"GET {V2}/"]


def test_a_differing_setting_is_one_update(server: FakeServer, run_module: RunModule) -> None:
    result = run_module(
        model_module.main, source=LORA, config={"description": "new"}, _ansible_diff=True
    )
    assert (result["changed"], result["action"], result["changes"]) == (
        True,
        "update",
        {"description": "new"},
    )
    assert [(m, p, b) for m, p, _, b in server.writes] == [
        ("PATCH", f"{V2}/i/key-detail-lora", {"description": "new"})
    ]
    assert result["diff"]["before"] == {"description": "old"}
    assert result["diff"]["after"] == {"description": "new"}
    assert result["model"]["description"] == "new"


def test_check_mode_plans_and_sends_no_write(server: FakeServer, run_module: RunModule) -> None:
    update = run_module(
        model_module.main, source=LORA, config={"description": "new"}, _ansible_check_mode=True
    )
    install = run_module(
        model_module.main,
        source="/srv/other.safetensors",
        _ansible_check_mode=True,
        _ansible_diff=True,
    )
    gone = run_module(model_module.main, source=LORA, state="absent", _ansible_check_mode=True)
    assert [r["changed"] for r in (update, install, gone)] == [True, True, True]
    assert [r["action"] for r in (update, install, gone)] == ["update", "install", "delete"]
    assert install["diff"]["after"]["source"] == "/srv/other.safetensors"
    assert server.writes == []


def test_install_waits_and_sets_what_the_server_dropped(
    server: FakeServer, run_module: RunModule
) -> None:
    result = run_module(
        model_module.main,
        source="/srv/new-lora.safetensors",
        name="New",
        inplace=True,
        config={"trigger_phrases": ["new style"], "default_settings": {"weight": 0.5}},
    )
    assert (result["rc"], result["changed"], result["action"]) == (0, True, "install")
    assert result["job"]["status"] == "completed"
    methods = [(m, p) for m, p, _, _ in server.writes]
    assert methods == [("POST", f"{V2}/install"), ("PATCH", f"{V2}/i/key-new-lora")]
    assert server.writes[0][2] == {"source": "/srv/new-lora.safetensors", "inplace": "true"}
    assert result["model"]["trigger_phrases"] == ["new style"]


def test_config_fields_beyond_the_manifest_settings_are_kept_in_sync(
    server: FakeServer, run_module: RunModule
) -> None:
    result = run_module(model_module.main, source=LORA, config={"cpu_only": True})
    assert (result["action"], result["changes"]) == ("update", {"cpu_only": True})
    again = run_module(model_module.main, source=LORA, config={"cpu_only": True})
    assert (again["changed"], again["action"]) == (False, "keep")


def test_wait_false_returns_the_started_job(server: FakeServer, run_module: RunModule) -> None:
    result = run_module(
        model_module.main,
        source="https://h.test/m.safetensors?x=1",
        access_token=SECRET,
        wait=False,
    )
    assert (result["changed"], result["job"]["id"]) == (True, 0)
    assert server.writes[0][2]["access_token"] == SECRET  # sent, but never shown
    assert SECRET not in json.dumps(result)


def test_hash_mismatch_fails_and_changes_nothing(server: FakeServer, run_module: RunModule) -> None:
    result = run_module(
        model_module.main, source=LORA, hash="blake3:other", config={"description": "new"}
    )
    assert (result["rc"], result["changed"], result["action"]) == (1, False, "hash_mismatch")
    assert "blake3:detail-lora" in result["msg"] and "blake3:other" in result["msg"]
    assert server.writes == []


def test_absent_deletes_by_name_type_and_base(server: FakeServer, run_module: RunModule) -> None:
    args = {"name": "Detail LoRA", "type": "lora", "base": "sd-1", "state": "absent"}
    first = run_module(model_module.main, **args)
    second = run_module(model_module.main, **args)
    assert (first["changed"], first["action"], first["model"]["key"]) == (
        True,
        "delete",
        "key-detail-lora",
    )
    assert (second["changed"], second["action"]) == (False, "absent")
    assert [(m, p) for m, p, _, _ in server.writes] == [("DELETE", f"{V2}/i/key-detail-lora")]


def test_by_key(server: FakeServer, run_module: RunModule) -> None:
    kept = run_module(model_module.main, key="key-detail-lora", config={"description": "old"})
    unknown = run_module(model_module.main, key="no-such-key", config={"description": "x"})
    assert (kept["changed"], kept["action"]) == (False, "keep")
    assert unknown["rc"] == 1 and "no model with key no-such-key" in unknown["msg"]
    assert server.writes == []


def test_refused_source_fails_with_the_server_detail(
    server: FakeServer, run_module: RunModule
) -> None:
    result = run_module(model_module.main, source="/srv/missing.safetensors")
    assert result["rc"] == 1
    assert result["msg"] == (
        f"POST {V2}/install -> 409: Unsupported model source: '/srv/missing.safetensors'"
    )
    assert "Traceback" not in json.dumps(result)


def test_failed_job_fails_with_its_reason(server: FakeServer, run_module: RunModule) -> None:
    result = run_module(model_module.main, source="/srv/broken.safetensors")
    assert (result["rc"], result["changed"]) == (1, True)  # the server ran a job
    assert "InvalidModelConfigException: Unable to determine model type" in result["msg"]
    assert "error_traceback" not in result["job"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"source": LORA, "config": {"trigger_phrase": ["x"]}}, "did you mean 'trigger_phrases'"),
        ({"source": LORA, "config": {"name": "x"}}, "config.name: give it as the name option"),
        ({"source": "loras/x.safetensors"}, "models[0]"),
        ({"source": LORA, "timeout": 0}, "timeout"),
        ({"name": "x", "state": "absent"}, "needs type and base"),
        ({"state": "present"}, "state is present but any of the following are missing"),
    ],
)
def test_bad_options_fail_before_anything_is_sent(
    router: respx.MockRouter, run_module: RunModule, args: dict[str, Any], message: str
) -> None:
    result = run_module(model_module.main, **args)
    assert result["rc"] == 1 and message in result["msg"], result["msg"]
    assert router.calls.call_count == 0


def test_missing_library_names_the_pip_command(
    run_module: RunModule, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(utils, "IMPORT_ERROR", ImportError("No module named 'invokeai_py_client'"))
    result = run_module(model_module.main, source=LORA)
    assert result["rc"] == 1
    assert "Failed to import the required Python library (invokeai-py-client)" in result["msg"]
    assert "-m pip install invokeai-py-client" in result["msg"]


def test_tokens_never_appear_in_the_result(server: FakeServer, run_module: RunModule) -> None:
    result = run_module(model_module.main, source=LORA, token=SECRET, access_token=SECRET + "-hf")
    assert SECRET not in json.dumps(result)
    assert result["invocation"]["module_args"]["token"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_unreachable_server_is_one_line_with_a_hint(
    router: respx.MockRouter, run_module: RunModule
) -> None:
    router.get(f"{V2}/").mock(side_effect=httpx.ConnectError("Connection refused"))
    result = run_module(model_module.main, source=LORA)
    assert result["rc"] == 1
    assert result["msg"].startswith(f"GET {V2}/: ")
    assert f"is an InvokeAI server running at {BASE_URL}?" in result["msg"]


def test_no_url_fails_before_anything_is_sent(
    router: respx.MockRouter, run_module: RunModule, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INVOKEAI_URL", raising=False)
    result = run_module(model_module.main, url=None, source=LORA)
    assert result["rc"] == 1
    assert result["msg"] == "no server URL: set the url option (or INVOKEAI_URL) (nothing was sent)"
    assert router.calls.call_count == 0
    monkeypatch.setenv("INVOKEAI_URL", BASE_URL)
    FakeServer(router)
    assert run_module(model_module.main, url=None, source=LORA, _ansible_check_mode=True)["rc"] == 0


def test_an_install_that_gives_other_bytes_fails_and_the_model_stays(
    server: FakeServer, run_module: RunModule
) -> None:
    result = run_module(
        model_module.main,
        source="/srv/new.safetensors",
        hash="blake3:pinned",
        config={"description": "not set: nothing else changes"},
    )
    assert (result["rc"], result["changed"], result["action"]) == (1, True, "install")
    assert "hash mismatch for /srv/new.safetensors" in result["msg"]
    assert "blake3:new" in result["msg"] and "blake3:pinned" in result["msg"]
    assert [m for m, _, _, _ in server.writes] == ["POST"]  # no update after it
    assert "key-new" in server.models
