"""``AsyncModelInstJobHandle``: the twin of ``ModelInstJobHandle`` for asyncio."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from .._async_event_stream import AsyncEventStream, AsyncSubscription
from ..errors import EventStreamError
from ._job_base import JobHandleBase, WaitClock
from ._wait_plan import InstallProgress, WaitPlan
from .dnn_model_models import InstallJobStatus, ModelInstJobInfo

if TYPE_CHECKING:
    from .async_dnn_model_repo import AsyncDnnModelRepository

__all__ = ["AsyncModelInstJobHandle", "wait_for"]


class AsyncModelInstJobHandle(JobHandleBase):
    """A handle on one install job, for asyncio: ``ModelInstJobHandle``'s methods as
    coroutines (``await job.wait()``); ``id`` and ``info`` are plain properties.

    Get handles from ``AsyncDnnModelRepository.install_model`` and friends.
    """

    _repo: AsyncDnnModelRepository

    async def refresh(self) -> ModelInstJobInfo:
        """Fetch the job's state from the server and return it.

        Raises ``InstallJobLostError`` if the server no longer has the job (pruned,
        or restarted: then another job may hold the same id, and that is noticed).
        """
        return self._apply(await self._repo.get_install_job_info(self.id))

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
            info = await self._repo.get_install_job_info(self.id)
            if not self._owns(info):
                return False
            self._apply(info)
        if self._info.is_terminal:
            return False
        return bool(await self._repo.cancel_install_job(self.id))

    async def pause(self) -> ModelInstJobInfo:
        """Pause a downloading job (InvokeAI 6.12+)."""
        return self._apply(await self._repo.pause_install_job(self.id))

    async def resume(self) -> ModelInstJobInfo:
        """Resume a paused job (InvokeAI 6.12+)."""
        return self._apply(await self._repo.resume_install_job(self.id))

    async def restart_failed(self) -> ModelInstJobInfo:
        """Restart the failed downloads of the job (InvokeAI 6.12+)."""
        return self._apply(await self._repo.restart_failed_install_job(self.id))

    async def wait(
        self,
        timeout: float | None = 600.0,
        poll_interval: float = 2.0,
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
        await self._repo.wait_all(
            [self], timeout=timeout, poll_interval=poll_interval, on_progress=on_progress
        )
        return self._info

    async def raise_for_status(self) -> ModelInstJobInfo:
        """Raise if the job failed or was cancelled; otherwise return its state.

        Does not wait: a job still running is returned as it is, so call
        ``wait()`` first.
        """
        return self._raise_for(await self._current())

    async def _current(self) -> ModelInstJobInfo:
        return self._info if self._info.is_terminal else await self.refresh()


async def wait_for(
    plan: WaitPlan, stream: AsyncEventStream, poll: Callable[[WaitPlan], Awaitable[None]]
) -> AsyncGenerator[JobHandleBase, None]:
    """Run ``plan``: yield each job as it ends (see ``install_job.wait_for``)."""
    wanted = plan.pending and stream.model_events
    subscription = await _subscribe(stream) if wanted else None
    plan.events = subscription is not None
    epoch = subscription.epoch if subscription is not None else 0
    try:
        while plan.done or plan.pending:
            while plan.done:
                yield plan.done.popleft()
            if not plan.pending:
                return
            if subscription is not None and not plan.events:  # the stream was closed
                subscription.close()
                subscription = None
            if subscription is not None and subscription.epoch != epoch:
                epoch = subscription.epoch
                plan.poll_now()
            if plan.poll_due():
                await poll(plan)
                plan.polled()
                continue
            wait = plan.seconds_to_wait()
            if subscription is None:
                await asyncio.sleep(wait)
                continue
            event = await subscription.get(wait)
            while event is not None:
                plan.take_event(event)
                event = await subscription.get(0)
    finally:
        if subscription is not None:
            subscription.close()


async def _subscribe(stream: AsyncEventStream) -> AsyncSubscription | None:
    try:
        return await stream.subscribe()
    except EventStreamError:
        return None


class AsyncJobWaiter:
    """One wait that jobs join while it runs (see ``install_job.JobWaiter``)."""

    def __init__(
        self,
        repo: AsyncDnnModelRepository,
        timeout: float | None,
        on_progress: Callable[[InstallProgress], Any] | None,
    ) -> None:
        self._repo = repo
        self._clock = WaitClock(timeout, 2.0)
        self._on_progress = on_progress
        self._plan = WaitPlan([], self._clock, on_progress)
        self._ended: AsyncGenerator[JobHandleBase, None] | None = None

    async def next_ended(self, jobs: Iterable[JobHandleBase]) -> list[JobHandleBase]:
        """Follow ``jobs`` too; wait until one of all followed has ended; the ended ones."""
        for job in jobs:
            self._plan.add(job)
        ended = self._plan.take_done()
        if ended or not self._plan.pending:
            return ended
        if self._ended is None:
            self._ended = wait_for(self._plan, self._repo._client.events, self._repo._poll)
        try:
            first = await anext(self._ended)
        except BaseException:
            await self.close()
            raise
        return [first, *self._plan.take_done()]

    async def close(self) -> None:
        """Stop following (drops the subscription)."""
        if self._ended is not None:
            await self._ended.aclose()
        self._ended = None
        self._plan = WaitPlan([], self._clock, self._on_progress)
