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
        APIRequestError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        ConflictError,
        EventStreamError,
        FailedDependencyError,
        InstallJobCancelledError,
        InstallJobError,
        InstallJobFailedError,
        InstallJobLostError,
        InstallJobTimeoutError,
        InstallRequestInvalidError,
        InstallServerError,
        InstallSourceConflictError,
        InstallSourceUnavailableError,
        InstallSourceUnsupportedError,
        InstallStartError,
        InvalidArgumentError,
        InvokeAIClientError,
        InvokeAIError,
        ManifestError,
        ModelInstallJobFailed,
        ModelInstallStartError,
        ModelInstallTimeout,
        ModelManagerError,
        NotFoundError,
        PermissionDeniedError,
        ResponseShapeWarning,
        ServerError,
        UnexpectedResponseError,
        UnprocessableEntityError,
        UnsupportedByServerError,
        UnsupportedMediaTypeError,
    )

_MODULES = {
    "AsyncDnnModelRepository": ".dnn_model",
    "AsyncInvokeAIClient": ".async_client",
    "AsyncModelInstJobHandle": ".dnn_model",
    "BaseDnnModelType": ".dnn_model",
    "DnnModel": ".dnn_model",
    "DnnModelFormat": ".dnn_model",
    "DnnModelRepository": ".dnn_model",
    "DnnModelType": ".dnn_model",
    "InstallJobStatus": ".dnn_model",
    "InvokeAIClient": ".client",
    "ModelInstJobHandle": ".dnn_model",
    "ModelInstJobInfo": ".dnn_model",
    "ModelInstallConfig": ".dnn_model",
    "ModelManifest": ".dnn_model",
}

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIRequestError",
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
    "InstallRequestInvalidError",
    "InstallServerError",
    "InstallSourceConflictError",
    "InstallSourceUnavailableError",
    "InstallSourceUnsupportedError",
    "InstallStartError",
    "InvalidArgumentError",
    "InvokeAIClient",
    "InvokeAIClientError",
    "InvokeAIError",
    "ManifestError",
    "ModelInstJobHandle",
    "ModelInstJobInfo",
    "ModelInstallConfig",
    "ModelInstallJobFailed",
    "ModelInstallStartError",
    "ModelInstallTimeout",
    "ModelManagerError",
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

_LAZY = {  # every other exported name is an exception
    **dict.fromkeys(sorted(set(__all__) - set(_MODULES) - {"__version__"}), ".errors"),
    **_MODULES,
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())
