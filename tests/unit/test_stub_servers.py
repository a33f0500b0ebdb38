"""The client against tiny local HTTP servers (offline, real sockets, no respx).

Each fixture starts a ``ThreadingHTTPServer`` on 127.0.0.1 (port 0) in a daemon thread
with one scripted behaviour, and stops it at teardown:

- ``held_patch_stub``: every GET answers a plain-text 500 and then drops the connection
  without a ``Connection: close`` header; PATCH answers the record once the test releases
  it. A 500 on one call must not break another call in flight on the same client.
- ``busy_stub``: the same, PATCH answering after 20 ms, with the 500 dropping the
  connection unannounced or saying ``Connection: close``; 8-way contention.
- ``late_drop_stub``: the 500's connection is dropped 0.3 s after the answer, as uvicorn
  does. httpcore's pool (1.0.9) may have promised that connection to a waiting request
  (encode/httpcore#1110); the library must not let it go back as idle.
- ``trickle_stub``: a 200 whose body comes one byte every 0.4 s: ``timeout`` bounds the
  whole call, not each read.
- ``html_stub``: 200 with an HTML login page: never a success.
- ``echo_stub``: a 500 whose body echoes the request line's query (with a token): the
  token must not reach exceptions or logs.

Clients use ``verify=False`` (plain HTTP): it spares loading the CA bundle (~40 ms) for
each client, and the library builds a new one after a 5xx. The async client is imported
inside the async tests, so the sync ones run without it.
Pinned on 18a9324 (before the async core), where all of them fail.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import pytest

from invokeai_py_client import (
    APITimeoutError,
    InvokeAIClient,
    InvokeAIError,
    ServerError,
    UnexpectedResponseError,
)

KEY = "abc123"
SECRET = "tok-SECRET-123"
TRIALS = 100
TRICKLE_SECONDS = 10.0
LOGIN_PAGE = b"<!doctype html><html><body><form action='/login'>Sign in</form></body></html>"

# -- the stub server -------------------------------------------------------------------


@dataclass
class Stub:
    """A running stub: its URL, and the events the test and the handler share."""

    url: str = ""
    patch_delay: float = 0.0  # seconds PATCH sleeps before it answers
    hold_patch: bool = False  # PATCH waits for ``release`` (set by the test)
    announce_close: bool = False  # a dropping answer says ``Connection: close``
    drop_after: float = 0.0  # seconds a dropping answer's connection stays open (uvicorn
    # first logs the error), instead of its FIN going out with the answer
    patch_arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stub: Stub

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-answer is what some tests do; stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connections get pooled and reused
    timeout = 15  # idle keep-alive handler threads end on their own
    disable_nagle_algorithm = True  # no 40 ms Nagle/delayed-ACK stall per answer

    @property
    def stub(self) -> Stub:
        return cast(_Server, self.server).stub

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reply(
        self,
        status: int,
        body: bytes | dict[str, Any] = b"",
        content_type: str = "application/json",
        *,
        drop: bool = False,
        announce: bool = False,
    ) -> None:
        """Answer; ``drop`` then closes the connection, unannounced unless ``announce``.

        For ``drop`` the answer is corked and then sent together with the FIN (unless
        the stub's ``drop_after``), so the client sees the connection closed before it
        can pool and reuse it: a lost write then is the client's fault, not a keep-alive
        race of the stub.
        """
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        cork = getattr(socket, "TCP_CORK", None)
        if drop and cork is not None and not self.stub.drop_after:
            self.connection.setsockopt(socket.IPPROTO_TCP, cork, 1)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if announce:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        if drop:
            self.close_connection = True
            time.sleep(self.stub.drop_after)
            with suppress(OSError):
                self.connection.shutdown(socket.SHUT_WR)

    def _unknown(self) -> None:
        self._body()
        self._reply(404, {"detail": "Not Found"})

    do_GET = do_POST = do_PATCH = do_DELETE = _unknown


def _record(key: str, name: str = "x") -> dict[str, Any]:
    return {
        "key": key,
        "hash": "blake3:00",
        "path": "/m/x.safetensors",
        "file_size": 10,
        "name": name,
        "description": None,
        "source": "/m/x.safetensors",
        "source_type": "path",
        "source_api_response": None,
        "cover_image": None,
        "type": "lora",
        "format": "lycoris",
        "base": "sd-1",
        "trigger_phrases": None,
        "default_settings": None,
    }


@contextmanager
def _serve(handler: type[_Handler], stub: Stub | None = None) -> Iterator[Stub]:
    stub = stub or Stub()
    server = _Server(("127.0.0.1", 0), handler)
    server.stub = stub
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield stub
    finally:
        stub.stop.set()
        stub.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


# -- behaviours ------------------------------------------------------------------------


class _FailingReadsHandler(_Handler):
    """GET: 500 text/plain, then the connection is dropped. PATCH: the updated record."""

    def do_GET(self) -> None:
        self._reply(
            500,
            b"Internal Server Error",
            "text/plain; charset=utf-8",
            drop=True,
            announce=self.stub.announce_close,
        )

    def do_PATCH(self) -> None:
        name = json.loads(self._body() or b"{}").get("name", "x")
        self.stub.patch_arrived.set()
        if self.stub.hold_patch:
            self.stub.release.wait(3)
        elif self.stub.patch_delay:
            time.sleep(self.stub.patch_delay)
        self._reply(200, _record(self.path.rsplit("/", 1)[-1], name))


class _TrickleHandler(_Handler):
    """GET /api/v2/models/: 200 with Content-Length 1000, then one byte every 0.4 s."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "1000")
        self.end_headers()
        ends = time.monotonic() + TRICKLE_SECONDS
        with suppress(OSError):  # the client hung up
            while time.monotonic() < ends and not self.stub.stop.is_set():
                self.wfile.write(b" ")
                self.stub.stop.wait(0.4)
        self.close_connection = True


class _HtmlHandler(_Handler):
    """DELETE and PATCH: 200 with an HTML login page (a proxy in front of the server)."""

    def _login_page(self) -> None:
        self._body()
        self._reply(200, LOGIN_PAGE, "text/html; charset=utf-8")

    do_DELETE = do_PATCH = _login_page


class _EchoHandler(_Handler):
    """POST /api/v2/models/install: 500 whose plain-text body echoes path and query."""

    def do_POST(self) -> None:
        self._body()
        self._reply(500, f"Internal error while handling {self.path}".encode(), "text/plain")


@pytest.fixture
def held_patch_stub() -> Iterator[Stub]:
    with _serve(_FailingReadsHandler, Stub(hold_patch=True)) as stub:
        yield stub


@pytest.fixture(params=[False, True], ids=["unannounced-drop", "connection-close"])
def busy_stub(request: pytest.FixtureRequest) -> Iterator[Stub]:
    with _serve(_FailingReadsHandler, Stub(patch_delay=0.02, announce_close=request.param)) as stub:
        yield stub


@pytest.fixture
def trickle_stub() -> Iterator[Stub]:
    with _serve(_TrickleHandler) as stub:
        yield stub


@pytest.fixture
def html_stub() -> Iterator[Stub]:
    with _serve(_HtmlHandler) as stub:
        yield stub


@pytest.fixture
def echo_stub() -> Iterator[Stub]:
    with _serve(_EchoHandler) as stub:
        yield stub


def _run(coro: Callable[[], Awaitable[Any]], limit: float = 15) -> Any:
    """Run ``coro()`` in a fresh event loop, giving up after ``limit`` seconds."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coro(), limit)

    return asyncio.run(bounded())


# -- 1. a 500 on one call does not break another call in flight -------------------------


@pytest.mark.timeout(20)
def test_sync_update_survives_concurrent_500(held_patch_stub: Stub) -> None:
    stub = held_patch_stub
    failures: list[str] = []
    with InvokeAIClient.from_url(stub.url, timeout=5, max_retries=0, verify=False) as client:
        repo = client.dnn_model_repo
        for trial in range(TRIALS):
            stub.patch_arrived.clear()
            stub.release.clear()
            outcome: list[Any] = []

            def update(name: str, out: list[Any]) -> None:
                try:
                    out.append(repo.update_model(KEY, {"name": name}))
                except Exception as err:
                    out.append(err)

            thread = threading.Thread(target=update, args=(f"n{trial}", outcome), daemon=True)
            thread.start()
            if not stub.patch_arrived.wait(3):
                failures.append(f"trial {trial}: PATCH never reached the server: {outcome}")
                thread.join(5)
                continue
            try:  # thread B: the main thread, while A's PATCH is held by the stub
                repo.get_model_by_key(KEY)
                failures.append(f"trial {trial}: GET answered 500 but did not raise")
            except ServerError:
                pass
            except Exception as err:
                failures.append(f"trial {trial}: GET raised {err!r}, not ServerError")
            stub.release.set()
            thread.join(5)
            result = outcome[0] if outcome else None
            if getattr(result, "name", None) != f"n{trial}":
                failures.append(f"trial {trial}: update_model gave {result!r}")
    ok = TRIALS - len({f.split(":")[0] for f in failures})
    assert not failures, f"{ok}/{TRIALS} trials succeeded; first failures: {failures[:3]}"


@pytest.mark.timeout(20)
def test_async_update_survives_concurrent_500(held_patch_stub: Stub) -> None:
    from invokeai_py_client import AsyncInvokeAIClient

    stub = held_patch_stub

    async def trials() -> list[str]:
        failures: list[str] = []
        async with AsyncInvokeAIClient.from_url(
            stub.url, timeout=5, max_retries=0, verify=False
        ) as client:
            repo = client.dnn_model_repo
            for trial in range(TRIALS):
                stub.patch_arrived.clear()
                stub.release.clear()
                task = asyncio.create_task(repo.update_model(KEY, {"name": f"n{trial}"}))
                arrived = await asyncio.to_thread(stub.patch_arrived.wait, 3)
                if not arrived:
                    failures.append(f"trial {trial}: PATCH never reached the server")
                try:  # task B, while task A's PATCH is held by the stub
                    await repo.get_model_by_key(KEY)
                    failures.append(f"trial {trial}: GET answered 500 but did not raise")
                except ServerError:
                    pass
                except Exception as err:
                    failures.append(f"trial {trial}: GET raised {err!r}, not ServerError")
                stub.release.set()
                try:
                    model = await asyncio.wait_for(task, 5)
                except Exception as err:
                    failures.append(f"trial {trial}: update_model raised {err!r}")
                    continue
                if model.name != f"n{trial}":
                    failures.append(f"trial {trial}: update_model gave {model!r}")
        return failures

    failures = _run(trials)
    ok = TRIALS - len({f.split(":")[0] for f in failures})
    assert not failures, f"{ok}/{TRIALS} trials succeeded; first failures: {failures[:3]}"


def _check_hammer(updates: list[Any], reads: list[Any]) -> None:
    """Every update returned its record; every read raised ServerError; nothing else."""
    errors = [o for o in updates + reads if isinstance(o, BaseException)]
    runtime = [e for e in errors if isinstance(e, RuntimeError)]
    assert not runtime, f"{len(runtime)} RuntimeError(s), e.g. {runtime[:3]}"
    foreign = [e for e in errors if not isinstance(e, InvokeAIError)]
    assert not foreign, f"{len(foreign)} non-InvokeAIError(s), e.g. {foreign[:3]}"
    failed_updates = [o for o in updates if isinstance(o, BaseException)]
    assert not failed_updates, f"{len(failed_updates)}/{len(updates)} updates failed"
    assert len(updates) >= 20, f"only {len(updates)} updates ran: the test proves nothing"
    assert all(o == "ok" for o in updates), [o for o in updates if o != "ok"][:3]
    assert reads, "no read ran"
    assert all(isinstance(o, ServerError) for o in reads), [
        o for o in reads if not isinstance(o, ServerError)
    ][:3]


@pytest.mark.timeout(20)
def test_sync_threads_share_client_while_reads_fail(busy_stub: Stub) -> None:
    updates: list[Any] = []
    reads: list[Any] = []
    deadline = time.monotonic() + 2.0

    with InvokeAIClient.from_url(busy_stub.url, timeout=5, max_retries=0, verify=False) as client:
        repo = client.dnn_model_repo

        def updater(worker: int) -> None:
            count = 0
            while time.monotonic() < deadline:
                name = f"w{worker}-{count}"
                count += 1
                try:
                    model = repo.update_model(KEY, {"name": name})
                    updates.append("ok" if model.name == name else f"wrong record {model!r}")
                except BaseException as err:
                    updates.append(err)

        def reader() -> None:
            while time.monotonic() < deadline:
                try:
                    reads.append(f"no error: {repo.get_model_by_key(KEY)!r}")
                except BaseException as err:
                    reads.append(err)

        threads = [threading.Thread(target=updater, args=(i,), daemon=True) for i in range(4)]
        threads += [threading.Thread(target=reader, daemon=True) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert not any(thread.is_alive() for thread in threads), "a worker hung"
    _check_hammer(updates, reads)


@pytest.mark.timeout(20)
def test_async_tasks_share_client_while_reads_fail(busy_stub: Stub) -> None:
    from invokeai_py_client import AsyncInvokeAIClient

    updates: list[Any] = []
    reads: list[Any] = []

    async def hammer() -> None:
        deadline = time.monotonic() + 2.0
        async with AsyncInvokeAIClient.from_url(
            busy_stub.url, timeout=5, max_retries=0, verify=False
        ) as c:
            repo = c.dnn_model_repo

            async def updater(worker: int) -> None:
                count = 0
                while time.monotonic() < deadline:
                    name = f"w{worker}-{count}"
                    count += 1
                    try:
                        model = await repo.update_model(KEY, {"name": name})
                        updates.append("ok" if model.name == name else f"wrong {model!r}")
                    except Exception as err:
                        updates.append(err)

            async def reader() -> None:
                while time.monotonic() < deadline:
                    try:
                        reads.append(f"no error: {await repo.get_model_by_key(KEY)!r}")
                    except Exception as err:
                        reads.append(err)
                    await asyncio.sleep(0)  # a 500 may come back without yielding

            await asyncio.gather(*[updater(i) for i in range(4)], *[reader() for _ in range(4)])

    _run(hammer)
    _check_hammer(updates, reads)


@pytest.fixture
def late_drop_stub() -> Iterator[Stub]:
    with _serve(_FailingReadsHandler, Stub(drop_after=0.3)) as stub:
        yield stub


@pytest.mark.timeout(20)
def test_sync_write_promised_a_connection_that_a_500_then_took(
    late_drop_stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """httpcore's pool promises an idle connection to a waiting PATCH; before the PATCH
    uses it, a GET takes it and gets a 500, and the server drops the connection a little
    later. The PATCH goes on once the GET's body is read, before the pool has looked at
    the connection again: it must go on another connection, not the dying one
    (encode/httpcore#1110)."""
    import httpcore

    promised, get_read, patch_done = threading.Event(), threading.Event(), threading.Event()
    handle_request = httpcore.HTTPConnection.handle_request
    response_closed = httpcore.HTTP11Connection._response_closed

    def patch_waits_for_the_get(self: Any, request: Any) -> Any:
        if request.method == b"PATCH" and not promised.is_set():
            promised.set()
            get_read.wait(5)
        return handle_request(self, request)

    def get_lets_the_patch_go(self: Any) -> None:
        response_closed(self)
        if promised.is_set() and not get_read.is_set():
            get_read.set()
            patch_done.wait(2)

    with InvokeAIClient.from_url(late_drop_stub.url, timeout=5, max_retries=0, verify=False) as c:
        repo = c.dnn_model_repo
        repo.update_model(KEY, {"name": "warm"})  # one idle connection in the pool
        monkeypatch.setattr(httpcore.HTTPConnection, "handle_request", patch_waits_for_the_get)
        monkeypatch.setattr(httpcore.HTTP11Connection, "_response_closed", get_lets_the_patch_go)
        outcome: list[Any] = []

        def update() -> None:
            outcome.append(_attempt(repo.update_model, KEY, {"name": "n"}))
            patch_done.set()

        thread = threading.Thread(target=update, daemon=True)
        thread.start()
        assert promised.wait(5), "the PATCH never reached the pool"
        with pytest.raises(ServerError):
            repo.get_model_by_key(KEY)
        thread.join(5)
    assert [getattr(o, "name", o) for o in outcome] == ["n"]


@pytest.mark.timeout(20)
def test_async_write_promised_a_connection_that_a_500_then_took(
    late_drop_stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpcore

    from invokeai_py_client import AsyncInvokeAIClient

    handle_request = httpcore.AsyncHTTPConnection.handle_async_request
    response_closed = httpcore.AsyncHTTP11Connection._response_closed

    async def scenario() -> Any:
        promised, get_read, patch_done = asyncio.Event(), asyncio.Event(), asyncio.Event()

        async def patch_waits_for_the_get(self: Any, request: Any) -> Any:
            if request.method == b"PATCH" and not promised.is_set():
                promised.set()
                await get_read.wait()
            return await handle_request(self, request)

        async def get_lets_the_patch_go(self: Any) -> None:
            await response_closed(self)
            if promised.is_set() and not get_read.is_set():
                get_read.set()
                with suppress(TimeoutError):
                    await asyncio.wait_for(patch_done.wait(), 2)

        async with AsyncInvokeAIClient.from_url(
            late_drop_stub.url, timeout=5, max_retries=0, verify=False
        ) as client:
            repo = client.dnn_model_repo
            await repo.update_model(KEY, {"name": "warm"})
            monkeypatch.setattr(
                httpcore.AsyncHTTPConnection, "handle_async_request", patch_waits_for_the_get
            )
            monkeypatch.setattr(
                httpcore.AsyncHTTP11Connection, "_response_closed", get_lets_the_patch_go
            )

            async def update() -> Any:
                try:
                    return await repo.update_model(KEY, {"name": "n"})
                finally:
                    patch_done.set()

            task = asyncio.create_task(update())
            await asyncio.wait_for(promised.wait(), 5)
            with pytest.raises(ServerError):
                await repo.get_model_by_key(KEY)
            return await asyncio.wait_for(task, 5)

    assert _run(scenario).name == "n"


def _attempt(call: Callable[..., Any], *args: Any) -> Any:
    try:
        return call(*args)
    except Exception as err:
        return err


# -- 2. timeout bounds the whole call ------------------------------------------------


@pytest.mark.timeout(20)
def test_sync_timeout_bounds_a_trickling_answer(trickle_stub: Stub) -> None:
    with InvokeAIClient.from_url(
        trickle_stub.url, timeout=1, max_retries=0, verify=False
    ) as client:
        started = time.monotonic()
        with pytest.raises(InvokeAIError) as info:
            client.dnn_model_repo.list_models()
        elapsed = time.monotonic() - started
    assert isinstance(info.value, APITimeoutError), f"{info.value!r} after {elapsed:.1f} s"
    assert elapsed < 3, f"timeout=1 but the call took {elapsed:.1f} s"


@pytest.mark.timeout(20)
def test_async_timeout_bounds_a_trickling_answer(trickle_stub: Stub) -> None:
    from invokeai_py_client import AsyncInvokeAIClient

    async def call() -> tuple[BaseException | None, float]:
        async with AsyncInvokeAIClient.from_url(
            trickle_stub.url, timeout=1, max_retries=0, verify=False
        ) as client:
            started = time.monotonic()
            try:
                await client.dnn_model_repo.list_models()
            except InvokeAIError as err:
                return err, time.monotonic() - started
            return None, time.monotonic() - started

    error, elapsed = _run(call)
    assert isinstance(error, APITimeoutError), f"{error!r} after {elapsed:.1f} s"
    assert elapsed < 3, f"timeout=1 but the call took {elapsed:.1f} s"


# -- 3. an HTML page is never a success ------------------------------------------------


def test_sync_html_answers_are_unexpected(html_stub: Stub) -> None:
    with InvokeAIClient.from_url(html_stub.url, timeout=5, max_retries=0, verify=False) as client:
        repo = client.dnn_model_repo
        with pytest.raises(UnexpectedResponseError):
            repo.delete_model(KEY)
        with pytest.raises(UnexpectedResponseError):
            repo.update_model(KEY, {"name": "x"})


@pytest.mark.timeout(20)
def test_async_html_answers_are_unexpected(html_stub: Stub) -> None:
    from invokeai_py_client import AsyncInvokeAIClient

    async def calls() -> None:
        async with AsyncInvokeAIClient.from_url(
            html_stub.url, timeout=5, max_retries=0, verify=False
        ) as c:
            with pytest.raises(UnexpectedResponseError):
                await c.dnn_model_repo.delete_model(KEY)
            with pytest.raises(UnexpectedResponseError):
                await c.dnn_model_repo.update_model(KEY, {"name": "x"})

    _run(calls)


# -- 4. a token echoed by the server reaches neither exceptions nor logs ----------------


def test_echoed_token_is_scrubbed(echo_stub: Stub, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="invokeai_py_client")
    caplog.set_level(logging.DEBUG, logger="httpx")
    with (
        InvokeAIClient.from_url(echo_stub.url, timeout=5, max_retries=0, verify=False) as client,
        pytest.raises(InvokeAIError) as info,
    ):
        client.dnn_model_repo.install_model(
            "https://example.invalid/x.safetensors", access_token=SECRET
        )
    err = info.value
    assert "install" in str(err), f"not the install's error: {err!r}"
    texts = {
        "str": str(err),
        "repr": repr(err),
        "detail": repr(getattr(err, "detail", None)),
        "body": repr(getattr(err, "body", None)),
        "traceback": "".join(traceback.format_exception(err)),
    }
    leaks = [where for where, text in texts.items() if SECRET in text]
    assert not leaks, f"the token leaks through {leaks}: {texts}"
    logged = [r.getMessage() for r in caplog.records]
    assert any("/api/v2/models/install" in m for m in logged), f"nothing was logged: {logged}"
    assert SECRET not in caplog.text
    assert not [m for m in logged if SECRET in m]
