"""``AsyncModelInstJobHandle``: one install job on the server, refreshed on demand."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._core.defaults import POLL_INTERVAL, WAIT_TIMEOUT
from .._core.job_state import JobHandleBase, check_job_source
from ..dnn_model.install_events import InstallProgress
from ..dnn_model.job_models import InstallJobStatus, ModelInstJobInfo
from ..errors import NotFoundError
from .install_jobs import AsyncInstallJobs

__all__ = ["AsyncModelInstJobHandle"]


class AsyncModelInstJobHandle(JobHandleBase):
    """A handle on one install job.

    ``info`` is the last state fetched. ``status()``, ``progress()``, ``is_done()``
    and ``is_failed()`` fetch a fresh state while the cached one is not terminal,
    so ``while not await job.is_done(): ...`` ends. Get handles from
    ``AsyncDnnModelRepository.install_model`` and friends. A call that finds the job
    gone (pruned, or the server restarted) raises ``InstallJobLostError``.
    """

    def __init__(
        self,
        jobs: AsyncInstallJobs,
        info: ModelInstJobInfo,
        *,
        events_mark: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(info, events_mark=events_mark)
        self._jobs = jobs

    @classmethod
    async def from_client_and_id(cls, client: Any, job_id: int | str) -> AsyncModelInstJobHandle:
        """A handle on the job with this id on ``client``'s server (1.1's way to get one).

        Raises ``NotFoundError`` when the server does not know the job, and
        ``InvalidArgumentError`` (nothing sent) for a bad client or job id.
        """
        repo = check_job_source(client, job_id)
        handle: AsyncModelInstJobHandle | None = await repo.get_install_job(job_id)
        if handle is None:
            raise NotFoundError(
                method="GET",
                route=f"/api/v2/models/install/{job_id}",
                status_code=404,
                detail=f"no install job {job_id}",
                body=None,
            )
        return handle

    @property
    def job_id(self) -> int:
        """The server's job id (1.1's name for ``id``)."""
        return self.id

    async def refresh(self) -> ModelInstJobInfo:
        """Fetch the job's state from the server and return it.

        Raises ``InstallJobLostError`` if the server no longer has the job (pruned,
        or restarted: then another job may hold the same id, and that is noticed).
        """
        return self.observe(await self._jobs.get(self.id))

    async def status(self) -> InstallJobStatus:
        """The job's status, fetched unless already terminal."""
        return (await self._current()).status

    async def progress(self) -> float | None:
        """0.0-1.0, 1.0 only once completed; None when the size is unknown."""
        return (await self._current()).progress

    async def is_done(self) -> bool:
        """The job has ended: completed, error or cancelled."""
        return (await self._current()).is_terminal

    async def is_failed(self) -> bool:
        """The job ended in error or was cancelled."""
        return (await self._current()).is_failure

    async def cancel(self) -> bool:
        """Cancel the job; False if it has already ended or the server forgot it.

        A job that has ended is left alone (the server would mark even a
        completed job ``cancelled``). The job may take a moment to reach
        ``cancelled``: ``wait()`` for it.
        """
        if not self._info.is_terminal:
            info = await self._jobs.get(self.id)
            if not self._owns(info):
                return False
            self.observe(info)
        if self._info.is_terminal:
            return False
        return await self._jobs.cancel(self.id)

    async def pause(self) -> ModelInstJobInfo:
        """Pause a downloading job (InvokeAI 6.12+)."""
        return self.observe(await self._jobs.act(self.id, "pause"))

    async def resume(self) -> ModelInstJobInfo:
        """Resume a paused job (InvokeAI 6.12+)."""
        return self.observe(await self._jobs.act(self.id, "resume"))

    async def restart_failed(self) -> ModelInstJobInfo:
        """Restart the failed downloads of the job (InvokeAI 6.12+)."""
        return self.observe(await self._jobs.act(self.id, "restart_failed"))

    async def restart_file(self, file_url: str) -> ModelInstJobInfo:
        """Restart one file download of the job (its URL, as in ``download_parts``).
        InvokeAI 6.12+."""
        return self.observe(await self._jobs.restart_file(self.id, file_url))

    restart_install_file = restart_file

    async def wait(
        self,
        timeout: float | None = WAIT_TIMEOUT,
        poll_interval: float = POLL_INTERVAL,
        on_progress: Callable[[InstallProgress], Any] | None = None,
    ) -> ModelInstJobInfo:
        """Wait until the job ends and return its final state, success or failure.

        Follows the server's events when it can (see ``client.events``), and polls
        otherwise: fast at first, backing off to ``poll_interval``.

        Parameters
        ----------
        timeout : float or None
            Seconds to wait at most; None waits forever.
        poll_interval : float
            Seconds between polls at most (with events: between safety polls).
        on_progress : callable, optional
            Called with an ``InstallProgress`` a few times a second at most, and
            once at the end.

        Raises
        ------
        InstallJobTimeoutError
            The job had not ended in time; ``.info`` holds its last state.
        InstallJobLostError
            The server no longer has the job.
        """
        await self._jobs.wait(
            [self], timeout=timeout, poll_interval=poll_interval, on_progress=on_progress
        )
        return self._info

    async def wait_until(
        self, timeout: float | None = WAIT_TIMEOUT, poll_interval: float = POLL_INTERVAL
    ) -> ModelInstJobInfo:
        """Wait until the job completes and return its final state (1.1's way to wait).

        Unlike ``wait()``, a job that does not complete raises.

        Raises
        ------
        ModelInstallJobFailed
            The job ended in error (``InstallJobFailedError``) or was cancelled
            (``InstallJobCancelledError``); ``.info`` holds its final state.
        ModelInstallTimeout
            The job had not ended in ``timeout`` seconds (None: no limit).
        """
        return self._raise_for(await self.wait(timeout=timeout, poll_interval=poll_interval))

    async def raise_if_failed(self) -> None:
        """Raise ``ModelInstallJobFailed`` if the job ended in error or was cancelled
        (1.1's name; ``raise_for_status`` also returns the state)."""
        await self.raise_for_status()

    async def raise_for_status(self) -> ModelInstJobInfo:
        """Raise if the job failed or was cancelled; otherwise return its state.

        Does not wait: a job still running is returned as it is, so call
        ``wait()`` first.
        """
        return self._raise_for(await self._current())

    async def _current(self) -> ModelInstJobInfo:
        return self._info if self._info.is_terminal else await self.refresh()
