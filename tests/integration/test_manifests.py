"""Models as code against real servers: plan, apply (twice), prune, lock, export, servers.

The session's server is shared with other tests, so what could touch models a test did
not make (``--prune``, export of everything) runs on a second, private test-bed server.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from invokeai_py_client import InvokeAIClient
from invokeai_py_client.dnn_model import ModelManifest, PlanAction
from testbed import tiny_models as tm
from testbed.server import start_server
from tests.integration.conftest import Client, FileServer, MakeClient, json_lines

TIMEOUT = 60.0


# -- counting what is sent -------------------------------------------------------------


@dataclass
class Sent:
    requests: list[tuple[str, str]]

    @property
    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] in {"POST", "PUT", "PATCH", "DELETE"}]

    @property
    def lists(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r == ("GET", "/api/v2/models/")]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    """Every HTTP request any client sends during the test (sync and async transports)."""
    seen = Sent([])
    sync_send = httpx.HTTPTransport.handle_request
    async_send = httpx.AsyncHTTPTransport.handle_async_request

    def handle(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        seen.requests.append((request.method, request.url.path))
        return sync_send(self, request)

    async def handle_async(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> Any:
        seen.requests.append((request.method, request.url.path))
        return await async_send(self, request)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", handle)
    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", handle_async)
    return seen


# -- a private second server -----------------------------------------------------------


@pytest.fixture(scope="module")
def fresh_url() -> Iterator[str]:
    """A second test-bed server, for this module only."""
    if os.environ.get("INVOKE_AI_ENDPOINT"):
        pytest.skip("needs the test bed to start a second server (INVOKE_AI_ENDPOINT is set)")
    server = start_server()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def fresh(fresh_url: str) -> Iterator[str]:
    """The second server, emptied before the test."""
    with InvokeAIClient.from_url(fresh_url) as c:
        for model in c.dnn_model_repo.list_models():
            c.dnn_model_repo.delete_model(model.key)
    yield fresh_url


def write_manifest(path: Path, entries: list[dict[str, Any]], **top: Any) -> Path:
    path.write_text(json.dumps({"version": 1, **top, "models": entries}))
    return path


LORA_SETTINGS_SINCE = (6, 6)  # InvokeAI 6.6 took a LoRA's default settings
TinySet = Callable[[Path], list[dict[str, Any]]]


@pytest.fixture(scope="module")
def tiny_set(server_version: tuple[int, ...]) -> TinySet:
    """Three tiny models with settings: a LoRA and an embedding in place, a VAE moved. The
    LoRA's default weight only where the server takes it."""

    def entries(folder: Path) -> list[dict[str, Any]]:
        lora: dict[str, Any] = {
            "source": str(tm.write_lora_sd1(folder)),
            "name": "Tiny LoRA",
            "trigger_phrases": ["tiny", "lora"],
            "inplace": True,
        }
        if server_version >= LORA_SETTINGS_SINCE:
            lora["default_settings"] = {"weight": 0.75}
        return [
            lora,
            {
                "source": str(tm.write_embedding_sd1(folder)),
                "name": "tiny-embedding",
                "description": "A tiny embedding",
                "inplace": True,
            },
            {"source": str(tm.write_vae_sd1(folder)), "name": "Tiny VAE"},
        ]

    return entries


def keys_of(report: Any) -> list[str]:
    return [r.model.key for r in report.results if r.model is not None]


# -- the library, sync and async -------------------------------------------------------


def test_apply_twice_the_second_sends_no_write(
    client: Client, tiny_models_dir: Path, tiny_set: TinySet, installed: list[str], sent: Sent
) -> None:
    repo = client.dnn_model_repo
    entries = tiny_set(tiny_models_dir)
    manifest = ModelManifest.from_dict({"models": entries})

    first = repo.apply_manifest(manifest, timeout=TIMEOUT)
    installed.extend(keys_of(first))
    assert first.counts() == {"done": 3, "skipped": 0, "failed": 0}, first.to_dict()
    lora = repo.get_model_by_key(first.results[0].model.key)
    assert lora is not None and lora.name == "Tiny LoRA"
    assert sorted(lora.trigger_phrases or []) == ["lora", "tiny"]
    assert (lora.default_settings or {}).get("weight") == entries[0].get(
        "default_settings", {}
    ).get("weight")
    embedding = repo.get_model_by_key(first.results[1].model.key)
    assert embedding is not None and embedding.description == "A tiny embedding"

    plan = repo.plan_manifest(manifest)
    assert not plan.has_drift, plan.to_dict()
    assert [c.matched_by for c in plan.changes] == ["source"] * 3

    sent.requests.clear()
    second = repo.apply_manifest(manifest, timeout=TIMEOUT)
    assert second.counts() == {"done": 0, "skipped": 3, "failed": 0}
    assert sent.writes == [] and len(sent.lists) == 1, sent.requests


