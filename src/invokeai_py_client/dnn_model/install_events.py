"""Events the server pushes about installs and downloads (socket.io), as typed models.

``parse_event(name, payload)`` never fails: an event this library does not know, or a
payload that does not fit, comes back as an ``InstallEvent`` with its raw data in
``extra``. ``job_update(info, event)`` is the state of a job after one of its events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from .._redact import without_secrets
from ._base import ApiModel
from .dnn_model_types import DnnModel
from .job_models import (
    InstallJobStatus,
    ModelInstJobInfo,
    source_text,
)

__all__ = [
    "STREAM_CLOSED",
    "STREAM_CONNECTED",
    "DownloadEvent",
    "InstallEvent",
    "InstallProgress",
    "ModelInstallEvent",
    "job_update",
    "parse_event",
]


@dataclass(frozen=True)
class InstallProgress:
    """How far one install job has come, as ``wait(on_progress=...)`` reports it.

    ``fraction`` never goes backwards and is 1.0 only once the job completed; ``rate``
    (bytes/s over the last seconds) and ``eta`` (seconds) are None until known.
    """

    job: Any
    status: InstallJobStatus
    bytes: int
    total_bytes: int
    fraction: float | None
    rate: float | None
    eta: float | None

    @property
    def id(self) -> int:
        """The job's id."""
        return int(self.job.id)

    @property
    def source(self) -> str | None:
        """The job's source (path, URL or repo id)."""
        return self.job.info.source  # type: ignore[no-any-return]


STREAM_CONNECTED = "stream_connected"
"""Told to subscriptions (not callbacks) on every (re)connect: events may have been missed."""
STREAM_CLOSED = "stream_closed"
"""Told to subscriptions (not callbacks) when the stream is closed; iteration stops."""


class InstallEvent(ApiModel):
    """One pushed event: its name, when the server sent it, and its fields."""

    name: str = ""
    timestamp: datetime | float | None = None


class ModelInstallEvent(InstallEvent):
    """A ``model_install_*`` event about one install job (``id``)."""

    id: int
    source: str | None = None
    source_info: dict[str, Any] | None = None
    bytes: int | None = None
    total_bytes: int | None = None
    key: str | None = None
    config: dict[str, Any] | None = None
    error_type: str | None = None
    error: str | None = None


class DownloadEvent(InstallEvent):
    """A ``download_*`` event about one file download (no install job id)."""

    source: str | None = None
    download_path: str | None = None
    current_bytes: int | None = None
    total_bytes: int | None = None
    error_type: str | None = None
    error: str | None = None


def parse_event(name: str, payload: Any) -> InstallEvent:
    """The typed event for ``name`` and its payload; never raises."""
    data = without_secrets(payload) if isinstance(payload, dict) else {"data": payload}
    model: type[InstallEvent] = InstallEvent
    if name.startswith("model_install_") and isinstance(data.get("id"), int):
        model = ModelInstallEvent
        source = data.get("source")
        data = {**data, "source": source_text(source)}
        data["source_info"] = source if isinstance(source, dict) else None
    elif name.startswith("download_"):
        model = DownloadEvent
        if data.get("source") is not None:
            data = {**data, "source": str(data["source"])}
    try:
        return model.model_validate({**data, "name": name})
    except ValidationError:
        return InstallEvent.model_validate({"extra_data": data, "name": name})


_STATUS_AFTER = {
    "model_install_started": None,
    "model_install_download_started": InstallJobStatus.DOWNLOADING,
    "model_install_download_progress": InstallJobStatus.DOWNLOADING,
    "model_install_downloads_complete": InstallJobStatus.DOWNLOADS_DONE,
    "model_install_complete": InstallJobStatus.COMPLETED,
    "model_install_error": InstallJobStatus.ERROR,
    "model_install_cancelled": InstallJobStatus.CANCELLED,
}


_RANK = {"waiting": 0, "downloading": 1, "paused": 1, "downloads_done": 2, "running": 3}


def _rank(status: InstallJobStatus) -> int:
    return 4 if status.is_terminal else _RANK.get(status.value, 0)


def job_update(info: ModelInstJobInfo, event: InstallEvent) -> ModelInstJobInfo | None:
    """The job's state after ``event``, or None when the event says nothing new of it.

    Only ``model_install_*`` events with the job's id (and source, when both are
    known) apply. A completion whose record does not parse gives None: ask the server.
    """
    if not isinstance(event, ModelInstallEvent) or event.id != info.id:
        return None
    if event.source and info.source and event.source != info.source:
        return None
    changes: dict[str, Any] = {}
    status = _STATUS_AFTER.get(event.name)
    if status is not None and _rank(status) >= _rank(info.status):  # events may come late
        changes["status"] = status
    if event.total_bytes is not None:
        changes["total_bytes"] = event.total_bytes
    if event.bytes is not None:
        changes["bytes"] = max(event.bytes, info.bytes)
    if event.name == "model_install_downloads_complete" and info.total_bytes:
        changes["bytes"] = info.total_bytes
    if event.name == "model_install_complete":
        try:
            record = DnnModel.model_validate(event.config or {})
        except ValidationError:
            return None
        changes.update(result=record, model_key=event.key or record.key)
    if event.name == "model_install_error":
        kind, text = event.error_type, event.error
        changes.update(error=text, error_reason=kind)
        changes["message"] = f"{kind}: {text}" if kind else text
    if not changes:
        return None
    return info.model_copy(update=changes)
