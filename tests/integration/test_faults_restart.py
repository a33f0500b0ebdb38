"""The server killed (SIGKILL) while clients wait on it, then restarted on the same port
and root: a dedicated server for this module (never the session's).

While slow URL downloads run, five callers wait: a sync ``wait()``, an async ``wait()``,
a sync and an async ``apply_manifest``, and ``invokeai-models install`` in a subprocess
(its progress bars). The server is killed once; each must end with a clear connection
error within seconds. The server is restarted on the same port and root. Install jobs
live in its memory, so a handle from before raises ``InstallJobLostError``; but 6.12+
also restores interrupted URL downloads as new jobs (ids from 0 again), so a handle
whose id and source match a restored job follows it to its end (never another job's).
A second ``apply`` of each manifest (the library's and the CLI's) converges, and no
source is installed twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from invokeai_py_client import InvokeAIClient
from invokeai_py_client.errors import APIConnectionError, InstallJobLostError
from testbed import tiny_models as tm
from testbed.server import InvokeAIServer
from testbed.slow_server import SlowFileServer
from tests.conftest import ENDPOINT_ENV
from tests.integration._async_facade import AsyncClientFacade
from tests.integration._faults import jobs_for, records_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(os.environ.get(ENDPOINT_ENV)), reason="kills its own server"),
]

SLOW_RATE = 60_000  # bytes/s while the server is killed: the downloads are mid-way
FAST_RATE = 20_000_000  # after the restart
WITHIN = 10.0  # s from the kill to each caller's error ("within seconds")
CLI = [str(Path(sys.executable).with_name("invokeai-models"))]


@dataclass
class Outcome:
    """How one waiting caller ended: its result or error, and when."""

    result: Any = None
    error: BaseException | None = None
    ended: float = 0.0


@dataclass
class Crash:
    """What the scenario saw, for the tests below to check."""

    server: InvokeAIServer
    killed: float = 0.0
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    handles: dict[str, Any] = field(default_factory=dict)
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)
    cli_source: str = ""
    cli_stderr: str = ""
    clients: dict[str, Any] = field(default_factory=dict)
    restored: list[str] = field(default_factory=list)  # sources of jobs after the restart


def _in_thread(outcome: Outcome, call: Callable[[], Any]) -> threading.Thread:
    def run() -> None:
        try:
            outcome.result = call()
        except BaseException as exc:
            outcome.error = exc
        outcome.ended = time.monotonic()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _under_way(direct: InvokeAIClient, sources: list[str]) -> dict[str, str]:
    """The status of each source's job ("" for none yet)."""
    jobs = {j.info.source: j.info for j in direct.dnn_model_repo.list_install_jobs()}
    return {s: str(jobs[s].status) if s in jobs else "" for s in sources}


