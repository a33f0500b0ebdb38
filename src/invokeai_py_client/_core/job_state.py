"""An install job as a handle follows it: identity, state changes, verdicts. No I/O."""

from __future__ import annotations

import math
import time
from typing import Any

from .._redact import scrub
from ..dnn_model.job_models import InstallJobStatus, ModelInstJobInfo
from ..errors import (
    InstallJobCancelledError,
    InstallJobFailedError,
    InstallJobLostError,
    InvalidArgumentError,
)
from . import arguments

__all__ = ["JobHandleBase", "WaitClock", "check_job_source", "check_wait_args"]


def _identity(info: ModelInstJobInfo) -> tuple[Any, ...]:
    """What tells one job from another that got the same id after a server restart."""
    return (info.source, info.inplace)


class JobHandleBase:
    """The state of one install job; ``observe`` is the only way it changes."""

    def __init__(
        self, info: ModelInstJobInfo, *, events_mark: tuple[int, int] | None = None
    ) -> None:
        if not isinstance(info, ModelInstJobInfo):
            raise InvalidArgumentError("info must be a ModelInstJobInfo")
        self._info = info
        self._identity = _identity(info)
        self._events_mark = events_mark

    @property
    def events_mark(self) -> tuple[int, int] | None:
        """Where the client's event stream stood when the install was sent (None:
        unknown); a wait replays the events since instead of polling at once."""
        return self._events_mark

    @property
    def id(self) -> int:
        """The server's job id."""
        return self._info.id

    @property
    def info(self) -> ModelInstJobInfo:
        """The last state fetched (no request)."""
        return self._info

    def observe(self, info: ModelInstJobInfo | None) -> ModelInstJobInfo:
        """Take a state of this job fetched elsewhere (a listing, an event) and return it.

        Raises ``InstallJobLostError`` when ``info`` is None (the server no longer has
        the job) or is another job's that got the same id after a server restart.
        """
        last = self._info
        if info is not None and not isinstance(info, ModelInstJobInfo):
            raise InvalidArgumentError(f"info must be a ModelInstJobInfo, not {info!r:.60}")
        if info is None:
            raise InstallJobLostError(
                f"the server no longer has install job {last.id} ({scrub(last.source)}): "
                "it was pruned, or the server restarted",
                last,
            )
        if _identity(info) != self._identity:
            raise InstallJobLostError(
                f"install job {last.id} ({scrub(last.source)}) is gone: the server restarted "
                f"and now runs another job under that id ({scrub(info.source)})",
                last,
            )
        self._info = info
        return info

    def _owns(self, info: ModelInstJobInfo | None) -> bool:
        """Whether ``info`` is this job's state (not None, not another job's)."""
        return info is not None and _identity(info) == self._identity

    def _raise_for(self, info: ModelInstJobInfo) -> ModelInstJobInfo:
        if info.status == InstallJobStatus.ERROR:
            raise InstallJobFailedError(info.describe(), info)
        if info.status == InstallJobStatus.CANCELLED:
            raise InstallJobCancelledError(info.describe(), info)
        return info

    def __repr__(self) -> str:
        info = self._info
        source = scrub(info.source)
        return f"<{type(self).__name__} id={info.id} status={info.status} source={source!r}>"


def check_wait_args(timeout: Any, poll_interval: Any, on_progress: Any) -> None:
    """Refuse bad ``wait()`` arguments (before an install that would be waited for)."""
    WaitClock(timeout, poll_interval)
    if on_progress is not None and not callable(on_progress):
        raise InvalidArgumentError(f"on_progress must be callable, not {on_progress!r:.60}")


def check_job_source(client: Any, job_id: Any) -> Any:
    """The repository of ``client`` for ``from_client_and_id``, its arguments checked."""
    arguments.job_id(job_id)
    repo = getattr(client, "dnn_model_repo", None)
    if repo is None or not hasattr(repo, "get_install_job"):
        raise InvalidArgumentError(f"client must be an InvokeAI client, not {client!r:.60}")
    return repo


class WaitClock:
    """The checked arguments and the deadline of one wait."""

    def __init__(self, timeout: Any, poll_interval: Any) -> None:
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0
        ):
            raise InvalidArgumentError(f"timeout must be seconds >= 0 or None, not {timeout!r}")
        if isinstance(poll_interval, bool) or not isinstance(poll_interval, (int, float)):
            raise InvalidArgumentError(f"poll_interval must be seconds, not {poll_interval!r}")
        if not 0 < poll_interval < math.inf:
            raise InvalidArgumentError(f"poll_interval must be seconds > 0, not {poll_interval!r}")
        self.timeout = timeout
        self.poll_interval = float(poll_interval)
        self.deadline = None if timeout is None else time.monotonic() + timeout
