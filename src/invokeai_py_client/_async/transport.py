"""``AsyncTransport``: sends calls through the pool, with the whole-call deadline and
retries of reads, and runs the core's operations. The only code that sends requests."""

from __future__ import annotations

import time
from typing import Any, TypeVar

import httpx

from .._core import app_ops
from .._core.calls import Call, Operation, check_version
from .._core.exchange import CallTimeout, TransportBase, drop_connection_on_5xx, past
from . import backend

__all__ = ["AsyncTransport"]

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
            if pool.release():
                await http.aclose()

    async def close(self) -> None:
        """Close the pool once the requests in flight have ended (one that belongs to a
        finished event loop cannot be closed and is dropped)."""
        pool = self.session.pool
        if pool.close() and backend.is_current_loop(self.session.loop):
            await pool.client.aclose()
