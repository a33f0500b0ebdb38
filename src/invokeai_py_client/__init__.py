"""A Python client for the model manager of an InvokeAI server.

Start with ``InvokeAIClient.from_url(url)``; models live in
``client.dnn_model_repo``. Names are imported on first use, so importing the
package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .client import InvokeAIClient
    from .dnn_model import (
        BaseDnnModelType,
        DnnModel,
        DnnModelFormat,
        DnnModelRepository,
        DnnModelType,
        InstallJobStatus,
        ModelInstallConfig,
        ModelInstJobHandle,
        ModelInstJobInfo,
    )

_LAZY = {
    "InvokeAIClient": ".client",
    "BaseDnnModelType": ".dnn_model",
    "DnnModel": ".dnn_model",
    "DnnModelFormat": ".dnn_model",
    "DnnModelRepository": ".dnn_model",
    "DnnModelType": ".dnn_model",
    "InstallJobStatus": ".dnn_model",
    "ModelInstJobHandle": ".dnn_model",
    "ModelInstJobInfo": ".dnn_model",
    "ModelInstallConfig": ".dnn_model",
}

__all__ = [
    "BaseDnnModelType",
    "DnnModel",
    "DnnModelFormat",
    "DnnModelRepository",
    "DnnModelType",
    "InstallJobStatus",
    "InvokeAIClient",
    "ModelInstJobHandle",
    "ModelInstJobInfo",
    "ModelInstallConfig",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
