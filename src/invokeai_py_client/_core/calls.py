"""The I/O-free core: routes, calls, request building and answer classification.

A ``Route`` describes one server route once: method, path, what a success carries,
the oldest server that has it, and what some statuses mean for it. An operation is
a generator that checks its arguments, yields ``Call`` objects and receives their
decoded answers, then returns a parsed result. The sync and the async clients run
the same operations; they differ only in how they send and sleep.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

from .._redact import redact_url, scrub
from ..dnn_model._base import MAX_ARGUMENT_CHARS
from ..errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    InvalidArgumentError,
    UnexpectedResponseError,
    UnsupportedByServerError,
    error_class_for_status,
)

__all__ = [
    "ABSENT",
    "MAX_ARGUMENT_CHARS",
    "Call",
    "Expect",
    "JsonBytes",
    "Operation",
    "Route",
    "answer_of",
    "check_version",
    "normalize_base_url",
    "parse_version",
    "path_segment",
    "unexpected",
]

T = TypeVar("T")
Expect = Literal["json", "record", "bytes", "nothing"]

_API_SUFFIX = re.compile(r"/api/v\d+/?$")
MAX_DETAIL_CHARS = 2000
"""The longest text argument taken (a key, a name, a source, a token): far past any real
one, and short enough that a request line stays under the server's limit (h11, 16 KiB)."""


class _Absent:
    """The answer of a route whose status says "no such thing" (see ``Route.absent``)."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class Route:
    """One server route.

    ``path`` is a template (``/api/v2/models/i/{key}``). ``expect`` is what a success
    carries: ``json`` (decoded), ``record`` (one JSON object, handed to
    ``parsing.parse`` undecoded as ``JsonBytes``, which validates it straight from the
    bytes), ``bytes`` (a file) or ``nothing``. ``since`` is the oldest InvokeAI version
    that has it, or has ``feature`` (a part of the route, such as a field of its body,
    when the route itself is older); ``absent`` the statuses that mean the thing asked
    for does not exist (the call then receives ``ABSENT``); ``errors`` the error class a
    status stands for on this route, where it differs from the usual one.
    """

    method: str
    path: str
    expect: Expect = "json"
    since: str | None = None
    feature: str | None = None
    absent: frozenset[int] = frozenset()
    errors: Mapping[int, type[APIError]] = field(default_factory=dict)


@dataclass(frozen=True)
class JsonBytes:
    """The undecoded JSON answer of a ``record`` route (see ``Route``)."""

    content: bytes


@dataclass(frozen=True)
class Call:
    """One request to make: a route with its arguments, checked and encoded."""

    route: Route
    name: str
    path_args: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Any] | None = None
    json: Any = None
    files: Mapping[str, Any] | None = None
    secrets: tuple[str, ...] = ()

    @property
    def method(self) -> str:
        return self.route.method

    @property
    def path(self) -> str:
        """The route with its arguments, no query string (safe to show)."""
        return self.route.path.format(**self.path_args) if self.path_args else self.route.path

    def query(self) -> dict[str, Any]:
        """The query parameters as httpx takes them, ``None`` values dropped."""
        return {k: _query_value(v) for k, v in (self.params or {}).items() if v is not None}

    def headers(self, token: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if self.method == "DELETE":
            # InvokeAI 6.14's gzip middleware turns an empty 204 into a 500.
            headers["Accept-Encoding"] = "identity"
        return headers


Operation = Generator[Call, Any, T]
"""An operation: yields calls, receives each call's decoded answer, returns a result."""


