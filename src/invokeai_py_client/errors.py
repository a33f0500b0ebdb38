"""The exceptions this library raises.

Every failure of a public call reaches the caller as one of these::

    InvokeAIError (alias InvokeAIClientError, 1.1's name)
    ├── InvalidArgumentError (also a ValueError): bad input, nothing was sent
    │   └── ManifestError: a manifest that is invalid or needs an unset variable
    ├── APIRequestError: an HTTP exchange failed (1.1's name); ``status_code``, ``payload``
    │   ├── APIConnectionError: no answer from the server
    │   │   └── APITimeoutError
    │   ├── APIError: the server answered with an error status
    │   │   ├── BadRequestError (400)
    │   │   ├── AuthenticationError (401)
    │   │   ├── PermissionDeniedError (403)
    │   │   ├── NotFoundError (404)
    │   │   ├── ConflictError (409)
    │   │   ├── UnsupportedMediaTypeError (415)
    │   │   ├── UnprocessableEntityError (422)
    │   │   ├── FailedDependencyError (424)
    │   │   └── ServerError (5xx)
    │   └── UnexpectedResponseError: an answer we cannot read (HTML, broken JSON, wrong shape)
    ├── UnsupportedByServerError: the server's version lacks the route (or a part of it)
    ├── EventStreamError: no event stream to be had (no socket.io library, refused, off)
    └── ModelManagerError: an install failed (1.1's name)
        ├── InstallStartError (alias ModelInstallStartError): the server refused to start
        │   an install; also an APIError of its status's class (a 409 is a ConflictError)
        └── InstallJobError: an install job did not end well; ``info``
            ├── ModelInstallJobFailed (1.1's name): the job ended ``error`` or ``cancelled``
            │   ├── InstallJobFailedError (status ``error``)
            │   └── InstallJobCancelledError (status ``cancelled``)
            ├── InstallJobTimeoutError (alias ModelInstallTimeout; also a TimeoutError):
            │   ``wait()`` ran out of time; ``last_info``, ``timeout``
            └── InstallJobLostError: the server no longer has the job (pruned, restarted)

A list answer with a record that does not fit its model warns with
``ResponseShapeWarning`` and keeps the record's raw values.

Messages name the HTTP method and the route (never the query string, which may hold
an access token) and the server's ``detail``, with any token the request carried
masked as ``***``. ``message`` is the message; ``details`` a dict of what else is known.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIRequestError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "EventStreamError",
    "FailedDependencyError",
    "InstallJobCancelledError",
    "InstallJobError",
    "InstallJobFailedError",
    "InstallJobLostError",
    "InstallJobTimeoutError",
    "InstallRequestInvalidError",
    "InstallServerError",
    "InstallSourceConflictError",
    "InstallSourceUnavailableError",
    "InstallSourceUnsupportedError",
    "InstallStartError",
    "InvalidArgumentError",
    "InvokeAIClientError",
    "InvokeAIError",
    "ManifestError",
    "ModelInstallJobFailed",
    "ModelInstallStartError",
    "ModelInstallTimeout",
    "ModelManagerError",
    "NotFoundError",
    "PermissionDeniedError",
    "ResponseShapeWarning",
    "ServerError",
    "UnexpectedResponseError",
    "UnprocessableEntityError",
    "UnsupportedByServerError",
    "UnsupportedMediaTypeError",
]


class InvokeAIError(Exception):
    """Root of every exception this library raises (1.1's ``InvokeAIClientError``)."""

    def __init__(self, *args: object, details: dict[str, Any] | None = None) -> None:
        super().__init__(*args)
        self.details: dict[str, Any] = dict(details or {})

    @property
    def message(self) -> str:
        """The message, as ``str(err)`` gives it."""
        return str(self)


InvokeAIClientError = InvokeAIError


class InvalidArgumentError(InvokeAIError, ValueError):
    """An argument is invalid; no request was sent."""


class ManifestError(InvalidArgumentError):
    """A manifest is invalid (file, entry and field named), or needs an unset variable."""


class APIRequestError(InvokeAIError):
    """An HTTP exchange failed: an error status, no answer, or an answer we cannot read.

    ``status_code`` is None when no answer came; ``payload`` is the decoded body of an
    error answer (JSON value or text), else None.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        payload: Any = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.status_code = status_code
        self.payload = payload


class APIConnectionError(APIRequestError):
    """The server could not be reached, or the connection broke before an answer."""

    def __init__(self, message: str, *, method: str, route: str) -> None:
        super().__init__(f"{method} {route}: {message}", details={"method": method, "route": route})
        self.method = method
        self.route = route


class APITimeoutError(APIConnectionError):
    """The server did not answer in time."""


class APIError(APIRequestError):
    """The server answered with an error status.

    Attributes
    ----------
    method, route : str
        The request, e.g. ``DELETE`` and ``/api/v2/models/i/abc`` (no query string).
    status_code : int
        The HTTP status.
    detail : Any
        The server's ``detail`` field, or its plain-text body.
    body, payload : Any
        The whole decoded payload (JSON value or text).
    """

    status_code: int

    def __init__(
        self, *, method: str, route: str, status_code: int, detail: Any, body: Any
    ) -> None:
        super().__init__(
            f"{method} {route} -> {status_code}: {_describe(detail)}",
            status_code=status_code,
            payload=body,
            details={"method": method, "route": route, "detail": detail},
        )
        self.method = method
        self.route = route
        self.detail = detail

    @property
    def body(self) -> Any:
        """The whole decoded payload (JSON value or text); also ``payload``."""
        return self.payload


class BadRequestError(APIError):
    """400: the server rejected the request."""


class AuthenticationError(APIError):
    """401: a token is needed, or it is no longer valid."""


class PermissionDeniedError(APIError):
    """403: the user may not do this (admin only)."""


class NotFoundError(APIError):
    """404: no such record, job or route."""


class ConflictError(APIError):
    """409: the request clashes with the server's state."""


class UnsupportedMediaTypeError(APIError):
    """415: InvokeAI's answer to an unknown install-job id."""


class UnprocessableEntityError(APIError):
    """422: the server could not validate the request."""


class FailedDependencyError(APIError):
    """424: the server needed something it could not get (often the Hugging Face hub)."""


class ServerError(APIError):
    """5xx: the server failed."""


class ModelManagerError(InvokeAIError):
    """An install failed: refused at the start, a job that failed or was cancelled, a
    wait that timed out, or a job the server lost (1.1's name)."""


class InstallStartError(APIError, ModelManagerError):
    """The server refused to start an install (for example, a path it does not have).

    Raised as a subclass that is also the status's own class: a 409 is both an
    ``InstallStartError`` and a ``ConflictError``. 1.1 called it
    ``ModelInstallStartError``.
    """


ModelInstallStartError = InstallStartError


class InstallSourceConflictError(InstallStartError, ConflictError):
    """409: the server refused the source (often a path it does not have)."""


class InstallSourceUnsupportedError(InstallStartError, UnsupportedMediaTypeError):
    """415: the server cannot install from this kind of source."""


class InstallSourceUnavailableError(InstallStartError, FailedDependencyError):
    """424: the server could not reach the source (often the Hugging Face hub)."""


class InstallRequestInvalidError(InstallStartError, UnprocessableEntityError):
    """422: the server could not validate the install request."""


class InstallServerError(InstallStartError, ServerError):
    """5xx: the server failed while starting the install (e.g. the hub is offline)."""


INSTALL_START_ERRORS: dict[int, type[APIError]] = {
    409: InstallSourceConflictError,
    415: InstallSourceUnsupportedError,
    422: InstallRequestInvalidError,
    424: InstallSourceUnavailableError,
    **dict.fromkeys((500, 502, 503, 504), InstallServerError),
}


class UnexpectedResponseError(APIRequestError):
    """The server answered something this library cannot read."""

    status_code: int

    def __init__(self, message: str, *, method: str, route: str, status_code: int) -> None:
        super().__init__(
            f"{method} {route} -> {status_code}: {message}",
            status_code=status_code,
            details={"method": method, "route": route},
        )
        self.method = method
        self.route = route


class UnsupportedByServerError(InvokeAIError):
    """The connected server is too old for this call (or for ``feature``, a part of it)."""

    def __init__(
        self, call: str, *, server_version: str, minimum_version: str, feature: str | None = None
    ) -> None:
        what = f"{call}() with {feature}" if feature else f"{call}()"
        super().__init__(
            f"{what} needs InvokeAI {minimum_version} or newer; the server runs {server_version}"
        )
        self.call = call
        self.feature = feature
        self.server_version = server_version
        self.minimum_version = minimum_version


class EventStreamError(InvokeAIError):
    """No event stream now: the ``events`` extra is missing, the socket was refused, or
    events are off for the client. Waits poll instead."""


class InstallJobError(ModelManagerError):
    """An install job did not end in ``completed``; ``info`` is its last known state
    (a ``ModelInstJobInfo``; typed loosely so that this module imports nothing)."""

    def __init__(self, message: str, info: Any = None) -> None:
        super().__init__(message)
        self.info = info


class ModelInstallJobFailed(InstallJobError):
    """The install job ended ``error`` or ``cancelled`` (1.1's name)."""


class InstallJobFailedError(ModelInstallJobFailed):
    """The install job ended in ``error``."""


class InstallJobCancelledError(ModelInstallJobFailed):
    """The install job was cancelled."""


class InstallJobTimeoutError(InstallJobError, TimeoutError):
    """``wait()`` gave up before the job ended; ``last_info`` (also ``info``) is its last
    state, ``timeout`` the seconds waited. 1.1 called it ``ModelInstallTimeout``."""

    def __init__(
        self,
        message: str,
        info: Any = None,
        *,
        last_info: Any = None,
        timeout: float | None = None,
    ) -> None:
        super().__init__(message, info if info is not None else last_info)
        self.timeout = timeout

    @property
    def last_info(self) -> Any:
        """The job's last known state (1.1's name for ``info``)."""
        return self.info


ModelInstallTimeout = InstallJobTimeoutError


class InstallJobLostError(InstallJobError):
    """The server no longer has this job: it was pruned, or the server restarted
    (job ids then start again at 0, so another job may hold the same id)."""


class ResponseShapeWarning(UserWarning):
    """A record in a list answer did not fit its model; it was kept with raw values."""


_STATUS_ERRORS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    415: UnsupportedMediaTypeError,
    422: UnprocessableEntityError,
    424: FailedDependencyError,
}


def error_class_for_status(status_code: int) -> type[APIError]:
    """The ``APIError`` subclass that stands for an HTTP status."""
    if status_code >= 500:
        return ServerError
    return _STATUS_ERRORS.get(status_code, APIError)


def _describe(detail: Any) -> str:
    if isinstance(detail, list):
        return "; ".join(_describe_validation(item) for item in detail)
    text = "" if detail is None else str(detail).strip()
    if not text:
        return "(no detail)"
    return text if len(text) <= 500 else text[:500] + "…"


def _describe_validation(item: Any) -> str:
    if isinstance(item, dict) and "msg" in item:
        where = ".".join(str(part) for part in item.get("loc", ()))
        return f"{where}: {item['msg']}" if where else str(item["msg"])
    return str(item)
