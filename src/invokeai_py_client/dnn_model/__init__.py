"""Models on an InvokeAI server: records, install jobs, and the repositories.

Names are imported on first use: the sync repository never loads the async one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names

if TYPE_CHECKING:
    from .._core.manifest_apply import AppliedChange, ApplyReport
    from .._core.manifest_plan import ManifestPlan, PlanAction, PlannedChange
    from .async_dnn_model_repo import AsyncDnnModelRepository
    from .async_install_job import AsyncModelInstJobHandle
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
    from .install_events import DownloadEvent, InstallEvent, InstallProgress, ModelInstallEvent
    from .install_job import ModelInstJobHandle
    from .manifest import ManifestModel, ManifestServer, ModelManifest

_LAZY = {
    "ManifestModel": ".manifest",
    "ManifestServer": ".manifest",
    "ModelManifest": ".manifest",
    "AppliedChange": ".._core.manifest_apply",
    "ApplyReport": ".._core.manifest_apply",
    "ManifestPlan": ".._core.manifest_plan",
    "PlanAction": ".._core.manifest_plan",
    "PlannedChange": ".._core.manifest_plan",
    "DownloadEvent": ".install_events",
    "ModelInstallEvent": ".install_events",
    "InstallEvent": ".install_events",
    "InstallProgress": ".install_events",
    "AsyncDnnModelRepository": ".async_dnn_model_repo",
    "AsyncModelInstJobHandle": ".async_install_job",
    "BaseDnnModelType": ".dnn_model_types",
    "BulkDeleteResult": ".dnn_model_models",
    "BulkFailure": ".dnn_model_models",
    "BulkReidentifyResult": ".dnn_model_models",
    "DnnModel": ".dnn_model_types",
    "DnnModelFormat": ".dnn_model_types",
    "DnnModelRepository": ".dnn_model_repo",
    "DnnModelType": ".dnn_model_types",
    "DownloadPart": ".job_models",
    "FoundModel": ".dnn_model_models",
    "HFLoginStatus": ".dnn_model_models",
    "HFRepoFiles": ".dnn_model_models",
    "HFTokenStatus": ".dnn_model_models",
    "InstallJobErrorInfo": ".job_models",
    "InstallJobStatus": ".job_models",
    "ModelInstJobHandle": ".install_job",
    "ModelInstJobInfo": ".job_models",
    "ModelInstallConfig": ".dnn_model_models",
    "ModelManagerStats": ".dnn_model_models",
    "ModelRecordChanges": ".dnn_model_models",
    "OrphanDeleteResult": ".dnn_model_models",
    "OrphanedModel": ".dnn_model_models",
    "StarterBundle": ".dnn_model_models",
    "StarterModel": ".dnn_model_models",
    "StarterModelCatalog": ".dnn_model_models",
}

__all__ = [
    "AppliedChange",
    "ApplyReport",
    "AsyncDnnModelRepository",
    "AsyncModelInstJobHandle",
    "BaseDnnModelType",
    "BulkDeleteResult",
    "BulkFailure",
    "BulkReidentifyResult",
    "DnnModel",
    "DnnModelFormat",
    "DnnModelRepository",
    "DnnModelType",
    "DownloadEvent",
    "DownloadPart",
    "FoundModel",
    "HFLoginStatus",
    "HFRepoFiles",
    "HFTokenStatus",
    "InstallEvent",
    "InstallJobErrorInfo",
    "InstallJobStatus",
    "InstallProgress",
    "ManifestModel",
    "ManifestPlan",
    "ManifestServer",
    "ModelInstJobHandle",
    "ModelInstJobInfo",
    "ModelInstallConfig",
    "ModelInstallEvent",
    "ModelManagerStats",
    "ModelManifest",
    "ModelRecordChanges",
    "OrphanDeleteResult",
    "OrphanedModel",
    "PlanAction",
    "PlannedChange",
    "StarterBundle",
    "StarterModel",
    "StarterModelCatalog",
]


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())
