"""Pushed events: parsing captured payloads, job updates, and waits driven by them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from invokeai_py_client._core.job_state import WaitClock
from invokeai_py_client._core.wait_plan import WaitPlan
from invokeai_py_client._sync.install_jobs import InstallJobs
from invokeai_py_client.dnn_model import ModelInstJobHandle, ModelInstJobInfo
from invokeai_py_client.dnn_model.install_events import (
    DownloadEvent,
    InstallEvent,
    InstallProgress,
    ModelInstallEvent,
    job_update,
    parse_event,
)
from invokeai_py_client.errors import EventStreamError, InstallJobLostError, InstallJobTimeoutError
from tests.unit.conftest import FIXTURES_DIR, OLD_VERSION, VERSION


def _FakeJobs(base: type[Any], stream: Any, poll: Callable[[WaitPlan], Any]) -> Any:
    """An install-job service of class ``base`` with ``stream`` for its events and
    ``poll`` for its polls (no transport)."""

    class Fake(base):  # type: ignore[misc]
        def __init__(self) -> None:
            pass

        @property
        def events(self) -> Any:
            return stream

        def _poll(self, plan: WaitPlan) -> Any:
            return poll(plan)

    return Fake()


def wait_for(plan: WaitPlan, stream: Any, poll: Callable[[WaitPlan], None]) -> Iterator[Any]:
    """The sync wait over ``plan``, with a fake event stream and poller."""
    jobs: InstallJobs = _FakeJobs(InstallJobs, stream, poll)
    return jobs.follow(plan)


VERSIONS = [VERSION, OLD_VERSION]


def scenario(name: str, version: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES_DIR / version / f"events_{name}.json").read_text())
    return data


def events_of(name: str, version: str) -> list[InstallEvent]:
    return [parse_event(e["event"], e["data"]) for e in scenario(name, version)["events"]]


def start_info(name: str, version: str, status: str = "waiting") -> ModelInstJobInfo:
    """The job as it was when the install was accepted (from its final state)."""
    final = dict(scenario(name, version)["final_job"])
    final.update(status=status, bytes=0, config_out=None, error=None, error_reason=None)
    return ModelInstJobInfo.model_validate(final)


# -- parsing -------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", ["local_inplace", "url_download", "url_cancel", "probe_error"])
def test_captured_events_parse(version: str, name: str) -> None:
    raw = scenario(name, version)["events"]
    parsed = events_of(name, version)
    for item, event in zip(raw, parsed, strict=True):
        assert event.name == item["event"]
        if item["event"].startswith("model_install_"):
            assert isinstance(event, ModelInstallEvent)
            assert event.id == item["data"]["id"]
            assert event.source == scenario(name, version)["source"]
        elif item["event"].startswith("download_"):
            assert isinstance(event, DownloadEvent)
            assert event.source == item["data"]["source"]


def test_unknown_and_malformed_events_never_raise() -> None:
    assert parse_event("queue_item_status_changed", {"a": 1}).extra == {"a": 1}
    assert type(parse_event("model_install_complete", {"id": "x"})) is InstallEvent
    assert type(parse_event("model_install_complete", None)) is InstallEvent
    odd = parse_event("model_install_download_progress", {"id": 3, "bytes": "many", "z": 1})
    assert odd.name == "model_install_download_progress"
    secret = {"url": "u", "access_token": "s3"}
    echoed = parse_event("model_install_started", {"id": 1, "source": secret})
    assert "s3" not in repr(echoed) and isinstance(echoed, ModelInstallEvent)


# -- job updates ---------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_a_download_followed_by_its_events(version: str) -> None:
    info = start_info("url_download", version)
    seen_bytes = []
    for event in events_of("url_download", version):
        updated = job_update(info, event)
        if updated is not None:
            info = updated
            seen_bytes.append(info.bytes)
    assert seen_bytes == sorted(seen_bytes) and seen_bytes[-1] == info.total_bytes > 0
    final = scenario("url_download", version)["final_job"]
    if version == VERSION:  # 6.14.2 sends the record with the completion
        assert info.status == "completed" and info.model_key == final["config_out"]["key"]
        assert info.progress == 1.0
    else:  # 6.8.1 does not: the wait asks the server
        assert info.status == "downloads_done" and info.model_key is None
        assert info.progress is not None and info.progress < 1.0


def test_events_of_another_job_or_source_change_nothing() -> None:
    info = start_info("local_inplace", VERSION)
    for event in events_of("url_download", VERSION):
        assert job_update(info, event) is None
    other = parse_event("model_install_complete", {"id": info.id, "source": {"path": "/x"}})
    assert job_update(info, other) is None


@pytest.mark.parametrize("version", VERSIONS)
def test_an_error_event_fails_the_job(version: str) -> None:
    info = start_info("probe_error", version)
    for event in events_of("probe_error", version):
        info = job_update(info, event) or info
    assert info.status == "error" and info.error and info.error_reason
    assert info.message


# -- waits driven by events (a fake stream replays captured events) -----------------------


class FakeSubscription:
    def __init__(self, events: list[InstallEvent]) -> None:
        self.events = list(events)
        self.epoch = 1
        self.closed = False
        self.replayed = False
        self.log: list[str] = []

    def get(self, timeout: float | None = None) -> InstallEvent | None:
        if self.events:
            event = self.events.pop(0)
            self.log.append(event.name)
            return event
        return None

    def close(self) -> None:
        self.closed = True


class FakeStream:
    model_events = True

    def __init__(self, subscription: FakeSubscription | None) -> None:
        self.subscription = subscription
        self.since: list[tuple[int, int] | None] = []

    def subscribe(self, since: tuple[int, int] | None = None) -> FakeSubscription:
        self.since.append(since)
        if self.subscription is None:
            raise EventStreamError("off")
        return self.subscription


class Poller:
    """Answers polls with given states; logs them next to the events read."""

    def __init__(self, states: Iterator[ModelInstJobInfo | None], log: list[str]) -> None:
        self.states = states
        self.log = log
        self.count = 0

    def __call__(self, plan: WaitPlan) -> None:
        self.count += 1
        self.log.append("poll")
        jobs = list(plan.pending.values())
        plan.take_infos([next(self.states) for _ in jobs], jobs)


def run(
    name: str,
    version: str,
    *,
    polls: list[ModelInstJobInfo | None],
    events: bool = True,
    **wait: Any,
) -> tuple[ModelInstJobHandle, FakeSubscription, Poller, list[InstallProgress]]:
    job = ModelInstJobHandle(None, start_info(name, version))  # type: ignore[arg-type]
    subscription = FakeSubscription(events_of(name, version))
    poller = Poller(iter(polls), subscription.log)
    reports: list[InstallProgress] = []
    clock = WaitClock(wait.pop("timeout", 5), wait.pop("poll_interval", 2))
    plan = WaitPlan([job], clock, reports.append)
    stream = FakeStream(subscription if events else None)
    assert list(wait_for(plan, stream, poller)) == [job]
    return job, subscription, poller, reports


def test_subscribes_before_the_first_poll_and_ends_on_the_event() -> None:
    running = start_info("local_inplace", VERSION, "running")
    job, subscription, poller, reports = run("local_inplace", VERSION, polls=[running])
    assert subscription.log == ["poll", "model_install_started", "model_install_complete"]
    assert poller.count == 1, "the completion event carries the record: no second request"
    assert job.info.status == "completed" and job.info.model_key
    assert subscription.closed
    assert [r.fraction for r in reports if r.status != "completed"] != [1.0]
    assert reports[-1].fraction == 1.0 and reports[-1].status == "completed"


def test_a_completion_without_the_record_asks_the_server() -> None:
    final = ModelInstJobInfo.model_validate(scenario("local_inplace", OLD_VERSION)["final_job"])
    running = start_info("local_inplace", OLD_VERSION, "running")
    job, subscription, poller, _ = run("local_inplace", OLD_VERSION, polls=[running, final])
    assert poller.count == 2 and subscription.log[-1] == "poll"
    assert job.info.status == "completed" and job.info.model_key == final.model_key


@pytest.mark.parametrize("version", VERSIONS)
def test_a_cancelled_download_is_noticed_from_download_cancelled(version: str) -> None:
    downloading = start_info("url_cancel", version, "downloading")
    cancelled = ModelInstJobInfo.model_validate(scenario("url_cancel", version)["final_job"])
    assert cancelled.status == "cancelled"
    job, subscription, poller, _ = run("url_cancel", version, polls=[downloading, cancelled])
    assert subscription.log[-2:] == ["download_cancelled", "poll"]
    assert job.info.status == "cancelled" and poller.count == 2


@pytest.mark.parametrize("version", VERSIONS)
def test_progress_reports_never_go_back_and_are_throttled(version: str) -> None:
    downloading = start_info("url_download", version, "downloading")
    final = ModelInstJobInfo.model_validate(scenario("url_download", version)["final_job"])
    _, _, _, reports = run("url_download", version, polls=[downloading, final])
    fractions = [r.fraction for r in reports if r.fraction is not None]
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0 and all(f < 1.0 for f in fractions[:-1])
    assert len(reports) <= 3, "replayed at once: throttled to a few reports, the end always told"
    assert reports[-1].status == "completed" and reports[-1].eta == 0.0


def test_a_reconnect_means_a_poll() -> None:
    running = start_info("local_inplace", VERSION, "running")
    done = ModelInstJobInfo.model_validate(scenario("local_inplace", VERSION)["final_job"])
    job = ModelInstJobHandle(None, running)  # type: ignore[arg-type]

    class Reconnecting(FakeSubscription):
        def get(self, timeout: float | None = None) -> InstallEvent | None:
            self.epoch = 2  # the socket reconnected: events may have been missed
            return None

    subscription = Reconnecting([])
    poller = Poller(iter([running, done]), subscription.log)
    plan = WaitPlan([job], WaitClock(5, 30), None)
    ended = wait_for(plan, FakeStream(subscription), poller)
    assert list(ended) == [job] and poller.count == 2


def test_without_a_stream_polls_back_off(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    now = [1000.0]

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        now[0] += seconds

    monkeypatch.setattr("invokeai_py_client._sync.backend.time.sleep", sleep)
    monkeypatch.setattr("invokeai_py_client._core.wait_plan.time.monotonic", lambda: now[0])
    monkeypatch.setattr("invokeai_py_client._core.job_state.time.monotonic", lambda: now[0])
    running = start_info("local_inplace", VERSION, "running")
    done = ModelInstJobInfo.model_validate(scenario("local_inplace", VERSION)["final_job"])
    polls: list[ModelInstJobInfo | None] = [*[running] * 8, done]
    job, _, poller, _ = run("local_inplace", VERSION, polls=polls, events=False, poll_interval=0.5)
    assert poller.count == 9 and job.info.status == "completed"
    assert slept == [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.5, 0.5]


def test_a_stream_without_model_events_is_not_used() -> None:
    """A non-admin on a multi-user server gets no model events: the wait polls."""
    running = start_info("local_inplace", VERSION, "running")
    done = ModelInstJobInfo.model_validate(scenario("local_inplace", VERSION)["final_job"])
    job = ModelInstJobHandle(None, running)  # type: ignore[arg-type]
    stream = FakeStream(FakeSubscription(events_of("local_inplace", VERSION)))
    stream.model_events = False
    poller = Poller(iter([running, done]), [])
    plan = WaitPlan([job], WaitClock(5, 0.01), None)
    assert list(wait_for(plan, stream, poller)) == [job]
    assert not plan.events and poller.count == 2 and stream.subscription is not None
    assert stream.subscription.log == []


def test_a_lost_job_ends_the_wait() -> None:
    with pytest.raises(InstallJobLostError):
        run("local_inplace", VERSION, polls=[None])


def test_the_deadline_holds_without_events() -> None:
    running = start_info("local_inplace", VERSION, "running")
    with pytest.raises(InstallJobTimeoutError):
        run("local_inplace", VERSION, polls=iter(lambda: running, None), events=False, timeout=0.2)  # type: ignore[arg-type]


def test_as_completed_yields_the_first_ended_first() -> None:
    slow = ModelInstJobHandle(None, start_info("url_download", VERSION, "downloading"))  # type: ignore[arg-type]
    fast = ModelInstJobHandle(None, start_info("local_inplace", VERSION, "running"))  # type: ignore[arg-type]
    events = events_of("local_inplace", VERSION) + events_of("url_download", VERSION)
    subscription = FakeSubscription(events)
    states = iter([slow.info, fast.info])
    poller = Poller(states, subscription.log)
    plan = WaitPlan([slow, fast], WaitClock(5, 2), None)
    order = list(wait_for(plan, FakeStream(subscription), poller))
    assert order == [fast, slow]


def test_async_wait_for_matches_the_sync_one() -> None:
    from invokeai_py_client._async.install_jobs import AsyncInstallJobs
    from invokeai_py_client.dnn_model import AsyncModelInstJobHandle

    running = start_info("local_inplace", VERSION, "running")

    class AsyncSub(FakeSubscription):
        async def get(self, timeout: float | None = None) -> InstallEvent | None:  # type: ignore[override]
            return FakeSubscription.get(self, timeout)

    class AsyncStream:
        model_events = True

        async def subscribe(self, since: tuple[int, int] | None = None) -> AsyncSub:
            return sub

    sub = AsyncSub(events_of("local_inplace", VERSION))
    job = AsyncModelInstJobHandle(None, running)  # type: ignore[arg-type]

    async def poll(plan: WaitPlan) -> None:
        sub.log.append("poll")
        plan.take_infos([running], list(plan.pending.values()))

    async def main() -> list[Any]:
        plan = WaitPlan([job], WaitClock(5, 2), None)
        jobs = _FakeJobs(AsyncInstallJobs, AsyncStream(), poll)
        return [j async for j in jobs.follow(plan)]

    assert asyncio.run(main()) == [job]
    assert sub.log == ["poll", "model_install_started", "model_install_complete"]
    assert job.info.status == "completed"


def test_a_cancel_sent_by_this_process_means_a_poll() -> None:
    """A queued download that is cancelled sends no event at all: the cancel the client
    sent itself is the hint."""
    downloading = start_info("url_cancel", VERSION, "downloading")
    cancelled = ModelInstJobInfo.model_validate(scenario("url_cancel", VERSION)["final_job"])
    job = ModelInstJobHandle(None, downloading)  # type: ignore[arg-type]
    hint = parse_event("model_install_cancel_sent", {"id": job.id})
    subscription = FakeSubscription([hint])
    poller = Poller(iter([downloading, cancelled]), subscription.log)
    plan = WaitPlan([job], WaitClock(5, 30), None)
    assert list(wait_for(plan, FakeStream(subscription), poller)) == [job]
    assert subscription.log == ["poll", "model_install_cancel_sent", "poll"]
    assert job.info.status == "cancelled"


def test_the_client_tells_its_waits_what_it_sent(router: Any) -> None:
    from invokeai_py_client import InvokeAIClient
    from tests.unit.conftest import BASE_URL, V2, body, replay

    replay(router, "version")
    info = body("install_job_downloading")
    router.get(f"{V2}/install/{info['id']}").respond(json=info)
    router.delete(f"{V2}/install/{info['id']}").respond(201, json=None)
    client = InvokeAIClient(BASE_URL, events=False)
    seen: list[InstallEvent] = []
    client.events._subscriptions.append(type("S", (), {"put": seen.append})())
    assert client.dnn_model_repo.cancel_install_job(info["id"]) is True
    assert [(e.name, getattr(e, "id", None)) for e in seen] == [
        ("model_install_cancel_sent", info["id"])
    ]


def test_late_events_do_not_move_a_job_back() -> None:
    """python-socketio may deliver events out of order (one thread per message)."""
    info = start_info("url_download", VERSION, "downloads_done")
    late = parse_event(
        "model_install_download_progress",
        {
            "id": info.id,
            "source": scenario("url_download", VERSION)["events"][1]["data"]["source"],
            "bytes": 10,
            "total_bytes": info.total_bytes,
        },
    )
    updated = job_update(info, late)
    assert updated is None or updated.status == "downloads_done"


def test_a_plan_holds_the_jobs_it_followed() -> None:
    """Jobs are known by id(): a job freed while followed could give its id to a new one,
    which the plan would then take for known and never follow (apply_manifest hung)."""
    import gc
    import weakref

    from invokeai_py_client._core.job_state import JobHandleBase

    plan = WaitPlan([], WaitClock(1.0, 0.5), None)
    done = ModelInstJobInfo.model_validate({"id": 1, "status": "completed", "source": "/m/a"})
    job = JobHandleBase(done)
    plan.add(job)
    assert plan.take_done() == [job]
    ref = weakref.ref(job)
    del job
    gc.collect()
    assert ref() is not None


def test_a_wait_replays_the_events_since_the_install_and_skips_the_first_poll() -> None:
    """With a mark taken before the install was sent, a subscription that got every
    event since needs no poll to catch one it missed: the completion event ends it."""
    running = start_info("local_inplace", VERSION, "running")
    job = ModelInstJobHandle(None, running, events_mark=(1, 7))  # type: ignore[arg-type]
    subscription = FakeSubscription(events_of("local_inplace", VERSION))
    subscription.replayed = True
    stream = FakeStream(subscription)
    poller = Poller(iter([]), subscription.log)
    plan = WaitPlan([job], WaitClock(5, 30), None)
    assert list(wait_for(plan, stream, poller)) == [job]
    assert stream.since == [(1, 7)]
    assert poller.count == 0 and "poll" not in subscription.log
    assert job.info.status == "completed"


def test_without_a_full_replay_the_wait_polls_at_once() -> None:
    running = start_info("local_inplace", VERSION, "running")
    job = ModelInstJobHandle(None, running, events_mark=(1, 7))  # type: ignore[arg-type]
    subscription = FakeSubscription(events_of("local_inplace", VERSION))  # replayed False
    poller = Poller(iter([running]), subscription.log)
    plan = WaitPlan([job], WaitClock(5, 30), None)
    assert list(wait_for(plan, FakeStream(subscription), poller)) == [job]
    assert subscription.log[0] == "poll"


def test_the_plan_replays_only_from_one_connection() -> None:
    info = start_info("local_inplace", VERSION, "running")
    a = ModelInstJobHandle(None, info, events_mark=(2, 9))  # type: ignore[arg-type]
    b = ModelInstJobHandle(None, info, events_mark=(2, 4))  # type: ignore[arg-type]
    c = ModelInstJobHandle(None, info, events_mark=(3, 1))  # type: ignore[arg-type]
    d = ModelInstJobHandle(None, info)  # type: ignore[arg-type]
    assert WaitPlan([a, b], WaitClock(5, 2), None).events_mark() == (2, 4)
    assert WaitPlan([a, c], WaitClock(5, 2), None).events_mark() is None
    assert WaitPlan([a, d], WaitClock(5, 2), None).events_mark() is None


def test_the_stream_replays_what_it_got_since_a_mark() -> None:
    from invokeai_py_client._sync.event_stream import EventStream

    stream = EventStream("http://127.0.0.1:1", lambda: None, True, enabled=True)
    stream._sio = type("Connected", (), {"connected": True})()  # connect() then does nothing
    stream.epoch = 1
    stream._received("model_install_started", {"id": 1, "source": "/m/a"})
    mark = stream.mark()
    assert mark == (1, 1)
    stream._received("model_install_complete", {"id": 1, "source": "/m/a"})
    replayed = stream.subscribe(mark)
    assert replayed.replayed
    assert [e.name for e in iter(lambda: replayed.get(0), None)] == ["model_install_complete"]
    stream.epoch = 2  # reconnected since the mark: what came in between may be lost
    lost = stream.subscribe(mark)
    assert not lost.replayed and lost.get(0) is None
