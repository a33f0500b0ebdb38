"""Secret masking, used by every layer: URLs, texts, JSON, and echoed records."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["MASK", "redact_url", "scrub", "scrub_exception", "without_secrets"]

MASK = "***"
_SECRET_QUERY = re.compile(  # also percent-encoded, as in a source URL sent as a query value
    r"(?i)((?:access_token|token|password|api_key|apikey|secret|signature|sig)(?:=|%3D))"
    r"(?:(?!%26)[^&\s\"'<>])+"
)
_URL_PASSWORD = re.compile(r"(://[^/\s:@]+:)[^@\s/]+@")
_SECRET_KEYS = frozenset({"access_token"})


def redact_url(url: str) -> str:
    """The URL with any user:password and token-like query values masked."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rsplit("@", 1)[1]
    query = _SECRET_QUERY.sub(r"\1" + MASK, parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def scrub(value: Any, secrets: tuple[str, ...] = ()) -> Any:
    """``value`` (text, or JSON made of dicts and lists) with secrets masked as ``***``.

    Masks each of ``secrets`` wherever it appears, any ``access_token=``, ``token=``,
    ``password=``, ``api_key=``, ``secret=`` or ``sig=``-style query value, and the
    password of a URL (``https://user:***@host``).
    """
    if isinstance(value, str):
        for secret in secrets:
            if secret:
                value = value.replace(secret, MASK)
        return _URL_PASSWORD.sub(r"\1" + MASK + "@", _SECRET_QUERY.sub(r"\1" + MASK, value))
    if isinstance(value, dict):
        return {k: scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value]
    return value


def without_secrets(value: Any) -> Any:
    """``value`` without the ``access_token`` keys servers echo back, at any depth."""
    if isinstance(value, dict):
        return {k: without_secrets(v) for k, v in value.items() if k not in _SECRET_KEYS}
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value


def scrub_exception(err: BaseException, secrets: tuple[str, ...] = ()) -> None:
    """Mask secrets in the text arguments of ``err`` and of the exceptions it was raised
    from (a traceback prints them all), in place."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.args = tuple(scrub(a, secrets) if isinstance(a, str) else a for a in current.args)
        current = current.__cause__ or current.__context__
