"""Fixtures for the library's integration tests (the server fixtures are in tests/conftest.py).

- ``client_kind``: ``"sync"`` or ``"async"``; every test that uses ``client`` or
  ``make_client`` (directly or through ``install_and_wait``) runs once for each.
- ``client``: on the session's server, an ``InvokeAIClient`` (``sync``) or a sync facade
  over an ``AsyncInvokeAIClient`` running on a background event loop (``async``; see
  ``_async_facade.py``). Same methods, same results, same exceptions.
- ``make_client``: ``make_client(url, **from_url_kwargs)`` builds a client of the test's
  kind (closed after the test); ``response_hook=`` installs an httpx response hook.
- ``server_version``: that server's version as a tuple, for version-gated expectations.
- ``installed``: a list to append model keys to; they are deleted after the test.
- ``install_and_wait``: install a source, wait for the job, register the key for cleanup.
- ``file_server``: a local HTTP server (thread, 127.0.0.1) serving tiny model files,
  optionally trickling them so an install job stays in ``downloading``.
- ``slow_model_server``: a local HTTP server (thread, 127.0.0.1) sending freshly written
  ~3 MB SD1 embeddings at about 1 MB/s (50 KB every 50 ms), with ``Range`` support, so a
  URL install spends a few seconds downloading (progress, pause/resume, cancel).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from invokeai_py_client import InvokeAIClient
from invokeai_py_client.client import parse_version
from invokeai_py_client.dnn_model import ModelInstJobHandle, ModelInstJobInfo
from testbed.slow_server import SlowFileServer
from tests.integration._async_facade import AsyncClientFacade

POLL = 0.1
TIMEOUT = 60.0
CLIENT_KINDS = ("sync", "async")

# An InvokeAIClient, or an AsyncClientFacade that behaves like one.
Client = Any
MakeClient = Callable[..., Client]


@pytest.fixture(params=CLIENT_KINDS, ids=CLIENT_KINDS)
def client_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def new_client(
    kind: str,
    url: str,
    *,
    response_hook: Callable[[httpx.Response], None] | None = None,
    **kwargs: Any,
) -> Client:
    """A client of ``kind`` on ``url``; ``kwargs`` go to ``from_url``."""
    if kind == "async":
        return AsyncClientFacade(url, response_hook=response_hook, **kwargs)
    if response_hook is not None:
        http = httpx.Client(
            timeout=kwargs.pop("timeout", 30), event_hooks={"response": [response_hook]}
        )
        return InvokeAIClient(url, http_client=http, **kwargs)
    return InvokeAIClient.from_url(url, **kwargs)


@pytest.fixture
def make_client(client_kind: str) -> Iterator[MakeClient]:
    """``make_client(url, **kwargs)``: a client of the test's kind, closed afterwards."""
    made: list[Client] = []

    def make(url: str, **kwargs: Any) -> Client:
        c = new_client(client_kind, url, **kwargs)
        made.append(c)
        return c

    yield make
    for c in made:
        with contextlib.suppress(Exception):
            c.close()


@pytest.fixture
def client(client_kind: str, invokeai_url: str) -> Iterator[Client]:
    with new_client(client_kind, invokeai_url) as c:
        yield c


@pytest.fixture(scope="session")
def server_version(invokeai_url: str) -> tuple[int, ...]:
    with InvokeAIClient.from_url(invokeai_url) as c:
        return parse_version(c.server_version())


@pytest.fixture
def installed(invokeai_url: str) -> Iterator[list[str]]:
    """Keys appended here are deleted when the test ends (whatever happened)."""
    keys: list[str] = []
    yield keys
    with InvokeAIClient.from_url(invokeai_url) as c:
        for key in keys:
            with contextlib.suppress(Exception):
                c.dnn_model_repo.delete_model(key)


InstallAndWait = Callable[..., tuple[ModelInstJobHandle, ModelInstJobInfo]]


@pytest.fixture
def install_and_wait(client: Client, installed: list[str]) -> InstallAndWait:
    """``install_and_wait(source, **install_kwargs) -> (handle, final info)``."""

    def run(source: str | Path, **kwargs: Any) -> tuple[ModelInstJobHandle, ModelInstJobInfo]:
        handle = client.dnn_model_repo.install_model(source, **kwargs)
        info = handle.wait(timeout=TIMEOUT, poll_interval=POLL)
        if info.model_key:
            installed.append(info.model_key)
        return handle, info

    return run


# -- the command line ---------------------------------------------------------------------

Cli = Callable[..., Any]


@pytest.fixture
def cli(invokeai_url: str) -> Cli:
    """``cli(*args, input=None)``: run ``invokeai-models --url <test bed> *args`` in-process."""
    from invokeai_py_client.cli.app import app

    def run(*args: str, input: str | None = None) -> Any:
        return CliRunner().invoke(app, ["--url", invokeai_url, *args], input=input)

    return run


def json_lines(text: str) -> list[dict[str, Any]]:
    """The objects of a --json output: stdout holds one JSON document, an array here."""
    value = json.loads(text)
    assert isinstance(value, list), text
    return value


# -- a local HTTP server for URL installs ------------------------------------------------


@dataclass
class FileServer:
    """Serves registered files at ``http://127.0.0.1:PORT/<name>``."""

    base_url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    slow: set[str] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    # a trickled file claims this size and sends 1 KiB every 50 ms until stopped
    slow_size: int = 64 * 2**20

    def add(self, path: Path, *, slow: bool = False) -> str:
        """Serve ``path`` under its file name; return its URL."""
        self.files[path.name] = path.read_bytes()
        if slow:
            self.slow.add(path.name)
        return f"{self.base_url}/{path.name}"


def _handler(state: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _head(self, name: str) -> bool:
            state.requests.append((self.command, self.path, dict(self.headers.items())))
            if name not in state.files:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return False
            size = state.slow_size if name in state.slow else len(state.files[name])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            return True

        def do_HEAD(self) -> None:
            self._head(self.path.split("?", 1)[0].lstrip("/"))

        def do_GET(self) -> None:
            name = self.path.split("?", 1)[0].lstrip("/")
            if not self._head(name):
                return
            try:
                if name not in state.slow:
                    self.wfile.write(state.files[name])
                    return
                data = state.files[name]
                sent = 0
                deadline = time.monotonic() + 2 * TIMEOUT
                while not state.stop.is_set() and time.monotonic() < deadline:
                    chunk = (data[sent : sent + 1024] or b"\0" * 1024)[:1024]
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    sent += len(chunk)
                    time.sleep(0.05)
                self.close_connection = True
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                self.close_connection = True

    return Handler


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    state = FileServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, name="tiny-file-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


# -- a throttled local HTTP server for slow URL installs -----------------------------------


class SlowModelServer(SlowFileServer):
    """``testbed.slow_server.SlowFileServer`` at ~1 MB/s; ``add_model(rows=1000)`` writes
    a new ~3 MB model into the test's folder and returns its URL."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory

    def add_model(  # type: ignore[override]
        self, rows: int = 1000, rate: int | None = None
    ) -> str:
        return super().add_model(self.directory, rows, rate)


@pytest.fixture
def slow_model_server(tmp_path: Path) -> Iterator[SlowModelServer]:
    directory = tmp_path / "slow-server"
    directory.mkdir()
    with SlowModelServer(directory) as server:
        yield server
