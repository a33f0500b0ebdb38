"""Install jobs as the server describes them: status, download parts, job state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    computed_field,
    field_validator,
    model_validator,
)

from .._redact import scrub, without_secrets
from ._base import ApiModel, OpenStrEnum
from .dnn_model_types import DnnModel

__all__ = [
    "MAX_UNFINISHED_PROGRESS",
    "DownloadPart",
    "InstallJobErrorInfo",
    "InstallJobStatus",
    "ModelInstJobInfo",
    "source_text",
]

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


def source_text(source: Any) -> str | None:
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

    @field_validator("job_started", "job_ended", mode="wrap")
    @classmethod
    def _timestamp_or_none(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError:  # 6.8 declares any string: one that is no time is None
            return None


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
    error: str | None = None
    error_reason: str | None = None
    error_traceback: str | None = None
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
        if "source_info" in data:  # this model's own dump, given back
            data.pop("progress", None)  # computed, not an input (else it lands in extra)
            return data
        source = data.get("source")
        config_out = data.pop("config_out", None)
        status = data.get("status")
        if isinstance(status, str) and not InstallJobStatus(status).is_known:
            data["raw_status"] = status
        data["source"] = source_text(source)
        data["source_info"] = source if isinstance(source, dict) else None
        data["result"] = config_out
        data["model_key"] = config_out.get("key") if isinstance(config_out, dict) else None
        reason, text = data.get("error_reason"), data.get("error")
        if reason or text:
            data["message"] = f"{reason}: {text}" if reason else text
        return data

    @property
    def error_info(self) -> InstallJobErrorInfo | None:
        """Why the job failed, as one object: ``type`` (``error_reason``), ``message``
        (``error``) and ``traceback`` (``error_traceback``); None if it did not."""
        if not (self.error or self.error_reason or self.error_traceback):
            return None
        return InstallJobErrorInfo(
            type=self.error_reason, message=self.error, traceback=self.error_traceback
        )

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
        text = f"{self.error_reason} {self.error}"
        return "DuplicateModelException" in text or "already installed" in text

    def describe(self) -> str:
        """One line for people: id, source, status and, when failed, why."""
        line = f"install job {self.id} ({scrub(self.source)}): {self.status}"
        if self.is_duplicate:
            return line + " - the model is already installed"
        return f"{line} - {self.message}" if self.message else line
