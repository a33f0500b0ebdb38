"""``DnnModelRepository`` against captured answers of real InvokeAI servers (respx replay).

Every public method is driven against the fixture of the real server's answer: what is
sent (path, query, JSON body, headers), what comes back (types, values from the fixture),
and which exception, with which attributes, each error answer becomes.
"""

from __future__ import annotations

import base64
import json
import logging
import struct
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from invokeai_py_client import InvokeAIClient
from invokeai_py_client.dnn_model import (
    BaseDnnModelType,
    BulkDeleteResult,
    BulkReidentifyResult,
    DnnModel,
    DnnModelFormat,
    DnnModelRepository,
    DnnModelType,
    FoundModel,
    HFLoginStatus,
    HFTokenStatus,
    ModelInstallConfig,
    ModelInstJobHandle,
    ModelInstJobInfo,
    ModelManagerStats,
    OrphanDeleteResult,
    OrphanedModel,
    StarterModel,
    StarterModelCatalog,
)
from invokeai_py_client.errors import (
    APIError,
    BadRequestError,
    ConflictError,
    FailedDependencyError,
    InstallStartError,
    InvalidArgumentError,
    ModelManagerError,
    NotFoundError,
    ServerError,
    UnexpectedResponseError,
    UnprocessableEntityError,
    UnsupportedByServerError,
)
from tests.unit.conftest import (
    BASE_URL,
    OLD_VERSION,
    SECRET,
    UNKNOWN_JOB_ID,
    UNKNOWN_KEY,
    V2,
    VERSION,
    RepoFor,
    add_route,
    api_calls,
    body,
    load_fixture,
    replay,
    response_from,
    sent_json,
    versions_with,
    with_secret,
)

KINDS = ["embedding_sd1", "embedding_sdxl", "lora_sd1", "vae_sd1", "main_checkpoint_sd1", "unknown"]
EXPECTED_KIND = {  # (type, format, base), as the real server identifies them
    "embedding_sd1": ("embedding", "embedding_file", "sd-1"),
    "embedding_sdxl": ("embedding", "embedding_file", "sdxl"),
    "lora_sd1": ("lora", "lycoris", "sd-1"),
    "vae_sd1": ("vae", "checkpoint", "sd-1"),
    "main_checkpoint_sd1": ("main", "checkpoint", "sd-1"),
    "unknown": ("unknown", "unknown", "unknown"),
}


def assert_record(model: Any, raw: dict[str, Any]) -> None:
    """``model`` is a ``DnnModel`` holding every field of the server's record ``raw``."""
    assert isinstance(model, DnnModel)
    for field, value in raw.items():
        if field in DnnModel.model_fields:
            assert getattr(model, field) == value, field
        else:
            assert model.extra[field] == value, field


def key_of(name: str, version: str = VERSION) -> str:
    key: str = body(name, version)["key"]
    return key


def assert_api_error(
    err: APIError, fixture: dict[str, Any], *, method: str | None = None, route: str | None = None
) -> None:
    """The error carries the request and the server's answer of ``fixture``."""
    answer = fixture["body"]
    assert err.method == (method or fixture["request"]["method"])
    assert err.route == (route or fixture["request"]["path"])
    assert err.status_code == fixture["status"]
    expected_detail = answer["detail"] if isinstance(answer, dict) else answer
    assert err.detail == expected_detail
    assert err.body == answer
    assert "?" not in err.route


# -- list and get ---------------------------------------------------------------------


@pytest.mark.parametrize("version", versions_with("models_list_empty"))
def test_list_models_empty(router: respx.MockRouter, repo_for: RepoFor, version: str) -> None:
    route, _ = replay(router, "models_list_empty", version)
    repo = repo_for(version)
    assert repo.list_models() == []
    assert route.call_count == 1
    assert route.calls.last.request.url.query == b""


@pytest.mark.parametrize("version", versions_with("models_list"))
def test_list_models_parses_every_record(
    router: respx.MockRouter, repo_for: RepoFor, version: str
) -> None:
    route, fixture = replay(router, "models_list", version)
    models = repo_for(version).list_models()
    raw = fixture["body"]["models"]
    assert len(models) == len(raw) >= 5
    for model, record in zip(models, raw, strict=True):
        assert_record(model, record)
    kinds = {(str(m.type), str(m.format), str(m.base)) for m in models}
    expected = {k for name, k in EXPECTED_KIND.items() if name != "unknown" or version == VERSION}
    assert expected <= kinds
    assert all(m.type.is_known and m.base.is_known for m in models)
    assert route.call_count == 1


def test_list_models_filters_are_sent_as_the_server_names_them(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    route, fixture = replay(router, "models_list_filtered")
    models = repo.list_models(base=[BaseDnnModelType.SD_1, "sdxl"], type=DnnModelType.EMBEDDING)
    assert [m.key for m in models] == [m["key"] for m in fixture["body"]["models"]]
    assert {str(m.base) for m in models} == {"sd-1", "sdxl"}
    assert all(m.type == "embedding" for m in models)
    params = route.calls.last.request.url.params
    assert params.get_list("base_models") == ["sd-1", "sdxl"]
    assert params["model_type"] == "embedding"


def test_list_models_single_base_name_and_format(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    fixture = load_fixture("models_list_filtered")
    route = router.get(f"{V2}/").mock(return_value=response_from(fixture))
    repo.list_models(
        base="sd-1", name="capture-embedding-sd1", format=DnnModelFormat.EMBEDDING_FILE
    )
    params = route.calls.last.request.url.params
    assert params.get_list("base_models") == ["sd-1"]
    assert params["model_name"] == "capture-embedding-sd1"
    assert params["model_format"] == "embedding_file"
    assert "model_type" not in params


@pytest.mark.parametrize(
    "filters",
    [
        {"base": 5},
        {"base": [5]},
        {"base": ["sd-1", None]},
        {"type": 5},
        {"format": 1.5},
        {"name": 3},
    ],
    ids=["base-int", "base-list-int", "base-list-none", "type-int", "format-float", "name-int"],
)
def test_list_models_bad_filters_send_nothing(
    router: respx.MockRouter, repo: DnnModelRepository, filters: dict[str, Any]
) -> None:
    with pytest.raises(InvalidArgumentError):
        repo.list_models(**filters)
    assert router.calls.call_count == 0


@pytest.mark.parametrize("kind", KINDS)
def test_get_model_by_key_each_kind(
    router: respx.MockRouter, repo: DnnModelRepository, kind: str
) -> None:
    route, fixture = replay(router, f"model_get_{kind}")
    model = repo.get_model_by_key(fixture["body"]["key"])
    assert_record(model, fixture["body"])
    assert model is not None
    assert (str(model.type), str(model.format), str(model.base)) == EXPECTED_KIND[kind]
    assert model.hash is not None and model.hash.startswith("blake3:")
    assert route.call_count == 1


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "unknown"])
def test_get_model_by_key_each_kind_old_server(
    router: respx.MockRouter, repo_for: RepoFor, kind: str
) -> None:
    _, fixture = replay(router, f"model_get_{kind}", OLD_VERSION)
    model = repo_for(OLD_VERSION).get_model_by_key(fixture["body"]["key"])
    assert_record(model, fixture["body"])


