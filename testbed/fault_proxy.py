"""A loopback TCP fault proxy for tests and benchmarks (stdlib only).

``FaultProxy(target_url)`` listens on ``127.0.0.1:<free port>`` in a thread with its own
event loop and forwards HTTP/1.1 to the target, one upstream connection per client
connection. Rules (``testbed.fault_rules.Rule``) pick requests by method, path pattern,
n-th match and probability (a seeded RNG) and fault them:

- ``delay``: wait ``seconds``, then forward;
- ``reset``: send a TCP reset, before forwarding, or with ``after=True`` once the server
  has answered (so it acted on the request) while the client gets nothing;
- ``cut``: pass the head and ``cut_at`` bytes of the body (default half), then close;
- ``status``: answer ``status`` (500, 502, 503, ...) itself, before forwarding or
  (``after=True``) in place of the server's answer;
- ``trickle``: pass the whole answer, head included, ``chunk`` bytes every ``seconds``;
- ``hold``: a request is never forwarded nor answered (the connection stays open for
  ``seconds``, 0: until dropped); a websocket is opened, then nothing is relayed;
- ``drop``: close the connection ``seconds`` after the request (a websocket, or a
  long poll of engine.io, dies mid-stream; a short answer passes first).

``drop_connections(path)`` closes the open connections whose last request matched (the
event stream's websocket, say). ``stats`` counts requests seen and forwarded by
``(method, path)``, resets and faults. Use it as a context manager::

    with FaultProxy(server.url, seed=1) as proxy:
        proxy.add(Rule("status", method="GET", path=r"^/api/v2/models/$", nth={1}))
        client = InvokeAIClient(proxy.url)
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
import threading
from types import TracebackType
from urllib.parse import urlsplit

from testbed.fault_rules import Request, Rule, RuleBook, Stats, parse_head

__all__ = ["FaultProxy", "Rule", "Stats"]

HEAD_LIMIT = 65536
COPY = 65536
REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


class FaultProxy:
    """A fault-injecting HTTP/websocket proxy on loopback; see the module docstring."""

    def __init__(self, target: str, *, seed: int = 0) -> None:
        parts = urlsplit(target)
        self.target_host = parts.hostname or "127.0.0.1"
        self.target_port = parts.port or 80
        self.rules = RuleBook(seed)
        self.stats = Stats()
        self.port = 0
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name="fault-proxy", daemon=True)
        self._ready = threading.Event()
        self._server: asyncio.AbstractServer | None = None
        self._conns: dict[asyncio.Task[None], _Conn] = {}

    # -- control, from any thread -------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        self._ready.wait(10)
        if not self.port:
            raise RuntimeError("the fault proxy did not start")
        return self

    def add(self, rule: Rule) -> Rule:
        """Add a rule (rules are tried in order; the first that fires wins)."""
        return self.rules.add(rule)

    def clear(self) -> None:
        """Remove every rule (open connections keep what they are doing)."""
        self.rules.clear()

    def drop_connections(self, path: str | None = None) -> int:
        """Close open client connections whose last request path matched ``path`` (a
        regex; None: all); how many were closed."""
        future = asyncio.run_coroutine_threadsafe(self._drop(path), self._loop)
        return future.result(10)

    def open_connections(self, path: str | None = None) -> int:
        """How many client connections are open (whose last request matched ``path``)."""
        return sum(1 for conn in list(self._conns.values()) if conn.matches(path))

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the proxy's own loop ---------------------------------------------------------------

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._accept, "127.0.0.1", 0, limit=HEAD_LIMIT)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._ready.set()
        self._loop.run_forever()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        conn = _Conn(self, reader, writer)
        self._conns[task] = conn
        try:
            await conn.serve()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        except asyncio.CancelledError:
            pass  # dropped or stopped: the task ends normally (streams read its result)
        finally:
            self._conns.pop(task, None)
            conn.close()

    async def _drop(self, path: str | None) -> int:
        hit = [task for task, conn in self._conns.items() if conn.matches(path)]
        for task in hit:
            self._conns[task].close()
            task.cancel()
        return len(hit)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = list(self._conns)
        for task in tasks:
            self._conns[task].close()
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()


class _Conn:
    """One client connection and its upstream connection."""

    def __init__(
        self, proxy: FaultProxy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.proxy = proxy
        self.reader, self.writer = reader, writer
        self.up_reader: asyncio.StreamReader | None = None
        self.up_writer: asyncio.StreamWriter | None = None
        self.path = ""

    def matches(self, pattern: str | None) -> bool:
        return bool(self.path) and (pattern is None or re.search(pattern, self.path) is not None)

    async def serve(self) -> None:
        while True:
            try:
                head = await self.reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return  # the client closed between requests
            request = parse_head(head)
            request.body = await _read_body(self.reader, request.headers, request=True)
            self.path = request.path
            rule = self.proxy.rules.pick(request)
            self.proxy.stats.seen(request, rule)
            if not await self._handle(request, rule):
                return

    async def _handle(self, request: Request, rule: Rule | None) -> bool:
        """Carry out one request; False when the connection is done."""
        if rule is not None:
            done = await self._before(request, rule)
            if done is not None:
                return done
        await self._send_upstream(request)
        status, head, body = await self._read_answer(request)
        if status == 101:
            self.writer.write(head)
            await self.writer.drain()
            await self._relay(rule)
            return False
        return await self._after(rule, head, body)

    async def _before(self, request: Request, rule: Rule) -> bool | None:
        """What a rule does before forwarding; None: forward the request."""
        if rule.action == "delay":
            await asyncio.sleep(rule.seconds)
        elif rule.action == "reset" and not rule.after:
            self.reset()
            return False
        elif rule.action == "status" and not rule.after:
            await self._answer(rule.status)
            return True
        elif rule.action == "hold" and not request.is_upgrade:
            await self._sleep_or_forever(rule.seconds)
            return False
        elif rule.action == "drop" and not request.is_upgrade:
            return await self._forward_with_drop(request, rule.seconds)
        return None

    async def _after(self, rule: Rule | None, head: bytes, body: bytes) -> bool:
        """Pass the server's answer on, or what a rule does with it."""
        action = rule.action if rule is not None else None
        if rule is None or action in (None, "delay"):
            self.writer.write(head + body)
            await self.writer.drain()
        elif action == "reset":
            self.reset()
            return False
        elif action == "status":
            await self._answer(rule.status)
        elif action == "cut":
            cut = rule.cut_at if rule.cut_at is not None else len(body) // 2
            self.writer.write(head + body[:cut] if body else head[: len(head) // 2])
            await self.writer.drain()
            self.close(graceful=True)  # a reset could discard what was passed
            return False
        elif action == "trickle":
            await self._trickle(head + body, rule.chunk, rule.seconds)
        return self.up_writer is not None  # the server closed: so does the proxy

    async def _send_upstream(self, request: Request) -> None:
        stale = self.up_reader is not None and self.up_reader.at_eof()  # closed while idle
        if self.up_writer is None or self.up_writer.is_closing() or stale:
            self._close_upstream()
            self.up_reader, self.up_writer = await asyncio.open_connection(
                self.proxy.target_host, self.proxy.target_port, limit=HEAD_LIMIT
            )
        self.up_writer.write(request.head + request.body)
        await self.up_writer.drain()
        self.proxy.stats.forwarded(request)

    async def _read_answer(self, request: Request) -> tuple[int, bytes, bytes]:
        """The server's answer: status, head, body (raw, chunked framing kept)."""
        assert self.up_reader is not None
        head = await self.up_reader.readuntil(b"\r\n\r\n")
        answer = parse_head(head, response=True)
        status = answer.status
        if status == 101 or request.method == "HEAD" or status in (204, 304) or status < 200:
            return status, head, b""
        body = await _read_body(self.up_reader, answer.headers, request=False)
        if answer.closes:
            self._close_upstream()
        return status, head, body

    async def _forward_with_drop(self, request: Request, seconds: float) -> bool:
        await self._send_upstream(request)
        try:
            _, head, body = await asyncio.wait_for(self._read_answer(request), seconds)
        except asyncio.TimeoutError:
            self.close()
            return False
        self.writer.write(head + body)
        await self.writer.drain()
        self.close()
        return False

    async def _relay(self, rule: Rule | None) -> None:
        """Pipe a websocket both ways; ``hold`` relays nothing, ``drop`` ends it."""
        assert self.up_reader is not None and self.up_writer is not None
        if rule is not None and rule.action == "hold":
            await self._sleep_or_forever(rule.seconds)
            return
        pipes = [
            asyncio.ensure_future(_pipe(self.reader, self.up_writer)),
            asyncio.ensure_future(_pipe(self.up_reader, self.writer)),
        ]
        limit = rule.seconds if rule is not None and rule.action == "drop" else None
        try:
            await asyncio.wait(pipes, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)

    async def _trickle(self, data: bytes, chunk: int, seconds: float) -> None:
        for start in range(0, len(data), max(chunk, 1)):
            self.writer.write(data[start : start + chunk])
            await self.writer.drain()
            await asyncio.sleep(seconds)

    async def _answer(self, status: int) -> None:
        body = b'{"detail":"fault proxy"}'
        reason = REASONS.get(status, "Fault")
        self.writer.write(
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await self.writer.drain()

    @staticmethod
    async def _sleep_or_forever(seconds: float) -> None:
        await asyncio.sleep(seconds if seconds > 0 else 1e9)

    def reset(self) -> None:
        """Abort the client connection with a TCP reset (SO_LINGER 0)."""
        self.proxy.stats.reset()
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()
        self._close_upstream()

    def _close_upstream(self) -> None:
        writer, self.up_writer = self.up_writer, None
        if writer is not None:
            writer.transport.abort()

    def close(self, *, graceful: bool = False) -> None:
        self._close_upstream()
        if graceful:
            self.writer.close()
        else:
            self.writer.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(COPY):
            writer.write(data)
            await writer.drain()


async def _read_body(
    reader: asyncio.StreamReader, headers: dict[str, str], *, request: bool
) -> bytes:
    """A message body as it came: by Content-Length, chunked (framing kept), or (for an
    answer without either) until the server closes."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts = []
        while True:
            line = await reader.readuntil(b"\r\n")
            parts.append(line)
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (trailer := await reader.readuntil(b"\r\n")) != b"\r\n":
                    parts.append(trailer)
                parts.append(b"\r\n")
                return b"".join(parts)
            parts.append(await reader.readexactly(size + 2))
    length = headers.get("content-length")
    if length is not None:
        return await reader.readexactly(int(length))
    return b"" if request else await reader.read(-1)
