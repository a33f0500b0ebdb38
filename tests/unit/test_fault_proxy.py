"""The test bed's fault proxy (``testbed/fault_proxy.py``), offline, against a tiny local
HTTP server: each fault does what it says, the server sees what the proxy counts, and
rules pick requests by method, path, number and a seeded chance."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from testbed.fault_proxy import FaultProxy, Rule
from testbed.fault_rules import parse_head

BODY = json.dumps({"items": list(range(300))}).encode()


class Origin:
    """What the tiny server saw: (method, path) of every request it handled."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.connections = 0


def _handler(origin: Origin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            origin.connections += 1

        def _send(self, status: int, body: bytes, chunked: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for start in range(0, len(body), 500):
                    part = body[start : start + 500]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.write(b"0\r\n\r\n")
                return
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            origin.seen.append(("GET", self.path))
            if self.path == "/ws":
                self.send_response(101)
                self.send_header("Upgrade", "websocket")
                self.send_header("Connection", "Upgrade")
                self.end_headers()
                self.wfile.flush()
                while data := self.connection.recv(1024):  # echo until closed
                    self.connection.sendall(data)
                self.close_connection = True
                return
            if self.path == "/slow":
                time.sleep(1.5)
            self._send(200, BODY, chunked=self.path == "/chunked")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            self.rfile.read(length)
            origin.seen.append(("POST", self.path))
            self._send(201, b'{"id": 1}')

    return Handler


@pytest.fixture
def origin() -> Iterator[tuple[Origin, str]]:
    state = Origin()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def proxy(origin: tuple[Origin, str]) -> Iterator[FaultProxy]:
    with FaultProxy(origin[1], seed=7) as p:
        yield p


@pytest.fixture
def http(proxy: FaultProxy) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=proxy.url, timeout=5) as c:
        yield c


def test_passes_requests_and_counts_them(
    origin: tuple[Origin, str], proxy: FaultProxy, http: httpx.Client
) -> None:
    assert http.get("/items").json() == json.loads(BODY)
    assert http.post("/jobs", json={"a": 1}).status_code == 201
    assert http.get("/chunked").json() == json.loads(BODY)  # chunked framing passes
    assert origin[0].seen == [("GET", "/items"), ("POST", "/jobs"), ("GET", "/chunked")]
    assert origin[0].connections == 1  # one keep-alive connection, upstream too
    assert proxy.stats.count("GET") == 2
    assert proxy.stats.count("POST", r"^/jobs$") == 1
    assert proxy.stats.resets == 0


def test_delay(http: httpx.Client, proxy: FaultProxy) -> None:
    proxy.add(Rule("delay", path="/items", seconds=0.4))
    started = time.monotonic()
    assert http.get("/items").status_code == 200
    assert time.monotonic() - started >= 0.4


@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
def test_reset(after: bool, origin: tuple[Origin, str], proxy: FaultProxy) -> None:
    proxy.add(Rule("reset", method="POST", after=after))
    with httpx.Client(base_url=proxy.url, timeout=5) as c, pytest.raises(httpx.TransportError):
        c.post("/jobs", json={})
    assert origin[0].seen == ([("POST", "/jobs")] if after else [])
    assert proxy.stats.count("POST") == (1 if after else 0)
    assert proxy.stats.count("POST", sent=False) == 1
    assert proxy.stats.resets == 1


def test_cut_mid_body(origin: tuple[Origin, str], http: httpx.Client, proxy: FaultProxy) -> None:
    proxy.add(Rule("cut", path="/items", cut_at=100))
    with pytest.raises(httpx.RemoteProtocolError):
        http.get("/items")
    assert origin[0].seen == [("GET", "/items")]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_status_instead_of_the_server(
    status: int, origin: tuple[Origin, str], http: httpx.Client, proxy: FaultProxy
) -> None:
    proxy.add(Rule("status", status=status, nth={1}))
    assert http.get("/items").status_code == status
    assert origin[0].seen == []
    assert http.get("/items").status_code == 200  # the connection stays usable


def test_status_after_the_server_acted(
    origin: tuple[Origin, str], http: httpx.Client, proxy: FaultProxy
) -> None:
    proxy.add(Rule("status", method="POST", status=502, after=True))
    assert http.post("/jobs", json={}).status_code == 502
    assert origin[0].seen == [("POST", "/jobs")]


def test_trickle_passes_everything_slowly(http: httpx.Client, proxy: FaultProxy) -> None:
    proxy.add(Rule("trickle", path="/items", chunk=400, seconds=0.05))
    started = time.monotonic()
    assert http.get("/items").json() == json.loads(BODY)
    assert time.monotonic() - started >= 0.05 * (len(BODY) // 400)


def test_hold_answers_nothing(origin: tuple[Origin, str], proxy: FaultProxy) -> None:
    proxy.add(Rule("hold", path="/items"))
    with httpx.Client(base_url=proxy.url, timeout=0.5) as c, pytest.raises(httpx.ReadTimeout):
        c.get("/items")
    assert origin[0].seen == []


def test_drop_closes_a_long_answer(origin: tuple[Origin, str], proxy: FaultProxy) -> None:
    proxy.add(Rule("drop", path="/slow", seconds=0.3))
    started = time.monotonic()
    with httpx.Client(base_url=proxy.url, timeout=5) as c, pytest.raises(httpx.TransportError):
        c.get("/slow")
    assert time.monotonic() - started < 1.4
    assert origin[0].seen == [("GET", "/slow")]


def test_nth_and_times(http: httpx.Client, proxy: FaultProxy) -> None:
    proxy.add(Rule("status", path="/items", nth={1, 3}))
    proxy.add(Rule("status", status=500, path="/chunked", times=1))
    got = [http.get("/items").status_code for _ in range(4)]
    assert got == [503, 200, 503, 200]
    assert [http.get("/chunked").status_code for _ in range(2)] == [500, 200]


def _draws(origin_url: str, seed: int) -> list[int]:
    with FaultProxy(origin_url, seed=seed) as p, httpx.Client(base_url=p.url) as c:
        p.add(Rule("status", probability=0.3))
        return [c.get("/items").status_code for _ in range(40)]


def test_probability_is_seeded(origin: tuple[Origin, str]) -> None:
    first, again = _draws(origin[1], 3), _draws(origin[1], 3)
    assert first == again
    assert 3 <= first.count(503) <= 25
    assert _draws(origin[1], 4) != first


def _websocket(proxy: FaultProxy) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
    sock.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert parse_head(head, response=True).status == 101
    return sock


def test_websocket_relay_and_drop_on_demand(proxy: FaultProxy) -> None:
    sock = _websocket(proxy)
    sock.sendall(b"ping")
    assert sock.recv(10) == b"ping"
    assert proxy.open_connections(r"^/ws$") == 1
    assert proxy.drop_connections(r"^/ws$") == 1
    assert sock.recv(10) == b""  # closed
    sock.close()


def test_websocket_hold_relays_nothing(proxy: FaultProxy) -> None:
    proxy.add(Rule("hold", path="/ws"))
    sock = _websocket(proxy)
    sock.sendall(b"ping")
    sock.settimeout(0.5)
    with pytest.raises(socket.timeout):
        sock.recv(10)
    sock.close()


def test_websocket_drop_after_seconds(proxy: FaultProxy) -> None:
    proxy.add(Rule("drop", path="/ws", seconds=0.3))
    sock = _websocket(proxy)
    sock.sendall(b"ping")
    assert sock.recv(10) == b"ping"
    sock.settimeout(3)
    assert sock.recv(10) == b""
    sock.close()


def test_refused_websocket(proxy: FaultProxy, origin: tuple[Origin, str]) -> None:
    proxy.add(Rule("reset", path="/ws"))
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=2) as sock:
        sock.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n")
        with pytest.raises(ConnectionResetError):
            sock.recv(10)
    assert origin[0].seen == []


def test_rules_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown action"):
        Rule("explode")
    with pytest.raises(ValueError, match="probability"):
        Rule("reset", probability=2)


def test_stop_ends_the_thread_and_open_connections(origin: tuple[Origin, str]) -> None:
    before = set(threading.enumerate())
    proxy = FaultProxy(origin[1]).start()
    sock = _websocket(proxy)
    proxy.stop()
    sock.settimeout(2)
    assert sock.recv(10) == b""
    sock.close()
    assert set(threading.enumerate()) <= before | {
        t
        for t in threading.enumerate()
        if t.name.startswith("Thread-")  # the origin's
    }
    assert not any(t.name == "fault-proxy" for t in threading.enumerate())
