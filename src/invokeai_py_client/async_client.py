"""``AsyncInvokeAIClient``: the twin of ``InvokeAIClient`` for asyncio."""

from __future__ import annotations

from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from . import _base_client as base
from ._async_event_stream import AsyncEventStream
from ._async_transport import AsyncTransport
from ._base_client import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, NOT_GIVEN, BaseClient
from ._core import Operation, check_version
from ._transport import Options, Timeout
from .errors import InvalidArgumentError

if TYPE_CHECKING:
    from .dnn_model.async_dnn_model_repo import AsyncDnnModelRepository

__all__ = ["AsyncInvokeAIClient"]

T = TypeVar("T")


class AsyncInvokeAIClient(BaseClient[AsyncTransport]):
    """A connection to one InvokeAI server, for asyncio.

    Same parameters as ``InvokeAIClient`` (``http_client`` is an
    ``httpx.AsyncClient``); use it as ``async with``. One client may be shared by
    tasks: a failing request never breaks another one in flight.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: str | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        verify: bool | str = True,
        http_client: httpx.AsyncClient | None = None,
        events: bool = True,
    ) -> None:
        options = Options(timeout=timeout, max_retries=max_retries)
        session = base.make_session(
            base_url, token, options, http_client, httpx.AsyncClient, verify
        )
        self._transport = AsyncTransport(session, options)
        if not isinstance(events, bool):
            raise InvalidArgumentError("events must be True or False")
        session.events = AsyncEventStream(
            session.base_url, lambda: session.token, verify, enabled=events
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        token: str | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        verify: bool | str = True,
        events: bool = True,
    ) -> AsyncInvokeAIClient:
        """A client for the server at ``url`` (e.g. ``http://127.0.0.1:9090``)."""
        return cls(
            url,
            token=token,
            timeout=timeout,
            max_retries=max_retries,
            verify=verify,
            events=events,
        )

    def with_options(
        self, *, timeout: Timeout = NOT_GIVEN, max_retries: int = NOT_GIVEN
    ) -> AsyncInvokeAIClient:
        """A copy with another timeout or retry count, sharing this client's pool and token.

        Closing either closes both.
        """
        copy = object.__new__(type(self))
        options = self._options_with(timeout, max_retries)
        copy._transport = AsyncTransport(self._transport.session, options)
        return copy

    @property
    def events(self) -> AsyncEventStream:
        """The server's event stream (socket.io), connected on first use; needs the
        ``events`` extra. Waits use it when they can and poll when they cannot."""
        stream: AsyncEventStream = self._transport.session.events
        return stream

    @cached_property
    def dnn_model_repo(self) -> AsyncDnnModelRepository:
        """Every model read and write, as coroutines."""
        from .dnn_model.async_dnn_model_repo import AsyncDnnModelRepository

        return AsyncDnnModelRepository(self)

    async def server_version(self) -> str:
        """The server's InvokeAI version, e.g. ``"6.14.2"`` (asked once per client)."""
        session = self._transport.session
        if session.server_version is None:
            session.server_version = await self._execute(base.server_version())
        return session.server_version

    async def is_multiuser(self) -> bool:
        """Whether the server runs in multi-user mode (InvokeAI 6.12+; older: False)."""
        return await self._execute(base.is_multiuser(await self.server_version()))

    async def login(
        self, email: str, password: str, *, remember_me: bool = False
    ) -> dict[str, Any]:
        """Log in to a multi-user server and keep its token (see ``InvokeAIClient.login``)."""
        token, user = await self._execute(base.login(email, password, remember_me))
        self._transport.session.token = token
        self.events.model_events = user.get("is_admin") is not False  # only admins get them
        return user

    async def close(self) -> None:
        """Close the event stream and the connection pool (requests in flight finish first)."""
        try:
            await self.events.close()
        finally:
            await self._transport.close()

    async def __aenter__(self) -> AsyncInvokeAIClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _make_request(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        """Send a request to ``/api/v1{endpoint}`` and return the decoded answer."""
        return await self._execute(base.raw_call(method, "/api/v1" + endpoint, kwargs))

    async def _make_request_v2(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        """Send a request to ``/api/v2{endpoint}`` and return the decoded answer."""
        return await self._execute(base.raw_call(method, "/api/v2" + endpoint, kwargs))

    async def _execute(self, operation: Operation[T]) -> T:
        """Run an operation of the core: send each call it yields, return its result."""
        try:
            call = next(operation)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        while True:
            if call.route.since is not None:
                check_version(call, await self.server_version())
            answer = await self._transport.send(call)
            try:
                call = operation.send(answer)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
