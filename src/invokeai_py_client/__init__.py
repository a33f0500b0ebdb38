"""A Python client for the model manager of an InvokeAI server.

Start with ``InvokeAIClient.from_url(url)`` (or ``AsyncInvokeAIClient`` for asyncio);
models live in ``client.dnn_model_repo``. Names are imported on first use, so
importing the package stays cheap and the sync client never loads the async one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_names

__version__ = "2.0.0.dev0"

if TYPE_CHECKING:
    from .async_client import AsyncInvokeAIClient
    from .client import InvokeAIClient
    from .dnn_model import (
        AsyncDnnModelRepository,
        AsyncModelInstJobHandle,
        BaseDnnModelType,
        DnnModel,
        DnnModelFormat,
        DnnModelRepository,
        DnnModelType,
        InstallJobStatus,
        ModelInstallConfig,
        ModelInstJobHandle,
        ModelInstJobInfo,
        ModelManifest,
    )
    from .errors import (
        APIConnectionError,
        APIError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        ConflictError,
        FailedDependencyError,
        InstallJobCancelledError,
        InstallJobError,
        InstallJobFailedError,
        InstallJobLostError,
        InstallJobTimeoutError,
        InstallStartError,
        InvalidArgumentError,
        InvokeAIError,
        ManifestError,
        NotFoundError,
        PermissionDeniedError,
        ResponseShapeWarning,
        ServerError,
        UnexpectedResponseError,
        UnprocessableEntityError,
        UnsupportedByServerError,
        UnsupportedMediaTypeError,
    )

_LAZY = {
    "APIConnectionError": ".errors",
    "APIError": ".errors",
    "APITimeoutError": ".errors",
    "AsyncDnnModelRepository": ".dnn_model",
    "AsyncInvokeAIClient": ".async_client",
    "AsyncModelInstJobHandle": ".dnn_model",
    "AuthenticationError": ".errors",
    "BadRequestError": ".errors",
    "BaseDnnModelType": ".dnn_model",
    "ConflictError": ".errors",
    "DnnModel": ".dnn_model",
    "DnnModelFormat": ".dnn_model",
    "DnnModelRepository": ".dnn_model",
    "DnnModelType": ".dnn_model",
    "EventStreamError": ".errors",
    "FailedDependencyError": ".errors",
    "InstallJobCancelledError": ".errors",
    "InstallJobError": ".errors",
    "InstallJobFailedError": ".errors",
    "InstallJobLostError": ".errors",
    "InstallJobStatus": ".dnn_model",
    "InstallJobTimeoutError": ".errors",
    "InstallSourceConflictError": ".errors",
    "InstallSourceUnavailableError": ".errors",
    "InstallSourceUnsupportedError": ".errors",
    "InstallStartError": ".errors",
    "InvalidArgumentError": ".errors",
    "InvokeAIClient": ".client",
    "InvokeAIError": ".errors",
    "ModelInstJobHandle": ".dnn_model",
    "ModelInstJobInfo": ".dnn_model",
    "ModelInstallConfig": ".dnn_model",
    "ModelManifest": ".dnn_model",
    "ManifestError": ".errors",
    "NotFoundError": ".errors",
    "PermissionDeniedError": ".errors",
    "ResponseShapeWarning": ".errors",
    "ServerError": ".errors",
    "UnexpectedResponseError": ".errors",
    "UnprocessableEntityError": ".errors",
    "UnsupportedByServerError": ".errors",
    "UnsupportedMediaTypeError": ".errors",
}

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AsyncDnnModelRepository",
    "AsyncInvokeAIClient",
    "AsyncModelInstJobHandle",
    "AuthenticationError",
    "BadRequestError",
    "BaseDnnModelType",
    "ConflictError",
    "DnnModel",
    "DnnModelFormat",
    "DnnModelRepository",
    "DnnModelType",
    "EventStreamError",
    "FailedDependencyError",
    "InstallJobCancelledError",
    "InstallJobError",
    "InstallJobFailedError",
    "InstallJobLostError",
    "InstallJobStatus",
    "InstallJobTimeoutError",
    "InstallSourceConflictError",
    "InstallSourceUnavailableError",
    "InstallSourceUnsupportedError",
    "InstallStartError",
    "InvalidArgumentError",
    "InvokeAIClient",
    "InvokeAIError",
    "ManifestError",
    "ModelInstJobHandle",
    "ModelInstJobInfo",
    "ModelInstallConfig",
    "ModelManifest",
    "NotFoundError",
    "PermissionDeniedError",
    "ResponseShapeWarning",
    "ServerError",
    "UnexpectedResponseError",
    "UnprocessableEntityError",
    "UnsupportedByServerError",
    "UnsupportedMediaTypeError",
    "__version__",
]


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())
