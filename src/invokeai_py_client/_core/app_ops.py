"""The app-level routes (version, login, multi-user status) and ad-hoc calls."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidArgumentError
from .calls import Call, Operation, Route, parse_version, unexpected

__all__ = ["is_multiuser", "login", "raw_call", "server_version"]

VERSION = Route("GET", "/api/v1/app/version")
MULTIUSER_SINCE = "6.12"
LOGIN = Route("POST", "/api/v1/auth/login", since=MULTIUSER_SINCE)
AUTH_STATUS = Route("GET", "/api/v1/auth/status", since=MULTIUSER_SINCE)


def is_multiuser(version: str) -> Operation[bool]:
    """Whether the server runs in multi-user mode (asked from 6.12 on; older: never)."""
    if parse_version(version) < parse_version(MULTIUSER_SINCE):
        return False
    payload = yield Call(AUTH_STATUS, "is_multiuser")
    return isinstance(payload, dict) and payload.get("multiuser_enabled") is True


def server_version() -> Operation[str]:
    """The server's InvokeAI version string."""
    call = Call(VERSION, "server_version")
    payload = yield call
    version = payload.get("version") if isinstance(payload, dict) else None
    if not isinstance(version, str):
        raise unexpected(call, f"no version in {payload!r}")
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
        raise unexpected(call, "the login answer holds no token")
    user = payload.get("user")
    return token, user if isinstance(user, dict) else {}


def raw_call(method: str, route: str, options: Mapping[str, object]) -> Operation[Any]:
    """One ad-hoc request (``_make_request``): the decoded answer, unparsed."""
    if not isinstance(method, str) or method.upper() not in _METHODS:
        raise InvalidArgumentError(f"not an HTTP method: {method!r}")
    unknown = set(options) - {"params", "json", "files", "expect"}
    if unknown:
        raise InvalidArgumentError(f"unknown request options: {sorted(unknown)}")
    expect = options.get("expect", "json")
    if expect not in ("json", "bytes", "nothing"):
        raise InvalidArgumentError("expect must be 'json', 'bytes' or 'nothing'")
    params, files = options.get("params"), options.get("files")
    if not (params is None or isinstance(params, Mapping)):
        raise InvalidArgumentError("params must be a mapping")
    if not (files is None or isinstance(files, Mapping)):
        raise InvalidArgumentError("files must be a mapping")
    call = Call(
        Route(method.upper(), route, expect=expect),
        f"{method.upper()} {route}",
        params=params,
        json=options.get("json"),
        files=files,
    )
    return (yield call)


_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"})
