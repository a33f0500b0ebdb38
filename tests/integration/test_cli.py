"""``invokeai-models`` against the test-bed server: --json output and exit codes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from invokeai_py_client import InvokeAIClient
from invokeai_py_client.client import parse_version
from testbed import tiny_models as tm
from tests.integration.conftest import Cli, SlowModelServer, json_lines

TIMEOUT = 60.0


def wait_for_job_status(cli: Cli, job_id: int, wanted: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT
    while True:
        result = cli("--json", "jobs", "show", str(job_id))
        assert result.exit_code == 0, result.output
        job: dict[str, Any] = json.loads(result.stdout)
        if job["status"] in wanted or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def test_server(cli: Cli, invokeai_url: str) -> None:
    result = cli("--json", "server")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    with InvokeAIClient.from_url(invokeai_url) as client:
        assert data["version"] == client.server_version()
    assert data["multiuser"] is False
    assert data["models_dir"]
    text = cli("server")
    assert text.exit_code == 0 and "single-user" in text.stdout


def test_install_list_show_delete(cli: Cli, tiny_models_dir: Path, installed: list[str]) -> None:
    lora = tm.write_lora_sd1(tiny_models_dir)
    emb = tm.write_embedding_sd1(tiny_models_dir)
    result = cli("--json", "install", "--inplace", str(lora), str(emb))
    jobs = json_lines(result.stdout)
    installed.extend(j["model_key"] for j in jobs if j["model_key"])
    assert result.exit_code == 0, result.output
    assert [j["source"] for j in jobs] == [str(lora), str(emb)]
    assert all(j["ok"] and j["status"] == "completed" and j["error"] is None for j in jobs)
    lora_key, emb_key = (j["model_key"] for j in jobs)

    listed = cli("--json", "list", "--type", "lora", "--base", "sd-1")
    assert listed.exit_code == 0, listed.output
    keys = [m["key"] for m in json.loads(listed.stdout)]
    assert lora_key in keys and emb_key not in keys
    table = cli("list")
    assert table.exit_code == 0 and lora_key in table.stdout and emb_key in table.stdout

    shown = cli("--json", "show", lora_key)
    assert shown.exit_code == 0
    record = json.loads(shown.stdout)
    assert record["key"] == lora_key and record["type"] == "lora" and record["base"] == "sd-1"

    not_a_tty = cli("delete", lora_key)
    assert not_a_tty.exit_code == 2
    deleted = cli("--json", "delete", "--yes", lora_key, emb_key)
    assert deleted.exit_code == 0, deleted.output
    assert [d["deleted"] for d in json.loads(deleted.stdout)] == [True, True]
    assert cli("show", lora_key).exit_code == 1
    again = cli("--json", "delete", "--yes", lora_key)
    assert again.exit_code == 1
    assert json.loads(again.stdout) == [
        {"key": lora_key, "deleted": False, "error": "no such model"}
    ]


def test_install_name_and_description(
    cli: Cli, tiny_models_dir: Path, installed: list[str]
) -> None:
    vae = tm.write_vae_sd1(tiny_models_dir)
    result = cli(
        "--json", "install", "--inplace", str(vae), "--name", "CLI VAE",
        "--config", '{"description": "from the CLI"}',
    )  # fmt: skip
    (job,) = json_lines(result.stdout)
    if job["model_key"]:
        installed.append(job["model_key"])
    assert result.exit_code == 0, result.output
    assert job["name"] == "CLI VAE"
    shown = json.loads(cli("--json", "show", job["model_key"]).stdout)
    assert shown["name"] == "CLI VAE"


def test_install_failures(cli: Cli, tiny_models_dir: Path, installed: list[str]) -> None:
    emb = tm.write_embedding_sd1(tiny_models_dir)
    first = cli("--json", "install", "--inplace", str(emb))
    installed.extend(j["model_key"] for j in json_lines(first.stdout) if j["model_key"])
    assert first.exit_code == 0, first.output

    missing = tiny_models_dir / "no-such-model.safetensors"
    result = cli("--json", "install", "--inplace", str(emb), str(missing))
    assert result.exit_code == 1
    duplicate, refused = json_lines(result.stdout)
    assert duplicate["status"] == "error" and duplicate["error"] == "the model is already installed"
    assert refused["status"] == "not_started" and "409" in refused["error"]
    errors = [line for line in result.stderr.splitlines() if line.startswith("{")]
    assert len(errors) == 2  # one line per failure

    text = cli("install", str(missing))
    assert text.exit_code == 1
    (line,) = text.stderr.strip().splitlines()
    assert line.startswith(f"error: {missing}: POST /api/v2/models/install -> 409"), line


def test_install_relative_path_gets_a_hint(
    cli: Cli, tiny_models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emb = tm.write_embedding_sd1(tiny_models_dir)
    monkeypatch.chdir(tiny_models_dir.parent)
    relative = f"{tiny_models_dir.name}/{emb.name}"
    result = cli("install", "--inplace", relative)
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert "hint:" in line and f"absolute path on the server, e.g. {emb}" in line


def test_install_slow_url_with_progress(
    cli: Cli, slow_model_server: SlowModelServer, installed: list[str]
) -> None:
    url = slow_model_server.add_model()
    result = cli("install", url)
    assert result.exit_code == 0, result.output
    assert "✓ installed" in result.stdout and url in result.stdout
    # The progress display (stderr): the file's name, its bytes, the final status.
    assert url.rsplit("/", 1)[1][-30:] in result.stderr
    assert "3.1 MB/3.1 MB" in result.stderr and "B/s" in result.stderr
    assert "completed" in result.stderr
    listed = json.loads(cli("--json", "list", "--type", "embedding").stdout)
    installed.extend(m["key"] for m in listed if m.get("source") == url)
    assert any(m.get("source") == url for m in listed)


def test_jobs_no_wait_pause_resume_cancel_prune(
    cli: Cli, slow_model_server: SlowModelServer, server_version: tuple[int, ...]
) -> None:
    url = slow_model_server.add_model(rows=4000)  # ~12 s at 1 MB/s
    started = cli("--json", "install", "--no-wait", url)
    assert started.exit_code == 0, started.output
    (job,) = json_lines(started.stdout)
    job_id = job["job_id"]
    assert job["status"] in {"waiting", "downloading", "running"}

    listed = cli("--json", "jobs")
    assert listed.exit_code == 0
    assert job_id in [j["id"] for j in json.loads(listed.stdout)]
    table = cli("jobs")
    assert table.exit_code == 0 and "slow-embedding" in table.stdout

    wait_for_job_status(cli, job_id, {"downloading"})
    if server_version >= (6, 12):
        paused = cli("--json", "jobs", "pause", str(job_id))
        assert paused.exit_code == 0, paused.output
        assert json.loads(paused.stdout)["status"] == "paused"
        # 6.14.2 cancels a job resumed before its paused download has wound down
        time.sleep(1.0)
        resumed = cli("--json", "jobs", "resume", str(job_id))
        assert resumed.exit_code == 0, resumed.output
        assert json.loads(resumed.stdout)["status"] != "paused"
    else:
        old = cli("jobs", "pause", str(job_id))
        assert old.exit_code == 1 and "6.12" in old.stderr

    cancelled = cli("--json", "jobs", "cancel", str(job_id))
    assert cancelled.exit_code == 0, cancelled.output
    expected = [{"id": job_id, "cancelled": True, "status": "cancelled"}]
    assert json.loads(cancelled.stdout) == expected
    assert wait_for_job_status(cli, job_id, {"cancelled"})["status"] == "cancelled"
    again = cli("--json", "jobs", "cancel", str(job_id))
    assert again.exit_code == 0
    assert json.loads(again.stdout)[0]["cancelled"] is False

    assert cli("--json", "jobs", "prune").exit_code == 0
    gone = cli("jobs", "show", str(job_id))
    assert gone.exit_code == 1 and str(job_id) in gone.stderr
    assert cli("jobs", "cancel", "987654").exit_code == 1


def test_server_errors_and_usage(cli: Cli) -> None:
    assert cli("show", "no-such-key").exit_code == 1
    assert cli("show", "a/b").exit_code == 2
    bad = cli("list", "--type", "loar")  # the server's 422 lists the values it knows
    assert bad.exit_code == 2 and "did you mean 'lora'?" in bad.stderr, bad.output
    assert cli("frobnicate").exit_code == 2


def test_version_of_server_parses(invokeai_url: str) -> None:
    with InvokeAIClient.from_url(invokeai_url) as client:
        assert (6, 0) <= parse_version(client.server_version()) < (7, 0)
