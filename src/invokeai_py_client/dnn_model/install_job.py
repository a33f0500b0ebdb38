"""``ModelInstJobHandle``: one install job on the server, refreshed on demand."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any

from .._event_stream import EventStream, Subscription
from ..errors import EventStreamError
from ._job_base import JobHandleBase, WaitClock
from ._wait_plan import InstallProgress, WaitPlan
from .dnn_model_models import InstallJobStatus, ModelInstJobInfo

if TYPE_CHECKING:
    from .dnn_model_repo import DnnModelRepository

__all__ = ["JobWaiter", "ModelInstJobHandle", "wait_for"]


class ModelInstJobHandle(JobHandleBase):
    """A handle on one install job.

    ``info`` is the last state fetched. ``status()``, ``progress()``, ``is_done()``
    and ``is_failed()`` fetch a fresh state while the cached one is not terminal,
    so ``while not job.is_done(): ...`` ends. Get handles from
    ``DnnModelRepository.install_model`` and friends. A call that finds the job gone
    (pruned, or the server restarted) raises ``InstallJobLostError``.
    """

    _repo: DnnModelRepository

    def refresh(self) -> ModelInstJobInfo:
        """Fetch the job's state from the server and return it.

        Raises ``InstallJobLostError`` if the server no longer has the job (pruned,
        or restarted: then another job may hold the same id, and that is noticed).
        """
        return self._apply(self._repo.get_install_job_info(self.id))

    def status(self) -> InstallJobStatus:
        """The job's status, fetched unless already terminal."""
        return self._current().status

    def progress(self) -> float | None:
        """0.0-1.0, 1.0 only once completed; None when the size is unknown."""
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
        if not self._info.is_terminal:
            info = self._repo.get_install_job_info(self.id)
            if not self._owns(info):
                return False
            self._apply(info)
        if self._info.is_terminal:
            return False
        return bool(self._repo.cancel_install_job(self.id))

    def pause(self) -> ModelInstJobInfo:
        """Pause a downloading job (InvokeAI 6.12+)."""
        return self._apply(self._repo.pause_install_job(self.id))

    def resume(self) -> ModelInstJobInfo:
        """Resume a paused job (InvokeAI 6.12+)."""
        return self._apply(self._repo.resume_install_job(self.id))

    def restart_failed(self) -> ModelInstJobInfo:
        """Restart the failed downloads of the job (InvokeAI 6.12+)."""
        return self._apply(self._repo.restart_failed_install_job(self.id))

    def wait(
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
        self._repo.wait_all(
            [self], timeout=timeout, poll_interval=poll_interval, on_progress=on_progress
        )
        return self._info

    def raise_for_status(self) -> ModelInstJobInfo:
        """Raise if the job failed or was cancelled; otherwise return its state.

        Does not wait: a job still running is returned as it is, so call
        ``wait()`` first.
        """
        return self._raise_for(self._current())

    def _current(self) -> ModelInstJobInfo:
        return self._info if self._info.is_terminal else self.refresh()


def wait_for(
    plan: WaitPlan, stream: EventStream, poll: Callable[[WaitPlan], None]
) -> Generator[JobHandleBase, None, None]:
    """Run ``plan``: yield each job as it ends. Subscribes before the first poll, so no
    end is missed; polls after every reconnect and when the plan says so."""
    wanted = plan.pending and stream.model_events
    subscription = _subscribe(stream) if wanted else None
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
                poll(plan)
                plan.polled()
                continue
            wait = plan.seconds_to_wait()
            if subscription is None:
                time.sleep(wait)
                continue
            event = subscription.get(wait)
            while event is not None:
                plan.take_event(event)
                event = subscription.get(0)
    finally:
        if subscription is not None:
            subscription.close()


def _subscribe(stream: EventStream) -> Subscription | None:
    try:
        return stream.subscribe()
    except EventStreamError:
        return None


class JobWaiter:
    """One wait that jobs join while it runs (``apply_manifest``'s installs).

    One subscription and one first poll serve every job; progress rates carry on.
    """

    def __init__(
        self,
        repo: DnnModelRepository,
        timeout: float | None,
        on_progress: Callable[[InstallProgress], Any] | None,
    ) -> None:
        self._repo = repo
        self._clock = WaitClock(timeout, 2.0)
        self._on_progress = on_progress
        self._plan = WaitPlan([], self._clock, on_progress)
        self._ended: Generator[JobHandleBase, None, None] | None = None

    def next_ended(self, jobs: Iterable[JobHandleBase]) -> list[JobHandleBase]:
        """Follow ``jobs`` too; wait until one of all followed has ended; the ended ones."""
        for job in jobs:
            self._plan.add(job)
        ended = self._plan.take_done()
        if ended or not self._plan.pending:
            return ended
        if self._ended is None:
            self._ended = wait_for(self._plan, self._repo._client.events, self._repo._poll)
        try:
            first = next(self._ended)
        except BaseException:  # a lost job, a timeout: the next call starts afresh
            self.close()
            raise
        return [first, *self._plan.take_done()]

    def close(self) -> None:
        """Stop following (drops the subscription)."""
        if self._ended is not None:
            self._ended.close()
        self._ended = None
        self._plan = WaitPlan([], self._clock, self._on_progress)
