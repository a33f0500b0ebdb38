"""``plan``, ``apply`` and ``export`` against captured answers: exit codes, output, Ctrl-C."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import respx
from typer.testing import CliRunner

from invokeai_py_client.cli.app import app
from invokeai_py_client.dnn_model import (
    AsyncDnnModelRepository,
    DnnModel,
    InstallJobStatus,
    InstallProgress,
    ModelManifest,
)
from tests.unit.conftest import BASE_URL, V2, body, replay

MODELS = [DnnModel.model_validate(m) for m in body("models_list")["models"]]


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(app, ["--no-events", *args], env=env)


@pytest.fixture
def served(router: respx.MockRouter) -> respx.MockRouter:
    """A 6.14.2 server holding the captured model list."""
    replay(router, "version")
    replay(router, "models_list")
    return router


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    path = tmp_path / "all.yaml"
    path.write_text(ModelManifest.from_models(MODELS, lock=True).dumps())
    return path


def test_plan_exit_code_3_only_on_drift(served: respx.MockRouter, exported: Path) -> None:
    same = run("--url", BASE_URL, "plan", str(exported), "--exit-code")
    assert same.exit_code == 0, same.output
    assert f"{BASE_URL}: {len(MODELS)} already there" in same.stdout

    text = exported.read_text().replace("name: capture-vae-sd1", "name: Renamed VAE", 1)
    exported.write_text(text)
    drift = run("--url", BASE_URL, "--json", "plan", str(exported), "--exit-code")
    assert drift.exit_code == 3
    (doc,) = json.loads(drift.stdout)
    assert doc["server"] == BASE_URL and doc["drift"] is True
    (update,) = [c for c in doc["changes"] if c["action"] == "update"]
    assert update["changes"] == {"name": "Renamed VAE"} and update["matched_by"] == "source"
    human = run("--url", BASE_URL, "plan", str(exported))
    assert human.exit_code == 0  # drift without --exit-code is no failure
    assert "~ update        capture-vae-sd1" in human.stdout
    assert "name: 'capture-vae-sd1' -> 'Renamed VAE'" in human.stdout
    assert [c.request.method for c in served.calls] == ["GET"] * len(served.calls)


def test_noop_apply_sends_one_list_and_no_write(served: respx.MockRouter, exported: Path) -> None:
    result = run("--url", BASE_URL, "--json", "apply", str(exported))
    assert result.exit_code == 0, result.output
    (doc,) = json.loads(result.stdout)
    assert doc["counts"] == {"done": 0, "skipped": len(MODELS), "failed": 0}
    paths = [(c.request.method, c.request.url.path) for c in served.calls]
    assert paths.count(("GET", f"{V2}/")) == 1
    assert all(method == "GET" for method, _ in paths)


def test_prune_refused_off_a_terminal_before_any_write(
    served: respx.MockRouter, tmp_path: Path
) -> None:
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"models": [{"source": MODELS[0].source}]}))
    result = run("--url", BASE_URL, "apply", "--prune", str(one))
    assert result.exit_code == 2 and "without --yes" in result.stderr
    assert all(c.request.method == "GET" for c in served.calls)


def test_export_json_and_file(served: respx.MockRouter, tmp_path: Path) -> None:
    as_json = run("--url", BASE_URL, "--json", "export", "--lock")
    assert as_json.exit_code == 0
    assert len(json.loads(as_json.stdout)["models"]) == len(MODELS)
    target = tmp_path / "out.yaml"
    written = run("--url", BASE_URL, "export", "-o", str(target))
    assert written.exit_code == 0 and f"wrote {len(MODELS)} model(s)" in written.stderr
    assert "hash:" not in target.read_text()  # only --lock pins hashes
    several = run("--url", BASE_URL, "--url", "http://other:1", "export")
    assert several.exit_code == 2


def test_ctrl_c_during_apply_names_the_jobs(
    served: respx.MockRouter, exported: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def interrupted(self: Any, manifest: Any, **kwargs: Any) -> Any:
        job = SimpleNamespace(id=7, info=SimpleNamespace(source="/m/x.safetensors"))
        status = InstallJobStatus("downloading")
        kwargs["on_progress"](InstallProgress(job, status, 10, 100, 0.1, None, None))
        raise KeyboardInterrupt

    monkeypatch.setattr(AsyncDnnModelRepository, "apply_manifest", interrupted)
    result = run("--url", BASE_URL, "apply", str(exported))
    assert result.exit_code == 130
    assert "go on on the server" in result.stderr
    assert "invokeai-models jobs cancel 7" in result.stderr


def test_a_failed_server_among_several(served: respx.MockRouter, exported: Path) -> None:
    served.route(host="down.test").mock(side_effect=httpx.ConnectError("refused"))
    result = run(
        "--url", BASE_URL, "--url", "http://down.test:9090", "--json", "plan", str(exported)
    )
    assert result.exit_code == 1
    up, down = json.loads(result.stdout)
    assert up["server"] == BASE_URL and up["drift"] is False
    assert down["server"] == "http://down.test:9090" and "refused" in down["error"]
    assert "is an InvokeAI server running at http://down.test:9090" in down["hint"]


def test_server_tokens_come_from_the_environment(served: respx.MockRouter, tmp_path: Path) -> None:
    secret = "tok-FROM-ENV-91b2"
    file = tmp_path / "fleet.json"
    file.write_text(json.dumps({"servers": [{"url": BASE_URL, "token": "${FLEET}"}], "models": []}))
    result = run("--debug", "--json", "plan", str(file), env={"FLEET": secret})
    assert result.exit_code == 0, result.output
    sent = [c.request.headers.get("authorization") for c in served.calls]
    assert f"Bearer {secret}" in sent
    assert secret not in result.output


@pytest.mark.parametrize("answer", ["y", "n"])
def test_prune_on_a_terminal_deletes_what_it_showed(
    served: respx.MockRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    from invokeai_py_client.cli import context as cli_context

    monkeypatch.setattr(cli_context, "stdin_is_tty", lambda: True)
    keep = MODELS[0]
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"models": [{"source": keep.source}]}))
    deleted = served.delete(url__regex=rf"{V2}/i/.+").mock(return_value=httpx.Response(204))
    result = CliRunner().invoke(
        app, ["--no-events", "--url", BASE_URL, "apply", "--prune", str(one)], input=f"{answer}\n"
    )
    shown = [m for m in MODELS if m is not keep]
    assert all(m.key in result.stderr for m in shown)
    assert f"Delete {len(shown)} model(s)?" in result.stderr
    lists = [c for c in served.calls if c.request.url.path == f"{V2}/"]
    assert len(lists) == 1  # the plan that was shown is the one carried out
    if answer == "n":
        assert result.exit_code == 1 and deleted.call_count == 0
        return
    assert result.exit_code == 0, result.output
    sent = {c.request.url.path.rsplit("/", 1)[-1] for c in deleted.calls}
    assert sent == {m.key for m in shown}
