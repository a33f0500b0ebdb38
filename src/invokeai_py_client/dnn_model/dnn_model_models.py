"""Typed answers of the model manager: install jobs, cache stats, HF login, bulk results."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field, model_validator

from .._parsing import without_secrets
from ..errors import InvalidArgumentError
from ._base import ApiModel, OpenStrEnum
from .dnn_model_types import BaseDnnModelType, DnnModel, DnnModelFormat, DnnModelType

__all__ = [
    "BulkDeleteResult",
    "BulkFailure",
    "BulkReidentifyResult",
    "DownloadPart",
    "FoundModel",
    "HFLoginStatus",
    "HFRepoFiles",
    "HFTokenStatus",
    "InstallJobErrorInfo",
    "InstallJobStatus",
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

MB = 2**20
MAX_UNFINISHED_PROGRESS = 0.99


class InstallJobStatus(OpenStrEnum):
    """The state of an install job, as servers send it.

    The original design guessed other names; they map like this: ``pending`` and
    ``queued`` are ``waiting``; ``probing``, ``configuring``, ``installing`` and
    ``converting`` are ``running``; ``installed`` is ``completed``; ``failed`` is
    ``error``; ``canceled`` is ``cancelled``. ``paused`` exists from 6.12 on.
    An unknown value parses and counts as not terminal.
    """

    WAITING = "waiting"
    DOWNLOADING = "downloading"
    DOWNLOADS_DONE = "downloads_done"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    ERROR = "error"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """The job will not change any more."""
        return self.value in _TERMINAL

    @property
    def is_success(self) -> bool:
        """The model was installed."""
        return self.value == "completed"

    @property
    def is_failure(self) -> bool:
        """The job ended without installing (error or cancelled)."""
        return self.value in {"error", "cancelled"}


_TERMINAL = frozenset({"completed", "error", "cancelled"})


def _source_text(source: Any) -> str | None:
    """The source as the server spells it: a path, a URL, or ``repo[:variant][::subfolder]``."""
    if not isinstance(source, dict):
        return None if source is None else str(source)
    if source.get("repo_id"):
        text = str(source["repo_id"])
        if source.get("variant"):
            text += f":{source['variant']}"
        if source.get("subfolder"):
            text += f"::{source['subfolder']}"
        return text
    if source.get("provider_id"):
        return f"external://{source['provider_id']}/{source.get('provider_model_id', '')}"
    value = source.get("path") or source.get("url")
    return None if value is None else str(value)


class DownloadPart(ApiModel):
    """One file download of an install job (URL and Hugging Face sources)."""

    id: int | None = None
    source: str | None = None
    dest: str | None = None
    download_path: str | None = None
    status: str | None = None
    bytes: int = 0
    total_bytes: int = 0
    error_type: str | None = None
    error: str | None = None
    job_started: datetime | None = None
    job_ended: datetime | None = None


class InstallJobErrorInfo(BaseModel):
    """Why an install job failed: the server's exception name, message and traceback."""

    type: str | None = None
    message: str | None = None
    traceback: str | None = None


