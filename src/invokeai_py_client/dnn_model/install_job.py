"""``ModelInstJobHandle``: one install job on the server, refreshed on demand."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..errors import (
    InstallJobCancelledError,
    InstallJobFailedError,
    InstallJobTimeoutError,
    InvalidArgumentError,
    NotFoundError,
)
from .dnn_model_models import InstallJobStatus, ModelInstJobInfo

if TYPE_CHECKING:
    from .dnn_model_repo import DnnModelRepository

__all__ = ["ModelInstJobHandle"]


class ModelInstJobHandle:
    """A handle on one install job.

    ``info`` is the last state fetched. ``status()``, ``progress()``, ``is_done()``
    and ``is_failed()`` fetch a fresh state while the cached one is not terminal,
    so ``while not job.is_done(): ...`` ends. Get handles from
    ``DnnModelRepository.install_model`` and friends.
    """

    def __init__(self, repo: DnnModelRepository, info: ModelInstJobInfo) -> None:
        self._repo = repo
        self._info = info

    @property
    def id(self) -> int:
        """The server's job id."""
        return self._info.id

    @property
    def info(self) -> ModelInstJobInfo:
        """The last state fetched (no request)."""
        return self._info

    def refresh(self) -> ModelInstJobInfo:
        """Fetch the job's state from the server and return it.

        Raises ``NotFoundError`` if the server no longer knows the job (pruned,
        or the server restarted).
        """
        self._info = self._repo._fetch_install_job(self.id)
        return self._info

    def status(self) -> InstallJobStatus:
        """The job's status, fetched unless already terminal."""
        return self._current().status

    def progress(self) -> float | None:
        """0.0-1.0 (1.0 once completed), None when the size is unknown."""
        return self._current().progress

    def is_done(self) -> bool:
        """The job has ended: completed, error or cancelled."""
        return self._current().is_terminal

    def is_failed(self) -> bool:
        """The job ended in error or was cancelled."""
        return self._current().is_failure

    def cancel(self) -> bool:
        """Cancel the job; False if it has already ended or the server forgot it.

        A job that has ended is left alone (the server would mark even a
        completed job ``cancelled``). The job may take a moment to reach
        ``cancelled``: ``wait()`` for it.
        """
        try:
            if self._current().is_terminal:
                return False
        except NotFoundError:
            return False
        return self._repo._cancel_install_job(self.id)

    def pause(self) -> ModelInstJobInfo:
        """Pause a downloading job (InvokeAI 6.12+)."""
        return self._act("pause")

    def resume(self) -> ModelInstJobInfo:
        """Resume a paused job (InvokeAI 6.12+)."""
        return self._act("resume")

    def restart_failed(self) -> ModelInstJobInfo:
        """Restart the failed downloads of the job (InvokeAI 6.12+)."""
        return self._act("restart_failed")

    def wait(self, timeout: float | None = 600.0, poll_interval: float = 2.0) -> ModelInstJobInfo:
        """Poll until the job ends and return its final state, success or failure.

        Parameters
        ----------
        timeout : float or None
            Seconds to wait at most; None waits forever.
        poll_interval : float
            Seconds between polls.

        Raises
        ------
        InstallJobTimeoutError
            The job had not ended in time; ``.info`` holds its last state.
        """
        if timeout is not None and timeout < 0:
            raise InvalidArgumentError("timeout must be 0 or more, or None")
        if poll_interval <= 0:
            raise InvalidArgumentError("poll_interval must be more than 0")
        deadline = None if timeout is None else time.monotonic() + timeout
        info = self._current()
        while not info.is_terminal:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise InstallJobTimeoutError(
                    f"{info.describe()} - still not done after {timeout:g} s", info
                )
            time.sleep(poll_interval if left is None else min(poll_interval, left))
            info = self.refresh()
        return info

    def raise_for_status(self) -> ModelInstJobInfo:
        """Raise if the job failed or was cancelled; otherwise return its state.

        Does not wait: a job still running is returned as it is, so call
        ``wait()`` first.
        """
        info = self._current()
        if info.status == InstallJobStatus.ERROR:
            raise InstallJobFailedError(info.describe(), info)
        if info.status == InstallJobStatus.CANCELLED:
            raise InstallJobCancelledError(info.describe(), info)
        return info

    def _current(self) -> ModelInstJobInfo:
        return self._info if self._info.is_terminal else self.refresh()

    def _act(self, action: str) -> ModelInstJobInfo:
        self._info = self._repo._install_job_action(self.id, action)
        return self._info

    def __repr__(self) -> str:
        info = self._info
        return f"<ModelInstJobHandle id={info.id} status={info.status} source={info.source!r}>"
