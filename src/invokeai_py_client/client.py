"""The entry point: ``InvokeAIClient`` (its async twin is ``AsyncInvokeAIClient``)."""

from __future__ import annotations

from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from . import _base_client as base
from ._base_client import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, NOT_GIVEN, BaseClient
from ._core import Operation, check_version, parse_version
from ._event_stream import EventStream
from ._transport import Options, SyncTransport, Timeout
from .errors import InvalidArgumentError

if TYPE_CHECKING:
    from .dnn_model.dnn_model_repo import DnnModelRepository

__all__ = ["InvokeAIClient", "parse_version"]

T = TypeVar("T")


class InvokeAIClient(BaseClient[SyncTransport]):
    """A connection to one InvokeAI server.

    One client may be shared by threads: a failing request never breaks another
    one in flight.

    Parameters
    ----------
    base_url : str, optional
        The server's URL, with any reverse-proxy prefix (``https://host/invoke``);
        a trailing ``/api/v1`` or ``/api/v2`` is dropped. Default: ``$INVOKEAI_URL``,
        else ``http://127.0.0.1:9090``.
    token : str, optional
        Bearer token for a multi-user server (see ``login``). Default: ``$INVOKEAI_TOKEN``.
    timeout : float or httpx.Timeout or None
        Seconds a whole call may take, retries included; ``None`` waits forever.
        An ``httpx.Timeout`` sets httpx's per-phase timeouts instead.
    max_retries : int
        Retries of reads (GET) on connection errors and 502/503/504. Writes are
        never retried.
    verify : bool or str
        TLS verification, as in httpx.
    http_client : httpx.Client, optional
        A client of your own (proxies, custom transports); closed by ``close()``.
        Its TLS settings apply, not ``verify``.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: str | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        verify: bool | str = True,
        http_client: httpx.Client | None = None,
        events: bool = True,
    ) -> None:
        options = Options(timeout=timeout, max_retries=max_retries)
        session = base.make_session(base_url, token, options, http_client, httpx.Client, verify)
        self._transport = SyncTransport(session, options)
        if not isinstance(events, bool):
            raise InvalidArgumentError("events must be True or False")
        session.events = EventStream(
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
    ) -> InvokeAIClient:
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
    ) -> InvokeAIClient:
        """A copy with another timeout or retry count, sharing this client's pool and token.

        ``client.with_options(timeout=600).dnn_model_repo.convert_model(key)``.
        Closing either closes both.
        """
        copy = object.__new__(type(self))
        options = self._options_with(timeout, max_retries)
        copy._transport = SyncTransport(self._transport.session, options)
        return copy

    @property
    def events(self) -> EventStream:
        """The server's event stream (socket.io), connected on first use; needs the
        ``events`` extra. Waits use it when they can and poll when they cannot."""
        stream: EventStream = self._transport.session.events
        return stream

    @cached_property
    def dnn_model_repo(self) -> DnnModelRepository:
        """Every model read and write: list, install, update, delete, cache, HF login."""
        from .dnn_model.dnn_model_repo import DnnModelRepository

        return DnnModelRepository(self)

    def server_version(self) -> str:
        """The server's InvokeAI version, e.g. ``"6.14.2"`` (asked once per client)."""
        session = self._transport.session
        if session.server_version is None:
            session.server_version = self._execute(base.server_version())
        return session.server_version

    def is_multiuser(self) -> bool:
        """Whether the server runs in multi-user mode (InvokeAI 6.12+; older: False)."""
        return self._execute(base.is_multiuser(self.server_version()))

    def login(self, email: str, password: str, *, remember_me: bool = False) -> dict[str, Any]:
        """Log in to a multi-user server and keep its token for later calls.

        Returns the server's description of the user (the token itself is kept,
        not returned). Raises ``AuthenticationError`` for wrong credentials.
        Multi-user mode exists from InvokeAI 6.12 on.
        """
        token, user = self._execute(base.login(email, password, remember_me))
        self._transport.session.token = token
        self.events.model_events = user.get("is_admin") is not False  # only admins get them
        return user

    def close(self) -> None:
        """Close the event stream and the connection pool (requests in flight finish first)."""
        try:
            self.events.close()
        finally:
            self._transport.close()

    def __enter__(self) -> InvokeAIClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _make_request(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        """Send a request to ``/api/v1{endpoint}`` and return the decoded answer.

        Takes ``params``, ``json``, ``files`` and ``expect`` (``"json"``,
        ``"bytes"`` or ``"nothing"``).
        """
        return self._execute(base.raw_call(method, "/api/v1" + endpoint, kwargs))

    def _make_request_v2(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        """Send a request to ``/api/v2{endpoint}`` and return the decoded answer."""
        return self._execute(base.raw_call(method, "/api/v2" + endpoint, kwargs))

    def _execute(self, operation: Operation[T]) -> T:
        """Run an operation of the core: send each call it yields, return its result."""
        try:
            call = next(operation)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        while True:
            if call.route.since is not None:
                check_version(call, self.server_version())
            answer = self._transport.send(call)
            try:
                call = operation.send(answer)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