class ModelInstJobInfo(ApiModel):
    """The state of one install job (InvokeAI's ``ModelInstallJob``).

    ``source`` is the path, URL or repo id as a string; ``source_info`` the
    structured source. Access tokens the server echoes back are dropped.
    ``created_at`` and ``completed_at`` come from the download parts' start and
    end; local installs have none (servers keep no job timestamps).
    """

    id: int
    status: InstallJobStatus = InstallJobStatus.WAITING
    source: str | None = None
    source_info: dict[str, Any] | None = None
    message: str | None = None
    model_key: str | None = None
    result: DnnModel | None = None
    error: InstallJobErrorInfo | None = None
    inplace: bool | None = None
    local_path: str | None = None
    bytes: int = 0
    total_bytes: int = 0
    config_in: dict[str, Any] = Field(default_factory=dict)
    source_metadata: dict[str, Any] | None = None
    download_parts: list[DownloadPart] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _validate_server_dict(cls, data: Any) -> Any:
        return cls.from_server(data) if isinstance(data, dict) else data

    @classmethod
    def from_server(cls, data: dict[str, Any]) -> dict[str, Any]:
        """The server's job dict in this model's terms (source as text, error info, ...)."""
        data = without_secrets(data)
        if "source_info" in data:
            return data
        source = data.get("source")
        config_out = data.pop("config_out", None)
        error_reason = data.pop("error_reason", None)
        error_text = data.pop("error", None)
        traceback = data.pop("error_traceback", None)
        status = data.get("status")
        if isinstance(status, str) and not InstallJobStatus(status).is_known:
            data["raw_status"] = status
        data["source"] = _source_text(source)
        data["source_info"] = source if isinstance(source, dict) else None
        data["result"] = config_out
        data["model_key"] = config_out.get("key") if isinstance(config_out, dict) else None
        if error_reason or error_text or traceback:
            data["error"] = {"type": error_reason, "message": error_text, "traceback": traceback}
            data["message"] = f"{error_reason}: {error_text}" if error_reason else error_text
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def progress(self) -> float | None:
        """0.0-1.0 from bytes over total bytes; None if unknown.

        1.0 only once completed: a job still running (probing, moving, registering
        after its bytes are in) stays at 0.99 at most.
        """
        if self.status.is_success:
            return 1.0
        if self.total_bytes > 0:
            return min(self.bytes / self.total_bytes, MAX_UNFINISHED_PROGRESS)
        return None

    @property
    def created_at(self) -> datetime | None:
        """When the first download started, if the job downloaded anything."""
        starts = [p.job_started for p in self.download_parts if p.job_started]
        return min(starts) if starts else None

    @property
    def updated_at(self) -> datetime | None:
        """The latest start or end among the download parts."""
        stamps = [t for p in self.download_parts for t in (p.job_started, p.job_ended) if t]
        return max(stamps) if stamps else None

    @property
    def completed_at(self) -> datetime | None:
        """When the last download ended, once the job is terminal."""
        ends = [p.job_ended for p in self.download_parts if p.job_ended]
        if not self.is_terminal or not ends or len(ends) < len(self.download_parts):
            return None
        return max(ends)

    @property
    def is_terminal(self) -> bool:
        """The job will not change any more."""
        return self.status.is_terminal

    @property
    def is_success(self) -> bool:
        """The model was installed."""
        return self.status.is_success

    @property
    def is_failure(self) -> bool:
        """The job ended in error or was cancelled."""
        return self.status.is_failure

    @property
    def is_duplicate(self) -> bool:
        """The job failed because the model is already installed."""
        text = f"{self.error.type} {self.error.message}" if self.error else ""
        return "DuplicateModelException" in text or "already installed" in text

    def describe(self) -> str:
        """One line for people: id, source, status and, when failed, why."""
        line = f"install job {self.id} ({self.source}): {self.status}"
        if self.is_duplicate:
            return line + " - the model is already installed"
        return f"{line} - {self.message}" if self.message else line


class ModelManagerStats(ApiModel):
    """The server's RAM model-cache statistics, with derived figures.

    Sizes are in bytes as the server sends them; the ``*_mb`` values are MiB.
    Derived values follow the server's own stats report: usage is the sum of the
    loaded models' sizes, capacity is ``cache_size``, a miss is a load from disk,
    and ``cleared`` counts models evicted to make room.
    """

    hits: int = 0
    misses: int = 0
    high_watermark: int = 0
    in_cache: int = 0
    cleared: int = 0
    cache_size: int = 0
    loaded_model_sizes: dict[str, int] = Field(default_factory=dict)

    @property
    def hit_rate(self) -> float | None:
        """Hits over requests; None before the first request."""
        requests = self.hits + self.misses
        return self.hits / requests if requests else None

    @property
    def miss_rate(self) -> float | None:
        """Misses over requests; None before the first request."""
        requests = self.hits + self.misses
        return self.misses / requests if requests else None

    @property
    def ram_used_mb(self) -> float:
        """MiB taken by the models loaded so far."""
        return sum(self.loaded_model_sizes.values()) / MB

    @property
    def ram_capacity_mb(self) -> float:
        """The cache's size limit in MiB."""
        return self.cache_size / MB

    @property
    def high_watermark_mb(self) -> float:
        """The most RAM the cache has held, in MiB."""
        return self.high_watermark / MB

    @property
    def loads(self) -> int:
        """Models loaded from disk (each miss is one load)."""
        return self.misses

    @property
    def evictions(self) -> int:
        """Models cleared from the cache to make room."""
        return self.cleared


class HFTokenStatus(OpenStrEnum):
    """The server's view of its Hugging Face token."""

    VALID = "valid"
    INVALID = "invalid"
    UNKNOWN = "unknown"


class HFLoginStatus(ApiModel):
    """Whether the server holds a valid Hugging Face token.

    ``unknown`` means the server could not reach the hub to check. The server
    exposes neither the user name nor the token's scopes: both are always None.
    """

    status: HFTokenStatus
    username: str | None = None
    scopes: list[str] | None = None

    @property
    def is_logged_in(self) -> bool:
        """True when the server reports a valid token."""
        return self.status == HFTokenStatus.VALID


