"""What a new user meets in the first hour: usage errors, words, values, progress, JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from rich.console import Console
from typer.testing import CliRunner

from invokeai_py_client.cli.app import app
from invokeai_py_client.cli.context import State
from invokeai_py_client.cli.job_ui import progress_display
from invokeai_py_client.cli.refusals import refused_values
from invokeai_py_client.dnn_model import DnnModel, ModelManifest
from invokeai_py_client.errors import UnprocessableEntityError
from tests.unit.conftest import BASE_URL, V2, api_calls, body, load_fixture, replay

SECRET = "s3cr3t-t0ken-value"


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(app, ["--url", BASE_URL, "--no-events", *args], env=env)


@pytest.fixture
def v(router: respx.MockRouter) -> respx.MockRouter:
    replay(router, "version")
    return router


def test_an_unknown_filter_value_is_a_usage_error_with_a_did_you_mean(
    v: respx.MockRouter,
) -> None:
    route, _ = replay(v, "models_list_422_bad_filters")
    result = run("list", "--type", "loar", "--base", "sdxx")
    assert result.exit_code == 2, result.output
    assert "--type 'loar' is not a value this server knows; did you mean 'lora'?" in result.stderr
    assert "--base 'sdxx'" in result.stderr and "did you mean 'sdxl'?" in result.stderr
    assert "valid: onnx, main, vae, lora" in result.stderr  # the server's list, not ours
    assert route.call_count == 1

    as_json = run("--json", "list", "--type", "loar", "--base", "sdxx")
    assert as_json.exit_code == 2 and as_json.stdout == ""
    assert json.loads(as_json.stderr)["exit_code"] == 2


def test_a_422_that_is_not_about_a_filter_stays_a_failure() -> None:
    fixture = load_fixture("install_422_no_body")
    exc = UnprocessableEntityError(
        method="POST", route=f"{V2}/install", status_code=422,
        detail=fixture["body"]["detail"], body=fixture["body"],
    )  # fmt: skip
    assert refused_values(exc) is None


def test_show_prints_nested_values_as_json_not_python(v: respx.MockRouter) -> None:
    record = body("model_get_lora_sd1")
    record["default_settings"] = {"weight": 0.75, "weight_min": None}
    record["trigger_phrases"] = ["tiny style", "other"]
    v.get(f"{V2}/i/{record['key']}").mock(return_value=httpx.Response(200, json=record))
    result = CliRunner().invoke(app, ["--url", BASE_URL, "show", record["key"]], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert '{"weight": 0.75}' in result.stdout
    assert "tiny style, other" in result.stdout
    assert "'weight'" not in result.stdout and "None" not in result.stdout


@pytest.mark.parametrize(
    ("models_dir", "shown"),
    [
        ("models", "models (relative to the server's root directory, its INVOKEAI_ROOT)"),
        ("/srv/invokeai/models", "/srv/invokeai/models\n"),
    ],
)
def test_server_says_what_a_relative_models_dir_is_relative_to(
    v: respx.MockRouter, models_dir: str, shown: str
) -> None:
    config = body("runtime_config")
    config["config"]["models_dir"] = models_dir
    v.get("/api/v1/app/runtime_config").mock(return_value=httpx.Response(200, json=config))
    v.get("/api/v1/auth/status").mock(
        return_value=httpx.Response(200, json={"multiuser_enabled": False, "setup_required": False})
    )
    result = run("server")
    assert result.exit_code == 0, result.output
    assert f"models dir: {shown}" in result.stdout


def test_plan_lines_show_sources_with_variables_expanded_and_tokens_hidden(
    v: respx.MockRouter, tmp_path: Path
) -> None:
    v.get(f"{V2}/").mock(return_value=httpx.Response(200, json={"models": []}))
    file = tmp_path / "m.yaml"
    file.write_text(
        "version: 1\nmodels:\n"
        "  - source: ${FILES}/a.safetensors\n"
        "  - source: https://example.com/b.safetensors?token=${TOKEN}\n"
    )
    env = {"FILES": "/data/models", "TOKEN": SECRET}
    result = run("plan", str(file), env=env)
    assert result.exit_code == 0, result.output
    assert "+ install       /data/models/a.safetensors" in result.stdout
    assert "https://example.com/b.safetensors" in result.stdout
    assert "${" not in result.stdout and SECRET not in result.output


def test_a_noop_apply_says_already_there_like_plan_and_no_blank_line(
    v: respx.MockRouter, tmp_path: Path
) -> None:
    replay(v, "models_list")
    models = [DnnModel.model_validate(m) for m in body("models_list")["models"]]
    file = tmp_path / "all.yaml"
    file.write_text(ModelManifest.from_models(models, lock=True).dumps())
    plan, apply = run("plan", str(file)), run("apply", str(file))
    assert apply.exit_code == 0, apply.output
    words = f"{BASE_URL}: {len(models)} already there"
    assert plan.stdout.startswith(words) and apply.stdout == words + "\n"
    assert "skipped" not in apply.output and apply.stderr == ""
    assert all(r.method == "GET" for r in api_calls(v))


def rendered(progress: Any) -> str:
    console = Console(record=True, width=150, force_terminal=False)
    console.print(progress.make_tasks_table(progress.tasks))
    return console.export_text()


def test_progress_of_a_local_install_shows_no_unknown_rate_or_eta() -> None:
    progress = progress_display(State())
    progress.add_task("tiny-lora.safetensors", total=304, completed=304, status="completed")
    progress.add_task("busy.safetensors", total=None, status="running")
    shown = rendered(progress)
    assert "tiny-lora.safetensors" in shown and "busy.safetensors" in shown
    assert "?" not in shown and "-:--:--" not in shown
    assert "304 B/304 B" in shown


def test_a_known_rate_and_eta_are_shown() -> None:
    progress = progress_display(State())
    progress.add_task("big.safetensors", total=10_000_000, completed=1_000_000,
                      status="downloading", rate=2_000_000.0, eta=4.5)  # fmt: skip
    shown = rendered(progress)
    assert "2.0 MB/s" in shown and "0:00:04" in shown and "1.0 MB/10.0 MB" in shown
