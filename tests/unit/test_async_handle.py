"""The async handle and event stream (the source the sync ones are generated from),
against captured answers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import respx

from invokeai_py_client import AsyncInvokeAIClient
from invokeai_py_client._async.event_stream import AsyncEventStream
from invokeai_py_client.dnn_model import (
    AsyncModelInstJobHandle,
    InstallJobStatus,
    ModelInstallJobFailed,
    ModelInstJobInfo,
)
from invokeai_py_client.errors import EventStreamError, InstallJobLostError, NotFoundError
from tests.unit.conftest import BASE_URL, V2, body, replay


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def _client() -> AsyncInvokeAIClient:
    return AsyncInvokeAIClient(BASE_URL, max_retries=0, events=False)


def _handle(client: AsyncInvokeAIClient, name: str, **changes: Any) -> AsyncModelInstJobHandle:
    info = ModelInstJobInfo.model_validate({**body(name), **changes})
    return client.dnn_model_repo._handle(info)


def test_reads_of_a_running_job_fetch_until_it_ends(router: respx.MockRouter) -> None:
    replay(router, "version")
    done = body("install_job_completed_inplace")
    route = router.get(f"{V2}/install/{done['id']}").respond(json=done)

    async def main() -> list[Any]:
        async with await _client() as client:
            job = _handle(client, "install_job_completed_inplace", status="running")
            seen: list[Any] = [await job.status(), await job.progress(), await job.is_done()]
            seen += [await job.is_failed(), await job.refresh(), job.job_id == job.id]
            return seen

    status, progress, done_, failed, info, same = run(main())
    assert status == InstallJobStatus.COMPLETED and progress == 1.0 and done_ and not failed
    assert info.model_key == done["config_out"]["key"] and same
    assert route.call_count == 2  # one fetch while running, one refresh(); ended: cached


def test_wait_until_and_raise_if_failed(router: respx.MockRouter) -> None:
    replay(router, "version")
    failed = body("install_job_error_duplicate")
    router.get(f"{V2}/install/{failed['id']}").respond(json=failed)

    async def main() -> ModelInstallJobFailed:
        async with await _client() as client:
            job = _handle(client, "install_job_error_duplicate", status="running")
            with pytest.raises(ModelInstallJobFailed) as caught:
                await job.wait_until(timeout=5, poll_interval=0.01)
            with pytest.raises(ModelInstallJobFailed):
                await job.raise_if_failed()
            return caught.value

    assert run(main()).info.error_reason == "DuplicateModelException"


def test_cancel_pause_resume_restart(router: respx.MockRouter) -> None:
    replay(router, "version")
    job_body = body("install_job_downloading")
    job_id = job_body["id"]
    router.get(f"{V2}/install/{job_id}").respond(json=job_body)
    cancel = router.delete(f"{V2}/install/{job_id}").respond(201, json=None)
    paused = {**job_body, "status": "paused"}
    router.post(f"{V2}/install/{job_id}/pause").respond(201, json=paused)
    router.post(f"{V2}/install/{job_id}/resume").respond(201, json=job_body)
    router.post(f"{V2}/install/{job_id}/restart_failed").respond(201, json=job_body)
    restart = router.post(f"{V2}/install/{job_id}/restart_file").respond(201, json=job_body)

    async def main() -> list[Any]:
        async with await _client() as client:
            job = _handle(client, "install_job_downloading")
            return [
                (await job.pause()).status,
                (await job.resume()).status,
                (await job.restart_failed()).status,
                (await job.restart_file("https://host.test/m.safetensors")).status,
                await job.cancel(),
            ]

    assert run(main()) == ["paused", "downloading", "downloading", "downloading", True]
    assert cancel.call_count == 1 and restart.call_count == 1


def test_from_client_and_id(router: respx.MockRouter) -> None:
    replay(router, "version")
    job_body = body("install_job_running")
    router.get(f"{V2}/install/{job_body['id']}").respond(json=job_body)
    router.get(f"{V2}/install/404").respond(404, json={"detail": "no"})

    async def main() -> AsyncModelInstJobHandle:
        async with await _client() as client:
            with pytest.raises(NotFoundError):
                await AsyncModelInstJobHandle.from_client_and_id(client, 404)
            return await AsyncModelInstJobHandle.from_client_and_id(client, job_body["id"])

    assert run(main()).job_id == job_body["id"]


def test_a_job_the_server_forgot_is_lost(router: respx.MockRouter) -> None:
    replay(router, "version")
    job_body = body("install_job_running")
    router.get(f"{V2}/install/{job_body['id']}").respond(404, json={"detail": "gone"})

    async def main() -> None:
        async with await _client() as client:
            job = _handle(client, "install_job_running")
            with pytest.raises(InstallJobLostError):
                await job.refresh()
            assert await job.cancel() is False

    run(main())


def test_the_async_stream_queues_replays_and_closes() -> None:
    async def main() -> list[str]:
        stream = AsyncEventStream("http://127.0.0.1:1", lambda: "tok", True, enabled=True)
        stream._sio = type("Connected", (), {"connected": True})()
        stream._loop = asyncio.get_running_loop()
        stream.epoch = 1
        stream._received("model_install_started", {"id": 1, "source": "/m/a"})
        mark = stream.mark()
        stream._received("model_install_complete", {"id": 1, "source": "/m/a"})
        seen: list[str] = []
        stop = await stream.on("model_install_complete", lambda e: seen.append(e.name))
        stream._received("model_install_complete", {"id": 2, "source": "/m/b"})
        stop()
        subscription = await stream.subscribe(mark)
        assert subscription.replayed and subscription.epoch == 1
        replayed = [await subscription.get(0), await subscription.get(0)]
        assert [getattr(e, "id", None) for e in replayed] == [1, 2]
        assert await subscription.get(0) is None and await subscription.get(0.01) is None
        names = [e.name for e in replayed if e is not None]
        stream.note_sent("cancel", 1)
        names.append((await subscription.get(0)).name)  # type: ignore[union-attr]
        stream._sio = None
        await stream.close()
        names += [event.name async for event in subscription]
        subscription.close()
        assert stream._auth() == {"token": "tok"}
        return seen + names

    assert run(main()) == [
        "model_install_complete",  # the callback, for job 2 only
        "model_install_complete",
        "model_install_complete",
        "model_install_cancel_sent",
    ]


def test_an_async_stream_that_is_off_refuses() -> None:
    async def main() -> None:
        stream = AsyncEventStream("http://127.0.0.1:1", lambda: None, True, enabled=False)
        with pytest.raises(EventStreamError, match="off"):
            await stream.subscribe()
        assert not stream.is_connected and stream.mark() is None

    run(main())
