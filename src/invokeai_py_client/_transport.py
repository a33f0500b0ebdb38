"""The one funnel every request goes through: send, retry reads, map failures."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from ._retry import RETRYABLE_STATUS, is_retryable_method, retry_delay
from .errors import (
    APIConnectionError,
    APITimeoutError,
    InvalidArgumentError,
    UnexpectedResponseError,
    error_class_for_status,
)

__all__ = ["Expect", "Transport", "normalize_base_url", "path_segment", "redact_url"]

logger = logging.getLogger("invokeai_py_client")

Expect = Literal["json", "bytes", "nothing"]

_API_SUFFIX = re.compile(r"/api/v\d+/?$")
_SECRET_QUERY = re.compile(r"(?i)((?:access_token|token|password)=)[^&\s\"']+")
REFRESHED_TOKEN_HEADER = "X-Refreshed-Token"


def normalize_base_url(url: str) -> str:
    """The server's root URL, path prefix kept, ``/api/vN`` and trailing ``/`` dropped.

    ``http://h:9090``, ``http://h:9090/`` and ``http://h:9090/api/v1`` all give
    ``http://h:9090``; ``https://h/invoke/api/v2`` gives ``https://h/invoke``.
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidArgumentError("the server URL must be a non-empty string")
    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InvalidArgumentError(f"not an http(s) URL: {redact_url(url)!r}")
    path = _API_SUFFIX.sub("", parts.path).rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def redact_url(url: str) -> str:
    """The URL with any user:password and token-like query values masked."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = _SECRET_QUERY.sub(r"\1***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def path_segment(value: str | int, what: str) -> str:
    """One URL path segment, checked non-empty and percent-encoded (``/`` included)."""
    text = str(value).strip() if isinstance(value, (str, int)) else ""
    if not text:
        raise InvalidArgumentError(f"{what} must be a non-empty string")
    if "/" in text or "\\" in text or text in {".", ".."}:
        raise InvalidArgumentError(f"{what} may not contain a slash or be a dot path: {text!r}")
    return quote(text, safe="")


class _RedactSecrets(logging.Filter):
    """Masks tokens in the request URLs that httpx logs at INFO level."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(str(arg)) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


logging.getLogger("httpx").addFilter(_RedactSecrets())


class Transport:
    """Sends requests to one server, retrying reads and mapping every failure.

    The bearer token lives here; a token the server sends back in
    ``X-Refreshed-Token`` replaces it.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
        verify: bool | str,
        http_client: httpx.Client | None = None,
    ) -> None:
        if max_retries < 0:
            raise InvalidArgumentError("max_retries must be 0 or more")
        self.base_url = normalize_base_url(base_url)
        self.token = token
        self.max_retries = max_retries
        self._own_client = http_client is None
        self._client_options: dict[str, Any] = {"timeout": timeout, "verify": verify}
        self._http = http_client or httpx.Client(**self._client_options)

    def close(self) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        route: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        files: dict[str, Any] | None = None,
        expect: Expect = "json",
    ) -> Any:
        """Send ``method route`` and return the decoded answer.

        ``route`` starts at the API root (``/api/v2/models/``). ``expect`` says what
        a success carries: JSON (decoded), bytes, or nothing (``None``).
        """
        method = method.upper()
        headers = self._headers(method)
        url = self.base_url + route
        query = {k: _query_value(v) for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                response = self._http.request(
                    method,
                    url,
                    params=query or None,
                    json=json_body,
                    files=files,
                    headers=headers,
                )
            except httpx.TimeoutException as err:
                if self._may_retry(method, attempt):
                    attempt += 1
                    continue
                raise APITimeoutError(
                    f"timed out ({type(err).__name__})", method=method, route=route
                ) from err
            except httpx.HTTPError as err:
                if self._may_retry(method, attempt):
                    attempt += 1
                    continue
                raise APIConnectionError(
                    f"{type(err).__name__}: {_safe_message(err)}", method=method, route=route
                ) from err
            logger.debug(
                "%s %s -> %s (%.1f ms)",
                method,
                route,
                response.status_code,
                (time.monotonic() - started) * 1000,
            )
            if response.status_code in RETRYABLE_STATUS and self._may_retry(
                method, attempt, response.headers.get("Retry-After")
            ):
                attempt += 1
                continue
            return self._handle(method, route, response, expect)

    def _headers(self, method: str) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if method == "DELETE":
            # InvokeAI 6.14's gzip middleware turns an empty 204 into a 500.
            headers["Accept-Encoding"] = "identity"
        return headers

    def _renew_pool(self) -> None:
        """Drop pooled connections: a failing server often closes them behind us."""
        if self._own_client:
            self._http.close()
            self._http = httpx.Client(**self._client_options)

    def _may_retry(self, method: str, attempt: int, retry_after: str | None = None) -> bool:
        if attempt >= self.max_retries or not is_retryable_method(method):
            return False
        time.sleep(retry_delay(attempt, retry_after))
        return True

    def _handle(self, method: str, route: str, response: httpx.Response, expect: Expect) -> Any:
        refreshed = response.headers.get(REFRESHED_TOKEN_HEADER)
        if refreshed:
            self.token = refreshed
        status = response.status_code
        if status >= 500:
            self._renew_pool()
        if status >= 400:
            body = _decode_error_body(response)
            detail = body.get("detail", body) if isinstance(body, dict) else body
            raise error_class_for_status(status)(
                method=method, route=route, status_code=status, detail=detail, body=body
            )
        if expect == "nothing" or status == 204:
            return None
        if expect == "bytes":
            return response.content
        content_type = response.headers.get("content-type", "")
        if "json" not in content_type:
            raise UnexpectedResponseError(
                f"expected JSON, got {content_type or 'no content type'} "
                "(a wrong path, a proxy, or a server too old for this route)",
                method=method,
                route=route,
                status_code=status,
            )
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise UnexpectedResponseError(
                f"broken JSON: {err}", method=method, route=route, status_code=status
            ) from err


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    return str(value)


def _decode_error_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text.strip()


def _safe_message(err: httpx.HTTPError) -> str:
    return _SECRET_QUERY.sub(r"\1***", str(err))
