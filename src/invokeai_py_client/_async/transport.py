"""``AsyncTransport``: sends calls through the pool, with the whole-call deadline and
retries of reads, and runs the core's operations. The only code that sends requests."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, TypeVar

import httpcore
import httpx

from .._core import app_ops
from .._core.calls import Call, Operation, check_version
from .._core.exchange import (
    CALL_DEADLINE,
    CallTimeout,
    TransportBase,
    bounded,
    drop_connection_on_5xx,
    past,
)
from . import backend

__all__ = ["AsyncTransport", "BoundedNetworkBackend", "bound_reads"]

T = TypeVar("T")


class AsyncTransport(TransportBase[httpx.AsyncClient]):
    """Sends calls with an ``httpx.AsyncClient``; sleeps between retries of reads."""

    async def run(self, operation: Operation[T]) -> T:
        """Run an operation of the core: check the server's version where a route needs
        it, send each call the operation yields, and return its result."""
        try:
            call = next(operation)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        while True:
            if call.route.since is not None:
                check_version(call, await self.server_version())
            answer = await self.send(call)
            try:
                call = operation.send(answer)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    async def server_version(self) -> str:
        """The server's InvokeAI version, asked once per session."""
        session = self.session
        if session.server_version is None:
            session.server_version = await self.run(app_ops.server_version())
        return session.server_version

    async def send(self, call: Call) -> Any:
        """Send ``call`` (retrying reads) and return its decoded answer."""
        deadline = self.deadline()
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                response, content = await self._exchange(call, deadline)
            except httpx.HTTPError as err:
                delay = self.delay_after_error(call, attempt, deadline, err)
            else:
                retry = self.delay_after_answer(call, attempt, deadline, response)
                if retry is None:
                    return self.finish(call, response, content, started)
                delay = retry
            await backend.sleep(delay)
            attempt += 1

    async def _exchange(self, call: Call, deadline: float | None) -> tuple[httpx.Response, bytes]:
        """One attempt; through the session's gate when the pool is ours.

        The gate lets no more requests into httpx's pool than it has connections, so
        none queue there: httpcore scans every connection for every queued request
        each time one starts or ends (milliseconds of CPU per request once a hundred
        wait). Waiting at the gate counts against the deadline, as in the pool.
        """
        backend.bind_loop(self.session, call.method, call.path)
        gate = self.session.gate
        if gate is None:
            return await self._attempt(call, deadline)
        permit = await gate.enter(self.pool_wait(deadline))
        if permit is None:
            raise httpx.PoolTimeout("no connection became free in time")
        try:
            return await self._attempt(call, deadline)
        finally:
            permit.release()

    async def _attempt(self, call: Call, deadline: float | None) -> tuple[httpx.Response, bytes]:
        pool = self.session.pool
        try:
            http = pool.acquire()
        except RuntimeError:
            raise self.closed_error(call) from None
        bound = CALL_DEADLINE.set(deadline)  # every socket read of our pool ends by then
        try:
            request = http.build_request(
                call.method,
                self.url(call),
                params=call.query() or None,
                json=call.json,
                files=call.files,
                headers=call.headers(self.session.token),
                timeout=self.attempt_timeout(deadline),
            )
            response = await http.send(request, stream=True)
            drop_connection_on_5xx(response)
            try:
                chunks = []
                async for chunk in response.aiter_bytes():
                    chunks.append(chunk)
                    if past(deadline):
                        raise CallTimeout("the whole call took too long", request=request)
            finally:
                await response.aclose()
            self.take_token(response)
            return response, b"".join(chunks)
        finally:
            CALL_DEADLINE.reset(bound)
            if pool.release():
                await http.aclose()

    async def close(self) -> None:
        """Close the pool once the requests in flight have ended (one that belongs to a
        finished event loop cannot be closed and is dropped)."""
        pool = self.session.pool
        if pool.close() and backend.is_current_loop(self.session.loop):
            await pool.client.aclose()


def bound_reads(http: httpx.AsyncClient) -> httpx.AsyncClient:
    """Have ``http`` (a client this library made) wait for no socket past the deadline
    of the call in progress: httpx's timeouts are per read, and an answer trickling in
    a byte at a time would otherwise outlive any timeout."""
    for transport in [http._transport, *http._mounts.values()]:  # noqa: SLF001
        pool = getattr(transport, "_pool", None)
        network = getattr(pool, "_network_backend", None)
        if network is not None and not isinstance(network, BoundedNetworkBackend):
            pool._network_backend = BoundedNetworkBackend(network)  # type: ignore[union-attr]  # noqa: SLF001
    return http


class BoundedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, each connect, read and write cut to the call's deadline."""

    def __init__(self, network: httpcore.AsyncNetworkBackend) -> None:
        self._network = network

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._network.connect_tcp(
            host, port, bounded(timeout), local_address, socket_options
        )
        return BoundedNetworkStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._network.connect_unix_socket(path, bounded(timeout), socket_options)
        return BoundedNetworkStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._network.sleep(seconds)


class BoundedNetworkStream(httpcore.AsyncNetworkStream):
    """A connection whose reads and writes end by the call's deadline (``ReadTimeout``)."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max_bytes, bounded(timeout))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, bounded(timeout))

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._stream.start_tls(ssl_context, server_hostname, bounded(timeout))
        return BoundedNetworkStream(stream)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)
