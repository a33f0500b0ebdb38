"""Property-based: manifests generated from the manifest's own schema (pydantic's
``ModelManifest.model_json_schema()``) round-trip through export (``dumps``, YAML and
JSON) and load (``loads``); anything the schema allows either loads or is refused with
``ManifestError``; and the manifest exported from any records drawn from the OpenAPI
documents loads back as it was.
"""

from __future__ import annotations

import string
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from invokeai_py_client.dnn_model import DnnModel, ModelManifest
from invokeai_py_client.errors import ManifestError
from tests.unit.openapi_strategies import (
    OPENAPI_VERSIONS,
    SchemaStrategies,
    openapi,
    record_variants,
)

PROPERTIES = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SCHEMA = ModelManifest.model_json_schema()
DEFINITIONS = {**SCHEMA["$defs"], "ModelManifest": SCHEMA}
AS_THE_SCHEMA_SAYS = SchemaStrategies(DEFINITIONS, extras=False, unknown_enums=False)

_WORD = st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=8)
_VARIABLE = st.text(string.ascii_uppercase + "_", min_size=1, max_size=8).map("${{{}}}".format)
_SEGMENT = (_WORD | _WORD.map(lambda w: w + ".safetensors")).filter(lambda s: s not in {".", ".."})
_PATH = st.lists(_SEGMENT, min_size=1, max_size=3).map(lambda parts: "/" + "/".join(parts))
_HOST = st.lists(_WORD.map(str.lower), min_size=1, max_size=3).map(".".join)
_URL = st.builds(
    lambda host, path, token: f"https://{host}{path}" + (f"?token={token}" if token else ""),
    _HOST,
    _PATH,
    st.none() | _VARIABLE,
)
_REPO = st.builds("{}/{}".format, _WORD, _WORD)


@st.composite
def entries(draw: st.DrawFn) -> dict[str, Any]:
    """A valid manifest entry: its settings as the schema allows, a source of one kind
    with the fields that go with that kind."""
    entry = dict(draw(AS_THE_SCHEMA_SAYS.named("ManifestModel")))
    for field in ("source", "variant", "subfolder", "access_token", "inplace"):
        entry.pop(field, None)
    kind = draw(st.sampled_from(["path", "variable path", "url", "repo"]))
    if kind == "path":
        entry["source"] = draw(_PATH)
        entry["inplace"] = draw(st.none() | st.booleans())
    elif kind == "variable path":
        entry["source"] = draw(_VARIABLE) + draw(_PATH)
    elif kind == "url":
        entry["source"] = draw(_URL)
    else:
        entry["source"] = draw(_REPO)
        entry["variant"] = draw(st.none() | _WORD)
        entry["subfolder"] = draw(st.none() | _WORD)
    entry["access_token"] = draw(st.none() | _VARIABLE)
    if entry.get("name") is not None and not entry["name"].strip():
        entry["name"] = None  # a blank name is refused (test_refused_or_loaded)
    return {k: v for k, v in entry.items() if v is not None}


_SERVER = st.fixed_dictionaries({"url": _URL}, optional={"token": _VARIABLE})
manifests = st.fixed_dictionaries(
    {"models": st.lists(entries(), max_size=5, unique_by=lambda e: e["source"].lower())},
    optional={"version": st.just(1), "servers": st.lists(_SERVER | _URL, max_size=2)},
)


def round_trips(manifest: ModelManifest) -> None:
    yaml_text = manifest.dumps("yaml")
    assert ModelManifest.loads(yaml_text, origin="m.yaml") == manifest
    json_text = manifest.dumps("json")
    assert ModelManifest.loads(json_text, format="json", origin="m.json") == manifest
    assert ModelManifest.from_dict(manifest.to_dict()) == manifest
    assert ModelManifest.loads(yaml_text).dumps("yaml") == yaml_text  # stable


@settings(PROPERTIES, max_examples=100)
@given(data=manifests)
def test_a_manifest_round_trips_through_export_and_load(data: dict[str, Any]) -> None:
    manifest = ModelManifest.from_dict(data)
    assert [m.source for m in manifest.models] == [e["source"] for e in data["models"]]
    round_trips(manifest)


@settings(PROPERTIES, max_examples=100)
@given(data=AS_THE_SCHEMA_SAYS.named("ModelManifest"))
def test_anything_the_schema_allows_loads_or_is_refused(data: dict[str, Any]) -> None:
    """Free text where the schema says string (sources, tokens, URLs): a ManifestError
    or a manifest that round-trips, from data and from YAML text; nothing else."""
    try:
        manifest = ModelManifest.from_dict(data)
    except ManifestError as err:
        assert str(err).startswith("manifest")  # names where it is: "manifest: models[0]..."
        with pytest.raises(ManifestError):
            ModelManifest.loads(yaml.safe_dump(data, allow_unicode=True), origin="m.yaml")
        return
    round_trips(manifest)


@pytest.mark.parametrize("version", OPENAPI_VERSIONS)
@settings(PROPERTIES, max_examples=40)
@given(data=st.data())
def test_the_manifest_exported_from_any_records_loads_back(
    version: str, data: st.DataObject
) -> None:
    schemas = SchemaStrategies(openapi(version)["components"]["schemas"])
    variants = st.sampled_from(record_variants(version)).flatmap(schemas.named)
    records = [DnnModel.model_validate(r) for r in data.draw(st.lists(variants, max_size=4))]
    for record in records:  # sources a manifest can hold, and ones it cannot
        record.source = data.draw(st.none() | _PATH | _URL | _REPO | st.text(max_size=10))
    for lock in (False, True):
        manifest = ModelManifest.from_models(records, lock=lock)
        assert len(manifest.models) <= len(records)
        round_trips(manifest)
