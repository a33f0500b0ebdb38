"""The entry point: ``InvokeAIClient``."""

from __future__ import annotations

import re
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from ._transport import Expect, Transport, redact_url
from .errors import InvalidArgumentError, UnexpectedResponseError, UnsupportedByServerError

if TYPE_CHECKING:
    from .dnn_model.dnn_model_repo import DnnModelRepository

__all__ = ["InvokeAIClient", "parse_version"]

DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 2


class InvokeAIClient:
    """A connection to one InvokeAI server.

    Parameters
    ----------
    base_url : str
        The server's URL, with any reverse-proxy prefix (``https://host/invoke``).
        A trailing ``/api/v1`` or ``/api/v2`` is dropped.
    token : str, optional
        Bearer token for a multi-user server (see ``login``).
    timeout : float or httpx.Timeout or None
        Per-request timeout in seconds; ``None`` waits forever.
    max_retries : int
        Retries of reads (GET) on connection errors and 502/503/504. Writes are
        never retried.
    verify : bool or str
        TLS verification, as in httpx.
    http_client : httpx.Client, optional
        A client of your own (proxies, custom transports); closed by ``close()``.
        Its own timeout and TLS settings apply: ``timeout`` and ``verify`` are
        not used then.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:9090",
        *,
        token: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        verify: bool | str = True,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._transport = Transport(
            base_url,
            token=token,
            timeout=timeout,
            max_retries=max_retries,
            verify=verify,
            http_client=http_client,
        )
        self._server_version: str | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        token: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        verify: bool | str = True,
    ) -> InvokeAIClient:
        """A client for the server at ``url`` (e.g. ``http://127.0.0.1:9090``)."""
        return cls(url, token=token, timeout=timeout, max_retries=max_retries, verify=verify)

    @property
    def base_url(self) -> str:
        """The server's root URL (with its path prefix, if any)."""
        return self._transport.base_url

    @property
    def token(self) -> str | None:
        """The bearer token in use; refreshed from the server's answers."""
        return self._transport.token

    @token.setter
    def token(self, value: str | None) -> None:
        self._transport.token = value

    @cached_property
    def dnn_model_repo(self) -> DnnModelRepository:
        """Every model read and write: list, install, update, delete, cache, HF login."""
        from .dnn_model.dnn_model_repo import DnnModelRepository

        return DnnModelRepository(self)

    def server_version(self) -> str:
        """The server's InvokeAI version, e.g. ``"6.14.2"`` (asked once per client)."""
        if self._server_version is None:
            payload = self._make_request("GET", "/app/version")
            version = payload.get("version") if isinstance(payload, dict) else None
            if not isinstance(version, str):
                raise UnexpectedResponseError(
                    f"no version in {payload!r}",
                    method="GET",
                    route="/api/v1/app/version",
                    status_code=200,
                )
            self._server_version = version
        return self._server_version

    def login(self, email: str, password: str, *, remember_me: bool = False) -> dict[str, Any]:
        """Log in to a multi-user server and keep its token for later calls.

        Returns the server's description of the user (the token itself is kept,
        not returned). Raises ``AuthenticationError`` for wrong credentials.
        Multi-user mode exists from InvokeAI 6.12 on.
        """
        if not email or not password:
            raise InvalidArgumentError("email and password must be non-empty")
        self._require_version("6.12", "login")
        payload = self._make_request(
            "POST",
            "/auth/login",
            json={"email": email, "password": password, "remember_me": remember_me},
        )
        token = payload.get("token") if isinstance(payload, dict) else None
        if not isinstance(token, str) or not token:
            raise UnexpectedResponseError(
                "the login answer holds no token",
                method="POST",
                route="/api/v1/auth/login",
                status_code=200,
            )
        self._transport.token = token
        user = payload.get("user")
        return user if isinstance(user, dict) else {}

    def close(self) -> None:
        """Close the connection pool."""
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

    def __repr__(self) -> str:
        auth = ", token=***" if self.token else ""
        return f"InvokeAIClient({redact_url(self.base_url)!r}{auth})"

    def _make_request(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        """Send a request to ``/api/v1{endpoint}`` and return the decoded answer."""
        return self._request(method, "/api/v1" + endpoint, **kwargs)

    def _make_request_v2(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        """Send a request to ``/api/v2{endpoint}`` and return the decoded answer."""
        return self._request(method, "/api/v2" + endpoint, **kwargs)

    def _request(
        self,
        method: str,
        route: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        files: dict[str, Any] | None = None,
        expect: Expect = "json",
    ) -> Any:
        return self._transport.request(
            method, route, params=params, json_body=json, files=files, expect=expect
        )

    def _require_version(self, minimum: str, call: str) -> None:
        """Raise ``UnsupportedByServerError`` if the server is older than ``minimum``."""
        version = self.server_version()
        if parse_version(version) < parse_version(minimum):
            raise UnsupportedByServerError(call, server_version=version, minimum_version=minimum)


def parse_version(version: str) -> tuple[int, ...]:
    """``"6.14.2"`` -> ``(6, 14, 2)``; pre-release and local tags are ignored."""
    numbers = re.findall(r"\d+", version.split("+", 1)[0])[:3]
    return tuple(int(n) for n in numbers) + (0,) * (3 - len(numbers))
