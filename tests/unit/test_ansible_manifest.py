"""The invokeai.models.manifest and model_info modules' decisions, offline (the fake
server of ``test_ansible_model``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from ansible_collections.invokeai.models.plugins.modules import manifest as manifest_module
from ansible_collections.invokeai.models.plugins.modules import model_info as info_module
from tests.unit.conftest import V2
from tests.unit.test_ansible_model import LORA, SECRET, FakeServer, RunModule, record
from tests.unit.test_ansible_model import run_module as run_module  # the fixture

VAE = "/srv/models/tiny-vae.safetensors"
CONTENT: dict[str, Any] = {
    "version": 1,
    "models": [
        {"source": LORA, "name": "Detail LoRA", "description": "old"},
        {"source": VAE, "name": "Tiny VAE", "inplace": True},
    ],
}


@pytest.fixture
def server(router: respx.MockRouter) -> FakeServer:
    return FakeServer(
        router,
        [
            record(LORA, name="Detail LoRA", description="old"),
            record("/srv/models/unlisted.safetensors"),
        ],
    )


def test_no_op_is_one_list_request_and_no_write(server: FakeServer, run_module: RunModule) -> None:
    content = {"version": 1, "models": [CONTENT["models"][0]]}
    result = run_module(manifest_module.main, content=content)
    assert (result["rc"], result["changed"]) == (0, False)
    assert result["plan"]["drift"] is False
    assert result["plan"]["counts"]["keep"] == 1
    assert [r["outcome"] for r in result["results"]] == ["skipped"]
    assert server.reads == [f"GET {V2}/"] and server.writes == []


def test_check_mode_returns_the_plan_and_writes_nothing(
    server: FakeServer, run_module: RunModule
) -> None:
    result = run_module(
        manifest_module.main,
        content=CONTENT,
        prune=True,
        _ansible_check_mode=True,
        _ansible_diff=True,
    )
    assert (result["rc"], result["changed"]) == (0, True)
    actions = [c["action"] for c in result["plan"]["changes"]]
    assert actions == ["keep", "install", "delete"]
    assert [d["after_header"].rsplit(" ", 1)[-1] for d in result["diff"]] == [
        "(install)",
        "(delete)",
    ]
    assert "results" not in result
    assert server.writes == []


def test_apply_installs_updates_prunes_then_has_nothing_to_do(
    server: FakeServer, run_module: RunModule
) -> None:
    content = json.loads(json.dumps(CONTENT))
    content["models"][0]["description"] = "new"
    first = run_module(manifest_module.main, content=content, prune=True)
    second = run_module(manifest_module.main, content=content, prune=True)
    assert (first["rc"], first["changed"]) == (0, True)
    assert [(r["action"], r["outcome"]) for r in first["results"]] == [
        ("update", "done"),
        ("install", "done"),
        ("delete", "done"),
    ]
    assert (second["changed"], second["plan"]["drift"]) == (False, False)
    assert [m for m, _, _, _ in server.writes] == ["POST", "PATCH", "DELETE"]


def test_a_failed_install_fails_the_task_and_the_others_go_on(
    server: FakeServer, run_module: RunModule
) -> None:
    content = {"version": 1, "models": [{"source": "/srv/missing.safetensors"}, {"source": VAE}]}
    result = run_module(manifest_module.main, content=content)
    assert (result["rc"], result["changed"]) == (1, True)
    assert result["msg"].startswith("1 of 2 change(s) failed: /srv/missing.safetensors: POST ")
    assert "409: Unsupported model source" in result["msg"]
    assert [r["outcome"] for r in result["results"]] == ["failed", "done"]


def test_a_vault_token_in_content_is_sent_and_never_shown(
    server: FakeServer, run_module: RunModule
) -> None:
    content = {
        "version": 1,
        "models": [{"source": "https://h.test/m.safetensors", "access_token": SECRET}],
    }
    checked = run_module(manifest_module.main, content=content, _ansible_check_mode=True)
    applied = run_module(manifest_module.main, content=content)
    assert applied["rc"] == 0, applied.get("msg")
    assert server.writes[0][2]["access_token"] == SECRET
    assert SECRET not in json.dumps(checked) + json.dumps(applied)


def test_src_file_with_relative_sources(
    server: FakeServer, run_module: RunModule, tmp_path: Path
) -> None:
    (tmp_path / "models.yaml").write_text(
        "version: 1\nmodels:\n  - source: ./lora.safetensors\n    name: L\n"
    )
    result = run_module(
        manifest_module.main, src=str(tmp_path / "models.yaml"), _ansible_check_mode=True
    )
    assert result["plan"]["changes"][0]["source"] == f"{tmp_path}/lora.safetensors"


def test_hash_mismatch_fails_in_check_mode_too(server: FakeServer, run_module: RunModule) -> None:
    content = {"version": 1, "models": [{"source": LORA, "hash": "blake3:pinned"}]}
    result = run_module(manifest_module.main, content=content, _ansible_check_mode=True)
    assert result["rc"] == 1 and "blake3:pinned" in result["msg"]
    assert result["plan"]["counts"]["hash_mismatch"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"content": CONTENT, "src": "x.yaml"}, "mutually exclusive"),
        ({}, "one of the following is required: src, content"),
        ({"content": CONTENT, "concurrency": 0}, "concurrency must be an int >= 1"),
        (
            {"content": {"models": [{"source": LORA, "trigger_phrase": []}]}},
            "did you mean 'trigger_phrases'",
        ),
        ({"src": "/no/such/manifest.yaml"}, "cannot read /no/such/manifest.yaml"),
    ],
)
def test_bad_options_fail_before_anything_is_sent(
    router: respx.MockRouter, run_module: RunModule, args: dict[str, object], message: str
) -> None:
    result = run_module(manifest_module.main, **args)
    assert result["rc"] == 1 and message in result["msg"], result["msg"]
    assert router.calls.call_count == 0


def test_model_info_filters_on_the_server(server: FakeServer, run_module: RunModule) -> None:
    result = run_module(info_module.main, type="lora", base="sd-1", name="Detail LoRA")
    assert (result["rc"], result["changed"]) == (0, False)
    assert [m["key"] for m in result["models"]] == ["key-detail-lora"]
    assert server.writes == []


def test_model_info_reports_the_server_detail(
    router: respx.MockRouter, run_module: RunModule
) -> None:
    router.get(f"{V2}/").mock(
        return_value=httpx.Response(
            422,
            json={"detail": [{"loc": ["query", "model_type"], "msg": "Input should be 'main'"}]},
        )
    )
    result = run_module(info_module.main, type="nope")
    assert result["rc"] == 1
    assert result["msg"] == f"GET {V2}/ -> 422: query.model_type: Input should be 'main'"