def test_settings_drift_is_updated_in_place(
    client: Client, tiny_models_dir: Path, tiny_set: TinySet, installed: list[str], sent: Sent
) -> None:
    repo = client.dnn_model_repo
    entry = tiny_set(tiny_models_dir)[0]
    first = repo.apply_manifest({"models": [entry]}, timeout=TIMEOUT)
    installed.extend(keys_of(first))
    key = first.results[0].model.key
    setting: dict[str, Any] = (
        {"default_settings": {"weight": 0.5}}
        if "default_settings" in entry
        else {"description": "drifted"}
    )
    changed = {**entry, "name": "Renamed LoRA", **setting}

    plan = repo.plan_manifest({"models": [changed]})
    (change,) = plan.changes
    assert change.action is PlanAction.UPDATE and change.model.key == key
    assert set(change.changes) == {"name", *setting}
    sent.requests.clear()
    report = repo.apply_manifest({"models": [changed]})
    assert report.counts()["done"] == 1
    assert [m for m, _ in sent.writes] == ["PATCH"]
    model = repo.get_model_by_key(key)
    assert model.name == "Renamed LoRA"
    if "default_settings" in setting:
        assert model.default_settings["weight"] == 0.5
    else:
        assert model.description == "drifted"
    assert not repo.plan_manifest({"models": [changed]}).has_drift


def test_one_failure_does_not_stop_the_rest(
    client: Client,
    tiny_models_dir: Path,
    tiny_set: TinySet,
    installed: list[str],
    file_server: FileServer,
) -> None:
    good = tiny_set(tiny_models_dir)
    missing = {"source": str(tiny_models_dir / "not-there.safetensors")}
    gone = {"source": f"{file_server.base_url}/no-such-file.safetensors"}  # 404 on download
    entries = [good[0], missing, gone, good[1]]
    report = client.dnn_model_repo.apply_manifest(
        {"models": entries}, concurrency=2, timeout=TIMEOUT
    )
    installed.extend(keys_of(report))
    assert [r.outcome for r in report.results] == ["done", "failed", "failed", "done"]
    assert not report.ok
    assert "409" in str(report.results[1].error)  # the server refused the path
    assert report.results[2].job is not None  # the job ran and ended in error
    assert report.results[2].job.status == "error", report.results[2].to_dict()


def test_every_install_is_sent_first_then_one_wait_follows_all(
    client: Client, tiny_models_dir: Path, installed: list[str], sent: Sent
) -> None:
    paths = [tm.write_embedding_sd1(tiny_models_dir) for _ in range(6)]
    entries = [{"source": str(p), "inplace": True} for p in paths]
    report = client.dnn_model_repo.apply_manifest(
        {"models": entries}, concurrency=2, timeout=TIMEOUT
    )
    installed.extend(keys_of(report))
    assert report.counts() == {"done": 6, "skipped": 0, "failed": 0}, report.to_dict()
    install = ("POST", "/api/v2/models/install")
    posts = [i for i, r in enumerate(sent.requests) if r == install]
    assert posts == list(range(posts[0], posts[0] + 6)), sent.requests  # before any wait
    # a job is fetched alone only when an event asked about it (6.8 sends an end without
    # its record), or as one of the last two; polls list every job in one request
    per_job = [r for r in sent.requests if r[1].startswith("/api/v2/models/install/")]
    assert len(per_job) <= len(entries) + 2, sent.requests


def test_a_lock_mismatch_is_a_failure(
    client: Client, tiny_models_dir: Path, installed: list[str], file_server: FileServer
) -> None:
    repo = client.dnn_model_repo
    path = tm.write_lora_sd1(tiny_models_dir, "locked-lora.safetensors")
    url = file_server.add(path)
    first = repo.apply_manifest({"models": [{"source": url}]}, timeout=TIMEOUT)
    installed.extend(keys_of(first))
    model = first.results[0].model
    locked = {"models": [{"source": url, "hash": model.hash}]}
    assert not repo.plan_manifest(locked).has_drift

    repo.delete_model(model.key)
    file_server.files[path.name] = tm.write_lora_sd1(
        tiny_models_dir, "other.safetensors"
    ).read_bytes()
    report = repo.apply_manifest(locked, timeout=TIMEOUT)
    installed.extend(keys_of(report))
    (result,) = report.results
    assert result.outcome == "failed" and "hash mismatch" in str(result.error)
    assert result.model is not None and result.model.hash != model.hash
    assert model.hash in str(result.error)
    again = repo.plan_manifest(locked)
    assert again.changes[0].action is PlanAction.HASH_MISMATCH


