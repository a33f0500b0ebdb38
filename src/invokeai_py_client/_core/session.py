"""What copies of one client share: the session (URL, token, version) and its pool."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from ..errors import InvalidArgumentError
from .calls import MAX_ARGUMENT_CHARS, normalize_base_url

__all__ = ["Pool", "Session", "checked_token"]

C = TypeVar("C")


class Pool(Generic[C]):
    """The HTTP client, leased per request, so that closing waits for requests in flight.

    Only bookkeeping, under one lock: the caller closes the client when ``release`` or
    ``close`` says so.
    """

    def __init__(self, client: C, *, user_given: bool) -> None:
        self.client = client
        self.user_given = user_given
        self._leases = 0
        self._closed = False
        self._lock = threading.Lock()

    def acquire(self) -> C:
        """Lease the client for one request; ``RuntimeError`` once closed."""
        with self._lock:
            if self._closed:
                raise RuntimeError("closed")
            self._leases += 1
            return self.client

    def release(self) -> bool:
        """Give a lease back; True when the caller must now close the client."""
        with self._lock:
            self._leases -= 1
            return self._closed and not self._leases

    def close(self) -> bool:
        """Close for good; True when the caller must close the client now (no request
        in flight), else the ``release`` of the last one says so."""
        with self._lock:
            if self._closed:
                return False
            self._closed = True
            return not self._leases

    @property
    def is_closed(self) -> bool:
        return self._closed


def checked_token(token: object) -> str | None:
    """A bearer token as given (``""`` is None); one with a space or a line break would
    not fit in the ``Authorization`` header, and is refused."""
    if token is not None and not isinstance(token, str):
        raise InvalidArgumentError("token must be a string or None")
    if token and (token != "".join(token.split()) or not token.isprintable()):
        raise InvalidArgumentError("a token holds no spaces, line breaks or control characters")
    if token and len(token) > MAX_ARGUMENT_CHARS:
        raise InvalidArgumentError(
            f"the token is {len(token)} characters long; at most {MAX_ARGUMENT_CHARS}"
        )
    return token or None


class Session(Generic[C]):
    """What copies of one client share: URL, token, pool and the server's version."""

    def __init__(self, base_url: str, token: str | None, pool: Pool[C]) -> None:
        self.base_url = normalize_base_url(base_url)
        self.token = checked_token(token)
        self.pool = pool
        self.server_version: str | None = None
        self.events: Any = None
        self.new_http_client: Callable[[], C] | None = None  # None for a user's client
        self.loop: Any = None  # the event loop an async client's pool belongs to
        self.gate: Any = None  # holds requests back when the pool is ours (backend.Gate)
