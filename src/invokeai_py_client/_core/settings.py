"""Client settings: URL, token, TLS, timeouts and retries (defaults in ``defaults``)."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, replace
from typing import Any

import httpx

from ..errors import InvalidArgumentError
from .defaults import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    DEFAULT_URL,
    LEGACY_HOST,
    LEGACY_MAX_RETRIES,
    LEGACY_PORT,
    LEGACY_TIMEOUT,
    TOKEN_ENV,
    URL_ENV,
)

__all__ = [
    "LIMITS",
    "MAX_CONNECTIONS",
    "NOT_GIVEN",
    "Options",
    "Timeout",
    "legacy_settings",
    "resolve_token",
    "resolve_url",
    "ssl_context",
]

# Idle connections are given up before the server's keep-alive ends (uvicorn: 5 s), or
# it may close one while a request is on its way. As many may idle as may be open: the
# pool closing a "surplus" idle connection can close one it has just promised to a
# waiting request (encode/httpcore#1110).
#
# At most MAX_CONNECTIONS requests of one client are on the wire at once (an InvokeAI
# server answers one at a time anyway); the others wait at the client's gate, which
# counts against their timeout. A large pool costs CPU: httpcore scans every
# connection each time a request starts or ends.
MAX_CONNECTIONS = 20
LIMITS = httpx.Limits(
    max_connections=MAX_CONNECTIONS,
    max_keepalive_connections=MAX_CONNECTIONS,
    keepalive_expiry=4.0,
)

Timeout = float | httpx.Timeout | None


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


def ssl_context(verify: bool | str) -> ssl.SSLContext:
    """The TLS context of a client's own HTTP pool."""
    if isinstance(verify, str):
        try:
            return ssl.create_default_context(cafile=verify)
        except (OSError, ssl.SSLError) as err:
            raise InvalidArgumentError(f"cannot load the CA bundle {verify!r}: {err}") from err
    if not isinstance(verify, bool):
        raise InvalidArgumentError("verify must be a bool or a CA bundle path")
    return httpx.create_ssl_context(verify=verify)


@dataclass(frozen=True)
class Options:
    """Per-client settings; ``with_options`` makes a copy with some replaced."""

    timeout: Timeout
    max_retries: int

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise InvalidArgumentError(f"max_retries must be an int, not {self.max_retries!r}")
        if self.max_retries < 0:
            raise InvalidArgumentError("max_retries must be 0 or more")
        timeout = self.timeout
        if timeout is not None and not isinstance(timeout, httpx.Timeout):
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
                raise InvalidArgumentError(
                    f"timeout must be seconds (a number), an httpx.Timeout or None, not {timeout!r}"
                )
            if not timeout > 0:
                raise InvalidArgumentError(f"timeout must be more than 0 seconds, not {timeout!r}")

    def replace(self, *, timeout: Any = NOT_GIVEN, max_retries: Any = NOT_GIVEN) -> Options:
        """A copy with the given settings replaced (``NOT_GIVEN`` keeps one)."""
        changes: dict[str, Any] = {}
        if timeout is not NOT_GIVEN:
            changes["timeout"] = timeout
        if max_retries is not NOT_GIVEN:
            changes["max_retries"] = max_retries
        return replace(self, **changes)

    @property
    def total(self) -> float | None:
        """Seconds a whole call may take (retries included); None for no bound."""
        return float(self.timeout) if isinstance(self.timeout, (int, float)) else None


def legacy_settings(
    base_url: str | None,
    *,
    host: str | None,
    port: int | None,
    base_path: str | None,
    use_https: bool | None,
    timeout: Any,
    max_retries: Any,
) -> tuple[str | None, Timeout, int]:
    """The URL, timeout and retries of a client made in either style: ours
    (``base_url``) or invokeai-py-client 1.1's (``host``, ``port``, ``base_path``,
    ``use_https``, with 1.1's defaults)."""
    if base_url is not None and not isinstance(base_url, str):
        raise InvalidArgumentError(f"the server URL must be a string, not {base_url!r:.60}")
    if base_url is not None and not base_url.strip():
        raise InvalidArgumentError("the server URL must be a non-empty string")
    bare_host = base_url is not None and "://" not in base_url
    legacy = bare_host or any(v is not None for v in (host, port, base_path, use_https))
    if not legacy:
        timeout = DEFAULT_TIMEOUT if timeout is NOT_GIVEN else timeout
        return base_url, timeout, DEFAULT_MAX_RETRIES if max_retries is NOT_GIVEN else max_retries
    if base_url is not None and not bare_host:
        raise InvalidArgumentError("give a server URL, or host and port, not both")
    if base_url is not None and host is not None:
        raise InvalidArgumentError("the host is given twice")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)):
        raise InvalidArgumentError(f"port must be an int, not {port!r:.60}")
    if use_https is not None and not isinstance(use_https, bool):
        raise InvalidArgumentError(f"use_https must be True or False, not {use_https!r:.60}")
    if base_path is not None and not isinstance(base_path, str):
        raise InvalidArgumentError(f"base_path must be a string, not {base_path!r:.60}")
    scheme = "https" if use_https else "http"
    url = f"{scheme}://{host or base_url or LEGACY_HOST}:{port or LEGACY_PORT}{base_path or ''}"
    timeout = LEGACY_TIMEOUT if timeout is NOT_GIVEN else timeout
    return url, timeout, LEGACY_MAX_RETRIES if max_retries is NOT_GIVEN else max_retries
