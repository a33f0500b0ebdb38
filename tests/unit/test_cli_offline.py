"""``invokeai-models`` against captured answers (respx): exit codes, --json shapes, errors."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx
from typer.testing import CliRunner

import invokeai_py_client
from invokeai_py_client.cli import context as cli_context
from invokeai_py_client.cli.app import app
from invokeai_py_client.dnn_model import DnnModelRepository
from tests.unit.conftest import (
    BASE_URL,
    OLD_VERSION,
    SECRET,
    UNKNOWN_JOB_ID,
    UNKNOWN_KEY,
    V2,
    body,
    load_fixture,
    replay,
)


def run(*args: str, version: str | None = None, router: respx.MockRouter | None = None) -> Any:
    if router is not None and version is not None:
        replay(router, "version", version)
    result = CliRunner().invoke(app, ["--url", BASE_URL, "--no-events", *args])
    return result


@pytest.fixture
def v(router: respx.MockRouter) -> respx.MockRouter:
    """The router with the 6.14.2 version answer."""
    replay(router, "version")
    return router


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


# -- global options, bad usage ---------------------------------------------------------------


def test_version_needs_no_server() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith(f"invokeai-models {invokeai_py_client.__version__} ")


@pytest.mark.parametrize(
    "args",
    [
        ["no-such-command"],
        ["list", "--no-such-option"],
        ["jobs", "show", "abc"],
        ["show"],
        ["delete"],
    ],
)
def test_bad_usage_exits_2(args: list[str]) -> None:
    result = CliRunner().invoke(app, ["--url", BASE_URL, *args])
    assert result.exit_code == 2, result.output


def test_invalid_argument_is_bad_usage(v: respx.MockRouter) -> None:
    result = run("show", "a/b")
    assert result.exit_code == 2
    assert one_line(result.stderr).startswith("error: ")
    assert not [c for c in v.calls if c.request.url.path.startswith(V2)]


def test_unreachable_server_is_one_line_with_hint() -> None:
    with respx.mock(assert_all_mocked=False) as mock:
        mock.route().mock(side_effect=httpx.ConnectError("refused"))
        result = CliRunner().invoke(app, ["--url", BASE_URL, "list"])
    assert result.exit_code == 1
    line = one_line(result.stderr)
    assert "refused" in line and f"hint: is an InvokeAI server running at {BASE_URL}" in line


# -- list / show -----------------------------------------------------------------------------


def test_list_json(v: respx.MockRouter) -> None:
    replay(v, "models_list")
    result = run("--json", "list")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    expected = body("models_list")["models"]
    assert [m["key"] for m in data] == [m["key"] for m in expected]
    assert {"key", "name", "base", "type", "format", "file_size"} <= set(data[0])


def test_list_table_and_quiet(v: respx.MockRouter) -> None:
    replay(v, "models_list")
    models = body("models_list")["models"]
    result = run("list")
    assert result.exit_code == 0
    for m in models:
        assert m["key"] in result.stdout and m["name"] in result.stdout
    assert "17.9 kB" in result.stdout  # the LoRA's 17932 bytes
    quiet = run("-q", "list")
    assert quiet.stdout.split() == [m["key"] for m in models]


def test_list_filters_are_sent(v: respx.MockRouter) -> None:
    route, _ = replay(v, "models_list_filtered")
    result = run("--json", "list", "--base", "sd-1", "--base", "sdxl", "--type", "embedding")
    assert result.exit_code == 0, result.output
    assert route.called
    assert all(m["type"] == "embedding" for m in json.loads(result.stdout))


def test_list_unknown_filter_value_is_server_detail(v: respx.MockRouter) -> None:
    v.get(f"{V2}/").mock(
        return_value=httpx.Response(422, json={"detail": [{"msg": "Input should be 'main'"}]})
    )
    result = run("list", "--type", "nope")
    assert result.exit_code == 1
    line = one_line(result.stderr)
    assert "422" in line and "Input should be 'main'" in line


def test_show_json_and_unknown(v: respx.MockRouter) -> None:
    _, fixture = replay(v, "model_get_lora_sd1")
    key = fixture["body"]["key"]
    result = run("--json", "show", key)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["key"] == key
    replay(v, "model_get_404")
    missing = run("show", UNKNOWN_KEY)
    assert missing.exit_code == 1
    assert UNKNOWN_KEY in one_line(missing.stderr)


# -- server ----------------------------------------------------------------------------------


def test_server_json_multiuser(v: respx.MockRouter) -> None:
    replay(v, "runtime_config")
    v.get("/api/v1/auth/status").mock(
        return_value=httpx.Response(200, json={"setup_required": False, "multiuser_enabled": True})
    )
    result = run("--json", "server")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["version"] == "6.14.2" and data["multiuser"] is True
    assert data["models_dir"] == body("runtime_config")["config"]["models_dir"]


def test_server_old_version_is_single_user_without_asking(router: respx.MockRouter) -> None:
    replay(router, "runtime_config", OLD_VERSION)
    result = run("--json", "server", version=OLD_VERSION, router=router)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["multiuser"] is False
    assert not [c for c in router.calls if "auth" in c.request.url.path]


# -- install ---------------------------------------------------------------------------------


def test_install_waits_and_reports_json(v: respx.MockRouter) -> None:
    started, fixture = replay(v, "install_201_inplace")
    replay(v, "install_job_completed_inplace")
    source = fixture["request"]["query"]["source"]
    result = run("--json", "install", source, "--inplace")
    assert result.exit_code == 0, result.output
    (job,) = json.loads(result.stdout)
    final = body("install_job_completed_inplace")
    assert job["ok"] is True and job["status"] == "completed"
    assert job["model_key"] == final["config_out"]["key"]
    assert job["job_id"] == 0 and job["source"] == source and job["error"] is None
    assert started.call_count == 1


def test_install_summary_line(v: respx.MockRouter) -> None:
    _, fixture = replay(v, "install_201_inplace")
    replay(v, "install_job_completed_inplace")
    result = run("install", fixture["request"]["query"]["source"], "--inplace")
    assert result.exit_code == 0, result.output
    assert "✓ installed" in result.stdout


def test_install_no_wait(v: respx.MockRouter) -> None:
    _, fixture = replay(v, "install_201_inplace")
    result = run("-q", "install", "--no-wait", "--inplace", fixture["request"]["query"]["source"])
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["0"]


def test_install_refused_source_one_line(v: respx.MockRouter) -> None:
    _, fixture = replay(v, "install_409_nonexistent_path")
    source = fixture["request"]["query"]["source"]
    result = run("install", source)
    assert result.exit_code == 1
    line = one_line(result.stderr)
    assert "409" in line and fixture["body"]["detail"] in line
    as_json = run("--json", "install", source)
    assert as_json.exit_code == 1
    (job,) = json.loads(as_json.stdout)
    assert job["status"] == "not_started" and job["ok"] is False and "409" in job["error"]


def test_install_relative_path_hint(v: respx.MockRouter) -> None:
    v.post(f"{V2}/install").mock(return_value=httpx.Response(500, text="Internal Server Error"))
    result = run("install", "models/tiny.safetensors")
    assert result.exit_code == 1
    line = one_line(result.stderr)
    assert "500" in line and "hint:" in line and "absolute path" in line


@pytest.mark.parametrize(
    "args",
    [
        ["install", "/a.safetensors", "--config", "{not json"],
        ["install", "/a.safetensors", "--config", "[1]"],
        ["install", "/a.safetensors", "--config", '{"nmae": "x"}'],
        ["install", "/a.safetensors", "/b.safetensors", "--name", "x"],
    ],
)
def test_install_bad_usage(v: respx.MockRouter, args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert one_line(result.stderr).startswith("error: ")
    assert not [c for c in v.calls if c.request.method == "POST"]


def test_install_sends_config(v: respx.MockRouter) -> None:
    route, fixture = replay(v, "install_201_inplace", query=False)
    replay(v, "install_job_completed_inplace")
    source = fixture["request"]["query"]["source"]
    result = run("install", source, "--inplace", "--name", "N", "--config", '{"description": "D"}')
    assert result.exit_code == 0, result.output
    assert json.loads(route.calls[0].request.content) == {"name": "N", "description": "D"}


def test_install_ctrl_c_says_jobs_go_on(
    v: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, fixture = replay(v, "install_201_inplace")

    def interrupted(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(DnnModelRepository, "wait_all", interrupted)
    result = run("install", fixture["request"]["query"]["source"], "--inplace")
    assert result.exit_code == 130
    assert "go on on the server" in result.stderr
    assert "invokeai-models jobs cancel 0" in result.stderr


# -- jobs ------------------------------------------------------------------------------------


def test_jobs_list_json(v: respx.MockRouter) -> None:
    replay(v, "install_jobs")
    result = run("--json", "jobs")
    assert result.exit_code == 0, result.output
    ids = [j["id"] for j in json.loads(result.stdout)]
    assert ids == [j["id"] for j in body("install_jobs")]


def test_jobs_show_unknown(v: respx.MockRouter) -> None:
    replay(v, "install_job_404")
    result = run("jobs", "show", str(UNKNOWN_JOB_ID))
    assert result.exit_code == 1
    assert str(UNKNOWN_JOB_ID) in one_line(result.stderr)


def test_jobs_cancel(v: respx.MockRouter) -> None:
    replay(v, "install_job_downloading")
    cancel, _ = replay(v, "install_cancel")
    result = run("--json", "jobs", "cancel", "11")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"id": 11, "cancelled": True, "status": "cancelled"}]
    assert cancel.called


def test_jobs_pause_and_prune(v: respx.MockRouter) -> None:
    replay(v, "install_pause")
    result = run("--json", "jobs", "pause", "11")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "paused"
    replay(v, "install_prune")
    pruned = run("--json", "jobs", "prune")
    assert pruned.exit_code == 0 and json.loads(pruned.stdout) == {"pruned": True}


def test_jobs_pause_on_old_server_fails(router: respx.MockRouter) -> None:
    result = run("jobs", "pause", "1", version=OLD_VERSION, router=router)
    assert result.exit_code == 1
    assert "6.12" in one_line(result.stderr)


# -- delete ----------------------------------------------------------------------------------


def test_delete_needs_yes_off_a_terminal(v: respx.MockRouter) -> None:
    result = run("delete", "some-key")
    assert result.exit_code == 2
    assert "--yes" in one_line(result.stderr)
    assert not [c for c in v.calls if c.request.method == "DELETE"]


def test_delete_yes_json(v: respx.MockRouter) -> None:
    _, fixture = replay(v, "model_delete")
    key = fixture["request"]["path"].rsplit("/", 1)[1]
    replay(v, "model_delete_404")
    result = run("--json", "delete", "--yes", key, UNKNOWN_KEY)
    assert result.exit_code == 1
    assert json.loads(result.stdout) == [
        {"key": key, "deleted": True, "error": None},
        {"key": UNKNOWN_KEY, "deleted": False, "error": "no such model"},
    ]


def test_delete_asks_on_a_terminal(v: respx.MockRouter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_context, "stdin_is_tty", lambda: True)
    _, fixture = replay(v, "model_delete")
    key = fixture["request"]["path"].rsplit("/", 1)[1]
    v.get(f"{V2}/i/{key}").mock(return_value=httpx.Response(404, json={"detail": "x"}))
    result = CliRunner().invoke(app, ["--url", BASE_URL, "delete", key], input="n\n")
    assert result.exit_code == 1
    assert not [c for c in v.calls if c.request.method == "DELETE"]
    result = CliRunner().invoke(app, ["--url", BASE_URL, "delete", key], input="y\n")
    assert result.exit_code == 0, result.output
    assert f"deleted {key}" in result.stdout


# -- secrets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("via_env", [False, True])
def test_token_never_in_output(v: respx.MockRouter, via_env: bool) -> None:
    v.get(f"{V2}/").mock(return_value=httpx.Response(401, json={"detail": f"bad token {SECRET}"}))
    args = ["--url", BASE_URL, "--debug", "--no-events"]
    env = {"INVOKEAI_TOKEN": SECRET} if via_env else {}
    if not via_env:
        args += ["--token", SECRET]
    for extra in ([], ["--json"]):
        result = CliRunner(env=env).invoke(app, [*args, *extra, "list"])
        assert result.exit_code == 1
        assert SECRET not in result.stdout + result.stderr
        assert "INVOKEAI_TOKEN" in result.stderr  # the hint
    assert load_fixture("version")["status"] == 200
