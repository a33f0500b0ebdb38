"""apply_manifest's installs, offline: all started first, ``concurrency`` requests at a
time, then one wait over every job (one listing per poll, or the one job an event asked
about); out of time, none started."""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from invokeai_py_client import AsyncInvokeAIClient, InvokeAIClient
from invokeai_py_client._async import backend as async_backend
from invokeai_py_client._core.job_state import JobHandleBase, WaitClock
from invokeai_py_client._core.wait_plan import WaitPlan
from invokeai_py_client._sync import backend as sync_backend
from invokeai_py_client.dnn_model import ApplyReport, ModelInstJobInfo, ModelManifest
from invokeai_py_client.dnn_model.install_events import parse_event
from invokeai_py_client.errors import InvalidArgumentError
from tests.unit.conftest import BASE_URL, V2, body, replay

COUNT = 7
CONCURRENCY = 3


class FakeInstalls:
    """The install routes of a server that runs every job it is given: POSTs answer
    ``waiting`` (and count how many are in flight at once), the job list says
    ``completed`` for each; a GET of one job is an error (a wait must list)."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.jobs: list[dict[str, Any]] = []
        self.in_flight = 0
        self.most = 0
        self.listings = 0
        self.lock = threading.Lock()
        self.post = router.post(f"{V2}/install")
        router.get(f"{V2}/").mock(return_value=httpx.Response(200, json={"models": []}))
        router.get(f"{V2}/install").mock(side_effect=self.listing)
        router.get(url__regex=rf"{V2}/install/\d+").mock(return_value=httpx.Response(500))

    def job(self, request: httpx.Request) -> dict[str, Any]:
        source = request.url.params["source"]
        job: dict[str, Any] = copy.deepcopy(body("install_job_completed_inplace"))
        with self.lock:
            job.update(id=len(self.jobs), status="waiting")
            self.jobs.append(job)
        job["source"]["path"] = job["config_in"]["source"] = source
        job["config_out"].update(source=source, path=source, key=f"key-{job['id']}")
        return job

    def enter(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def sync_post(self, request: httpx.Request) -> httpx.Response:
        self.enter()
        time.sleep(0.02)
        self.leave()
        return httpx.Response(201, json=self.job(request))

    async def async_post(self, request: httpx.Request) -> httpx.Response:
        self.enter()
        await asyncio.sleep(0.02)
        self.leave()
        return httpx.Response(201, json=self.job(request))

    def listing(self, request: httpx.Request) -> httpx.Response:
        self.listings += 1
        return httpx.Response(200, json=[{**job, "status": "completed"} for job in self.jobs])


@pytest.fixture
def server(router: respx.MockRouter) -> Iterator[FakeInstalls]:
    replay(router, "version")
    yield FakeInstalls(router)


def wanted() -> ModelManifest:
    models = [{"source": f"/m/tiny-{i}.safetensors", "inplace": True} for i in range(COUNT)]
    return ModelManifest.from_dict({"models": models})


def check(report: ApplyReport, server: FakeInstalls) -> None:
    assert report.counts() == {"done": COUNT, "skipped": 0, "failed": 0}, report.to_dict()
    assert server.post.call_count == COUNT
    assert server.most == CONCURRENCY  # requests in flight, not jobs running
    assert server.listings >= 1  # one request answers for every job
    keys = [r.model.key for r in report.results if r.model]
    assert sorted(keys) == sorted(f"key-{i}" for i in range(COUNT))


def test_sync_apply_sends_every_install_first_then_waits_once(server: FakeInstalls) -> None:
    server.post.mock(side_effect=server.sync_post)
    with InvokeAIClient(BASE_URL, max_retries=0, events=False) as client:
        report = client.dnn_model_repo.apply_manifest(wanted(), concurrency=CONCURRENCY, timeout=10)
    check(report, server)


def test_async_apply_sends_every_install_first_then_waits_once(server: FakeInstalls) -> None:
    server.post.mock(side_effect=server.async_post)

    async def run() -> ApplyReport:
        async with AsyncInvokeAIClient(BASE_URL, max_retries=0, events=False) as client:
            return await client.dnn_model_repo.apply_manifest(
                wanted(), concurrency=CONCURRENCY, timeout=10
            )

    check(asyncio.run(run()), server)


def test_out_of_time_before_an_install_is_sent(
    server: FakeInstalls, router: respx.MockRouter
) -> None:
    server.post.mock(side_effect=server.sync_post)
    with InvokeAIClient(BASE_URL, max_retries=0, events=False) as client:
        with pytest.raises(InvalidArgumentError, match="timeout must be seconds > 0"):
            client.dnn_model_repo.apply_manifest(wanted(), timeout=0)
        assert router.calls.call_count == 0
        report = client.dnn_model_repo.apply_manifest(wanted(), timeout=1e-9)
    assert report.counts() == {"done": 0, "skipped": 0, "failed": COUNT}
    assert {r.error for r in report.results} == {"not started: out of time"}
    assert server.post.call_count == 0


def test_map_limited_keeps_the_order_and_the_limit() -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def slow(n: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.01)
        with lock:
            running -= 1
        return n * n

    assert sync_backend.map_limited(slow, list(range(9)), 3) == [n * n for n in range(9)]
    assert most == 3

    async def aslow(n: int) -> int:
        await asyncio.sleep(0.001 * (9 - n))  # the last ones end first
        return n * n

    got = asyncio.run(async_backend.map_limited(aslow, list(range(9)), 4))
    assert got == [n * n for n in range(9)]
    assert asyncio.run(async_backend.map_limited(aslow, [], 4)) == []


def test_map_limited_stops_at_the_first_error() -> None:
    started: list[int] = []

    async def fail_on_two(n: int) -> int:
        started.append(n)
        await asyncio.sleep(0)
        if n == 2:
            raise RuntimeError("boom")
        await asyncio.sleep(0.05)
        return n

    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(async_backend.map_limited(fail_on_two, list(range(20)), 3))
    assert len(started) < 20  # the rest were not started


def test_an_end_without_its_record_asks_about_that_job_alone() -> None:
    def job(job_id: int) -> JobHandleBase:
        info = {"id": job_id, "status": "running", "source": {"type": "local", "path": "/m"}}
        return JobHandleBase(ModelInstJobInfo.model_validate(info))

    jobs = [job(i) for i in range(20)]
    plan = WaitPlan(jobs, WaitClock(60, 30), None)
    plan.events = True
    plan.skip_first_poll()  # the next full poll is 30 s away
    assert not plan.poll_due()
    plan.take_event(parse_event("model_install_complete", {"id": 3, "source": "/m"}))
    assert plan.poll_due() and plan.seconds_to_wait() == 0.0
    assert plan.take_asked() == [jobs[3]]  # fetched alone, not the whole list
    plan.polled()
    assert not plan.poll_due() and plan.seconds_to_wait() > 25  # the schedule stands
    for i in range(10):  # many at once: one listing answers for them all
        plan.take_event(parse_event("model_install_complete", {"id": i, "source": "/m"}))
    assert plan.poll_due() and plan.take_asked() == []


def test_an_end_without_its_record_can_end_the_job_with_its_key() -> None:
    info = {"id": 4, "status": "running", "source": {"type": "local", "path": "/m"}}
    job = JobHandleBase(ModelInstJobInfo.model_validate(info))
    plan = WaitPlan([job], WaitClock(60, 30), None, records_later=True)
    plan.events = True
    plan.skip_first_poll()
    plan.take_event(parse_event("model_install_complete", {"id": 4, "source": "/m", "key": "k4"}))
    assert plan.take_done() == [job] and not plan.poll_due()  # nothing to ask
    assert job.info.status == "completed" and job.info.model_key == "k4"
    assert job.info.result is None


def test_records_of_jobs_that_ended_without_them_are_fetched_once() -> None:
    from invokeai_py_client._core.manifest_apply import (
        Records,
        StartInstalls,
        WaitAny,
        apply_steps,
    )
    from invokeai_py_client._core.manifest_plan import plan_changes

    models = [{"source": f"/m/tiny-{i}.safetensors", "name": f"tiny {i}"} for i in range(3)]
    plan = plan_changes(ModelManifest.from_dict({"models": models}), [])
    record = body("install_job_completed_inplace")["config_out"]
    steps = apply_steps(plan, environ={})
    start = next(steps)
    assert isinstance(start, StartInstalls)
    jobs = []
    for i, install in enumerate(start.installs):
        info = {"id": i, "status": "completed", "source": {"type": "local", "path": install.source}}
        ended = ModelInstJobInfo.model_validate(info).model_copy(update={"model_key": f"k{i}"})
        jobs.append(JobHandleBase(ended))
    wait = steps.send(jobs)
    assert isinstance(wait, WaitAny) and len(wait.jobs) == 3
    records = steps.send(jobs)  # all ended, without their records
    assert isinstance(records, Records) and records.keys == ("k0", "k1", "k2")
    assert records.one_by_one
    found = {f"k{i}": {**record, "key": f"k{i}", "name": f"tiny {i}"} for i in (0, 2)}
    from invokeai_py_client.dnn_model import DnnModel

    with pytest.raises(StopIteration) as stop:
        steps.send({k: DnnModel.model_validate(v) for k, v in found.items()})
    report = stop.value.value
    assert [r.outcome for r in report.results] == ["done", "failed", "done"]
    assert "the server has no model k1" in str(report.results[1].error)
    assert report.results[2].model is not None and report.results[2].model.key == "k2"
