"""Property-based: payloads drawn from the OpenAPI documents of InvokeAI 6.14.2 and 6.8.1
(``tests/fixtures/openapi/``) always parse to our models.

Every model config (record) variant, the install job, the cache stats and every
model-install and download event, each with extra fields mixed into every object and
string enums sometimes replaced by values no version has (see ``openapi_strategies``).
A parsed record, job or stats object keeps the extra fields in ``extra``, and survives a
round trip (dumped as JSON and parsed again, it is equal, extras included).
Deterministic: ``derandomize`` and no example database.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invokeai_py_client._core.calls import Call, JsonBytes, Route
from invokeai_py_client._core.parsing import parse, parse_records
from invokeai_py_client.dnn_model import (
    DnnModel,
    InstallJobStatus,
    ModelInstJobInfo,
    ModelManagerStats,
)
from invokeai_py_client.dnn_model.install_events import (
    DownloadEvent,
    InstallEvent,
    ModelInstallEvent,
    job_update,
    parse_event,
)
from invokeai_py_client.dnn_model.job_models import source_text
from tests.unit.openapi_strategies import (
    EXTRA_PREFIX,
    OPENAPI_VERSIONS,
    SchemaStrategies,
    event_name,
    json_values,
    openapi,
    record_variants,
)

PROPERTIES = settings(
    deadline=None,
    derandomize=True,  # the same examples on every run: CI is deterministic
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CALL = Call(Route("GET", "/api/v2/models/"), "list_models")
STRATEGIES = {v: SchemaStrategies(openapi(v)["components"]["schemas"]) for v in OPENAPI_VERSIONS}
VARIANTS = [(v, name) for v in OPENAPI_VERSIONS for name in record_variants(v)]
EVENTS = [
    (v, name)
    for v in OPENAPI_VERSIONS
    for name in openapi(v)["components"]["schemas"]
    if name.endswith("Event") and name.startswith(("ModelInstall", "Download"))
]


def test_the_documents_are_read() -> None:
    """Both documents, each with its model config variants (6.14.2 has far more)."""
    counts = {v: len(record_variants(v)) for v in OPENAPI_VERSIONS}
    assert counts["6.14.2"] > 100 and counts["6.8.1"] > 20, counts
    assert len([e for e in EVENTS if e[0] == "6.8.1"]) >= 11


def extras_of(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k.startswith(EXTRA_PREFIX)}


def keys_at_any_depth(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_at_any_depth(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_at_any_depth(v)}
    return set()


def check_record(payload: dict[str, Any]) -> DnnModel:
    model = DnnModel.model_validate(payload)
    assert (model.key, model.name) == (payload["key"], payload["name"])
    assert (str(model.type), str(model.base)) == (payload["type"], payload["base"])
    undeclared = {k: v for k, v in payload.items() if k not in DnnModel.model_fields}
    assert model.extra == undeclared
    again = DnnModel.model_validate(json.loads(json.dumps(model.model_dump(mode="json"))))
    assert again == model and again.extra == model.extra
    from_bytes = parse(DnnModel, JsonBytes(json.dumps(payload).encode()), CALL)  # record routes
    assert from_bytes == model
    return model


@pytest.mark.parametrize(("version", "variant"), VARIANTS, ids=[f"{v}-{n}" for v, n in VARIANTS])
@settings(PROPERTIES, max_examples=3)  # x 153 variants; the list test mixes them further
@given(data=st.data())
def test_every_record_variant_parses(version: str, variant: str, data: st.DataObject) -> None:
    check_record(data.draw(STRATEGIES[version].named(variant), label=variant))


@pytest.mark.parametrize("version", OPENAPI_VERSIONS)
@settings(PROPERTIES, max_examples=50)
@given(data=st.data())
def test_a_list_of_records_parses_without_a_warning(version: str, data: st.DataObject) -> None:
    schemas = STRATEGIES[version]
    variants = st.sampled_from(record_variants(version)).flatmap(schemas.named)
    payload = data.draw(st.lists(variants, min_size=1, max_size=4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a ResponseShapeWarning fails the test
        models = parse_records(DnnModel, payload, CALL)
    assert [m.key for m in models] == [p["key"] for p in payload]


@pytest.mark.parametrize("version", OPENAPI_VERSIONS)
@settings(PROPERTIES, max_examples=60)
@given(data=st.data())
def test_an_install_job_parses(version: str, data: st.DataObject) -> None:
    payload = data.draw(STRATEGIES[version].named("ModelInstallJob"))
    info = ModelInstJobInfo.model_validate(payload)
    assert info.id == payload["id"]
    assert info.status == payload.get("status", "waiting")
    assert info.source == source_text(payload["source"])
    assert extras_of(payload).items() <= info.extra.items()
    dumped = json.loads(json.dumps(info.model_dump(mode="json")))
    assert "access_token" not in keys_at_any_depth(dumped)  # echoed tokens are dropped
    again = ModelInstJobInfo.model_validate(dumped)
    assert again == info and again.extra == info.extra
    assert info.progress is None or 0.0 <= info.progress <= 1.0 or info.bytes < 0
    if isinstance(payload.get("config_out"), dict):
        assert info.model_key == payload["config_out"].get("key")


@pytest.mark.parametrize("version", OPENAPI_VERSIONS)
@settings(PROPERTIES, max_examples=60)
@given(data=st.data())
def test_cache_stats_parse(version: str, data: st.DataObject) -> None:
    payload = data.draw(STRATEGIES[version].named("CacheStats"))
    stats = ModelManagerStats.model_validate(payload)
    declared = {k: v for k, v in payload.items() if k in ModelManagerStats.model_fields}
    assert stats.model_dump(include=set(declared)) == declared
    assert stats.extra == extras_of(payload)
    assert ModelManagerStats.model_validate(stats.model_dump(mode="json")) == stats
    requests = stats.hits + stats.misses
    assert stats.hit_rate == (stats.hits / requests if requests else None)


@pytest.mark.parametrize(("version", "schema"), EVENTS, ids=[f"{v}-{n}" for v, n in EVENTS])
@settings(PROPERTIES, max_examples=10)
@given(data=st.data())
def test_every_event_parses(version: str, schema: str, data: st.DataObject) -> None:
    name = event_name(schema)
    payload = data.draw(STRATEGIES[version].named(schema))
    event = parse_event(name, payload)
    assert event.name == name
    assert "access_token" not in keys_at_any_depth(event.model_dump(mode="json"))
    assert extras_of(payload).items() <= event.extra.items()
    if name.startswith("download_"):
        assert isinstance(event, DownloadEvent)
        assert event.source == payload.get("source")
        return
    assert isinstance(event, ModelInstallEvent), f"{name} fell back to {type(event).__name__}"
    assert event.id == payload["id"] and event.source == source_text(payload["source"])
    info = ModelInstJobInfo(id=event.id, status=InstallJobStatus.RUNNING, source=event.source)
    updated = job_update(info, event)  # never raises
    if updated is not None:
        assert updated.id == info.id and updated.source == info.source
        if name == "model_install_complete":
            assert updated.status == "completed" and updated.result is not None


@settings(PROPERTIES, max_examples=60)
@given(name=st.text(max_size=30), payload=json_values)
def test_any_event_name_and_payload_parse(name: str, payload: Any) -> None:
    event = parse_event(name, payload)
    assert isinstance(event, InstallEvent) and event.name == name
    info = ModelInstJobInfo(id=0, status=InstallJobStatus.RUNNING)
    job_update(info, event)  # never raises