def test_export_never_writes_a_token(
    client: Client, tiny_models_dir: Path, installed: list[str], file_server: FileServer
) -> None:
    repo = client.dnn_model_repo
    secret = "s3cr3t-QUERY-TOKEN-5d2"
    url = file_server.add(tm.write_lora_sd1(tiny_models_dir)) + f"?token={secret}"
    info = repo.install_model(url).wait(timeout=TIMEOUT)
    installed.append(info.model_key)
    assert info.is_success
    recorded = repo.get_model_by_key(info.model_key)
    assert recorded is not None and secret in (recorded.source or "")  # the server keeps it

    exported = repo.export_manifest(lock=True)
    text = exported.dumps()
    assert secret not in text and "?token=***" in text
    (entry,) = [e for e in exported.models if e.hash == recorded.hash]
    plan = repo.plan_manifest({"models": [entry.model_dump(exclude_none=True)]})
    assert plan.changes[0].action is PlanAction.KEEP and plan.changes[0].matched_by == "source"


def test_prune_and_export_to_a_fresh_server(
    fresh: str, make_client: MakeClient, tiny_models_dir: Path, tiny_set: TinySet, sent: Sent
) -> None:
    source = make_client(fresh)
    repo = source.dnn_model_repo
    entries = tiny_set(tiny_models_dir)
    report = repo.apply_manifest({"models": entries[:2]}, timeout=TIMEOUT)
    assert report.ok
    extra = repo.install_model(entries[2]["source"]).wait(timeout=TIMEOUT)
    assert extra.is_success

    plan = repo.plan_manifest({"models": entries[:2]}, prune=True)
    (doomed,) = plan.of(PlanAction.DELETE)
    assert doomed.model.key == extra.model_key
    pruned = repo.apply_manifest({"models": entries[:2]}, prune=True)
    assert pruned.counts() == {"done": 1, "skipped": 2, "failed": 0}
    assert repo.get_model_by_key(extra.model_key) is None

    exported = repo.export_manifest(lock=True)
    assert len(exported.models) == 2 and all(e.hash for e in exported.models)
    before = {_fingerprint(m) for m in repo.list_models()}
    for model in repo.list_models():  # the same server, emptied, is a fresh one
        repo.delete_model(model.key)
    again = repo.apply_manifest(ModelManifest.loads(exported.dumps()), timeout=TIMEOUT)
    assert again.ok and again.counts()["done"] == 2, again.to_dict()
    assert {_fingerprint(m) for m in repo.list_models()} == before


def _fingerprint(model: Any) -> tuple[Any, ...]:
    settings = {k: v for k, v in (model.default_settings or {}).items() if v is not None}
    return (
        model.source,
        model.name,
        model.description,
        tuple(sorted(model.trigger_phrases or ())),
        tuple(sorted(settings.items())),
        str(model.type),
        str(model.base),
        model.hash,
    )


# -- the CLI ---------------------------------------------------------------------------


