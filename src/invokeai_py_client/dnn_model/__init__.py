"""Models on an InvokeAI server: records, install jobs, and the repository."""

from .dnn_model_models import (
    BulkDeleteResult,
    BulkFailure,
    BulkReidentifyResult,
    DownloadPart,
    FoundModel,
    HFLoginStatus,
    HFRepoFiles,
    HFTokenStatus,
    InstallJobErrorInfo,
    InstallJobStatus,
    ModelInstallConfig,
    ModelInstJobInfo,
    ModelManagerStats,
    ModelRecordChanges,
    OrphanDeleteResult,
    OrphanedModel,
    StarterBundle,
    StarterModel,
    StarterModelCatalog,
)
from .dnn_model_repo import DnnModelRepository
from .dnn_model_types import BaseDnnModelType, DnnModel, DnnModelFormat, DnnModelType
from .install_job import ModelInstJobHandle

__all__ = [
    "BaseDnnModelType",
    "BulkDeleteResult",
    "BulkFailure",
    "BulkReidentifyResult",
    "DnnModel",
    "DnnModelFormat",
    "DnnModelRepository",
    "DnnModelType",
    "DownloadPart",
    "FoundModel",
    "HFLoginStatus",
    "HFRepoFiles",
    "HFTokenStatus",
    "InstallJobErrorInfo",
    "InstallJobStatus",
    "ModelInstJobHandle",
    "ModelInstJobInfo",
    "ModelInstallConfig",
    "ModelManagerStats",
    "ModelRecordChanges",
    "OrphanDeleteResult",
    "OrphanedModel",
    "StarterBundle",
    "StarterModel",
    "StarterModelCatalog",
]