def test_get_model_by_key_per_kind_fields(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    _, fixture = replay(router, "model_get_main_checkpoint_sd1")
    model = repo.get_model_by_key(fixture["body"]["key"])
    assert model is not None
    assert model.variant == fixture["body"]["variant"] == "normal"
    assert model.prediction_type == fixture["body"]["prediction_type"] == "epsilon"
    assert model.default_settings == fixture["body"]["default_settings"]
    assert model.default_settings is not None and model.default_settings["width"] == 512


def test_get_model_by_key_404_is_none(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    route, _ = replay(router, "model_get_404")
    assert repo.get_model_by_key(UNKNOWN_KEY) is None
    assert route.call_count == 1


def test_html_answer_is_unexpected_response(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    """A JSON route answering the web UI's HTML page (200, text/html) is refused."""
    fixture = load_fixture("html_bad_key")
    assert fixture["headers"]["content-type"].startswith("text/html")
    key = key_of("model_get_vae_sd1")
    router.get(f"{V2}/i/{key}").mock(return_value=response_from(fixture))
    with pytest.raises(UnexpectedResponseError) as caught:
        repo.get_model_by_key(key)
    err = caught.value
    assert err.method == "GET"
    assert err.route == f"{V2}/i/{key}"
    assert err.status_code == 200
    assert "text/html" in str(err)


def test_key_with_encoded_slash_stays_one_segment(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    """The key the capture used to reach the HTML page cannot escape its path segment."""
    route = router.get(path__startswith=f"{V2}/i/").mock(
        return_value=response_from(load_fixture("model_get_404"))
    )
    assert repo.get_model_by_key("..%2Finstall") is None
    assert route.calls.last.request.url.raw_path == b"/api/v2/models/i/..%252Finstall"


@pytest.mark.parametrize("bad", ["", "  ", "a/b", "../install", "a\\b", ".", ".."])
def test_bad_key_sends_nothing(
    router: respx.MockRouter, repo: DnnModelRepository, bad: str
) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        repo.get_model_by_key(bad)
    assert isinstance(caught.value, ValueError)
    for call in (repo.delete_model, repo.convert_model, repo.delete_model_image):
        with pytest.raises(InvalidArgumentError):
            call(bad)
    with pytest.raises(InvalidArgumentError):
        repo.update_model(bad, {"name": "x"})
    assert router.calls.call_count == 0


def test_get_model_by_attrs(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    route, fixture = replay(router, "model_get_by_attrs")
    query = fixture["request"]["query"]
    model = repo.get_model_by_attrs(
        query["name"], DnnModelType(query["type"]), BaseDnnModelType(query["base"])
    )
    assert_record(model, fixture["body"])
    assert route.call_count == 1


def test_get_model_by_attrs_404_is_none(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    route, _ = replay(router, "model_get_by_attrs_404")
    assert repo.get_model_by_attrs("no-such-model", "embedding", "sd-1") is None
    assert route.call_count == 1


def test_get_model_by_attrs_empty_name_sends_nothing(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    with pytest.raises(InvalidArgumentError):
        repo.get_model_by_attrs(" ", "embedding", "sd-1")
    assert router.calls.call_count == 0


def test_get_model_by_hash(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    route, fixture = replay(router, "model_get_by_hash")
    model = repo.get_model_by_hash(fixture["request"]["query"]["hash"])
    assert_record(model, fixture["body"])
    assert model is not None and model.hash == fixture["request"]["query"]["hash"]
    assert route.call_count == 1


def test_get_model_by_hash_404_is_none(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    route, fixture = replay(router, "model_get_by_hash_404")
    assert repo.get_model_by_hash(fixture["request"]["query"]["hash"]) is None
    assert route.call_count == 1


def test_get_model_by_hash_empty_sends_nothing(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    with pytest.raises(InvalidArgumentError):
        repo.get_model_by_hash("")
    assert api_calls(router) == []


def test_list_missing_models(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    _, fixture = replay(router, "models_missing")
    missing = repo.list_missing_models()
    raw = fixture["body"]["models"]
    assert len(missing) == len(raw) == 1
    assert_record(missing[0], raw[0])
    assert missing[0].path is not None and missing[0].path.endswith(
        "capture-extra-embedding.safetensors"
    )


def test_list_missing_models_empty(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    replay(router, "models_missing_empty")
    assert repo.list_missing_models() == []


@pytest.mark.parametrize("version", versions_with("runtime_config"))
def test_get_models_dir(router: respx.MockRouter, repo_for: RepoFor, version: str) -> None:
    route, fixture = replay(router, "runtime_config", version)
    assert repo_for(version).get_models_dir() == fixture["body"]["config"]["models_dir"]
    assert route.call_count == 1


# -- install ----------------------------------------------------------------------------


def test_install_model_in_place(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    route, fixture = replay(router, "install_201_inplace")
    source = fixture["request"]["query"]["source"]
    handle = repo.install_model(Path(source), inplace=True)
    assert sent_json(route) == {}  # the body is required: no config still sends {}
    assert route.calls.last.request.url.params["inplace"] == "true"
    assert isinstance(handle, ModelInstJobHandle)
    raw = fixture["body"]
    assert handle.id == raw["id"]
    info = handle.info
    assert isinstance(info, ModelInstJobInfo)
    assert info.status == raw["status"]
    assert info.source == source
    assert info.source_info == raw["source"]
    assert info.inplace is True
    assert info.local_path == raw["local_path"]
    assert info.bytes == raw["bytes"] and info.total_bytes == raw["total_bytes"]
    assert not info.is_terminal
    assert route.call_count == 1


def test_install_model_move_sends_inplace_false(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    route, fixture = replay(router, "install_201_move")
    handle = repo.install_model(fixture["request"]["query"]["source"], inplace=False)
    assert route.calls.last.request.url.params["inplace"] == "false"
    assert sent_json(route) == {}
    assert handle.id == fixture["body"]["id"]
    assert handle.info.inplace is False


def test_install_model_without_inplace_sends_no_inplace(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    fixture = load_fixture("install_201_inplace")
    route = router.post(f"{V2}/install").mock(return_value=response_from(fixture))
    repo.install_model(fixture["request"]["query"]["source"])
    assert dict(route.calls.last.request.url.params) == {
        "source": fixture["request"]["query"]["source"]
    }


@pytest.mark.parametrize(
    "config",
    [
        ModelInstallConfig(name="tiny", description="a tiny one", base=BaseDnnModelType.SD_1),
        {"name": "tiny", "description": "a tiny one", "base": "sd-1"},
    ],
)
def test_install_model_sends_the_config(
    router: respx.MockRouter, repo: DnnModelRepository, config: Any
) -> None:
    fixture = load_fixture("install_201_inplace")
    route = router.post(f"{V2}/install").mock(return_value=response_from(fixture))
    repo.install_model(fixture["request"]["query"]["source"], config=config, inplace=True)
    assert sent_json(route) == {"name": "tiny", "description": "a tiny one", "base": "sd-1"}


def test_install_model_access_token_in_query_never_in_info(
    router: respx.MockRouter, repo: DnnModelRepository, caplog: pytest.LogCaptureFixture
) -> None:
    fixture = load_fixture("install_201_url")
    assert fixture["request"]["query"]["access_token"] == "***"
    query = {**fixture["request"]["query"], "access_token": SECRET}
    route = router.post(f"{V2}/install", params__eq=query).mock(
        return_value=response_from(fixture, json_body=with_secret(fixture["body"]))
    )
    caplog.set_level(logging.DEBUG)
    handle = repo.install_model(fixture["request"]["query"]["source"], access_token=SECRET)
    assert route.calls.last.request.url.params["access_token"] == SECRET
    assert handle.info.source == fixture["body"]["source"]["url"]
    assert handle.info.source_info == {"url": fixture["body"]["source"]["url"], "type": "url"}
    for text in (
        repr(handle),
        repr(handle.info),
        str(handle.info),
        handle.info.model_dump_json(),
        handle.info.describe(),
        caplog.text,
    ):
        assert SECRET not in text


def test_install_409_is_install_start_error(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    fixture = load_fixture("install_409_nonexistent_path")
    route = router.post(f"{V2}/install").mock(return_value=response_from(fixture))
    with pytest.raises(InstallStartError) as caught:
        repo.install_model(fixture["request"]["query"]["source"], access_token=SECRET)
    err = caught.value
    assert_api_error(err, fixture)
    assert err.detail == "Unsupported model source: '/nonexistent/capture/model.safetensors'"
    assert isinstance(err, APIError)
    assert "409" in str(err) and err.detail in str(err)
    assert SECRET not in str(err) and SECRET not in repr(err)
    assert route.calls.last.request.url.params["access_token"] == SECRET


def test_install_422_is_a_refused_start_and_keeps_its_class_with_validation_detail(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    """A 422 at install is a refused start (1.1's ModelInstallStartError) and still an
    UnprocessableEntityError."""
    fixture = load_fixture("install_422_no_body")
    router.post(f"{V2}/install").mock(return_value=response_from(fixture))
    with pytest.raises(UnprocessableEntityError) as caught:
        repo.install_model(fixture["request"]["query"]["source"])
    assert isinstance(caught.value, InstallStartError)
    assert isinstance(caught.value, ModelManagerError)
    assert_api_error(caught.value, fixture)
    assert caught.value.detail[0]["loc"] == ["body"]
    assert "body: Field required" in str(caught.value)


def test_install_huggingface_offline(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    fixture = load_fixture("install_hf_offline_500")
    query = {**fixture["request"]["query"], "access_token": SECRET}
    route = router.post(f"{V2}/install", params__eq=query).mock(return_value=response_from(fixture))
    repo_id, variant = fixture["request"]["query"]["source"].split(":")
    with pytest.raises(ServerError) as caught:
        repo.install_huggingface(repo_id, variant=variant, access_token=SECRET)
    assert isinstance(caught.value, InstallStartError)  # a 5xx at install: a refused start
    assert_api_error(caught.value, fixture)
    assert caught.value.status_code == 500
    assert caught.value.detail == "Internal Server Error"
    assert SECRET not in str(caught.value)
    assert sent_json(route) == {}


def test_install_huggingface_builds_the_source(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    fixture = load_fixture("install_201_url")
    route = router.post(f"{V2}/install").mock(return_value=response_from(fixture))
    repo.install_huggingface("owner/repo", {"name": "n"}, variant="fp16", subfolder="vae")
    assert route.calls.last.request.url.params["source"] == "owner/repo:fp16:vae"
    assert sent_json(route) == {"name": "n"}


@pytest.mark.parametrize("bad", ["", "   ", "no-slash", "a/b/c", "owner/repo:fp16"])
def test_install_huggingface_bad_repo_id_sends_nothing(
    router: respx.MockRouter, repo: DnnModelRepository, bad: str
) -> None:
    with pytest.raises(InvalidArgumentError):
        repo.install_huggingface(bad)
    assert router.calls.call_count == 0


@pytest.mark.parametrize("bad", ["", "   ", None])
def test_install_empty_source_sends_nothing(
    router: respx.MockRouter, repo: DnnModelRepository, bad: Any
) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        repo.install_model(bad)
    assert isinstance(caught.value, ValueError)
    assert router.calls.call_count == 0


def test_install_empty_path_sends_nothing(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    """``Path("")`` is an empty source too (it prints as "."): the server would try to
    install its own working directory (so an empty source is refused)."""
    router.post(f"{V2}/install").mock(
        return_value=response_from(load_fixture("install_201_probe_fails"))
    )
    with pytest.raises(InvalidArgumentError):
        repo.install_model(Path(""))
    assert router.calls.call_count == 0


def test_install_invalid_config_sends_nothing(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    with pytest.raises(InvalidArgumentError):
        repo.install_model("/models/x.safetensors", config={"file_size": "big"})
    with pytest.raises(InvalidArgumentError):
        repo.install_model("/models/x.safetensors", config=["name"])  # type: ignore[arg-type]
    assert router.calls.call_count == 0


@pytest.mark.parametrize("version", versions_with("install_jobs"))
def test_list_install_jobs(router: respx.MockRouter, repo_for: RepoFor, version: str) -> None:
    route, fixture = replay(router, "install_jobs", version)
    handles = repo_for(version).list_install_jobs()
    raw = fixture["body"]
    assert [h.id for h in handles] == [j["id"] for j in raw]
    assert [h.info.status for h in handles] == [j["status"] for j in raw]
    assert {str(h.info.status) for h in handles} >= {"completed", "error", "cancelled"}
    by_id = {h.id: h for h in handles}
    for job in raw:
        info = by_id[job["id"]].info
        key = (job["config_out"] or {}).get("key")
        assert info.model_key == key
        assert info.error_reason == job.get("error_reason")
    assert route.call_count == 1


def test_list_install_jobs_empty(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    replay(router, "install_jobs_empty")
    assert repo.list_install_jobs() == []


def test_get_install_job(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    route, fixture = replay(router, "install_job_completed_move")
    job_id = fixture["body"]["id"]
    handle = repo.get_install_job(str(job_id))
    assert handle is not None
    assert handle.id == job_id
    assert handle.info.status == "completed"
    assert handle.info.model_key == fixture["body"]["config_out"]["key"]
    assert_record(handle.info.result, fixture["body"]["config_out"])
    assert route.call_count == 1


def test_get_install_job_404_is_none(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    route, _ = replay(router, "install_job_404")
    assert repo.get_install_job(UNKNOWN_JOB_ID) is None
    assert route.call_count == 1


@pytest.mark.parametrize("bad", ["abc", "1.5", "", "-1"])
def test_get_install_job_of_a_text_no_job_can_have_is_none_and_sends_nothing(
    router: respx.MockRouter, repo: DnnModelRepository, bad: Any
) -> None:
    """As in invokeai-py-client 1.1: no job has such an id."""
    assert repo.get_install_job(bad) is None
    assert router.calls.call_count == 0


@pytest.mark.parametrize("bad", [True, None, 2.0, "1" * 20])
def test_get_install_job_of_a_wrong_type_or_huge_id_is_refused(
    router: respx.MockRouter, repo: DnnModelRepository, bad: Any
) -> None:
    with pytest.raises(InvalidArgumentError):
        repo.get_install_job(bad)
    assert router.calls.call_count == 0


def test_prune_install_jobs_sends_identity(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    route, fixture = replay(router, "install_prune")
    assert fixture["status"] == 204
    assert repo.prune_install_jobs() is True
    assert route.calls.last.request.headers["accept-encoding"] == "identity"


def test_prune_install_jobs_gzip_500_is_server_error(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    """What 6.14.2 answers a DELETE sent with gzip: the library must not hide it."""
    route, fixture = replay(router, "install_prune_gzip")
    with pytest.raises(ServerError) as caught:
        repo.prune_install_jobs()
    assert_api_error(caught.value, fixture)
    assert route.call_count == 1


# -- update, delete, convert, reidentify, bulk ------------------------------------------------


def test_update_model(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    route, fixture = replay(router, "model_update")
    key = fixture["body"]["key"]
    changes = fixture["request"]["json"]
    model = repo.update_model(key, ModelInstallConfig(**changes))
    assert sent_json(route) == {"name": "capture-vae-renamed", "description": "a renamed VAE"}
    assert_record(model, fixture["body"])
    assert model.name == "capture-vae-renamed"
    assert model.description == "a renamed VAE"


def test_update_model_can_clear_a_field(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    fixture = load_fixture("model_update")
    key = fixture["body"]["key"]
    route = router.patch(f"{V2}/i/{key}").mock(return_value=response_from(fixture))
    repo.update_model(key, {"description": None})
    assert sent_json(route) == {"description": None}


def test_update_model_409_is_conflict(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    route, fixture = replay(router, "model_update_409")
    key = fixture["request"]["path"].rsplit("/", 1)[1]
    with pytest.raises(ConflictError) as caught:
        repo.update_model(key, fixture["request"]["json"])
    assert_api_error(caught.value, fixture)
    assert sent_json(route) == {"format": "diffusers"}
    assert str(caught.value.detail).startswith("1 validation error")


def test_update_model_same_name_is_no_conflict_on_6_14(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    """6.14.2 dropped the unique (name, base, type) index: a name clash answers 200."""
    _, fixture = replay(router, "model_update_name_clash")
    key = fixture["request"]["path"].rsplit("/", 1)[1]
    model = repo.update_model(key, fixture["request"]["json"])
    assert model.name == fixture["request"]["json"]["name"]


def test_update_model_404_raises(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    _, fixture = replay(router, "model_update_404")
    with pytest.raises(NotFoundError) as caught:
        repo.update_model(UNKNOWN_KEY, fixture["request"]["json"])
    assert_api_error(caught.value, fixture)


@pytest.mark.parametrize("changes", [{}, ModelInstallConfig()])
def test_update_model_without_changes_sends_nothing(
    router: respx.MockRouter, repo: DnnModelRepository, changes: Any
) -> None:
    with pytest.raises(InvalidArgumentError):
        repo.update_model(key_of("model_get_vae_sd1"), changes)
    assert router.calls.call_count == 0


def test_delete_model(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    route, fixture = replay(router, "model_delete")
    assert fixture["status"] == 204
    key = fixture["request"]["path"].rsplit("/", 1)[1]
    assert repo.delete_model(key) is True
    assert route.calls.last.request.headers["accept-encoding"] == "identity"


def test_delete_model_404_is_false(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    route, _ = replay(router, "model_delete_404")
    assert repo.delete_model(UNKNOWN_KEY) is False
    assert route.call_count == 1


def test_delete_model_gzip_500_is_server_error(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    _, fixture = replay(router, "model_delete_gzip")
    key = fixture["request"]["path"].rsplit("/", 1)[1]
    with pytest.raises(ServerError) as caught:
        repo.delete_model(key)
    assert_api_error(caught.value, fixture)


def test_convert_model_not_checkpoint_is_bad_request(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    _, fixture = replay(router, "convert_400_not_checkpoint")
    key = fixture["request"]["path"].rsplit("/", 1)[1]
    with pytest.raises(BadRequestError) as caught:
        repo.convert_model(key)
    assert_api_error(caught.value, fixture)


def test_convert_model_offline_is_server_error(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    _, fixture = replay(router, "convert_checkpoint_offline")
    key = fixture["request"]["path"].rsplit("/", 1)[1]
    with pytest.raises(ServerError) as caught:
        repo.convert_model(key)
    assert_api_error(caught.value, fixture)
    assert caught.value.detail == "Internal Server Error"


def test_convert_model_unknown_key_is_424(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    _, fixture = replay(router, "convert_unknown_key_424")
    with pytest.raises(FailedDependencyError) as caught:
        repo.convert_model(UNKNOWN_KEY)
    assert_api_error(caught.value, fixture)
    assert caught.value.detail == "model not found"


def test_reidentify_model(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    route, fixture = replay(router, "model_reidentify")
    model = repo.reidentify_model(fixture["body"]["key"])
    assert_record(model, fixture["body"])
    assert route.calls.last.request.content == b""


def test_bulk_delete_models(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    route, fixture = replay(router, "models_bulk_delete")
    keys = fixture["request"]["json"]["keys"]
    result = repo.bulk_delete_models(iter(keys))
    assert sent_json(route) == {"keys": keys}
    assert isinstance(result, BulkDeleteResult)
    assert result.deleted == fixture["body"]["deleted"] == [keys[0]]
    assert [(f.key, f.error) for f in result.failed] == [(UNKNOWN_KEY, "model not found")]


def test_bulk_reidentify_models(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    route, fixture = replay(router, "models_bulk_reidentify")
    keys = fixture["request"]["json"]["keys"]
    result = repo.bulk_reidentify_models(keys)
    assert sent_json(route) == {"keys": keys}
    assert isinstance(result, BulkReidentifyResult)
    assert result.succeeded == fixture["body"]["succeeded"] == keys[:2]
    assert [(f.key, f.error) for f in result.failed] == [(UNKNOWN_KEY, "model not found")]


@pytest.mark.parametrize("keys", [[], (), "one-key", [""], ["ok", "  "]])
def test_bulk_calls_with_bad_keys_send_nothing(
    router: respx.MockRouter, repo: DnnModelRepository, keys: Any
) -> None:
    for call in (repo.bulk_delete_models, repo.bulk_reidentify_models, repo.delete_orphaned_models):
        with pytest.raises(InvalidArgumentError):
            call(keys)
    assert router.calls.call_count == 0


# -- scan folder --------------------------------------------------------------------------


def test_scan_folder(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    route, fixture = replay(router, "scan_folder")
    found = repo.scan_folder(Path(fixture["request"]["query"]["scan_path"]))
    assert all(isinstance(f, FoundModel) for f in found)
    assert [(f.path, f.is_installed) for f in found] == [
        (f["path"], f["is_installed"]) for f in fixture["body"]
    ]
    assert len(found) >= 4 and all(f.is_installed for f in found)
    assert route.call_count == 1


def test_scan_folder_400(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    _, fixture = replay(router, "scan_folder_400")
    with pytest.raises(BadRequestError) as caught:
        repo.scan_folder(fixture["request"]["query"]["scan_path"])
    assert_api_error(caught.value, fixture)


def test_scan_folder_of_the_configured_models_dir_is_refused(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    """``get_models_dir()`` is ``"models"`` as configured, relative to the server's root; the
    server resolves a relative ``scan_path`` against its working directory: 400."""
    replay(router, "runtime_config")
    _, fixture = replay(router, "scan_folder_config_models_dir")
    models_dir = repo.get_models_dir()
    assert models_dir == fixture["request"]["query"]["scan_path"] == "models"
    with pytest.raises(BadRequestError) as caught:
        repo.scan_folder(models_dir)
    assert_api_error(caught.value, fixture)


@pytest.mark.parametrize("bad", ["", "  "])
def test_scan_folder_empty_path_sends_nothing(
    router: respx.MockRouter, repo: DnnModelRepository, bad: str
) -> None:
    with pytest.raises(InvalidArgumentError):
        repo.scan_folder(bad)
    assert router.calls.call_count == 0


# -- cache and stats ----------------------------------------------------------------------


def test_empty_model_cache(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    route, fixture = replay(router, "empty_model_cache")
    assert fixture["body"] is None and fixture["status"] == 200
    assert repo.empty_model_cache() is True
    assert route.call_count == 1


@pytest.mark.parametrize("version", versions_with("stats_null"))
def test_get_stats_null_is_none(router: respx.MockRouter, repo_for: RepoFor, version: str) -> None:
    route, _ = replay(router, "stats_null", version)
    assert repo_for(version).get_stats() is None
    assert route.call_count == 1


def test_get_stats(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    _, fixture = replay(router, "stats")
    stats = repo.get_stats()
    assert isinstance(stats, ModelManagerStats)
    raw = fixture["body"]
    assert stats.model_dump() == raw
    assert stats.cache_size == raw["cache_size"] > 0
    assert stats.ram_capacity_mb == raw["cache_size"] / 2**20
    assert stats.hit_rate is None and stats.loads == 0 and stats.ram_used_mb == 0


# -- Hugging Face ---------------------------------------------------------------------------


def test_hf_status(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    _, fixture = replay(router, "hf_login_status")
    status = repo.hf_status()
    assert isinstance(status, HFLoginStatus)
    assert status.status == fixture["body"] == "invalid"
    assert status.status is HFTokenStatus.INVALID
    assert status.is_logged_in is False


def test_hf_login_bogus_token_is_false(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    fixture = load_fixture("hf_login_bogus_token")
    route = router.post(f"{V2}/hf_login").mock(return_value=response_from(fixture))
    assert repo.hf_login(SECRET) is False
    assert sent_json(route) == {"token": SECRET}
    assert route.calls.last.request.url.query == b""


def test_hf_login_empty_token_sends_nothing(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    with pytest.raises(InvalidArgumentError):
        repo.hf_login("")
    assert router.calls.call_count == 0


def test_hf_logout(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    route, fixture = replay(router, "hf_logout")
    assert fixture["body"] == "invalid"
    assert repo.hf_logout() is True
    assert route.call_count == 1


def test_list_huggingface_files_offline(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    route, fixture = replay(router, "hugging_face_offline_500")
    with pytest.raises(ServerError) as caught:
        repo.list_huggingface_files(fixture["request"]["query"]["hugging_face_repo"])
    assert_api_error(caught.value, fixture)
    assert fixture["headers"]["content-type"].startswith("text/plain")
    assert route.call_count == 1


def test_list_huggingface_files_empty_sends_nothing(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    with pytest.raises(InvalidArgumentError):
        repo.list_huggingface_files(" ")
    assert router.calls.call_count == 0


# -- starter models -------------------------------------------------------------------------


@pytest.mark.parametrize("version", versions_with("starter_models"))
def test_list_starter_models(router: respx.MockRouter, repo_for: RepoFor, version: str) -> None:
    _, fixture = replay(router, "starter_models", version)
    catalog = repo_for(version).list_starter_models()
    raw = fixture["body"]
    assert isinstance(catalog, StarterModelCatalog)
    assert [m.source for m in catalog.starter_models] == [
        m["source"] for m in raw["starter_models"]
    ]
    assert [m.name for m in catalog.starter_models] == [m["name"] for m in raw["starter_models"]]
    assert list(catalog.starter_bundles) == list(raw["starter_bundles"])
    assert "sd-1" in catalog.starter_bundles
    for key, bundle in catalog.starter_bundles.items():
        assert bundle.name == raw["starter_bundles"][key]["name"]
        assert [m.source for m in bundle.models] == [
            m["source"] for m in raw["starter_bundles"][key]["models"]
        ]
    with_deps = [m for m in catalog.starter_models if m.dependencies]
    assert with_deps
    assert all(isinstance(d, StarterModel) for m in with_deps for d in m.dependencies or [])


def _starter_catalog(router: respx.MockRouter) -> dict[str, Any]:
    fixture = load_fixture("starter_models")
    add_route(router, fixture)
    catalog: dict[str, Any] = fixture["body"]
    return catalog


def _install_recorder(router: respx.MockRouter) -> respx.Route:
    return router.post(f"{V2}/install").mock(
        return_value=response_from(load_fixture("install_201_url"))
    )


def test_install_starter_model_installs_dependencies_first(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    raw = _starter_catalog(router)
    model_raw = next(m for m in raw["starter_models"] if len(m.get("dependencies") or []) >= 2)
    model = StarterModel.model_validate(model_raw)
    route = _install_recorder(router)
    handles = repo.install_starter_model(model)
    sources = [c.request.url.params["source"] for c in route.calls]
    assert sources == [d["source"] for d in model_raw["dependencies"]] + [model_raw["source"]]
    assert len(handles) == len(sources)
    assert all(sent_json(route, i) == {} for i in range(len(sources)))


def test_install_starter_model_skips_installed(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    raw = _starter_catalog(router)
    model_raw = next(m for m in raw["starter_models"] if len(m.get("dependencies") or []) >= 2)
    model_raw = json.loads(json.dumps(model_raw))
    model_raw["dependencies"][0]["is_installed"] = True
    route = _install_recorder(router)
    repo.install_starter_model(StarterModel.model_validate(model_raw))
    sources = [c.request.url.params["source"] for c in route.calls]
    assert model_raw["dependencies"][0]["source"] not in sources
    assert sources[-1] == model_raw["source"]
    first = route.call_count
    repo.install_starter_model(StarterModel.model_validate(model_raw), skip_installed=False)
    again = [c.request.url.params["source"] for c in route.calls][first:]
    assert again == [d["source"] for d in model_raw["dependencies"]] + [model_raw["source"]]


def test_install_starter_bundle(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    raw = _starter_catalog(router)
    route = _install_recorder(router)
    handles = repo.install_starter_bundle("sd-1")
    expected: list[str] = []
    for model in raw["starter_bundles"]["sd-1"]["models"]:
        for item in [*(model.get("dependencies") or []), model]:
            if item["source"] not in expected and not item["is_installed"]:
                expected.append(item["source"])
    sources = [c.request.url.params["source"] for c in route.calls]
    assert sources == expected
    assert len(handles) == len(expected) >= 2


def test_install_starter_bundle_unknown_names_the_bundles(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    raw = _starter_catalog(router)
    route = _install_recorder(router)
    with pytest.raises(InvalidArgumentError) as caught:
        repo.install_starter_bundle("sd-99")
    for name in raw["starter_bundles"]:
        assert name in str(caught.value)
    assert route.call_count == 0


# -- orphaned folders ------------------------------------------------------------------------


def test_list_orphaned_models(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    _, fixture = replay(router, "orphaned_list")
    orphans = repo.list_orphaned_models()
    assert all(isinstance(o, OrphanedModel) for o in orphans)
    assert [o.model_dump() for o in orphans] == fixture["body"]
    assert orphans[0].path == "capture-orphan"
    assert orphans[0].files == ["capture-orphan.safetensors"]
    assert orphans[0].size_bytes == fixture["body"][0]["size_bytes"] > 0


def test_list_orphaned_models_empty(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    replay(router, "orphaned_list_empty")
    assert repo.list_orphaned_models() == []


def test_delete_orphaned_models(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    """Only what the server lists as orphaned now is sent: its route deletes any path."""
    _, listing = replay(router, "orphaned_list")
    route, fixture = replay(router, "orphaned_delete")
    assert fixture["request"]["json"]["paths"] == ["capture-orphan", "capture-no-such-orphan"]
    orphan = listing["body"][0]
    for given in (["capture-orphan"], [orphan["absolute_path"]], repo.list_orphaned_models()):
        result = repo.delete_orphaned_models(given)
        assert isinstance(result, OrphanDeleteResult)
        assert sent_json(route) == {"paths": ["capture-orphan"]}
        assert result.deleted == ["capture-orphan"]
    sent = route.call_count
    for bad in (["capture-orphan", "capture-no-such-orphan"], ["."], [""], ["../etc"]):
        with pytest.raises(InvalidArgumentError):
            repo.delete_orphaned_models(bad)
    assert route.call_count == sent


# -- cover images ------------------------------------------------------------------------------


def test_get_model_image(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    _, record = replay(router, "model_get_with_image")
    image_route, image = replay(router, "model_image_get")
    data = repo.get_model_image(record["body"]["key"])
    assert data == base64.b64decode(image["body"])
    assert isinstance(data, bytes) and len(data) > 0
    assert image_route.call_count == 1


def test_get_model_image_none_when_the_record_has_none(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    _, record = replay(router, "model_get_embedding_sd1")
    assert record["body"]["cover_image"] is None
    image_route = router.get(f"{V2}/i/{record['body']['key']}/image")
    assert repo.get_model_image(record["body"]["key"]) is None
    assert image_route.call_count == 0


def test_get_model_image_unknown_model_raises_not_found(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    _, fixture = replay(router, "model_get_404")
    with pytest.raises(NotFoundError) as caught:
        repo.get_model_image(UNKNOWN_KEY)
    assert_api_error(caught.value, fixture)


def test_get_model_image_missing_file_is_server_error(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    """The record names an image, but the server has no file: it answers 500."""
    _, record = replay(router, "model_get_with_image")
    _, missing = replay(router, "model_image_get_missing_500")
    with pytest.raises(ServerError) as caught:
        repo.get_model_image(record["body"]["key"])
    assert_api_error(caught.value, missing)


def tiny_png() -> bytes:
    """A valid 2x2 PNG (the capture script sent one like it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + b"\x10\x20\x30" * 2 for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("from_file", [False, True, None], ids=["bytes", "file", "bytearray"])
def test_set_model_image(
    router: respx.MockRouter, repo: DnnModelRepository, tmp_path: Path, from_file: bool | None
) -> None:
    route, fixture = replay(router, "model_image_patch")
    assert fixture["request"]["multipart"]["image"]["content_type"] == "image/png"
    assert fixture["status"] == 200 and fixture["body"] is None
    png = tiny_png()
    image: bytes | bytearray | Path = bytearray(png) if from_file is None else png
    if from_file:
        image = tmp_path / "cover.png"
        image.write_bytes(png)
    key = fixture["request"]["path"].split("/")[-2]
    repo.set_model_image(key, image)
    request = route.calls.last.request
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert b'name="image"' in request.content
    assert b"Content-Type: image/png" in request.content
    assert png in request.content


def test_set_model_image_round_trips_the_servers_webp(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    """The server answers covers as WebP (labelled image/png); they can be sent back."""
    webp = base64.b64decode(load_fixture("model_image_get")["body"])
    assert webp[:4] == b"RIFF" and webp[8:12] == b"WEBP"
    route, fixture = replay(router, "model_image_patch")
    repo.set_model_image(fixture["request"]["path"].split("/")[-2], webp)
    assert b"Content-Type: image/webp" in route.calls.last.request.content


@pytest.mark.parametrize("image", [b"", b"not an image at all"])
def test_set_model_image_bad_bytes_send_nothing(
    router: respx.MockRouter, repo: DnnModelRepository, image: bytes
) -> None:
    with pytest.raises(InvalidArgumentError):
        repo.set_model_image(key_of("model_get_embedding_sd1"), image)
    assert router.calls.call_count == 0


def test_set_model_image_missing_file_sends_nothing(
    router: respx.MockRouter, repo: DnnModelRepository, tmp_path: Path
) -> None:
    with pytest.raises(InvalidArgumentError):
        repo.set_model_image(key_of("model_get_embedding_sd1"), tmp_path / "nope.png")
    assert router.calls.call_count == 0


def test_delete_model_image(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    _, record = replay(router, "model_get_with_image")
    route, fixture = replay(router, "model_image_delete")
    assert fixture["status"] == 204
    assert fixture["request"]["path"] == f"{V2}/i/{record['body']['key']}/image"
    assert repo.delete_model_image(record["body"]["key"]) is True
    assert route.call_count == 1
    assert route.calls.last.request.headers["accept-encoding"] == "identity"


def test_delete_model_image_when_the_record_has_none_is_false(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    _, record = replay(router, "model_get_embedding_sd1")
    assert record["body"]["cover_image"] is None
    delete = router.delete(f"{V2}/i/{record['body']['key']}/image")
    assert repo.delete_model_image(record["body"]["key"]) is False
    assert delete.call_count == 0


def test_delete_model_image_missing_file_is_false(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    """The record names an image the server no longer has: 6.14.2 answers 404."""
    _, record = replay(router, "model_get_with_image")
    route, fixture = replay(router, "model_image_delete_missing")
    assert fixture["status"] == 404
    assert fixture["request"]["path"] == f"{V2}/i/{record['body']['key']}/image"
    assert repo.delete_model_image(record["body"]["key"]) is False
    assert route.call_count == 1


def test_delete_model_image_unknown_model_raises_not_found(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    _, fixture = replay(router, "model_get_404")
    with pytest.raises(NotFoundError) as caught:
        repo.delete_model_image(UNKNOWN_KEY)
    assert_api_error(caught.value, fixture)


# -- forward compatibility --------------------------------------------------------------------


def test_unknown_enum_values_and_fields_parse(
    router: respx.MockRouter, repo: DnnModelRepository
) -> None:
    fixture = load_fixture("models_list")
    record = dict(fixture["body"]["models"][0])
    record.update(base="sd-9", type="hologram", format="quantum", brand_new={"x": [1, 2]})
    router.get(f"{V2}/").mock(return_value=response_from(fixture, json_body={"models": [record]}))
    (model,) = repo.list_models()
    assert model.base == "sd-9" and not model.base.is_known
    assert model.type == "hologram" and not model.type.is_known
    assert model.format == "quantum" and model.format is not None and not model.format.is_known
    assert model.extra["brand_new"] == {"x": [1, 2]}
    assert model.key == record["key"]


# -- version gating -----------------------------------------------------------------------------


GATED = [
    ("get_model_by_hash", "6.12", lambda r: r.get_model_by_hash("blake3:" + "0" * 64)),
    ("list_missing_models", "6.12", lambda r: r.list_missing_models()),
    ("reidentify_model", "6.9", lambda r: r.reidentify_model(key_of("model_get_lora_sd1"))),
    ("bulk_delete_models", "6.10", lambda r: r.bulk_delete_models([UNKNOWN_KEY])),
    ("bulk_reidentify_models", "6.13", lambda r: r.bulk_reidentify_models([UNKNOWN_KEY])),
    ("list_orphaned_models", "6.12", lambda r: r.list_orphaned_models()),
    ("delete_orphaned_models", "6.12", lambda r: r.delete_orphaned_models(["capture-orphan"])),
]


@pytest.mark.parametrize(("call", "minimum", "invoke"), GATED, ids=[g[0] for g in GATED])
def test_calls_too_new_for_6_8_raise_and_send_nothing(
    router: respx.MockRouter, old_repo: DnnModelRepository, call: str, minimum: str, invoke: Any
) -> None:
    catch_all = router.route(path__startswith=V2).mock(return_value=httpx.Response(418))
    with pytest.raises(UnsupportedByServerError) as caught:
        invoke(old_repo)
    err = caught.value
    assert err.call == call
    assert err.server_version == OLD_VERSION
    assert err.minimum_version == minimum
    assert call in str(err) and OLD_VERSION in str(err) and minimum in str(err)
    assert catch_all.call_count == 0
    assert [c.request.url.path for c in router.calls] == ["/api/v1/app/version"]


LORA_SETTINGS_CALLS = [
    ("install_model", lambda r, c: r.install_model("/models/x.safetensors", config=c)),
    ("update_model", lambda r, c: r.update_model(UNKNOWN_KEY, c)),
]


@pytest.mark.parametrize(
    ("call", "invoke"), LORA_SETTINGS_CALLS, ids=[c[0] for c in LORA_SETTINGS_CALLS]
)
def test_lora_default_settings_need_6_6_and_send_nothing_before(
    router: respx.MockRouter, call: str, invoke: Any
) -> None:
    router.get("/api/v1/app/version").mock(
        return_value=httpx.Response(200, json={"version": "6.5.1"})
    )
    catch_all = router.route(path__startswith=V2).mock(
        return_value=httpx.Response(422, json={"detail": "refused"})
    )
    with InvokeAIClient(BASE_URL, max_retries=0, verify=False, events=False) as client:
        with pytest.raises(UnsupportedByServerError) as caught:
            invoke(client.dnn_model_repo, {"default_settings": {"weight": 0.75}})
        assert catch_all.call_count == 0
        err = caught.value
        assert (err.call, err.minimum_version, err.server_version) == (call, "6.6", "6.5.1")
        assert str(err) == (
            f"{call}() with LoRA default settings (default_settings.weight) needs InvokeAI 6.6"
            " or newer; the server runs 6.5.1"
        )
        with pytest.raises(UnprocessableEntityError):  # other settings are sent as before
            invoke(client.dnn_model_repo, {"default_settings": {"steps": 20}})
        assert catch_all.call_count == 1


def test_version_is_asked_once(router: respx.MockRouter, repo: DnnModelRepository) -> None:
    replay(router, "models_missing_empty")
    replay(router, "orphaned_list_empty")
    repo.list_missing_models()
    repo.list_orphaned_models()
    repo.list_missing_models()
    versions = [c for c in router.calls if c.request.url.path == "/api/v1/app/version"]
    assert len(versions) == 1


def test_old_server_runs_calls_it_has(
    router: respx.MockRouter, old_repo: DnnModelRepository
) -> None:
    _, fixture = replay(router, "model_get_by_attrs", OLD_VERSION)
    query = fixture["request"]["query"]
    model = old_repo.get_model_by_attrs(query["name"], query["type"], query["base"])
    assert_record(model, fixture["body"])
    assert model is not None and model.description == f"sd-1 embedding model {query['name']}"


@pytest.mark.parametrize("scan_path", [None, "", "  ", ".", Path("")], ids=repr)
def test_scan_folder_needs_a_server_path(
    router: respx.MockRouter, repo: DnnModelRepository, scan_path: Any
) -> None:
    with pytest.raises(InvalidArgumentError):
        repo.scan_folder(scan_path)
    assert router.calls.call_count == 0


@pytest.mark.parametrize("job_id", [-1, "-1", "1.5", True, None])
def test_bad_job_id_sends_nothing(
    router: respx.MockRouter, repo: DnnModelRepository, job_id: Any
) -> None:
    with pytest.raises(InvalidArgumentError):
        repo.cancel_install_job(job_id)
    assert router.calls.call_count == 0
