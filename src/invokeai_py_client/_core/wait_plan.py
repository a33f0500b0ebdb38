"""Waiting for install jobs, without I/O: what to poll when, what events mean, progress.

The waits (``_async/install_jobs.py`` and its generated twin) only send, sleep and read
events; every decision is here. With an event stream the
jobs change as events arrive, and a poll runs after every (re)connect and every
``poll_interval`` (the stream is silent on pause, and a cancelled download says only
``download_cancelled``). Without one, polls start fast and back off to ``poll_interval``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..dnn_model.install_events import (
    STREAM_CLOSED,
    DownloadEvent,
    InstallEvent,
    InstallProgress,
    ModelInstallEvent,
    job_update,
)
from ..dnn_model.job_models import MAX_UNFINISHED_PROGRESS, InstallJobStatus, ModelInstJobInfo
from ..errors import InstallJobTimeoutError, InvalidArgumentError
from .job_state import JobHandleBase, WaitClock

__all__ = ["WaitPlan"]

FIRST_POLL = 0.01
REPORTS_PER_SECOND = 4.0
RATE_WINDOW = 5.0
ASK_AT_MOST = 8  # jobs an event asked about, fetched one by one; more: one listing


class _Tracker:
    """Progress of one job: samples for the rate, the last fraction, when last told."""

    def __init__(self) -> None:
        self.samples: deque[tuple[float, int]] = deque()
        self.fraction: float | None = None
        self.told_at = -1e9
        self.told_final = False

    def report(self, job: Any, info: ModelInstJobInfo, now: float) -> InstallProgress | None:
        self.samples.append((now, info.bytes))
        while len(self.samples) > 2 and now - self.samples[0][0] > RATE_WINDOW:
            self.samples.popleft()
        if info.status.is_success:
            fraction: float | None = 1.0
        elif info.total_bytes > 0:
            fraction = min(info.bytes / info.total_bytes, MAX_UNFINISHED_PROGRESS)
        else:
            fraction = None
        if self.fraction is not None:
            fraction = self.fraction if fraction is None else max(fraction, self.fraction)
        final = info.is_terminal
        if self.told_final or (not final and now - self.told_at < 1 / REPORTS_PER_SECOND):
            return None
        self.fraction, self.told_at, self.told_final = fraction, now, final
        rate = self._rate()
        left = info.total_bytes - info.bytes
        eta = left / rate if rate and info.total_bytes and not final else None
        return InstallProgress(
            job, info.status, info.bytes, info.total_bytes, fraction, rate, 0.0 if final else eta
        )

    def _rate(self) -> float | None:
        (t0, b0), (t1, b1) = self.samples[0], self.samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 - t0 >= 0.2 and b1 >= b0 else None


class WaitPlan:
    """The state of one wait over several jobs: pending, done, when to poll next.

    With ``records_later``, a completion event without the model's record (6.8 sends
    none) ends the job at once, with its ``model_key`` and no ``result``: the waiter
    fetches the records itself, all at once, rather than each job's state.
    """

    def __init__(
        self,
        jobs: Sequence[JobHandleBase],
        clock: WaitClock,
        on_progress: Callable[[InstallProgress], Any] | None,
        *,
        records_later: bool = False,
    ) -> None:
        if on_progress is not None and not callable(on_progress):
            raise InvalidArgumentError("on_progress must be callable")
        self.clock = clock
        self.on_progress = on_progress
        self.records_later = records_later
        self.pending: dict[int, JobHandleBase] = {}
        self._pending_by_job_id: dict[int, dict[int, JobHandleBase]] = {}  # for events
        self.done: deque[JobHandleBase] = deque()
        self._asked: dict[int, JobHandleBase] = {}  # an event said: ask about these
        self._asking = False  # the poll running is for them alone
        # by id(job); the job is held too, so that its id is never reused while followed
        self._trackers: dict[int, tuple[JobHandleBase, _Tracker]] = {}
        for job in jobs:
            self.add(job)
        self.events = False
        self._interval = min(FIRST_POLL, clock.poll_interval)
        self._next_poll = 0.0

    def add(self, job: JobHandleBase) -> None:
        """Follow ``job`` too (a wait that is running takes it at its next step)."""
        if not isinstance(job, JobHandleBase):
            raise InvalidArgumentError(f"not an install-job handle: {job!r}")
        if id(job) in self._trackers:
            return
        self._trackers[id(job)] = (job, _Tracker())
        self.pending[id(job)] = job
        self._pending_by_job_id.setdefault(job.id, {})[id(job)] = job
        if job.info.is_terminal:
            self._take(job, job.info)  # reported once, like any end

    def take_done(self) -> list[JobHandleBase]:
        """The jobs that have ended and were not yielded yet (they will not be)."""
        ended = list(self.done)
        self.done.clear()
        return ended

    # -- what the waits ask ------------------------------------------------------------

    def poll_due(self) -> bool:
        return bool(self._asked) or time.monotonic() >= self._next_poll

    def take_asked(self) -> list[JobHandleBase]:
        """The jobs an event asked about (an end without its record, a change this
        process sent), for a poll of them alone, one by one; none when there are many
        or a full poll is due anyway (a listing then answers for them)."""
        asked = list(self._asked.values())
        self._asked.clear()
        if len(asked) > ASK_AT_MOST or time.monotonic() >= self._next_poll:
            return []
        self._asking = bool(asked)
        return asked

    def events_mark(self) -> tuple[int, int] | None:
        """The oldest event-stream mark taken before the pending jobs were started, or
        None when a job has none (the wait then polls at once, as it must)."""
        marks = [job.events_mark for job in self.pending.values()]
        known = [mark for mark in marks if mark is not None]
        if not marks or len(known) != len(marks) or len({m[0] for m in known}) != 1:
            return None
        return min(known)

    def skip_first_poll(self) -> None:
        """The subscription holds every event since the jobs were started: no poll is
        needed to catch one it missed; the next poll is the safety poll."""
        self._next_poll = time.monotonic() + self.clock.poll_interval

    def poll_now(self) -> None:
        """Poll at the next chance (a reconnect, a download that ended silently)."""
        self._next_poll = 0.0

    def seconds_to_wait(self) -> float:
        """How long to wait for an event (or sleep) before the next poll; raises
        ``InstallJobTimeoutError`` once the deadline has passed."""
        now = time.monotonic()
        until_poll = 0.0 if self._asked else max(self._next_poll - now, 0.0)
        if self.clock.deadline is None:
            return until_poll
        left = self.clock.deadline - now
        if left <= 0:
            info = next(iter(self.pending.values())).info
            raise InstallJobTimeoutError(
                f"{info.describe()} - still not done after {self.clock.timeout:g} s"
                + (f" ({len(self.pending)} jobs pending)" if len(self.pending) > 1 else ""),
                info,
                timeout=self.clock.timeout,
            )
        return min(until_poll, left)

    def polled(self) -> None:
        """A poll ran: schedule the next (fixed with events, backing off without); a poll
        of asked jobs alone leaves the schedule as it was."""
        self._asked.clear()
        if self._asking:
            self._asking = False
            return
        if self.events:
            self._next_poll = time.monotonic() + self.clock.poll_interval
            return
        self._next_poll = time.monotonic() + self._interval
        self._interval = min(self._interval * 2, self.clock.poll_interval)

    # -- what the waits tell -------------------------------------------------------------

    def take_infos(
        self, infos: Iterable[ModelInstJobInfo | None], jobs: list[JobHandleBase]
    ) -> None:
        """Fresh states of ``jobs`` (None for a job the server no longer has)."""
        for job, info in zip(jobs, infos, strict=True):
            self._take(job, job.observe(info))

    def take_listing(self, infos: Iterable[ModelInstJobInfo]) -> None:
        """Every job the server lists; a pending job missing from it is lost."""
        by_id = {info.id: info for info in infos}
        for job in list(self.pending.values()):
            self._take(job, job.observe(by_id.get(job.id)))

    def take_event(self, event: InstallEvent) -> None:
        if event.name == STREAM_CLOSED:
            self.events = False  # the wait drops its subscription and polls on
            self.poll_now()
            return
        if isinstance(event, DownloadEvent) and event.name in _DOWNLOAD_ENDS:
            self.poll_now()
            return
        if not isinstance(event, ModelInstallEvent):
            return
        for job in list(self._pending_by_job_id.get(event.id, {}).values()):  # not all
            info = job_update(job.info, event)
            if info is None and self.records_later:
                info = _completed_without_record(job.info, event)
            if info is not None:
                self._take(job, job.observe(info))
            elif event.id == job.id and event.name in _ASK_SERVER:
                self._asked[id(job)] = job  # an end we could not read, or a change sent

    def _take(self, job: JobHandleBase, info: ModelInstJobInfo) -> None:
        tracker = self._trackers[id(job)][1]
        if self.on_progress is not None:
            report = tracker.report(job, info, time.monotonic())
            if report is not None:
                self.on_progress(report)
        if info.is_terminal and id(job) in self.pending:
            del self.pending[id(job)]
            self._asked.pop(id(job), None)
            same_id = self._pending_by_job_id.get(job.id, {})
            same_id.pop(id(job), None)
            if not same_id:
                self._pending_by_job_id.pop(job.id, None)
            self.done.append(job)


def _completed_without_record(
    info: ModelInstJobInfo, event: ModelInstallEvent
) -> ModelInstJobInfo | None:
    """The job completed, as the event says, with the model's key but not its record."""
    if event.name != "model_install_complete" or event.id != info.id or not event.key:
        return None
    if event.source and info.source and event.source != info.source:
        return None
    done = info.total_bytes or info.bytes
    update = {"status": InstallJobStatus.COMPLETED, "model_key": event.key, "bytes": done}
    return info.model_copy(update=update)


_ENDS = frozenset({"model_install_complete", "model_install_error", "model_install_cancelled"})
_ASK_SERVER = _ENDS | {"model_install_cancel_sent", "model_install_pause_sent"}
_DOWNLOAD_ENDS = frozenset({"download_cancelled", "download_error", "download_complete"})