def _all_going(statuses: dict[str, str]) -> bool:
    """Every job exists, none has ended, downloads run (the server runs a few at once)."""
    values = list(statuses.values())
    return all(v in ("waiting", "downloading") for v in values) and "downloading" in values


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crash]:
    """Start a server, start every waiting caller, kill the server, restart it."""
    files = tmp_path_factory.mktemp("crash-models")
    with InvokeAIServer(start_timeout=600) as server, SlowFileServer(rate=SLOW_RATE) as slow:
        seen = Crash(server)
        url = server.url
        sync, facade = InvokeAIClient(url), AsyncClientFacade(url)
        seen.clients = {"sync": sync, "async": facade}
        for kind, client in (("sync", sync), ("async", facade)):  # ids the restart forgets
            done = client.dnn_model_repo.install_model(tm.write_embedding_sd1(files), inplace=True)
            assert done.wait(timeout=60).is_success
            seen.handles[f"done-{kind}"] = done
        sources = [slow.add_model(files, rows=400) for _ in range(6)]
        local = str(tm.write_embedding_sd1(files))
        seen.manifests = {
            "sync": {"models": [{"source": sources[2]}, {"source": local, "inplace": True}]},
            "async": {"models": [{"source": sources[3]}, {"source": sources[4]}]},
        }
        seen.cli_source = sources[5]
        threads = []
        for kind, client, source in (("sync", sync, sources[0]), ("async", facade, sources[1])):
            handle = seen.handles[kind] = client.dnn_model_repo.install_model(source)
            outcome = seen.outcomes[f"wait-{kind}"] = Outcome()
            threads.append(_in_thread(outcome, partial(handle.wait, timeout=300)))
        for kind, client in (("sync", sync), ("async", facade)):
            outcome = seen.outcomes[f"apply-{kind}"] = Outcome()
            repo, manifest = client.dnn_model_repo, seen.manifests[kind]
            threads.append(_in_thread(outcome, partial(repo.apply_manifest, manifest, timeout=300)))
        env = {**os.environ, "COLUMNS": "120", "TTY_COMPATIBLE": "1"}
        env["INVOKEAI_MODELS_CONFIG_DIR"] = str(tmp_path_factory.mktemp("cli-config"))
        cli = subprocess.Popen(
            [*CLI, "--url", url, "install", seen.cli_source],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        cli_outcome = seen.outcomes["cli"] = Outcome()
        with InvokeAIClient(url, events=False) as direct:
            deadline = time.monotonic() + 120
            wanted = [sources[i] for i in (0, 1, 2, 3, 4, 5)]
            while not _all_going(statuses := _under_way(direct, wanted)):
                assert time.monotonic() < deadline, f"the installs did not start: {statuses}"
                time.sleep(0.2)
        time.sleep(1.0)  # every caller is in its wait
        seen.killed = time.monotonic()
        server.kill()
        try:
            _, seen.cli_stderr = cli.communicate(timeout=60)
        finally:
            cli.kill()
        cli_outcome.ended, cli_outcome.result = time.monotonic(), cli.returncode
        for thread in threads:
            thread.join(60)
        for name in list(slow.files):  # the second round needs no slow downloads
            slow.files[name] = (slow.files[name][0], FAST_RATE)
        server.restart()
        with InvokeAIClient(url, events=False) as direct:  # restored downloads (6.12+) end
            restored = direct.dnn_model_repo.list_install_jobs()
            direct.dnn_model_repo.wait_all(restored, timeout=120)
            seen.restored = [job.info.source or "" for job in restored]
        try:
            yield seen
        finally:
            sync.close()
            facade.close()


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_wait_ends_in_a_connection_error(crash: Crash, kind: str) -> None:
    outcome = crash.outcomes[f"wait-{kind}"]
    assert isinstance(outcome.error, APIConnectionError), outcome.error
    assert outcome.error.route.startswith("/api/v2/models/install")
    print(f"wait ({kind}): {outcome.error} after {outcome.ended - crash.killed:.1f} s")
    assert outcome.ended - crash.killed < WITHIN


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_apply_reports_a_connection_error(crash: Crash, kind: str) -> None:
    outcome = crash.outcomes[f"apply-{kind}"]
    assert outcome.error is None, outcome.error
    report = outcome.result
    assert not report.ok
    failed = report.of("failed")
    assert failed, report.to_dict()
    assert all("/api/v2/models/" in str(r.error) for r in failed), report.to_dict()
    print(f"apply ({kind}): {failed[0].error} after {outcome.ended - crash.killed:.1f} s")
    assert outcome.ended - crash.killed < WITHIN


def test_cli_ends_with_a_connection_error(crash: Crash) -> None:
    outcome = crash.outcomes["cli"]
    assert outcome.result == 1, crash.cli_stderr
    assert "is an InvokeAI server running at" in crash.cli_stderr
    assert "Traceback" not in crash.cli_stderr
    print(f"cli: {crash.cli_stderr.strip()[-300:]} after {outcome.ended - crash.killed:.1f} s")
    assert outcome.ended - crash.killed < WITHIN


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_after_the_restart_a_job_from_before_is_lost(crash: Crash, kind: str) -> None:
    handle = crash.handles[f"done-{kind}"]  # a local install: never restored
    with pytest.raises(InstallJobLostError) as caught:
        handle.refresh()
    assert caught.value.info.id == handle.id
    assert caught.value.info.is_success  # the last state it had


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_after_the_restart_a_wait_never_takes_another_job(crash: Crash, kind: str) -> None:
    handle = crash.handles[kind]
    try:
        final = handle.wait(timeout=30)
    except InstallJobLostError as lost:
        assert lost.info.source == handle.info.source
        return
    assert handle.info.source in crash.restored  # 6.12+ resumed this very download
    assert final.source == handle.info.source and final.is_success


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_second_apply_converges(crash: Crash, kind: str) -> None:
    client, manifest = crash.clients[kind], crash.manifests[kind]
    report = client.dnn_model_repo.apply_manifest(manifest, timeout=120)
    assert report.ok, report.to_dict()
    again = client.dnn_model_repo.apply_manifest(manifest, timeout=120)
    assert again.ok and not again.plan.has_drift  # nothing left to do
    with InvokeAIClient(crash.server.url, events=False) as direct:
        for entry in manifest["models"]:
            assert len(records_for(direct, entry["source"])) == 1, entry
            assert len(jobs_for(direct, entry["source"])) <= 1, entry  # since the restart


def test_the_cli_apply_converges_and_nothing_is_installed_twice(
    crash: Crash, tmp_path: Path
) -> None:
    manifest = tmp_path / "models.json"
    manifest.write_text(json.dumps({"version": 1, "models": [{"source": crash.cli_source}]}))
    env = {**os.environ, "INVOKEAI_MODELS_CONFIG_DIR": str(tmp_path)}
    url = crash.server.url
    for _ in range(2):
        done = subprocess.run(
            [*CLI, "--url", url, "apply", str(manifest)],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    with InvokeAIClient(url, events=False) as direct:
        sources = [crash.handles[k].info.source for k in ("sync", "async")] + [crash.cli_source]
        for manifest_of in crash.manifests.values():
            sources += [entry["source"] for entry in manifest_of["models"]]
        counts = {source: len(records_for(direct, source)) for source in sources}
    assert counts[crash.cli_source] == 1
    assert max(counts.values()) == 1, counts
