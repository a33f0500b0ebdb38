"""What the sync and the async client share: settings, environment, app-level routes."""

from __future__ import annotations

import os
import ssl
from typing import Any, Generic, TypeVar

import httpx

from ._core import Call, Operation, Route, parse_version, redact_url
from ._transport import BaseTransport, Options, Pool, Session, Timeout
from .errors import InvalidArgumentError, UnexpectedResponseError

__all__ = [
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "DEFAULT_URL",
    "BaseClient",
    "login",
    "server_version",
]

DEFAULT_URL = "http://127.0.0.1:9090"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 2
URL_ENV = "INVOKEAI_URL"
TOKEN_ENV = "INVOKEAI_TOKEN"

C = TypeVar("C")
Tr = TypeVar("Tr", bound=BaseTransport[Any])


class NotGiven:
    """Marks an argument left out, so that ``None`` can mean "no timeout"."""

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Any = NotGiven()


def resolve_url(base_url: str | None) -> str:
    """``base_url``, else ``$INVOKEAI_URL``, else ``http://127.0.0.1:9090``."""
    if base_url is None:
        return os.environ.get(URL_ENV) or DEFAULT_URL
    return base_url


def resolve_token(token: str | None) -> str | None:
    """``token``, else ``$INVOKEAI_TOKEN``, else None."""
    return token if token is not None else (os.environ.get(TOKEN_ENV) or None)


# Idle connections are given up before the server's keep-alive ends (uvicorn: 5 s), or
# it may close one while a request is on its way. As many may idle as may be open: the
# pool closing a "surplus" idle connection can close one it has just promised to a
# waiting request (encode/httpcore#1110).
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=4.0)


def make_session(
    base_url: str | None,
    token: str | None,
    options: Options,
    http_client: C | None,
    client_class: type[C],
    verify: bool | str,
) -> Session[C]:
    """A session on a new pool of ``client_class`` (or on the user's ``http_client``)."""
    if not isinstance(verify, (bool, str)):
        raise InvalidArgumentError("verify must be a bool or a CA bundle path")
    if http_client is not None and not isinstance(http_client, client_class):
        raise InvalidArgumentError(f"http_client must be an {client_class.__name__}")
    url = resolve_url(base_url)
    tls = _ssl_context(verify) if http_client is None else None

    def make() -> C:
        return client_class(  # type: ignore[call-arg]
            timeout=options.timeout, verify=tls, limits=LIMITS
        )

    if http_client is not None:
        session = Session(url, resolve_token(token), Pool(http_client, user_given=True))
    else:
        session = Session(url, resolve_token(token), Pool(make(), user_given=False))
        session.new_http_client = make
    return session


def _ssl_context(verify: bool | str) -> ssl.SSLContext:
    """The TLS context of a session's HTTP client."""
    if isinstance(verify, str):
        try:
            return ssl.create_default_context(cafile=verify)
        except (OSError, ssl.SSLError) as err:
            raise InvalidArgumentError(f"cannot load the CA bundle {verify!r}: {err}") from err
    return httpx.create_ssl_context(verify=verify)


class BaseClient(Generic[Tr]):
    """Properties and ``repr`` shared by ``InvokeAIClient`` and ``AsyncInvokeAIClient``."""

    _transport: Tr

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
        if value is not None and not isinstance(value, str):
            raise InvalidArgumentError("token must be a string or None")
        self._transport.session.token = value or None

    @property
    def timeout(self) -> Timeout:
        """Seconds a whole call may take, retries included (or an httpx.Timeout, or None)."""
        return self._transport.options.timeout

    @property
    def max_retries(self) -> int:
        """How often a failed read (GET) is tried again."""
        return self._transport.options.max_retries

    def _options_with(self, timeout: Any, max_retries: Any) -> Options:
        changes: dict[str, Any] = {}
        if timeout is not NOT_GIVEN:
            changes["timeout"] = timeout
        if max_retries is not NOT_GIVEN:
            changes["max_retries"] = max_retries
        return self._transport.options.replace(**changes)

    def __repr__(self) -> str:
        auth = ", token=***" if self.token else ""
        return f"{type(self).__name__}({redact_url(self.base_url)!r}{auth})"


# -- app-level routes, shared by both clients ------------------------------------------

VERSION = Route("GET", "/api/v1/app/version")
LOGIN = Route("POST", "/api/v1/auth/login", since="6.12")
AUTH_STATUS = Route("GET", "/api/v1/auth/status")
MULTIUSER_SINCE = (6, 12)


def is_multiuser(version: str) -> Operation[bool]:
    """Whether the server runs in multi-user mode (asked from 6.12 on; older: never)."""
    if parse_version(version) < MULTIUSER_SINCE:
        return False
    payload = yield Call(AUTH_STATUS, "is_multiuser")
    return isinstance(payload, dict) and payload.get("multiuser_enabled") is True


def server_version() -> Operation[str]:
    """The server's InvokeAI version string."""
    call = Call(VERSION, "server_version")
    payload = yield call
    version = payload.get("version") if isinstance(payload, dict) else None
    if not isinstance(version, str):
        raise UnexpectedResponseError(
            f"no version in {payload!r}", method="GET", route=call.path, status_code=200
        )
    return version


def login(email: str, password: str, remember_me: bool) -> Operation[tuple[str, dict[str, Any]]]:
    """Log in; returns the token and the server's description of the user."""
    if not isinstance(email, str) or not email or not isinstance(password, str) or not password:
        raise InvalidArgumentError("email and password must be non-empty strings")
    if not isinstance(remember_me, bool):
        raise InvalidArgumentError("remember_me must be a bool")
    body = {"email": email, "password": password, "remember_me": remember_me}
    call = Call(LOGIN, "login", json=body, secrets=(password,))
    payload = yield call
    token = payload.get("token") if isinstance(payload, dict) else None
    if not isinstance(token, str) or not token:
        raise UnexpectedResponseError(
            "the login answer holds no token", method="POST", route=call.path, status_code=200
        )
    user = payload.get("user")
    return token, user if isinstance(user, dict) else {}


def raw_call(method: str, route: str, kwargs: dict[str, Any]) -> Operation[Any]:
    """One ad-hoc request (``_make_request``): the decoded answer, unparsed."""
    if not isinstance(method, str) or method.upper() not in _METHODS:
        raise InvalidArgumentError(f"not an HTTP method: {method!r}")
    unknown = set(kwargs) - {"params", "json", "files", "expect"}
    if unknown:
        raise InvalidArgumentError(f"unknown request options: {sorted(unknown)}")
    expect = kwargs.get("expect", "json")
    if expect not in {"json", "bytes", "nothing"}:
        raise InvalidArgumentError("expect must be 'json', 'bytes' or 'nothing'")
    call = Call(
        Route(method.upper(), route, expect=expect),
        f"{method.upper()} {route}",
        params=kwargs.get("params"),
        json=kwargs.get("json"),
        files=kwargs.get("files"),
    )
    return (yield call)


_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"})
