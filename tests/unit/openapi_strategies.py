"""Hypothesis strategies for payloads described by a JSON schema: an InvokeAI OpenAPI
document (``tests/fixtures/openapi/``), or a pydantic model's schema.

Objects and arrays are walked here: every declared property is drawn from its own
schema, a few extra properties are mixed into every object, and a string enum or
const may be replaced by a value no version has (servers add values every release).
Scalars are drawn by hypothesis-jsonschema from their schema (bounds, multiples,
lengths, enums, formats). Strategies are built once per schema node.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

__all__ = [
    "EXTRA_PREFIX",
    "OPENAPI_VERSIONS",
    "SchemaStrategies",
    "event_name",
    "json_values",
    "openapi",
    "record_variants",
]

OPENAPI_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "openapi"
OPENAPI_VERSIONS = ("6.14.2", "6.8.1")
EXTRA_PREFIX = "x_"  # extra fields: no model of ours declares a field of this name
_ANNOTATIONS = {"title", "description", "default", "examples", "discriminator"}
_FORMATS = {"date-time", "date", "time", "uri", "email", "hostname", "ipv4", "ipv6"}
"""Formats hypothesis-jsonschema draws; others (``path``) are left out of the schema."""
_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)  # no lone surrogates

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_TEXT, children, max_size=3),
    max_leaves=6,
)
"""Any JSON value (the value of an extra field)."""

_UNKNOWN_ENUM = st.sampled_from(["future-value", "x-new", "unknown2", "z_image_2"])


@cache
def openapi(version: str) -> dict[str, Any]:
    """The OpenAPI document a server of ``version`` serves at ``/openapi.json``."""
    data: dict[str, Any] = json.loads((OPENAPI_DIR / f"openapi-{version}.json").read_text())
    return data


def record_variants(version: str) -> list[str]:
    """The schema names of every model config (record) variant of ``version``."""
    schemas = openapi(version)["components"]["schemas"]
    variants = schemas["ModelsList"]["properties"]["models"]["items"]["oneOf"]
    return [ref["$ref"].rsplit("/", 1)[-1] for ref in variants]


def event_name(schema_name: str) -> str:
    """``ModelInstallCompleteEvent`` -> ``model_install_complete``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", schema_name.removesuffix("Event")).lower()


class SchemaStrategies:
    """Strategies for the schemas of one document (``definitions`` by name)."""

    def __init__(
        self, definitions: dict[str, Any], *, extras: bool = True, unknown_enums: bool = True
    ) -> None:
        self.definitions = definitions
        self.extras = extras
        self.unknown_enums = unknown_enums
        self._built: dict[str, st.SearchStrategy[Any]] = {}
        self._building: set[str] = set()
        self.overrides: dict[str, st.SearchStrategy[Any]] = {}
        """Property name -> strategy, used in place of the property's schema."""

    def named(self, name: str) -> st.SearchStrategy[Any]:
        """The strategy of the definition ``name``."""
        if name not in self._built:
            if name in self._building:  # a recursive schema: stop here
                return st.none()
            self._building.add(name)
            self._built[name] = self.of(self.definitions[name])
            self._building.discard(name)
        return self._built[name]

    def of(self, node: Any) -> st.SearchStrategy[Any]:
        """The strategy of a schema node."""
        if not isinstance(node, dict) or not node:
            return json_values
        if "$ref" in node:
            return self.named(node["$ref"].rsplit("/", 1)[-1])
        for combinator in ("anyOf", "oneOf"):
            if combinator in node:
                return st.one_of([self.of(option) for option in node[combinator]])
        if "allOf" in node and len(node["allOf"]) == 1:
            return self.of(node["allOf"][0])
        kind = node.get("type")
        if kind == "object" or "properties" in node:
            return self._object(node)
        if kind == "array":
            items = self.of(node.get("items", {}))
            unique = node.get("uniqueItems", False)
            return st.lists(items, max_size=3, unique_by=_canonical if unique else None)
        return self._scalar(node)

    def _object(self, node: dict[str, Any]) -> st.SearchStrategy[Any]:
        properties: dict[str, Any] = node.get("properties", {})
        required = set(node.get("required", []))
        strategies = {
            name: self.overrides.get(name) or self.of(s) for name, s in properties.items()
        }
        drawn = st.fixed_dictionaries(
            {k: v for k, v in strategies.items() if k in required},
            optional={k: v for k, v in strategies.items() if k not in required},
        )
        more = node.get("additionalProperties")
        if isinstance(more, dict) and not properties:  # a mapping (sizes by key, ...)
            keys = self.of(node["propertyNames"]) if "propertyNames" in node else _TEXT
            return st.dictionaries(keys, self.of(more), max_size=3)
        if not self.extras or more is False:
            return drawn
        extra_names = _TEXT.map(lambda name: EXTRA_PREFIX + name)
        extra = st.dictionaries(extra_names, json_values, max_size=2)
        return st.tuples(drawn, extra).map(lambda parts: {**parts[1], **parts[0]})

    def _scalar(self, node: dict[str, Any]) -> st.SearchStrategy[Any]:
        schema = {k: v for k, v in node.items() if k not in _ANNOTATIONS}
        if schema.get("format") not in _FORMATS:
            schema.pop("format", None)
        drawn = _leaf(json.dumps(schema, sort_keys=True))
        is_enum = ("enum" in node or "const" in node) and node.get("type", "string") == "string"
        if is_enum and self.unknown_enums:
            return st.one_of(drawn, _UNKNOWN_ENUM)
        return drawn


@cache
def _leaf(schema: str) -> st.SearchStrategy[Any]:
    if "$ref" in schema:  # resolved by SchemaStrategies.of, never by hypothesis-jsonschema
        raise ValueError(f"an unresolved reference in a leaf schema: {schema}")
    loaded = json.loads(schema)
    return from_schema(loaded) if loaded else json_values


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
