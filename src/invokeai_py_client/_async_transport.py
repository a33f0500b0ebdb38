"""``AsyncTransport``: the twin of ``SyncTransport`` with awaits (see ``_transport``)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from ._core import Call
from ._transport import BaseTransport, CallTimeout, drop_connection_on_5xx, past
from .errors import APIConnectionError

__all__ = ["AsyncTransport"]


class AsyncTransport(BaseTransport[httpx.AsyncClient]):
    """Sends calls with an ``httpx.AsyncClient``; sleeps between retries of reads."""

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
            await asyncio.sleep(delay)
            attempt += 1

    async def _exchange(self, call: Call, deadline: float | None) -> tuple[httpx.Response, bytes]:
        self._bind_loop(call)
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

    def _bind_loop(self, call: Call) -> None:
        """An ``httpx.AsyncClient`` cannot move between event loops (``asyncio.run``
        twice): our own gets a fresh one for the new loop; a user's cannot."""
        loop = asyncio.get_running_loop()
        session = self.session
        if session.loop is loop:
            return
        if session.loop is not None:
            if session.new_http_client is None:
                raise APIConnectionError(
                    "the http_client belongs to another event loop; give each loop its own",
                    method=call.method,
                    route=call.path,
                )
            session.pool.client = session.new_http_client()
        session.loop = loop

    async def close(self) -> None:
        pool = self.session.pool
        loop = self.session.loop
        if pool.close() and (loop is None or loop is asyncio.get_running_loop()):
            await pool.client.aclose()  # one of a finished loop cannot be awaited: dropped
