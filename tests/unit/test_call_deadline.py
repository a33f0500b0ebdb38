"""A call's ``timeout`` bounds the whole call, also when the answer trickles in a byte at
a time (each read then comes well within httpx's per-read timeout). Offline: a tiny
local server behind the test bed's fault proxy. The bound checked is the issue's:
the configured timeout plus 1 s."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from invokeai_py_client import AsyncInvokeAIClient, InvokeAIClient
from invokeai_py_client._async.transport import BoundedNetworkBackend as AsyncBounded
from invokeai_py_client._sync.transport import BoundedNetworkBackend
from invokeai_py_client.errors import APITimeoutError
from testbed.fault_proxy import FaultProxy, Rule

TIMEOUT = 1.0
SLACK = 1.0
VERSION = b'{"version": "6.14.2", "padding": "' + b"x" * 400 + b'"}'


def _handler() -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(VERSION)))
            self.end_headers()
            self.wfile.write(VERSION)

    return Handler


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler())
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        with FaultProxy(f"http://127.0.0.1:{httpd.server_address[1]}") as p:
            yield p
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


# The head alone takes about 4 s at 1 byte every 25 ms; the body about 10 s more.
TRICKLE = Rule("trickle", path="/api/v1/app/version", chunk=1, seconds=0.025)


def test_sync_call_deadline_holds_for_a_trickled_answer(proxy: FaultProxy) -> None:
    proxy.add(TRICKLE)
    with InvokeAIClient(proxy.url, timeout=TIMEOUT, events=False) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as caught:
            client.server_version()
        took = time.monotonic() - started
    assert took < TIMEOUT + SLACK, took
    assert caught.value.details["route"] == "/api/v1/app/version"
    assert proxy.stats.count("GET") == 1  # the deadline left no time for a retry


def test_async_call_deadline_holds_for_a_trickled_answer(proxy: FaultProxy) -> None:
    proxy.add(TRICKLE)

    async def main() -> float:
        async with AsyncInvokeAIClient(proxy.url, timeout=TIMEOUT, events=False) as client:
            started = time.monotonic()
            with pytest.raises(APITimeoutError):
                await client.server_version()
            return time.monotonic() - started

    took = asyncio.run(main())
    assert took < TIMEOUT + SLACK, took


def test_a_slow_but_timely_answer_passes(proxy: FaultProxy) -> None:
    proxy.add(Rule("trickle", path="/api/v1/app/version", chunk=100, seconds=0.05))
    with InvokeAIClient(proxy.url, timeout=5, events=False) as client:
        assert client.server_version() == "6.14.2"


def _network(http: Any) -> Any:
    return http._transport._pool._network_backend


def test_own_pool_reads_are_bounded_but_a_users_client_is_left_alone() -> None:
    client = InvokeAIClient("http://127.0.0.1:1", events=False)
    assert isinstance(_network(client._transport.session.pool.client), BoundedNetworkBackend)
    client.close()
    own = httpx.Client()
    client = InvokeAIClient("http://127.0.0.1:1", http_client=own, events=False)
    assert not isinstance(_network(own), BoundedNetworkBackend)
    client.close()

    async def main() -> None:
        async with AsyncInvokeAIClient("http://127.0.0.1:1", events=False) as aclient:
            assert isinstance(_network(aclient._transport.session.pool.client), AsyncBounded)

    asyncio.run(main())
