"""invokeai-py-client 1.1's model-management API, kept: written as 1.1's users write
scripts (offline, against captured answers)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

import invokeai_py_client
import invokeai_py_client.dnn_model as dnn_model
from invokeai_py_client import AsyncInvokeAIClient, InvokeAIClient
from invokeai_py_client.dnn_model import (
    APIRequestError,
    BaseDnnModelType,
    DnnModel,
    DnnModelFormat,
    DnnModelRepository,
    DnnModelType,
    HFLoginStatus,
    InstallJobStatus,
    InvokeAIClientError,
    ModelInstallJobFailed,
    ModelInstallStartError,
    ModelInstallTimeout,
    ModelInstJobHandle,
    ModelInstJobInfo,
    ModelManagerError,
)
from invokeai_py_client.errors import (
    APIConnectionError,
    ConflictError,
    InstallJobCancelledError,
    InstallJobFailedError,
    InstallJobLostError,
    InstallJobTimeoutError,
    InvalidArgumentError,
    InvokeAIError,
    NotFoundError,
    ServerError,
    UnexpectedResponseError,
    UnsupportedByServerError,
)
from tests.unit.conftest import BASE_URL, V2, api_calls, body, load_fixture, replay

NAMES_11 = [
    "InvokeAIClientError",
    "APIRequestError",
    "ModelManagerError",
    "ModelInstallStartError",
    "ModelInstallJobFailed",
    "ModelInstallTimeout",
]


# -- exceptions ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES_11)
def test_the_11_exceptions_import_from_dnn_model_and_the_root(name: str) -> None:
    assert getattr(dnn_model, name) is getattr(invokeai_py_client, name)
    assert name in dnn_model.__all__ and name in invokeai_py_client.__all__


def test_each_11_except_catches_what_it_caught_and_ours_still_catch_theirs() -> None:
    assert InvokeAIClientError is InvokeAIError
    for http_error in (APIConnectionError, ServerError, UnexpectedResponseError, NotFoundError):
        assert issubclass(http_error, APIRequestError)
    for job_error in (InstallJobLostError, InstallJobTimeoutError, InstallJobFailedError):
        assert issubclass(job_error, ModelManagerError)
    assert issubclass(ModelInstallStartError, ModelManagerError)
    assert issubclass(InstallJobFailedError, ModelInstallJobFailed)
    assert issubclass(InstallJobCancelledError, ModelInstallJobFailed)
    assert not issubclass(InstallJobTimeoutError, ModelInstallJobFailed)
    assert not issubclass(InstallJobLostError, ModelInstallJobFailed)
    assert ModelInstallTimeout is InstallJobTimeoutError and issubclass(
        ModelInstallTimeout, TimeoutError
    )
    assert not issubclass(InvalidArgumentError, APIRequestError)
    assert not issubclass(UnsupportedByServerError, (APIRequestError, ModelManagerError))


def test_the_11_attributes_and_constructors() -> None:
    err = APIRequestError("boom", status_code=418, payload={"detail": "x"}, details={"a": 1})
    assert (err.message, err.status_code, err.payload, err.details) == (
        "boom",
        418,
        {"detail": "x"},
        {"a": 1},
    )
    assert InvokeAIClientError("m", details={"k": 1}).details == {"k": 1}
    info = ModelInstJobInfo(id=3, status=InstallJobStatus.ERROR)
    assert ModelInstallJobFailed("failed", info=info).info is info
    timeout = ModelInstallTimeout("late", last_info=info, timeout=1.5)
    assert (timeout.last_info, timeout.info, timeout.timeout) == (info, info, 1.5)


def test_an_api_error_has_the_11_status_code_payload_and_message(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    router.get(f"{V2}/stats").respond(500, json={"detail": "it broke"})
    with pytest.raises(APIRequestError) as caught:
        repo.get_stats()
    assert caught.value.status_code == 500
    assert caught.value.payload == {"detail": "it broke"}
    assert caught.value.message == str(caught.value) and "it broke" in caught.value.message
    assert caught.value.details["route"] == f"{V2}/stats"


def test_a_409_at_install_is_a_refused_start_not_already_installed(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    """1.1 read a 409 as "already installed"; the server sends it for a source it
    refuses (here a path it does not have)."""
    _, fixture = replay(router, "install_409_nonexistent_path", query=False)
    with pytest.raises(ModelInstallStartError) as caught:
        repo.install_model(fixture["request"]["query"]["source"])
    assert isinstance(caught.value, ConflictError) and isinstance(caught.value, APIRequestError)
    assert caught.value.status_code == 409


# -- the client ----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [InvokeAIClient, AsyncInvokeAIClient])
def test_11_ways_to_make_a_client(cls: Any) -> None:
    bare = cls("localhost", 9090)
    assert (bare.base_url, bare.timeout, bare.max_retries) == ("http://localhost:9090", 30.0, 3)
    named = cls(host="gpu1", port=19090, api_key="k", use_https=True, verify_ssl=False)
    assert named.base_url == "https://gpu1:19090" and named.token == "k"
    assert cls(host="h", base_path="/api/v1", timeout=5, max_retries=0).timeout == 5
    from_url = cls.from_url("http://h:19090/api/v1", api_key="t", verify_ssl=False)
    assert (from_url.base_url, from_url.token, from_url.timeout) == ("http://h:19090", "t", 60.0)
    assert cls().max_retries == 2  # ours, as before


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_url": "http://h:1", "host": "x"},
        {"base_url": "h", "host": "x"},
        {"host": "h", "port": "9090"},
        {"host": "h", "use_https": "yes"},
        {"api_key": "a", "token": "b"},
    ],
)
def test_mixed_up_client_arguments_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError):
        InvokeAIClient(**kwargs)


# -- the handle ----------------------------------------------------------------------------


def _job_route(router: respx.MockRouter, name: str) -> dict[str, Any]:
    job: dict[str, Any] = body(name)
    router.get(f"{V2}/install/{job['id']}").respond(json=job)
    return job


def test_wait_until_returns_a_completed_job(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    job = _job_route(router, "install_job_completed_inplace")
    handle = repo._handle(ModelInstJobInfo.model_validate(body("install_201_inplace")))
    info = handle.wait_until(timeout=5, poll_interval=0.01)
    assert info.status == InstallJobStatus.COMPLETED and handle.job_id == job["id"]
    handle.raise_if_failed()  # nothing to raise


@pytest.mark.parametrize(
    ("name", "error"),
    [("install_job_error_duplicate", InstallJobFailedError), ("install_job_cancelled", None)],
)
def test_wait_until_raises_the_11_error_for_a_failed_or_cancelled_job(
    router: respx.MockRouter, repo: DnnModelRepository, name: str, error: Any
) -> None:
    job = _job_route(router, name)
    handle = repo._handle(ModelInstJobInfo.model_validate({**job, "status": "running"}))
    with pytest.raises(ModelInstallJobFailed) as caught:
        handle.wait_until(timeout=5, poll_interval=0.01)
    assert caught.value.info.status == job["status"]
    assert isinstance(caught.value, error or InstallJobCancelledError)
    with pytest.raises(ModelInstallJobFailed):
        handle.raise_if_failed()


def test_wait_until_times_out_with_the_11_error(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    job = _job_route(router, "install_job_running")
    handle = repo._handle(ModelInstJobInfo.model_validate(job))
    with pytest.raises(ModelInstallTimeout) as caught:
        handle.wait_until(timeout=0.05, poll_interval=0.01)
    assert caught.value.timeout == 0.05 and caught.value.last_info.status == "running"


def test_from_client_and_id(router: respx.MockRouter, client: InvokeAIClient) -> None:
    job = _job_route(router, "install_job_running")
    handle = ModelInstJobHandle.from_client_and_id(client, job["id"])
    assert handle.job_id == job["id"] and handle.info.status == "running"
    router.get(f"{V2}/install/77").respond(404, json={"detail": "no job"})
    with pytest.raises(APIRequestError) as caught:
        ModelInstJobHandle.from_client_and_id(client, 77)
    assert caught.value.status_code == 404


# -- the repository ------------------------------------------------------------------------


def test_11_parameter_names(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    _, fixture = replay(router, "model_get_lora_sd1")
    key = fixture["body"]["key"]
    assert repo.get_model_by_key(model_key=key) == repo.get_model_by_key(key)


@pytest.mark.parametrize("job_id", ["abc", "", "-1", -1, "1.5"])
def test_an_id_no_job_can_have_gives_none_and_sends_nothing(
    router: respx.MockRouter, repo: DnnModelRepository, job_id: Any
) -> None:
    assert repo.get_install_job(job_id) is None
    assert api_calls(router) == []


def test_a_numeric_text_id_is_a_job_id(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    job = _job_route(router, "install_job_running")
    handle = repo.get_install_job(f" {job['id']} ")
    assert handle is not None and handle.job_id == job["id"]


def test_scan_folder_without_a_folder_is_refused_before_sending(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    with pytest.raises(InvalidArgumentError, match="folder"):
        repo.scan_folder()
    assert api_calls(router) == []


def test_delete_all_models_goes_on_past_a_failure(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    models = body("models_list")["models"][:3]
    assert len(models) == 3
    router.get(f"{V2}/").respond(json={"models": models})
    ok, gone, broken = (m["key"] for m in models)
    router.delete(f"{V2}/i/{ok}").respond(204)
    router.delete(f"{V2}/i/{gone}").respond(404, json={"detail": "gone"})
    router.delete(f"{V2}/i/{broken}").respond(500, text="Internal Server Error")
    result = repo.delete_all_models()
    assert (result["total"], result["deleted"], result["failed"]) == (3, 1, 2)
    by_key = {e["key"]: e for e in result["errors"]}
    assert by_key[gone]["status_code"] == 404
    assert by_key[broken]["status_code"] == 500 and "500" in by_key[broken]["message"]


def test_list_ordering_is_sent_on_6_13_and_refused_before(
    router: respx.MockRouter, repo_for: Any
) -> None:
    route = router.get(f"{V2}/").respond(json={"models": []})
    assert repo_for("6.14.2").list_models(order_by="name", direction="DESC") == []
    assert route.calls.last.request.url.params["order_by"] == "name"
    assert route.calls.last.request.url.params["direction"] == "DESC"
    old = repo_for("6.8.1")
    with pytest.raises(UnsupportedByServerError, match=r"6\.13"):
        old.list_models(order_by="name")
    assert old.list_models() == []  # no ordering: no gate


def test_restart_install_file(router: respx.MockRouter, repo_for: Any) -> None:
    job = body("install_job_downloading")
    url = "https://host.test/model.safetensors"
    route = router.post(f"{V2}/install/{job['id']}/restart_file").respond(201, json=job)
    info = repo_for("6.14.2").restart_install_file(job["id"], url)
    assert info is not None and info.id == job["id"]
    assert json.loads(route.calls.last.request.content) == url
    with pytest.raises(InvalidArgumentError):
        repo_for("6.14.2").restart_install_file(job["id"], "not a url")
    with pytest.raises(UnsupportedByServerError):
        repo_for("6.8.1").restart_install_file(job["id"], url)
    assert route.call_count == 1


# -- types ---------------------------------------------------------------------------------


def test_dnn_model_helpers_of_11() -> None:
    record = DnnModel.from_api_response(body("model_get_lora_sd1"))
    assert record.get_category() == "LoRA (Low-Rank Adaptation)"
    assert record.is_compatible_with_base(BaseDnnModelType.StableDiffusion1)
    assert record.is_compatible_with_base("sd-1") and not record.is_compatible_with_base("sdxl")
    assert record.to_dict()["key"] == record.key and None not in record.to_dict().values()
    sized = record.model_copy(update={"file_size": 2**31})
    assert sized.format_file_size() == "2.00 GB"
    assert record.model_copy(update={"file_size": None}).format_file_size() == "Unknown"
    unknown = record.model_copy(update={"type": DnnModelType("brand_new")})
    assert unknown.get_category() == "Unknown (brand_new)"


@pytest.mark.parametrize(
    ("member", "value"),
    [
        (DnnModelType.TextualInversion, "embedding"),
        (DnnModelType.CLIPVision, "clip_vision"),
        (DnnModelType.LlavaOnevision, "llava_onevision"),
        (BaseDnnModelType.CogView4, "cogview4"),
        (BaseDnnModelType.ChatGPT4o, "chatgpt-4o"),
        (BaseDnnModelType.FluxKontext, "flux-kontext"),
        (DnnModelFormat.Checkpoint, "checkpoint"),
        (DnnModelFormat.BnbQuantizednf4b, "bnb_quantized_nf4b"),
        (DnnModelFormat.Api, "api"),
        (InstallJobStatus.DOWNLOADS_DONE, "downloads_done"),
    ],
)
def test_11_enum_names_are_aliases_of_ours(member: Any, value: str) -> None:
    assert member == value and type(member)(value) is member


def test_hf_status_compares_as_11_enum(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    router.get(f"{V2}/hf_login").respond(json="valid")
    status = repo.hf_status()
    assert status == HFLoginStatus.VALID and status != HFLoginStatus.INVALID
    assert status in (HFLoginStatus.VALID, HFLoginStatus.UNKNOWN) and status.value == "valid"
    assert status.is_logged_in  # ours still


def test_job_info_has_the_11_error_fields() -> None:
    raw = load_fixture("install_job_error_duplicate")["body"]
    info = ModelInstJobInfo.model_validate(raw)
    assert isinstance(info.error, str) and info.error == raw["error"]
    assert info.error_reason == "DuplicateModelException"
    assert info.error_traceback == raw["error_traceback"]
    assert f"{info.error or ''}" == raw["error"]
    assert (info.id, info.bytes, info.total_bytes) == (raw["id"], raw["bytes"], raw["total_bytes"])


def test_the_11_stats_names(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    stats = {"hits": 3, "misses": 1, "high_watermark": 2**20, "in_cache": 1, "cleared": 0,
             "cache_size": 4 * 2**20, "loaded_model_sizes": {"a": 2**20}}  # fmt: skip
    router.get(f"{V2}/stats").respond(json=stats)
    got = repo.get_stats()
    assert got is not None
    assert (got.ram_used_mb, got.ram_capacity_mb) == (1.0, 4.0)
    assert got.loads == 1 and got.evictions == 0  # a load per miss


def test_the_handle_12_wait_is_ours_and_returns_a_failed_state(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    """1.1's wait() raised on failure; ours follows the design and returns the state."""
    job = _job_route(router, "install_job_error_duplicate")
    handle = repo._handle(ModelInstJobInfo.model_validate({**job, "status": "running"}))
    assert handle.wait(timeout=5, poll_interval=0.01).status == "error"


def test_no_request_leaves_for_a_refused_client_argument() -> None:
    with respx.mock(base_url=BASE_URL, assert_all_mocked=True) as mock:
        with pytest.raises(InvalidArgumentError):
            InvokeAIClient("h", "9090")  # type: ignore[arg-type]
        assert mock.calls.call_count == 0
    assert httpx  # the module is used by respx fixtures above