def answer_of(
    call: Call, status: int, content_type: str, content: bytes, secrets: tuple[str, ...] = ()
) -> Any:
    """The decoded answer of ``call``, ``ABSENT``, or the error the answer stands for.

    A success must be what the route gives: JSON for a JSON route, an empty body or
    JSON for a route that answers nothing, anything but an HTML page for bytes.
    """
    method, route = call.method, call.path
    if status in call.route.absent:
        return ABSENT
    if status >= 400:
        body = scrub(_decode_error_body(content_type, content), secrets + call.secrets)
        detail = body.get("detail", body) if isinstance(body, dict) else body
        error_class = call.route.errors.get(status) or error_class_for_status(status)
        raise error_class(method=method, route=route, status_code=status, detail=detail, body=body)
    is_json = "json" in content_type
    expect = call.route.expect
    if expect == "nothing" or status == 204:
        if content.strip() and not is_json:
            raise unexpected(call, f"expected no content, got {_kind(content_type)}", status)
        return None
    if expect == "bytes":
        if "html" in content_type:
            raise unexpected(call, "expected a file, got an HTML page", status)
        return content
    if not is_json:
        raise unexpected(
            call,
            f"expected JSON, got {_kind(content_type)} "
            "(a wrong path, a proxy, or a server too old for this route)",
            status,
        )
    if expect == "record":
        return JsonBytes(content)
    try:
        return json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise unexpected(call, f"broken JSON: {err}", status) from err


def connection_error(call: Call, err: Exception, secrets: tuple[str, ...] = ()) -> Exception:
    """Our error for a request that got no answer (``err`` is httpx's)."""
    name = type(err).__name__
    if "Timeout" in name:
        return APITimeoutError(f"timed out ({name})", method=call.method, route=call.path)
    text = scrub(str(err), secrets + call.secrets)
    return APIConnectionError(f"{name}: {text}", method=call.method, route=call.path)


def check_version(call: Call, version: str) -> None:
    """Raise ``UnsupportedByServerError`` if the server is older than the route."""
    since = call.route.since
    if since is not None and parse_version(version) < parse_version(since):
        raise UnsupportedByServerError(
            call.name, server_version=version, minimum_version=since, feature=call.route.feature
        )


def parse_version(version: str) -> tuple[int, ...]:
    """``"6.14.2"`` -> ``(6, 14, 2)``; pre-release and local tags are ignored."""
    numbers = re.findall(r"\d+", version.split("+", 1)[0])[:3]
    return tuple(int(n) for n in numbers) + (0,) * (3 - len(numbers))


def normalize_base_url(url: str) -> str:
    """The server's root URL, path prefix kept, ``/api/vN`` and trailing ``/`` dropped.

    ``http://h:9090``, ``http://h:9090/`` and ``http://h:9090/api/v1`` all give
    ``http://h:9090``; ``https://h/invoke/api/v2`` gives ``https://h/invoke``.
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidArgumentError("the server URL must be a non-empty string")
    parts = urlsplit(url.strip())
    try:
        parts.port  # noqa: B018 (raises for a port that is no number, "h:9090:9090")
    except ValueError:
        raise InvalidArgumentError(f"not an http(s) URL: {redact_url(url)!r}") from None
    host = parts.hostname
    if parts.scheme not in {"http", "https"} or not host or host != "".join(host.split()):
        raise InvalidArgumentError(f"not an http(s) URL: {redact_url(url)!r}")
    path = _API_SUFFIX.sub("", parts.path).rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def path_segment(value: str | int, what: str) -> str:
    """One URL path segment, checked non-empty and percent-encoded (``/`` included)."""
    text = (
        str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    )
    if not text:
        raise InvalidArgumentError(f"{what} must be a non-empty string")
    if len(text) > MAX_ARGUMENT_CHARS:
        raise InvalidArgumentError(
            f"{what} is {len(text)} characters long; at most {MAX_ARGUMENT_CHARS}"
        )
    if "/" in text or "\\" in text or text in {".", ".."}:
        raise InvalidArgumentError(f"{what} may not contain a slash or be a dot path: {text!r}")
    return quote(text, safe="")


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    return str(value)


def _decode_error_body(content_type: str, content: bytes) -> Any:
    text = content.decode("utf-8", errors="replace")
    if "json" in content_type:
        try:
            return json.loads(text)
        except ValueError:
            pass
    text = text.strip()
    return text if len(text) <= MAX_DETAIL_CHARS else text[:MAX_DETAIL_CHARS] + "…"


def _kind(content_type: str) -> str:
    return content_type.split(";", 1)[0] or "no content type"


def unexpected(call: Call, message: str, status: int = 200) -> UnexpectedResponseError:
    """``UnexpectedResponseError`` for an answer to ``call`` that we cannot read."""
    return UnexpectedResponseError(message, method=call.method, route=call.path, status_code=status)
