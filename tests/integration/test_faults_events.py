"""The event stream dropped mid-download, and dropped for good: ``wait()``, ``wait_all``,
``apply_manifest`` and the CLI's progress bars carry on (the socket reconnects, or the
waits fall back to their polls) and end with the right final state, each model
installed once. Also: an async client closed while its socket reconnects leaves no
task, thread or aiohttp session behind.

Downloads come from ``slow_model_server`` (~1 MB/s, ~3 MB each); the socket.io
connection goes through the fault proxy, which drops it once the server reports a job
downloading. Sync and async clients.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from invokeai_py_client import AsyncInvokeAIClient, InvokeAIClient
from invokeai_py_client._async import backend
from testbed.fault_proxy import FaultProxy
from tests.integration._faults import Rule, direct, jobs_for, proxy, records_for

__all__ = ["direct", "proxy"]  # fixtures

pytestmark = pytest.mark.integration

MakeClient = Callable[..., Any]
SlowModelServer = Any
SOCKET = r"^/ws/socket\.io"
MID_DOWNLOAD = 100_000  # bytes: the job is surely downloading
TIMEOUT = 60.0
MODES = ("reconnect", "for-good")


class Dropper:
    """Drops the event stream once a job of ``sources`` is downloading (with
    ``for_good``, every later socket.io connection is reset too)."""

    def __init__(
        self, proxy: FaultProxy, direct: InvokeAIClient, sources: list[str], for_good: bool
    ) -> None:
        self.proxy, self.direct, self.sources, self.for_good = proxy, direct, sources, for_good
        self.dropped = 0
        self.status_then: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dropper", daemon=True)

    def __enter__(self) -> Dropper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            jobs = [j for s in self.sources for j in jobs_for(self.direct, s)]
            going = [j for j in jobs if j.bytes >= MID_DOWNLOAD and not j.is_terminal]
            if not going or not self.proxy.open_connections(SOCKET):
                continue
            if self.for_good:
                self.proxy.add(Rule("reset", path=SOCKET))
            self.status_then = str(going[0].status)
            self.dropped = self.proxy.drop_connections(SOCKET)
            return

    def check(self) -> None:
        """The stream was connected, and cut while a download ran."""
        assert self.dropped >= 1
        assert self.status_then == "downloading"
        if self.for_good:
            assert self.proxy.stats.count("GET", SOCKET, sent=False) >= 2  # it tried again
            assert self.proxy.open_connections(SOCKET) == 0


@pytest.fixture
def keys(invokeai_url: str) -> Iterator[list[str]]:
    """Model keys to delete after the test."""
    made: list[str] = []
    yield made
    with InvokeAIClient.from_url(invokeai_url, events=False) as c:
        for key in made:
            c.dnn_model_repo.delete_model(key)


def _once_each(direct: InvokeAIClient, sources: list[str], keys: list[str]) -> None:
    """Every source has one job and one record on the server."""
    for source in sources:
        assert len(jobs_for(direct, source)) == 1, source
        records = records_for(direct, source)
        keys.extend(m.key for m in records)
        assert len(records) == 1, source


@pytest.mark.parametrize("mode", MODES)
def test_wait_carries_on(
    mode: str,
    proxy: FaultProxy,
    direct: InvokeAIClient,
    make_client: MakeClient,
    slow_model_server: SlowModelServer,
    keys: list[str],
) -> None:
    url = slow_model_server.add_model(rows=500)
    client = make_client(proxy.url)
    client.events.connect()
    reports: list[Any] = []
    job = client.dnn_model_repo.install_model(url)
    with Dropper(proxy, direct, [url], mode == "for-good") as dropper:
        final = job.wait(timeout=TIMEOUT, on_progress=reports.append)
    dropper.check()
    assert final.is_success, final.describe()
    assert final.total_bytes == slow_model_server.size(url)
    assert reports[-1].fraction == 1.0 and reports[-1].status.is_success
    _once_each(direct, [url], keys)
    if mode == "reconnect":
        assert client.events.epoch >= 2  # connected again after the drop


@pytest.mark.parametrize("mode", MODES)
def test_wait_all_carries_on(
    mode: str,
    proxy: FaultProxy,
    direct: InvokeAIClient,
    make_client: MakeClient,
    slow_model_server: SlowModelServer,
    keys: list[str],
) -> None:
    urls = [slow_model_server.add_model(rows=300) for _ in range(3)]
    client = make_client(proxy.url)
    client.events.connect()
    jobs = [client.dnn_model_repo.install_model(url) for url in urls]
    with Dropper(proxy, direct, urls, mode == "for-good") as dropper:
        finals = client.dnn_model_repo.wait_all(jobs, timeout=TIMEOUT)
    dropper.check()
    assert [f.status for f in finals] == ["completed"] * 3, [f.describe() for f in finals]
    _once_each(direct, urls, keys)


@pytest.mark.parametrize("mode", MODES)
def test_apply_manifest_carries_on(
    mode: str,
    proxy: FaultProxy,
    direct: InvokeAIClient,
    make_client: MakeClient,
    slow_model_server: SlowModelServer,
    keys: list[str],
) -> None:
    urls = [slow_model_server.add_model(rows=300) for _ in range(2)]
    client = make_client(proxy.url)
    client.events.connect()
    manifest = {"version": 1, "models": [{"source": url} for url in urls]}
    with Dropper(proxy, direct, urls, mode == "for-good") as dropper:
        report = client.dnn_model_repo.apply_manifest(manifest, timeout=TIMEOUT)
    dropper.check()
    assert report.ok, report.to_dict()
    assert report.counts().get("done") == 2
    _once_each(direct, urls, keys)


@pytest.mark.parametrize("mode", MODES)
def test_cli_progress_carries_on(
    mode: str,
    proxy: FaultProxy,
    direct: InvokeAIClient,
    slow_model_server: SlowModelServer,
    keys: list[str],
) -> None:
    from invokeai_py_client.cli.app import app

    urls = [slow_model_server.add_model(rows=300) for _ in range(2)]
    with Dropper(proxy, direct, urls, mode == "for-good") as dropper:
        result = CliRunner().invoke(app, ["--url", proxy.url, "install", *urls])
    assert result.exit_code == 0, result.output
    dropper.check()
    assert result.stdout.count("✓ installed") == 2
    _once_each(direct, urls, keys)


def test_async_client_closed_while_reconnecting_leaves_nothing_open(proxy: FaultProxy) -> None:
    """The socket keeps reconnecting (every attempt reset); ``close()`` stops it, and no
    task, thread or aiohttp session is left (no ``ResourceWarning``)."""
    threads_before = set(threading.enumerate())

    async def main() -> set[asyncio.Task[Any]]:
        before = asyncio.all_tasks()
        client = AsyncInvokeAIClient(proxy.url)
        await client.events.connect()
        proxy.add(Rule("reset", path=SOCKET))
        proxy.drop_connections(SOCKET)
        sio = client.events._sio
        for _ in range(100):  # python-socketio notices and starts reconnecting
            if backend.is_reconnecting(sio) and proxy.stats.count(path=SOCKET, sent=False) > 2:
                break
            await asyncio.sleep(0.05)
        assert backend.is_reconnecting(sio)
        await client.close()
        await asyncio.sleep(0.1)
        return asyncio.all_tasks() - before

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        left = asyncio.run(main())
        gc.collect()
    assert left == set()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert set(threading.enumerate()) <= threads_before
