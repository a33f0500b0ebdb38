"""Typed answers of the model manager: install jobs, cache stats, HF login, bulk results."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import InvalidArgumentError
from ._base import MAX_ARGUMENT_CHARS, ApiModel, OpenStrEnum
from .dnn_model_types import BaseDnnModelType, DnnModelFormat, DnnModelType
from .job_models import (
    DownloadPart,
    InstallJobErrorInfo,
    InstallJobStatus,
    ModelInstJobInfo,
)

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
    As in invokeai-py-client 1.1, where it was an enum, it also equals its status:
    ``repo.hf_status() == HFLoginStatus.VALID`` and ``.value`` work.
    """

    VALID: ClassVar[HFTokenStatus] = HFTokenStatus.VALID
    INVALID: ClassVar[HFTokenStatus] = HFTokenStatus.INVALID
    UNKNOWN: ClassVar[HFTokenStatus] = HFTokenStatus.UNKNOWN

    status: HFTokenStatus
    username: str | None = None
    scopes: list[str] | None = None

    @property
    def is_logged_in(self) -> bool:
        """True when the server reports a valid token."""
        return self.status == HFTokenStatus.VALID

    @property
    def value(self) -> str:
        """The status as text: ``valid``, ``invalid`` or ``unknown``."""
        return self.status.value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return self.status == other
        return super().__eq__(other)

    def __hash__(self) -> int:
        return hash(self.status)


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

    @field_validator("name")
    @classmethod
    def _name_is_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("a model's name must not be empty or blank")
        return value

    @field_validator("name", "description", "path", "key", "hash", "source")
    @classmethod
    def _text_fits(cls, value: str | None) -> str | None:
        if value is not None and len(value) > MAX_ARGUMENT_CHARS:
            raise ValueError(f"{len(value)} characters long; at most {MAX_ARGUMENT_CHARS}")
        return value

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
        message = str(problem["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message} (got {problem.get('input')!r})")
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
