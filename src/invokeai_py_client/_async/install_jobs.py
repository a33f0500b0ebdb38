"""``AsyncInstallJobs``: the install jobs of one server, read, changed and waited for.

One per repository; its handles act and wait through it. A wait follows the event
stream when it can and polls when it cannot; what to poll when, and what an event
means, is decided without I/O in ``_core/wait_plan.py``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

from .._core import job_ops
from .._core.defaults import POLL_INTERVAL
from .._core.job_ops import JobAction
from .._core.job_state import JobHandleBase, WaitClock
from .._core.wait_plan import WaitPlan
from ..dnn_model.install_events import InstallProgress
from ..dnn_model.job_models import ModelInstJobInfo
from ..errors import EventStreamError
from . import backend
from .event_stream import AsyncEventStream, AsyncSubscription, Mark
from .transport import AsyncTransport

__all__ = ["AsyncInstallJobs", "AsyncJobWaiter", "OnProgress"]

OnProgress = Callable[[InstallProgress], Any] | None


class AsyncInstallJobs:
    """Install-job requests and waits, over one transport and its event stream."""

    def __init__(self, transport: AsyncTransport) -> None:
        self._transport = transport

    @property
    def events(self) -> AsyncEventStream:
        stream: AsyncEventStream = self._transport.session.events
        return stream

    async def list(self) -> list[ModelInstJobInfo]:
        return await self._transport.run(job_ops.list_install_jobs())

    async def get(self, id: int | str) -> ModelInstJobInfo | None:
        return await self._transport.run(job_ops.get_install_job(id))

    async def cancel(self, id: int | str) -> bool:
        sent = await self._transport.run(job_ops.cancel_install_job(id))
        if sent:
            self.events.note_sent("cancel", int(id))
        return sent

    async def act(self, id: int | str, action: JobAction) -> ModelInstJobInfo | None:
        info = await self._transport.run(job_ops.install_job_action(id, action))
        if info is not None and action == "pause":
            self.events.note_sent("pause", info.id)
        return info

    async def restart_file(self, id: int | str, file_url: str) -> ModelInstJobInfo | None:
        return await self._transport.run(job_ops.restart_install_file(id, file_url))

    async def prune(self) -> bool:
        return await self._transport.run(job_ops.prune_install_jobs())

    async def wait(
        self,
        jobs: Sequence[JobHandleBase],
        *,
        timeout: float | None,
        poll_interval: float,
        on_progress: OnProgress,
    ) -> None:
        """Wait until every job has ended (see ``as_completed``)."""
        async for _ in self.as_completed(
            jobs, timeout=timeout, poll_interval=poll_interval, on_progress=on_progress
        ):
            pass

    async def as_completed(
        self,
        jobs: Sequence[JobHandleBase],
        *,
        timeout: float | None,
        poll_interval: float,
        on_progress: OnProgress,
    ) -> AsyncIterator[JobHandleBase]:
        """Yield each job as it ends; ``InstallJobTimeoutError`` when time runs out."""
        plan = WaitPlan(jobs, WaitClock(timeout, poll_interval), on_progress)
        async for job in self.follow(plan):
            yield job

    def mark(self) -> Mark | None:
        """The event stream's mark, taken just before an install is sent."""
        return self.events.mark()

    def waiter(self, timeout: float | None, on_progress: OnProgress) -> AsyncJobWaiter:
        """One wait that jobs can join while it runs."""
        return AsyncJobWaiter(self, timeout, on_progress)

    async def follow(self, plan: WaitPlan) -> AsyncIterator[JobHandleBase]:
        """Run ``plan``: yield each job as it ends. Subscribes before the first poll, so
        no end is missed; polls after every reconnect and when the plan says so."""
        stream = self.events
        wanted = plan.pending and stream.model_events
        subscription = await _subscribe(stream, plan.events_mark()) if wanted else None
        plan.events = subscription is not None
        if subscription is not None and subscription.replayed:
            plan.skip_first_poll()
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
                    await self._poll(plan)
                    plan.polled()
                    continue
                wait = plan.seconds_to_wait()
                if subscription is None:
                    await backend.sleep(wait)
                    continue
                event = await subscription.get(wait)
                while event is not None:
                    plan.take_event(event)
                    event = await subscription.get(0)
        finally:
            if subscription is not None:
                subscription.close()

    async def _poll(self, plan: WaitPlan) -> None:
        """One poll: the jobs an event asked about, one by one; else each job's state,
        or the whole list (one request) when more than two are pending."""
        asked = plan.take_asked()
        jobs = asked or list(plan.pending.values())
        if asked or len(jobs) <= 2:
            plan.take_infos([await self.get(job.id) for job in jobs], jobs)
        else:
            plan.take_listing(await self.list())


async def _subscribe(stream: AsyncEventStream, since: Mark | None) -> AsyncSubscription | None:
    try:
        return await stream.subscribe(since)
    except EventStreamError:
        return None


class AsyncJobWaiter:
    """One wait that jobs join while it runs (``apply_manifest``'s installs).

    One subscription and one first poll serve every job; progress rates carry on. A
    job whose completion event lacks the record ends without it (``records_later``):
    the caller fetches the records, all at once.
    """

    def __init__(
        self, jobs: AsyncInstallJobs, timeout: float | None, on_progress: OnProgress
    ) -> None:
        self._jobs = jobs
        self._clock = WaitClock(timeout, POLL_INTERVAL)
        self._on_progress = on_progress
        self._plan = self._new_plan()
        self._ended: AsyncIterator[JobHandleBase] | None = None

    def _new_plan(self) -> WaitPlan:
        return WaitPlan([], self._clock, self._on_progress, records_later=True)

    def out_of_time(self) -> bool:
        """Whether the wait's deadline has passed (installs not started yet are not)."""
        deadline = self._clock.deadline
        return deadline is not None and time.monotonic() >= deadline

    async def next_ended(self, jobs: Iterable[JobHandleBase]) -> list[JobHandleBase]:
        """Follow ``jobs`` too; wait until one of all followed has ended; the ended ones."""
        for job in jobs:
            self._plan.add(job)
        ended = self._plan.take_done()
        if ended or not self._plan.pending:
            return ended
        if self._ended is None:
            self._ended = self._jobs.follow(self._plan)
        try:
            first = await anext(self._ended)
        except BaseException:  # a lost job, a timeout: the next call starts afresh
            await self.close()
            raise
        return [first, *self._plan.take_done()]

    async def close(self) -> None:
        """Stop following (drops the subscription)."""
        ended, self._ended = self._ended, None
        if ended is not None:
            await ended.aclose()  # type: ignore[attr-defined]
        self._plan = self._new_plan()
