"""Parsing and derived values of the typed models (no HTTP)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from invokeai_py_client.dnn_model import (
    BaseDnnModelType,
    DnnModel,
    DnnModelFormat,
    DnnModelType,
    HFLoginStatus,
    InstallJobStatus,
    ModelInstallConfig,
    ModelInstJobInfo,
    ModelManagerStats,
)
from invokeai_py_client.errors import InvalidArgumentError

RECORD = {
    "key": "2c46",
    "hash": "blake3:abc",
    "path": "/tmp/e.safetensors",
    "file_size": 3224,
    "name": "tiny",
    "description": None,
    "source": "/tmp/e.safetensors",
    "source_type": "path",
    "source_api_response": None,
    "source_url": None,
    "cover_image": None,
    "type": "embedding",
    "format": "embedding_file",
    "base": "sd-1",
}


def job(**changes: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "id": 4,
        "status": "running",
        "error_reason": None,
        "config_in": {},
        "config_out": None,
        "inplace": True,
        "source": {"path": "/tmp/e.safetensors", "inplace": True, "type": "local"},
        "local_path": "/tmp/e.safetensors",
        "bytes": 0,
        "total_bytes": 0,
        "source_metadata": None,
        "download_parts": [],
        "error": None,
        "error_traceback": None,
    }
    payload.update(changes)
    return payload


# -- open enums ---------------------------------------------------------------------


def test_known_enum_values_are_members() -> None:
    model = DnnModel.model_validate(RECORD)
    assert model.base == "sd-1" and str(model.base) == "sd-1" and model.base.is_known
    assert model.base is BaseDnnModelType.SD_1 is BaseDnnModelType["StableDiffusion1"]
    assert model.type is DnnModelType.EMBEDDING and model.format is DnnModelFormat.EMBEDDING_FILE


def test_unknown_enum_values_parse_and_compare_as_strings() -> None:
    model = DnnModel.model_validate({**RECORD, "base": "flux9", "type": "hologram", "format": "x"})
    assert model.base == "flux9" and model.type == "hologram" and model.format == "x"
    assert not model.base.is_known
    assert model.base is BaseDnnModelType("flux9")
    assert model.model_dump(mode="json")["base"] == "flux9"


def test_a_member_name_is_not_a_known_value() -> None:
    assert not BaseDnnModelType("Flux").is_known
    assert BaseDnnModelType("Flux") != BaseDnnModelType.FLUX
    info = ModelInstJobInfo.model_validate(job(status="WAITING"))
    assert info.extra["raw_status"] == "WAITING" and not info.is_terminal


def test_config_with_a_wrong_type_raises_our_error() -> None:
    with pytest.raises(InvalidArgumentError):
        ModelInstallConfig(trigger_phrases="one")


def test_enums_cover_both_supported_versions() -> None:
    for value in ["imagen3", "chatgpt-4o", "flux2", "z-image", "unknown", "external"]:
        assert BaseDnnModelType(value).is_known
    for value in ["video", "qwen3_encoder", "text_llm", "unknown"]:
        assert DnnModelType(value).is_known
    for value in ["api", "external_api", "sdnq_quantized", "gguf_quantized"]:
        assert DnnModelFormat(value).is_known


def test_record_keeps_unknown_fields_in_extra() -> None:
    model = DnnModel.model_validate({**RECORD, "shiny_new_field": [1, 2], "variant": "normal"})
    assert model.extra == {"shiny_new_field": [1, 2]}
    assert model.variant == "normal"
    assert DnnModel.model_validate(RECORD).extra == {}


# -- install jobs -----------------------------------------------------------------


def test_status_values_and_properties() -> None:
    assert [s.value for s in InstallJobStatus] == [
        "waiting", "downloading", "downloads_done", "running", "paused",
        "completed", "error", "cancelled",
    ]  # fmt: skip
    terminal = {s.value for s in InstallJobStatus if s.is_terminal}
    assert terminal == {"completed", "error", "cancelled"}
    assert InstallJobStatus.COMPLETED.is_success and not InstallJobStatus.ERROR.is_success
    assert InstallJobStatus.CANCELLED.is_failure and not InstallJobStatus.PAUSED.is_failure
    completed: str = InstallJobStatus.COMPLETED  # a str enum: equal to its value
    assert completed == "completed"


def test_running_local_job() -> None:
    info = ModelInstJobInfo.model_validate(job())
    assert info.id == 4 and info.status == "running"
    assert info.source == "/tmp/e.safetensors"
    assert info.source_info == {"path": "/tmp/e.safetensors", "inplace": True, "type": "local"}
    assert info.progress is None
    assert info.model_key is None and info.result is None and info.error is None
    assert not info.is_terminal
    assert info.created_at is None and info.updated_at is None and info.completed_at is None


def test_completed_job_has_key_result_and_full_progress() -> None:
    info = ModelInstJobInfo.model_validate(job(status="completed", config_out=RECORD))
    assert info.is_success and info.progress == 1.0
    assert info.model_key == "2c46"
    assert isinstance(info.result, DnnModel) and info.result.name == "tiny"


def test_failed_duplicate_job_says_so() -> None:
    info = ModelInstJobInfo.model_validate(
        job(
            status="error",
            error_reason="DuplicateModelException",
            error="A model with path '/tmp/e.safetensors' is already installed",
            error_traceback="Traceback...",
        )
    )
    assert info.is_failure and info.is_duplicate
    assert info.error_reason == "DuplicateModelException"
    assert info.error_traceback == "Traceback..."
    assert info.error_info is not None and info.error_info.type == "DuplicateModelException"
    assert info.message == (
        "DuplicateModelException: A model with path '/tmp/e.safetensors' is already installed"
    )
    assert info.describe().endswith("error - the model is already installed")


def test_download_progress_and_timestamps_from_parts() -> None:
    part = {
        "id": 1,
        "source": "http://127.0.0.1:1/m.safetensors",
        "access_token": "sekrit",
        "bytes": 25,
        "total_bytes": 100,
        "status": "running",
        "job_started": "2026-11-26T05:00:00",
        "job_ended": None,
    }
    source = {"url": "http://127.0.0.1:1/m.safetensors", "access_token": "sekrit", "type": "url"}
    info = ModelInstJobInfo.model_validate(
        job(status="downloading", source=source, bytes=25, total_bytes=100, download_parts=[part])
    )
    assert info.progress == 0.25
    assert info.source == "http://127.0.0.1:1/m.safetensors"
    assert "sekrit" not in info.model_dump_json() and "sekrit" not in repr(info)
    assert info.download_parts[0].bytes == 25
    assert info.created_at is not None and info.created_at.hour == 5
    assert info.completed_at is None


def test_hf_source_is_spelled_like_the_server() -> None:
    source = {"repo_id": "o/r", "variant": "fp16", "subfolder": "vae", "type": "hf",
              "access_token": "t"}  # fmt: skip
    info = ModelInstJobInfo.model_validate(job(source=source))
    assert info.source == "o/r:fp16::vae"
    assert info.source_info is not None and "access_token" not in info.source_info


def test_unknown_status_parses_keeps_raw_and_is_not_terminal() -> None:
    info = ModelInstJobInfo.model_validate(job(status="verifying", new_field=1))
    assert info.status == "verifying" and not info.status.is_known
    assert not info.is_terminal and not info.is_failure
    assert info.extra == {"raw_status": "verifying", "new_field": 1}


def test_job_info_round_trips_through_its_own_dump() -> None:
    info = ModelInstJobInfo.model_validate(job(status="completed", config_out=RECORD))
    again = ModelInstJobInfo.model_validate(info.model_dump())
    assert again.model_key == "2c46" and again.status is InstallJobStatus.COMPLETED


# -- stats, HF ------------------------------------------------------------------------


def test_stats_derived_values() -> None:
    stats = ModelManagerStats.model_validate(
        {
            "hits": 3,
            "misses": 1,
            "high_watermark": 3 * 2**20,
            "in_cache": 2,
            "cleared": 5,
            "cache_size": 8 * 2**30,
            "loaded_model_sizes": {"a": 2**20, "b": 2**21},
            "future": True,
        }
    )
    assert stats.hit_rate == 0.75 and stats.miss_rate == 0.25
    assert stats.ram_used_mb == 3.0 and stats.ram_capacity_mb == 8192.0
    assert stats.high_watermark_mb == 3.0
    assert stats.loads == 1 and stats.evictions == 5
    assert stats.extra == {"future": True}


def test_stats_before_any_request_have_no_rates() -> None:
    stats = ModelManagerStats()
    assert stats.hit_rate is None and stats.miss_rate is None and stats.ram_used_mb == 0.0


@pytest.mark.parametrize(
    ("status", "logged_in"),
    [("valid", True), ("invalid", False), ("unknown", False), ("expired", False)],
)
def test_hf_login_status(status: str, logged_in: bool) -> None:
    hf = HFLoginStatus(status=status)  # type: ignore[arg-type]
    assert hf.is_logged_in is logged_in
    assert hf.username is None and hf.scopes is None


# -- install config -----------------------------------------------------------------


def test_config_sends_only_what_was_set() -> None:
    config = ModelInstallConfig(name="My SD", base=BaseDnnModelType.SDXL, description=None)
    assert config.to_record_changes() == {"name": "My SD", "base": "sdxl", "description": None}
    assert ModelInstallConfig().to_record_changes() == {}


def test_config_refuses_unknown_keys_with_a_hint() -> None:
    makers: list[Callable[[], ModelInstallConfig]] = [
        lambda: ModelInstallConfig.model_validate({"nmae": "x"}),
        lambda: ModelInstallConfig(nmae="x"),
    ]
    for make in makers:
        with pytest.raises(InvalidArgumentError, match="'nmae' \\(did you mean 'name'\\?\\)"):
            make()
    with pytest.raises(InvalidArgumentError, match="extra="):
        ModelInstallConfig.model_validate({"brand_new": 1})


def test_config_passes_extra_fields_through() -> None:
    config = ModelInstallConfig.model_validate(
        {"name": "n", "extra": {"other": 2, "brand_new": 1}, "type": "lora"}
    )
    assert config.extra == {"other": 2, "brand_new": 1}
    assert config.to_record_changes() == {"name": "n", "type": "lora", "other": 2, "brand_new": 1}


def test_config_wrong_type_is_one_clear_message() -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        ModelInstallConfig.model_validate({"name": 5})
    message = str(caught.value)
    assert message == "invalid install config: name: Input should be a valid string (got 5)"
    with pytest.raises(InvalidArgumentError, match="not list"):
        ModelInstallConfig.model_validate(["name"])


def test_info_given_back_with_source_info_still_loses_tokens() -> None:
    dumped = {"id": 1, "source_info": {"url": "http://h/m", "access_token": "sekrit"}}
    info = ModelInstJobInfo.model_validate(dumped)
    assert info.source_info == {"url": "http://h/m"}