class ModelInstallConfig(BaseModel):
    """Overrides for an install, or the changes of an update (``ModelRecordChanges``).

    Every field is optional; only the fields you set are sent (set one to None to
    clear it on update). A key this class does not know is refused, with the
    nearest known one suggested; pass a field only a newer server knows in
    ``extra`` (``ModelInstallConfig(extra={"new_field": 1})``), which is sent as it is.
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)

    def __init__(self, **data: Any) -> None:
        _refuse_unknown_keys(data, set(type(self).model_fields))
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise InvalidArgumentError(f"invalid install config: {_problems(err)}") from err

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> ModelInstallConfig:
        """A config from a mapping of its fields (or a config, returned as it is)."""
        if isinstance(obj, cls):
            return obj
        if not isinstance(obj, Mapping):
            raise InvalidArgumentError(
                f"a config is a ModelInstallConfig or a dict, not {type(obj).__name__}"
            )
        keys = [k for k in obj if not isinstance(k, str)]
        if keys:
            raise InvalidArgumentError(f"config keys must be strings, not {keys[0]!r}")
        return cls(**dict(obj))

    name: str | None = None
    description: str | None = None
    base: BaseDnnModelType | None = None
    type: DnnModelType | None = None
    format: DnnModelFormat | None = None
    path: str | None = None
    key: str | None = None
    hash: str | None = None
    file_size: int | None = None
    source: str | None = None
    source_type: str | None = None
    source_api_response: str | None = None
    source_url: str | None = None
    trigger_phrases: list[str] | None = None
    default_settings: dict[str, Any] | None = None
    variant: str | None = None
    prediction_type: str | None = None
    upcast_attention: bool | None = None
    config_path: str | None = None
    cpu_only: bool | None = None
    provider_id: str | None = None
    provider_model_id: str | None = None
    capabilities: dict[str, Any] | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    def to_record_changes(self) -> dict[str, Any]:
        """The JSON body the server expects: the fields set, plus ``extra``."""
        body = self.model_dump(mode="json", exclude_unset=True, exclude={"extra"})
        body.update(self.extra)
        return body


def _refuse_unknown_keys(data: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(k for k in data if k not in known)
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, sorted(known - {"extra"}), n=1, cutoff=0.6)
        hints.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
    raise InvalidArgumentError(
        f"unknown install config field(s): {', '.join(hints)}; a field only a newer "
        "server knows goes in extra={...}"
    )


def _problems(err: ValidationError) -> str:
    parts = []
    for problem in err.errors():
        where = ".".join(str(p) for p in problem.get("loc", ())) or "value"
        parts.append(f"{where}: {problem['msg']} (got {problem.get('input')!r})")
    return "; ".join(parts)


ModelRecordChanges = ModelInstallConfig


class FoundModel(ApiModel):
    """A model file or folder found by ``scan_folder``."""

    path: str
    is_installed: bool


class BulkFailure(ApiModel):
    """One key a bulk operation could not handle."""

    key: str | None = None
    error: str | None = None


class BulkDeleteResult(ApiModel):
    """Keys deleted, and those that failed with why."""

    deleted: list[str] = Field(default_factory=list)
    failed: list[BulkFailure] = Field(default_factory=list)


class BulkReidentifyResult(ApiModel):
    """Keys re-identified, and those that failed with why."""

    succeeded: list[str] = Field(default_factory=list)
    failed: list[BulkFailure] = Field(default_factory=list)


class StarterModel(ApiModel):
    """A model from the server's curated starter list."""

    source: str
    name: str
    description: str = ""
    base: BaseDnnModelType
    type: DnnModelType
    format: DnnModelFormat | None = None
    variant: str | None = None
    is_installed: bool = False
    previous_names: list[str] = Field(default_factory=list)
    dependencies: list[StarterModel] | None = None


class StarterBundle(ApiModel):
    """A named set of starter models (e.g. for one model family)."""

    name: str
    models: list[StarterModel] = Field(default_factory=list)


class StarterModelCatalog(ApiModel):
    """The server's starter models and bundles (bundles keyed by base)."""

    starter_models: list[StarterModel] = Field(default_factory=list)
    starter_bundles: dict[str, StarterBundle] = Field(default_factory=dict)


class OrphanedModel(ApiModel):
    """A folder in the models directory that no model record points to."""

    path: str
    absolute_path: str
    files: list[str] = Field(default_factory=list)
    size_bytes: int = 0


class OrphanDeleteResult(ApiModel):
    """Folders deleted, and errors by path."""

    deleted: list[str] = Field(default_factory=list)
    errors: dict[str, str] = Field(default_factory=dict)


class HFRepoFiles(ApiModel):
    """The model files of a Hugging Face repo, as the server lists them."""

    urls: list[str] | None = None
    is_diffusers: bool = False
