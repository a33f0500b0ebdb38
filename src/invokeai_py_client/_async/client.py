"""``AsyncInvokeAIClient``: the entry point, one connection to one InvokeAI server."""

from __future__ import annotations

from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from .._core import app_ops
from .._core.defaults import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from .._core.session import Pool, Session, checked_token
from .._core.settings import (
    LIMITS,
    MAX_CONNECTIONS,
    NOT_GIVEN,
    Options,
    Timeout,
    legacy_settings,
    resolve_token,
    resolve_url,
    ssl_context,
)
from .._redact import redact_url
from ..errors import InvalidArgumentError
from . import backend
from .event_stream import AsyncEventStream
from .transport import AsyncTransport, bound_reads

if TYPE_CHECKING:
    from .repository import AsyncDnnModelRepository

__all__ = ["AsyncInvokeAIClient"]


class AsyncInvokeAIClient:
    """A connection to one InvokeAI server.

    One client may be shared by threads (tasks): a failing request never breaks
    another one in flight.

    Parameters
    ----------
    base_url : str, optional
        The server's URL, with any reverse-proxy prefix (``https://host/invoke``);
        a trailing ``/api/v1`` or ``/api/v2`` is dropped. Default: ``$INVOKEAI_URL``,
        else ``http://127.0.0.1:9090``. A bare host name (no ``scheme://``) is
        invokeai-py-client 1.1's ``host`` (see below).
    port, api_key, base_path, use_https, verify_ssl, host
        invokeai-py-client 1.1's way to name the server: ``InvokeAIClient("localhost",
        9090)``; ``api_key`` is ``token``, ``verify_ssl`` is ``verify``. A client made
        so has 1.1's defaults: 30 s timeout, 3 retries of reads.
    timeout : float or httpx.Timeout or None
        Seconds a whole call may take, retries included; ``None`` waits forever.
        An ``httpx.Timeout`` sets httpx's per-phase timeouts instead. Default: 60.
    max_retries : int
        Retries of reads (GET) on connection errors and 502/503/504. Writes are
        never retried. Default: 2.
    token : str, optional
        Bearer token for a multi-user server (see ``login``). Default: ``$INVOKEAI_TOKEN``.
    verify : bool or str
        TLS verification, as in httpx.
    http_client : httpx.AsyncClient, optional
        A client of your own (proxies, custom transports); closed by ``close()``.
        Its TLS settings apply, not ``verify``.
    events : bool
        Whether waits may follow the server's event stream (else they poll).
    """

    def __init__(
        self,
        base_url: str | None = None,
        port: int | None = None,
        api_key: str | None = None,
        timeout: Timeout = NOT_GIVEN,
        base_path: str | None = None,
        use_https: bool | None = None,
        verify_ssl: bool | None = None,
        max_retries: int = NOT_GIVEN,
        *,
        host: str | None = None,
        token: str | None = None,
        verify: bool | str = True,
        http_client: httpx.AsyncClient | None = None,
        events: bool = True,
    ) -> None:
        base_url, timeout, max_retries = legacy_settings(
            base_url,
            host=host,
            port=port,
            base_path=base_path,
            use_https=use_https,
            timeout=timeout,
            max_retries=max_retries,
        )
        if api_key is not None:
            if token is not None and token != api_key:
                raise InvalidArgumentError("give token or api_key, not both")
            token = api_key
        if verify_ssl is not None:
            verify = verify_ssl
        options = Options(timeout=timeout, max_retries=max_retries)
        if not isinstance(verify, (bool, str)):
            raise InvalidArgumentError("verify must be a bool or a CA bundle path")
        if not isinstance(events, bool):
            raise InvalidArgumentError("events must be True or False")
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise InvalidArgumentError("http_client must be an httpx.AsyncClient")
        url, token = resolve_url(base_url), resolve_token(token)
        if http_client is not None:
            session = Session(url, token, Pool(http_client, user_given=True))
        else:
            tls = ssl_context(verify)

            def new_http_client() -> httpx.AsyncClient:
                return bound_reads(
                    httpx.AsyncClient(timeout=options.timeout, verify=tls, limits=LIMITS)
                )

            session = Session(url, token, Pool(new_http_client(), user_given=False))
            session.new_http_client = new_http_client
            session.gate = backend.Gate(MAX_CONNECTIONS)
        session.events = AsyncEventStream(
            session.base_url, lambda: session.token, verify, enabled=events
        )
        self._transport = AsyncTransport(session, options)

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
        api_key: str | None = None,
        verify_ssl: bool | None = None,
    ) -> AsyncInvokeAIClient:
        """A client for the server at ``url`` (e.g. ``http://127.0.0.1:9090``).

        ``api_key`` and ``verify_ssl`` are invokeai-py-client 1.1's names of ``token``
        and ``verify``.
        """
        if not isinstance(url, str):
            raise InvalidArgumentError("the server URL must be a string")
        if "://" not in url:
            raise InvalidArgumentError(f"not an http(s) URL: {redact_url(url)!r}")
        return cls(
            url,
            api_key=api_key,
            timeout=timeout,
            verify_ssl=verify_ssl,
            max_retries=max_retries,
            token=token,
            verify=verify,
            events=events,
        )

    def with_options(
        self, *, timeout: Timeout = NOT_GIVEN, max_retries: int = NOT_GIVEN
    ) -> AsyncInvokeAIClient:
        """A copy with another timeout or retry count, sharing this client's pool and token.

        ``client.with_options(timeout=600).dnn_model_repo.convert_model(key)``.
        Closing either closes both.
        """
        copy = object.__new__(type(self))
        options = self._transport.options.replace(timeout=timeout, max_retries=max_retries)
        copy._transport = AsyncTransport(self._transport.session, options)
        return copy

    @property
    def base_url(self) -> str:
        """The server's root URL (with its path prefix, if any)."""
        return self._transport.session.base_url

    @property
    def token(self) -> str | None:
        """The bearer token in use; refreshed from the server's answers."""
        return self._transport.session.token

    @token.setter
    def token(self, value: str | None) -> None:
        self._transport.session.token = checked_token(value)

    @property
    def timeout(self) -> Timeout:
        """Seconds a whole call may take, retries included (or an httpx.Timeout, or None)."""
        return self._transport.options.timeout

    @property
    def max_retries(self) -> int:
        """How often a failed read (GET) is tried again."""
        return self._transport.options.max_retries

    @property
    def events(self) -> AsyncEventStream:
        """The server's event stream (socket.io), connected on first use; needs the
        ``events`` extra. Waits use it when they can and poll when they cannot."""
        stream: AsyncEventStream = self._transport.session.events
        return stream

    @cached_property
    def dnn_model_repo(self) -> AsyncDnnModelRepository:
        """Every model read and write: list, install, update, delete, cache, HF login."""
        from .repository import AsyncDnnModelRepository

        return AsyncDnnModelRepository(self._transport)

    async def server_version(self) -> str:
        """The server's InvokeAI version, e.g. ``"6.14.2"`` (asked once per client)."""
        return await self._transport.server_version()

    async def is_multiuser(self) -> bool:
        """Whether the server runs in multi-user mode (InvokeAI 6.12+; older: False)."""
        version = await self.server_version()
        return await self._transport.run(app_ops.is_multiuser(version))

    async def login(
        self, email: str, password: str, *, remember_me: bool = False
    ) -> dict[str, Any]:
        """Log in to a multi-user server and keep its token for later calls.

        Returns the server's description of the user (the token itself is kept,
        not returned). Raises ``AuthenticationError`` for wrong credentials.
        Multi-user mode exists from InvokeAI 6.12 on.
        """
        token, user = await self._transport.run(app_ops.login(email, password, remember_me))
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

    def __repr__(self) -> str:
        auth = ", token=***" if self.token else ""
        return f"{type(self).__name__}({redact_url(self.base_url)!r}{auth})"

    async def _make_request(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        """Send a request to ``/api/v1{endpoint}`` and return the decoded answer.

        Takes ``params``, ``json``, ``files`` and ``expect`` (``"json"``,
        ``"bytes"`` or ``"nothing"``).
        """
        return await self._transport.run(app_ops.raw_call(method, "/api/v1" + endpoint, kwargs))

    async def _make_request_v2(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        """Send a request to ``/api/v2{endpoint}`` and return the decoded answer."""
        return await self._transport.run(app_ops.raw_call(method, "/api/v2" + endpoint, kwargs))
