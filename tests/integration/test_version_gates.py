"""Every route the client knows, held against the running server's own OpenAPI document.

A route with ``since`` (the oldest InvokeAI that has it) must be there exactly when the
server is at least that version (or, with ``feature``, serve that part of the route from
that version on), so that the gate refuses neither too much nor too little;
a route without one must be there on every version we support. Run on each InvokeAI 6.x
by ``scripts/every_version.py``, this checks each gate at its boundary.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from invokeai_py_client._core import app_ops, job_ops, model_ops
from invokeai_py_client._core.calls import Route
from invokeai_py_client.client import parse_version

pytestmark = pytest.mark.integration

ORDERING = ("order_by", "direction")  # model_ops.LIST_ORDERED: query parameters, not a path
Served = tuple[tuple[int, ...], dict[str, dict[str, Any]], dict[str, Any]]


def lora_settings_served(document: dict[str, Any]) -> bool:
    """Whether record changes (install and update bodies) take a LoRA's default settings."""
    changes = document["components"]["schemas"]["ModelRecordChanges"]
    return "LoraModelDefaultSettings" in json.dumps(changes["properties"]["default_settings"])


FEATURES = {job_ops.LORA_SETTINGS: lora_settings_served}


def known_routes() -> Iterator[tuple[str, Route]]:
    """The routes the ``*_ops`` modules declare, by name (dict entries as ``NAME[key]``)."""
    for module in (app_ops, job_ops, model_ops):
        for name, value in vars(module).items():
            if isinstance(value, Route):
                yield f"{module.__name__.rsplit('.', 1)[1]}.{name}", value
            elif isinstance(value, dict):
                for key, item in value.items():
                    if isinstance(item, Route):
                        yield f"{module.__name__.rsplit('.', 1)[1]}.{name}[{key}]", item


def shape(path: str) -> str:
    """A path template with its parameter names dropped: ``/i/{key}`` -> ``/i/{}``."""
    return re.sub(r"\{[^}]*\}", "{}", path).rstrip("/")


@pytest.fixture(scope="module")
def served(invokeai_url: str) -> Served:
    """The server's version, its OpenAPI operations by path shape and method, and the
    whole document."""
    with httpx.Client(base_url=invokeai_url, timeout=30) as http:
        version = parse_version(http.get("/api/v1/app/version").json()["version"])
        document = http.get("/openapi.json").json()
    operations: dict[str, dict[str, Any]] = {}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            operations[f"{method.upper()} {shape(path)}"] = operation
    return version, operations, document


def test_the_client_declares_its_routes() -> None:
    names = dict(known_routes())
    assert "model_ops.REIDENTIFY" in names and "job_ops.JOB_ACTIONS[pause]" in names
    assert len(names) >= 20


@pytest.mark.parametrize(("name", "route"), list(known_routes()), ids=lambda v: str(v)[:40])
def test_a_route_is_served_exactly_from_its_version(
    name: str, route: Route, served: Served
) -> None:
    version, operations, document = served
    operation = operations.get(f"{route.method} {shape(route.path)}")
    if route.feature is not None:
        present = operation is not None and FEATURES[route.feature](document)
    elif route.path == model_ops.LIST_ORDERED.path and route.since == model_ops.LIST_ORDERED.since:
        params = {p["name"] for p in (operation or {}).get("parameters", [])}
        present = set(ORDERING) <= params
    else:
        present = operation is not None
    expected = route.since is None or version >= parse_version(route.since)
    where = f"{name} ({route.method} {route.path}, since {route.since or 'always'})"
    assert present == expected, (
        f"{where}: the server {'.'.join(map(str, version))} {'serves' if present else 'lacks'} it"
    )