def run_cli(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Any:
    from invokeai_py_client.cli.app import app

    return CliRunner().invoke(app, list(args), input=input, env=env)


def test_cli_plan_apply_export_on_one_server(
    invokeai_url: str,
    tiny_models_dir: Path,
    tiny_set: TinySet,
    installed: list[str],
    tmp_path: Path,
) -> None:
    file = write_manifest(tmp_path / "models.json", tiny_set(tiny_models_dir))
    drift = run_cli("--url", invokeai_url, "--json", "plan", str(file), "--exit-code")
    assert drift.exit_code == 3, drift.output
    (doc,) = json_lines(drift.stdout)
    assert doc["drift"] is True and doc["counts"]["install"] == 3

    applied = run_cli("--url", invokeai_url, "--json", "apply", str(file))
    (doc,) = json_lines(applied.stdout)
    installed.extend(r["key"] for r in doc["results"] if r["key"])
    assert applied.exit_code == 0, applied.output
    assert doc["ok"] and doc["counts"] == {"done": 3, "skipped": 0, "failed": 0}

    quiet = run_cli("--url", invokeai_url, "plan", str(file), "--exit-code")
    assert quiet.exit_code == 0 and "3 already there" in quiet.stdout
    text = run_cli("--url", invokeai_url, "apply", str(file))
    assert text.exit_code == 0 and ": 3 already there\n" in text.stdout


def test_cli_bad_manifests_and_usage(invokeai_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  - source: o/r\n    trigger_phrase: [x]\n")
    result = run_cli("--url", invokeai_url, "plan", str(bad))
    assert result.exit_code == 2
    assert "models[0].trigger_phrase: unknown field (did you mean 'trigger_phrases'?)" in (
        result.stderr
    )
    token = tmp_path / "token.yaml"
    token.write_text("models:\n  - source: o/r\n    access_token: hf_SECRETSECRET\n")
    result = run_cli("--url", invokeai_url, "--debug", "plan", str(token))
    assert result.exit_code == 2 and "never the token itself" in result.stderr
    missing = run_cli("--url", invokeai_url, "plan", str(tmp_path / "absent.yaml"))
    assert missing.exit_code == 2
    several = run_cli("--url", invokeai_url, "--url", invokeai_url, "list")
    assert several.exit_code == 2 and "only plan and apply" in several.stderr
    unset = write_manifest(
        tmp_path / "unset.json", [{"source": "o/r", "access_token": "${NO_SUCH_VAR_X}"}]
    )
    result = run_cli("--url", invokeai_url, "apply", str(unset))
    assert result.exit_code == 2 and "NO_SUCH_VAR_X" in result.stderr


def test_cli_prune_needs_yes_off_a_terminal(
    fresh: str, tiny_models_dir: Path, tiny_set: TinySet, tmp_path: Path
) -> None:
    entries = tiny_set(tiny_models_dir)
    with InvokeAIClient.from_url(fresh) as c:
        assert c.dnn_model_repo.apply_manifest({"models": entries}).ok
    file = write_manifest(tmp_path / "two.json", entries[:2])
    refused = run_cli("--url", fresh, "apply", "--prune", str(file))
    assert refused.exit_code == 2 and "without --yes" in refused.stderr
    with InvokeAIClient.from_url(fresh) as c:
        assert len(c.dnn_model_repo.list_models()) == 3
    plan = run_cli("--url", fresh, "--json", "plan", "--prune", str(file))
    (doc,) = json_lines(plan.stdout)
    assert doc["counts"]["delete"] == 1
    done = run_cli("--url", fresh, "--json", "apply", "--prune", "--yes", str(file))
    assert done.exit_code == 0, done.output
    (doc,) = json_lines(done.stdout)
    assert [r["outcome"] for r in doc["results"] if r["action"] == "delete"] == ["done"]

    out = tmp_path / "lock.yaml"
    exported = run_cli("--url", fresh, "export", "--lock", "-o", str(out))
    assert exported.exit_code == 0 and "wrote 2 model(s)" in exported.stderr
    locked = ModelManifest.load(out)
    assert len(locked.models) == 2 and all(e.hash for e in locked.models)
    as_json = run_cli("--url", fresh, "--json", "export")
    assert len(json.loads(as_json.stdout)["models"]) == 2


def test_cli_several_servers_at_once(
    invokeai_url: str,
    fresh: str,
    tiny_models_dir: Path,
    tiny_set: TinySet,
    installed: list[str],
    tmp_path: Path,
) -> None:
    entries = tiny_set(tiny_models_dir)[:2]  # in place: both servers read the same files
    file = write_manifest(tmp_path / "m.json", entries)
    result = run_cli("--url", invokeai_url, "--url", fresh, "--json", "apply", str(file))
    docs = json_lines(result.stdout)
    for doc in docs:
        if doc["server"] == invokeai_url:
            installed.extend(r["key"] for r in doc["results"] if r["key"])
    assert result.exit_code == 0, result.output
    assert [d["server"] for d in docs] == [invokeai_url, fresh]
    assert all(d["counts"] == {"done": 2, "skipped": 0, "failed": 0} for d in docs)

    # servers: in the file (with a token from the environment), one of them down
    secret = "tok-NEVER-SHOWN-7c1e"
    listed = write_manifest(
        tmp_path / "servers.json",
        entries,
        servers=[
            {"url": fresh, "token": "${FLEET_TOKEN}"},
            "http://127.0.0.1:9",  # nothing listens there
        ],
    )
    result = run_cli("--debug", "--json", "plan", str(listed), env={"FLEET_TOKEN": secret})
    assert result.exit_code == 1, result.output
    ok, down = json_lines(result.stdout)
    assert ok["server"] == fresh and ok["drift"] is False
    assert down["server"] == "http://127.0.0.1:9" and "hint" in down
    assert secret not in result.output
    unset = run_cli("plan", str(listed))
    assert unset.exit_code == 2 and "FLEET_TOKEN" in unset.stderr
