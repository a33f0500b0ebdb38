"""``ModelInstJobHandle`` against captured install-job states of real InvokeAI servers.

Polling is replayed with respx side-effect sequences of captured states of one job; poll
intervals are hundredths of a second, so these tests stay fast.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx
import pytest
import respx

from invokeai_py_client.dnn_model import (
    DnnModel,
    DnnModelRepository,
    InstallJobStatus,
    ModelInstJobHandle,
    ModelInstJobInfo,
)
from invokeai_py_client.errors import (
    InstallJobCancelledError,
    InstallJobError,
    InstallJobFailedError,
    InstallJobLostError,
    InstallJobTimeoutError,
    InvalidArgumentError,
    UnsupportedByServerError,
)
from tests.unit.conftest import (
    OLD_VERSION,
    SECRET,
    UNKNOWN_JOB_ID,
    V2,
    VERSION,
    body,
    load_fixture,
    replay,
    response_from,
    versions_with,
    with_secret,
)

FAST = 0.01  # seconds between polls


def handle_from(repo: DnnModelRepository, name: str, version: str = VERSION) -> ModelInstJobHandle:
    """A handle whose cached state is the captured job ``name`` (no request)."""
    return repo._handle(ModelInstJobInfo.model_validate(body(name, version)))


def job_route(
    router: respx.MockRouter, job_id: int, *names: str, version: str = VERSION
) -> respx.Route:
    """``GET /install/{job_id}`` answering the captured states ``names``, one per poll."""
    responses = [response_from(load_fixture(n, version)) for n in names]
    for name in names:
        assert body(name, version)["id"] == job_id, name
    return router.get(f"{V2}/install/{job_id}").mock(side_effect=responses)


# -- states, refresh, polling -----------------------------------------------------------------


def test_handle_exposes_the_captured_state(
    repo: DnnModelRepository, router: respx.MockRouter
) -> None:
    handle = handle_from(repo, "install_201_inplace")
    raw = body("install_201_inplace")
    assert handle.id == raw["id"]
    assert handle.info.status == raw["status"] == "running"
    assert handle.info.source == raw["source"]["path"]
    assert router.calls.call_count == 0  # id and info never fetch


def test_refresh_fetches_the_job(repo: DnnModelRepository, router: respx.MockRouter) -> None:
    handle = handle_from(repo, "install_201_inplace")
    route = job_route(router, handle.id, "install_job_completed_inplace")
    info = handle.refresh()
    raw = body("install_job_completed_inplace")
    assert info is handle.info
    assert info.status == "completed"
    assert info.model_key == raw["config_out"]["key"]
    assert isinstance(info.result, DnnModel)
    assert info.result.name == raw["config_out"]["name"]
    assert info.result.path == raw["config_out"]["path"]
    assert route.call_count == 1


def test_refresh_of_a_forgotten_job_raises_lost(
    repo: DnnModelRepository, router: respx.MockRouter
) -> None:
    last = ModelInstJobInfo.model_validate({**body("install_201_inplace"), "id": UNKNOWN_JOB_ID})
    handle = repo._handle(last)
    replay(router, "install_job_404")
    with pytest.raises(InstallJobLostError, match="no longer has install job") as caught:
        handle.refresh()
    assert caught.value.info is last
    with pytest.raises(InstallJobLostError):
        handle.wait(timeout=5, poll_interval=0.01)


def test_a_job_that_is_not_ours_after_a_restart_is_noticed(
    repo: DnnModelRepository, router: respx.MockRouter
) -> None:
    """Job ids restart at 0 with the server: the same id may now be another install."""
    ours = handle_from(repo, "install_201_url_slow")
    theirs = {**body("install_job_completed_inplace"), "id": ours.id}
    router.get(f"{V2}/install/{ours.id}").respond(json=theirs)
    cancel = router.delete(f"{V2}/install/{ours.id}")
    with pytest.raises(InstallJobLostError, match="another job"):
        ours.wait(timeout=5, poll_interval=0.01)
    with pytest.raises(InstallJobLostError):
        ours.refresh()
    assert ours.cancel() is False
    assert cancel.call_count == 0
    assert ours.info.status == "downloading"


@pytest.mark.parametrize("version", versions_with("install_job_completed_inplace"))
def test_wait_polls_until_terminal(
    repo: DnnModelRepository, router: respx.MockRouter, version: str
) -> None:
    handle = handle_from(repo, "install_201_inplace", version)
    # install_201_inplace: the job as the server answered the install, status "running"
    route = job_route(
        router, handle.id, "install_201_inplace", "install_job_completed_inplace", version=version
    )
    info = handle.wait(timeout=5, poll_interval=FAST)
    raw = body("install_job_completed_inplace", version)
    assert route.call_count == 2
    assert info.status == InstallJobStatus.COMPLETED
    assert info.is_success and info.is_terminal
    assert info.model_key == raw["config_out"]["key"]
    assert info.progress == 1.0
    assert handle.info is info
    assert handle.raise_for_status() is info


def test_wait_follows_a_download_to_its_cancellation(
    repo: DnnModelRepository, router: respx.MockRouter
) -> None:
    states = [
        "install_job_downloading",
        "install_job_paused",
        "install_job_downloading_resumed",
        "install_job_cancelled",
    ]
    handle = handle_from(repo, "install_201_url_slow")
    route = job_route(router, handle.id, *states)
    info = handle.wait(timeout=5, poll_interval=FAST)
    assert route.call_count == len(states)
    assert info.status == "cancelled"
    assert info.is_failure and info.is_terminal and not info.is_success
    with pytest.raises(InstallJobCancelledError) as caught:
        handle.raise_for_status()
    assert caught.value.info is info
    assert route.call_count == len(states)  # terminal: raise_for_status did not fetch


def test_wait_timeout_carries_the_last_state(
    repo: DnnModelRepository, router: respx.MockRouter
) -> None:
    handle = handle_from(repo, "install_201_url_slow")
    downloading = load_fixture("install_job_downloading")
    route = router.get(f"{V2}/install/{handle.id}").mock(return_value=response_from(downloading))
    started = time.monotonic()
    with pytest.raises(InstallJobTimeoutError) as caught:
        handle.wait(timeout=0.05, poll_interval=FAST)
    assert time.monotonic() - started < 2
    err = caught.value
    assert isinstance(err, TimeoutError) and isinstance(err, InstallJobError)
    assert err.info.status == "downloading"
    assert err.info.bytes == downloading["body"]["bytes"] == 100000
    assert err.info.total_bytes == downloading["body"]["total_bytes"]
    assert "still not done" in str(err)
    assert route.call_count >= 2
    assert SECRET not in str(err)


@pytest.mark.parametrize(("timeout", "poll"), [(-1, FAST), (-0.001, FAST), (1, 0), (1, -1)])
def test_wait_bad_arguments_send_nothing(
    repo: DnnModelRepository, router: respx.MockRouter, timeout: float, poll: float
) -> None:
    handle = handle_from(repo, "install_201_inplace")
    with pytest.raises(InvalidArgumentError) as caught:
        handle.wait(timeout=timeout, poll_interval=poll)
    assert isinstance(caught.value, ValueError)
    assert router.calls.call_count == 0


def test_is_done_loop_terminates(repo: DnnModelRepository, router: respx.MockRouter) -> None:
    handle = handle_from(repo, "install_201_url")
    route = job_route(
        router, handle.id, "install_201_url", "install_201_url", "install_job_completed_url"
    )
    polls = 0
    while not handle.is_done():
        polls += 1
        assert polls < 10
    assert polls == 2
    assert route.call_count == 3
    assert handle.info.status == "completed"


def test_terminal_state_is_not_fetched_again(
    repo: DnnModelRepository, router: respx.MockRouter
) -> None:
    handle = handle_from(repo, "install_job_completed_inplace")
    route = router.get(f"{V2}/install/{handle.id}")
    for _ in range(3):
        assert handle.status() == "completed"
        assert handle.progress() == 1.0
        assert handle.is_done() is True
        assert handle.is_failed() is False
    assert handle.wait(timeout=0, poll_interval=FAST) is handle.info
    assert route.call_count == 0
    assert router.calls.call_count == 0


def test_status_and_progress_fetch_until_terminal(
    repo: DnnModelRepository, router: respx.MockRouter
) -> None:
    handle = handle_from(repo, "install_201_url_slow")
    route = job_route(router, handle.id, "install_job_downloading", "install_job_cancelled")
    downloading = body("install_job_downloading")
    assert handle.status() == InstallJobStatus.DOWNLOADING
    assert handle.info.progress == downloading["bytes"] / downloading["total_bytes"]
    assert route.call_count == 1
    assert handle.progress() is not None  # fetches: cancelled
    assert handle.status() == "cancelled"
    assert handle.is_failed() is True
    assert route.call_count == 2


def test_progress_of_a_download(repo: DnnModelRepository) -> None:
    info = ModelInstJobInfo.model_validate(body("install_job_downloading"))
    raw = body("install_job_downloading")
    assert info.progress == pytest.approx(raw["bytes"] / raw["total_bytes"])
    assert info.progress is not None and 0 < info.progress < 1
    (part,) = info.download_parts
    assert part.bytes == raw["download_parts"][0]["bytes"]
    assert part.total_bytes == raw["download_parts"][0]["total_bytes"]
    assert part.status == "running"
    assert info.created_at == datetime.fromisoformat(raw["download_parts"][0]["job_started"])
    assert info.completed_at is None


def test_progress_unknown_while_waiting() -> None:
    info = ModelInstJobInfo.model_validate(body("install_201_url"))
    assert info.status == "waiting"
    assert info.total_bytes == 0
    assert info.progress is None


def test_timestamps_of_a_completed_download() -> None:
    raw = body("install_job_completed_url")
    info = ModelInstJobInfo.model_validate(raw)
    (part,) = raw["download_parts"]
    assert info.created_at == datetime.fromisoformat(part["job_started"])
    assert info.completed_at == datetime.fromisoformat(part["job_ended"])
    assert info.updated_at == info.completed_at


# -- failures -----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", versions_with("install_job_error_duplicate"))
def test_duplicate_raises_failed_saying_already_installed(
    repo: DnnModelRepository, router: respx.MockRouter, version: str
) -> None:
    handle = handle_from(repo, "install_201_duplicate", version)
    route = job_route(router, handle.id, "install_job_error_duplicate", version=version)
    raw = body("install_job_error_duplicate", version)
    info = handle.wait(timeout=5, poll_interval=FAST)
    assert info.status == "error"
    assert info.is_duplicate
    with pytest.raises(InstallJobFailedError) as caught:
        handle.raise_for_status()
    err = caught.value
    assert "already installed" in str(err)
    assert str(handle.id) in str(err)
    assert err.info is info
    assert err.info.error is not None
    assert err.info.error_reason == raw["error_reason"] == "DuplicateModelException"
    assert err.info.error == raw["error"] and isinstance(err.info.error, str)
    assert err.info.error_traceback == raw["error_traceback"]
    error_info = err.info.error_info
    assert error_info is not None and error_info.type == "DuplicateModelException"
    assert error_info.message == raw["error"]
    assert route.call_count == 1


@pytest.mark.parametrize("version", versions_with("install_job_error_probe"))
def test_failed_probe_raises_failed_with_the_reason(
    repo: DnnModelRepository, router: respx.MockRouter, version: str
) -> None:
    handle = handle_from(repo, "install_job_error_probe", version)
    raw = body("install_job_error_probe", version)
    with pytest.raises(InstallJobFailedError) as caught:
        handle.raise_for_status()
    message = str(caught.value)
    assert raw["error_reason"] in message
    assert raw["error"] in message
    assert not caught.value.info.is_duplicate
    assert handle.is_failed() is True
    assert handle.progress() is not None or raw["total_bytes"] == 0
    assert router.calls.call_count == 0


# -- cancel, pause, resume, restart -------------------------------------------------------------


def test_cancel(repo: DnnModelRepository, router: respx.MockRouter) -> None:
    route, fixture = replay(router, "install_cancel")
    assert fixture["status"] == 201 and fixture["body"] is None
    handle = handle_from(repo, "install_201_url_slow")
    job_route(router, handle.id, "install_job_downloading", "install_job_downloading")
    assert handle.cancel() is True
    assert route.call_count == 1
    assert route.calls.last.request.url.path == f"{V2}/install/{handle.id}"


def test_cancel_of_an_ended_job_sends_no_cancel(
    repo: DnnModelRepository, router: respx.MockRouter
) -> None:
    handle = handle_from(repo, "install_job_completed_inplace")
    cancel = router.delete(f"{V2}/install/{handle.id}")
    assert handle.cancel() is False
    assert cancel.call_count == 0
    assert router.calls.call_count == 0


def test_cancel_of_a_job_the_server_forgot_is_false(
    repo: DnnModelRepository, router: respx.MockRouter
) -> None:
    """A handle on a job the server no longer knows (pruned, or the server restarted):
    ``cancel()`` is documented "False if ... the server forgot it". The real server answers
    404 to ``GET /install/{id}`` and 415 to ``DELETE /install/{id}`` for such an id."""
    replay(router, "install_job_404")
    _, fixture = replay(router, "install_cancel_415")
    assert fixture["status"] == 415
    handle = repo._handle(
        ModelInstJobInfo.model_validate({**body("install_201_inplace"), "id": UNKNOWN_JOB_ID})
    )
    assert handle.cancel() is False


def test_pause_and_resume(repo: DnnModelRepository, router: respx.MockRouter) -> None:
    pause, paused = replay(router, "install_pause")
    resume, resumed = replay(router, "install_resume")
    handle = handle_from(repo, "install_job_downloading")
    info = handle.pause()
    assert info.status == InstallJobStatus.PAUSED == paused["body"]["status"]
    assert info.bytes == paused["body"]["bytes"]
    assert handle.info is info
    assert not info.is_terminal
    info = handle.resume()
    assert info.status == resumed["body"]["status"]
    assert handle.info is info
    assert pause.call_count == 1 and resume.call_count == 1
    assert pause.calls.last.request.content == b""


def test_pause_unknown_job_raises(repo: DnnModelRepository, router: respx.MockRouter) -> None:
    _, fixture = replay(router, "install_pause_415")
    handle = repo._handle(
        ModelInstJobInfo.model_validate({**body("install_201_inplace"), "id": UNKNOWN_JOB_ID})
    )
    assert fixture["body"]["detail"] == f"No job with id {UNKNOWN_JOB_ID} known"
    with pytest.raises(InstallJobLostError, match="no longer has install job"):
        handle.pause()
    assert repo.pause_install_job(UNKNOWN_JOB_ID) is None


def test_restart_failed(repo: DnnModelRepository, router: respx.MockRouter) -> None:
    route, fixture = replay(router, "install_restart_failed")
    handle = handle_from(repo, "install_job_error_probe")
    info = handle.restart_failed()
    assert info.id == handle.id == fixture["body"]["id"]
    assert info.status == fixture["body"]["status"]
    assert route.call_count == 1


@pytest.mark.parametrize("action", ["pause", "resume", "restart_failed"])
def test_job_actions_need_6_12(
    old_repo: DnnModelRepository, router: respx.MockRouter, action: str
) -> None:
    catch_all = router.route(path__startswith=f"{V2}/install").mock(
        return_value=httpx.Response(418)
    )
    handle = handle_from(old_repo, "install_job_downloading", OLD_VERSION)
    with pytest.raises(UnsupportedByServerError) as caught:
        getattr(handle, action)()
    err = caught.value
    assert err.call == f"{action}_install_job"
    assert (err.server_version, err.minimum_version) == (OLD_VERSION, "6.12")
    assert action in str(err) and "6.12" in str(err) and OLD_VERSION in str(err)
    assert catch_all.call_count == 0


# -- secrets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["install_job_downloading", "install_job_completed_url", "install_job_cancelled"]
)
def test_access_token_never_in_info_or_repr(repo: DnnModelRepository, name: str) -> None:
    raw = with_secret(body(name))
    assert raw["source"]["access_token"] == SECRET  # as the server echoes it
    info = ModelInstJobInfo.model_validate(raw)
    handle = repo._handle(info)
    texts = [
        repr(handle),
        repr(info),
        str(info),
        info.model_dump_json(),
        str(info.model_dump()),
        info.describe(),
        str(info.source_info),
        *(repr(p) for p in info.download_parts),
    ]
    for text in texts:
        assert SECRET not in text
    assert info.source == raw["source"]["url"]
    assert f"id={raw['id']}" in repr(handle)


def test_access_token_never_in_job_list(repo: DnnModelRepository, router: respx.MockRouter) -> None:
    fixture = load_fixture("install_jobs")
    router.get(f"{V2}/install").mock(
        return_value=response_from(fixture, json_body=with_secret(fixture["body"]))
    )
    handles = repo.list_install_jobs()
    assert any(h.info.source_info and h.info.source_info.get("type") == "url" for h in handles)
    for handle in handles:
        assert SECRET not in repr(handle)
        assert SECRET not in handle.info.model_dump_json()


# -- forward compatibility --------------------------------------------------------------------


def _future_job() -> dict[str, Any]:
    raw: dict[str, Any] = body("install_job_completed_inplace")
    raw["status"] = "verifying"
    raw["eta_seconds"] = 12
    raw["config_out"] = {
        **raw["config_out"],
        "base": "sd-9",
        "type": "hologram",
        "format": "quantum",
        "holo_depth": 3,
    }
    return raw


def test_unknown_status_and_values_parse(
    repo: DnnModelRepository, router: respx.MockRouter
) -> None:
    raw = _future_job()
    router.get(f"{V2}/install/{raw['id']}").mock(return_value=httpx.Response(200, json=raw))
    handle = repo.get_install_job(raw["id"])
    assert handle is not None
    info = handle.info
    assert info.status == "verifying"
    assert not info.status.is_known
    assert info.extra["raw_status"] == "verifying"
    assert info.extra["eta_seconds"] == 12
    assert not info.is_terminal and not info.is_failure and not info.is_success
    assert info.result is not None
    assert info.result.base == "sd-9" and not info.result.base.is_known
    assert info.result.type == "hologram" and info.result.format == "quantum"
    assert info.result.extra["holo_depth"] == 3
    assert info.model_key == raw["config_out"]["key"]
    assert handle.raise_for_status() is handle.info  # neither error nor cancelled


def test_unknown_status_is_polled_on(repo: DnnModelRepository, router: respx.MockRouter) -> None:
    raw = _future_job()
    done = load_fixture("install_job_completed_inplace")
    route = router.get(f"{V2}/install/{raw['id']}").mock(
        side_effect=[httpx.Response(200, json=raw), response_from(done)]
    )
    handle = handle_from(repo, "install_201_inplace")
    assert handle.is_done() is False
    assert handle.info.status == "verifying"
    assert handle.wait(timeout=5, poll_interval=FAST).status == "completed"
    assert route.call_count == 2
