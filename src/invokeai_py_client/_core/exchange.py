"""Sending rules without I/O: deadlines, retry decisions, answers, and 5xx connections.

Both transports (``_async/transport.py`` and its generated twin) send through these.
Thread safety: many threads (or tasks) may send through one transport. After a 5xx
the server may drop the connection without saying so, and a request sent on it would
be lost; so the connection that carried a 5xx is closed, never put back in httpx's
pool as idle. Nothing else is touched: a failure of one request never breaks another
one in flight, and closing the client waits for the requests in flight.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, Generic, TypeVar

import httpx

from .._redact import redact_url, scrub_exception
from ..errors import APIConnectionError
from .calls import Call, answer_of, connection_error
from .retry import RETRYABLE_STATUS, is_retryable_method, retry_delay
from .session import Session
from .settings import Options

__all__ = [
    "CALL_DEADLINE",
    "CallTimeout",
    "TransportBase",
    "bounded",
    "drop_connection_on_5xx",
    "logger",
    "past",
]

logger = logging.getLogger("invokeai_py_client")

REFRESHED_TOKEN_HEADER = "X-Refreshed-Token"
C = TypeVar("C")


class _RedactSecrets(logging.Filter):
    """Masks tokens in the request URLs that httpx logs at INFO level."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(str(arg)) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


logging.getLogger("httpx").addFilter(_RedactSecrets())


class TransportBase(Generic[C]):
    """Settings, deadlines and retry decisions; no I/O."""

    def __init__(self, session: Session[C], options: Options) -> None:
        self.session = session
        self.options = options

    def secrets(self) -> tuple[str, ...]:
        token = self.session.token
        return (token,) if token else ()

    def deadline(self) -> float | None:
        total = self.options.total
        return None if total is None else time.monotonic() + total

    def attempt_timeout(self, deadline: float | None) -> Any:
        """httpx's per-phase timeout for one attempt: what is left of the deadline, the
        ``httpx.Timeout`` given, or none (a user's client keeps its own for ``None``)."""
        if deadline is not None:
            return httpx.Timeout(max(deadline - time.monotonic(), 0.001))
        timeout = self.options.timeout
        if isinstance(timeout, httpx.Timeout):
            return timeout
        return httpx.USE_CLIENT_DEFAULT if self.session.pool.user_given else httpx.Timeout(None)

    def pool_wait(self, deadline: float | None) -> float | None:
        """Seconds a request may wait for a connection: what is left of the deadline,
        the pool timeout of an ``httpx.Timeout``, or None (no bound)."""
        if deadline is not None:
            return max(deadline - time.monotonic(), 0.0)
        timeout = self.options.timeout
        return timeout.pool if isinstance(timeout, httpx.Timeout) else None

    def retry_delay(
        self, call: Call, attempt: int, deadline: float | None, retry_after: str | None = None
    ) -> float | None:
        """Seconds to wait before the next attempt, or None: do not retry."""
        if attempt >= self.options.max_retries or not is_retryable_method(call.method):
            return None
        delay = retry_delay(attempt, retry_after)
        if deadline is not None and time.monotonic() + delay >= deadline:
            return None
        return delay

    def delay_after_error(
        self, call: Call, attempt: int, deadline: float | None, err: httpx.HTTPError
    ) -> float:
        """The wait before retrying a call that got no answer; raises if it is not retried."""
        delay = self.retry_delay(call, attempt, deadline)
        if delay is None:
            failure = self.failure(call, err)
            scrub_exception(err, self.secrets() + call.secrets)  # its traceback prints it
            raise failure from err
        return delay

    def delay_after_answer(
        self, call: Call, attempt: int, deadline: float | None, response: httpx.Response
    ) -> float | None:
        """The wait before retrying a call that got ``response``; None: the answer stands."""
        if response.status_code not in RETRYABLE_STATUS:
            return None
        return self.retry_delay(call, attempt, deadline, response.headers.get("Retry-After"))

    def url(self, call: Call) -> str:
        return self.session.base_url + call.path

    def take_token(self, response: httpx.Response) -> None:
        refreshed = response.headers.get(REFRESHED_TOKEN_HEADER)
        if refreshed:
            self.session.token = refreshed

    def finish(self, call: Call, response: httpx.Response, content: bytes, started: float) -> Any:
        logger.debug(
            "%s %s -> %s (%.1f ms)",
            call.method,
            call.path,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        return answer_of(
            call,
            response.status_code,
            response.headers.get("content-type", ""),
            content,
            self.secrets(),
        )

    def failure(self, call: Call, err: Exception) -> Exception:
        return connection_error(call, err, self.secrets())

    def closed_error(self, call: Call) -> APIConnectionError:
        return APIConnectionError("the client has been closed", method=call.method, route=call.path)


class CallTimeout(httpx.TimeoutException):
    """The whole call took longer than the client's timeout."""


def drop_connection_on_5xx(response: httpx.Response) -> None:
    """Have the connection of a 5xx answer closed, never put back in the pool as idle.

    After a plain-text 500 the server drops the connection without saying so, and a
    request sent on it would be lost. httpx puts a connection back as idle the moment
    the body ends, and the pool may already have promised it to a request waiting in
    another thread (task) (encode/httpcore#1110). So the body stream is wrapped: it
    stops once ``Content-Length`` bytes have come, before the HTTP parser reads the end
    of the message, and httpcore then closes the connection instead (a request promised
    to it is re-queued). Without a length, the socket is shut down before the pool gets
    it back; the pool then sees it closed. Other connections are untouched.
    """
    if response.status_code >= 500:
        response.stream = _DroppingBody(response)


class _DroppingBody(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body that leaves its connection unfit for reuse (see above)."""

    def __init__(self, response: httpx.Response) -> None:
        self._stream: Any = response.stream
        self._network = response.extensions.get("network_stream")
        try:
            self._length: int | None = int(response.headers["content-length"])
        except (KeyError, ValueError):
            self._length = None

    def __iter__(self) -> Iterator[bytes]:
        got = 0
        if self._whole(got):
            return
        for part in self._stream:
            yield part
            got += len(part)
            if self._whole(got):
                return

    async def __aiter__(self) -> AsyncIterator[bytes]:
        got = 0
        if self._whole(got):
            return
        async for part in self._stream:
            yield part
            got += len(part)
            if self._whole(got):
                return

    def _whole(self, got: int) -> bool:
        return self._length is not None and got >= self._length

    def close(self) -> None:
        self._shutdown()
        self._stream.close()

    async def aclose(self) -> None:
        self._shutdown()
        await self._stream.aclose()

    def _shutdown(self) -> None:
        sock = self._network.get_extra_info("socket") if self._network is not None else None
        shutdown = getattr(sock, "shutdown", None)  # a socket, or asyncio's TransportSocket
        if shutdown is not None:
            with contextlib.suppress(OSError):
                shutdown(socket.SHUT_RDWR)


def past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() > deadline


CALL_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "invokeai_call_deadline", default=None
)
"""The ``time.monotonic()`` by which the call the transport is sending must end (None:
no bound); set per thread or task around each attempt, read by the pool's sockets."""


def bounded(timeout: float | None) -> float | None:
    """A socket wait of ``timeout`` seconds, cut to what is left of the call's deadline."""
    deadline = CALL_DEADLINE.get()
    if deadline is None:
        return timeout
    left = max(deadline - time.monotonic(), 0.001)
    return left if timeout is None else min(timeout, left)
