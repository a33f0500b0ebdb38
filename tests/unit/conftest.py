"""Replay of captured server answers (``tests/fixtures/<version>/*.json``) with respx.

A fixture holds one real request and answer (see ``tests/fixtures/README.md``). Helpers:

- ``load_fixture(name, version)``: the fixture as a fresh dict (safe to modify);
- ``response_from(fixture)``: the answer as an ``httpx.Response``, byte for byte what the
  server sent (JSON re-encoded, binary bodies decoded from base64, 204s empty);
- ``add_route(router, fixture)``: a respx route that matches the fixture's method, path
  and, unless ``query=False``, exactly its query string.

Fixtures (pytest): ``router`` (a respx mock with every request required to match a route),
``client``/``repo`` on a server answering version 6.14.2, ``old_client``/``old_repo`` on one
answering 6.8.1.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from invokeai_py_client import InvokeAIClient
from invokeai_py_client.dnn_model import DnnModelRepository

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fixtures"
VERSION = "6.14.2"
OLD_VERSION = "6.8.1"
BASE_URL = "http://invokeai.test:9090"
V2 = "/api/v2/models"
UNKNOWN_KEY = "00000000-no-such-model-key"  # what the capture script asked for
UNKNOWN_JOB_ID = 987654
SECRET = "tok-SECRET-4f1d2a9c"  # put back where the fixtures say "***"
# Plain-HTTP test server: verify=False only spares each client loading the CA bundle (~20 ms).


@cache
def _read(version: str, name: str) -> str:
    path = FIXTURES_DIR / version / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"no fixture {name!r} for {version}: run scripts/capture_fixtures.py"
        )
    return path.read_text()


def load_fixture(name: str, version: str = VERSION) -> dict[str, Any]:
    """The fixture ``name`` of ``version``, as a new dict each call."""
    fixture: dict[str, Any] = json.loads(_read(version, name))
    return fixture


def body(name: str, version: str = VERSION) -> Any:
    """The answer body of a fixture."""
    return load_fixture(name, version)["body"]


def has_fixture(name: str, version: str) -> bool:
    return (FIXTURES_DIR / version / f"{name}.json").is_file()


def versions_with(name: str) -> list[str]:
    """The captured versions that have fixture ``name`` (for parametrizing)."""
    return [v for v in (VERSION, OLD_VERSION) if has_fixture(name, v)]


def with_secret(value: Any, secret: str = SECRET) -> Any:
    """``value`` with each masked token (``"***"``) put back as ``secret``, as servers echo it."""
    if isinstance(value, dict):
        return {k: with_secret(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [with_secret(v, secret) for v in value]
    if value == "***":
        return secret
    return value


def response_from(fixture: dict[str, Any], *, json_body: Any = ...) -> httpx.Response:
    """The fixture's answer as an ``httpx.Response`` (``json_body`` replaces a JSON body)."""
    status = int(fixture["status"])
    content_type = fixture["headers"].get("content-type")
    headers = {"content-type": content_type} if content_type else {}
    payload = fixture["body"] if json_body is ... else json_body
    if fixture.get("body_encoding") == "base64":
        content = base64.b64decode(payload)
    elif status == 204:
        content = b""
    elif content_type and "json" in content_type:
        content = json.dumps(payload).encode()
    elif payload is None:
        content = b""
    else:
        content = str(payload).encode()
    return httpx.Response(status, headers=headers, content=content)


def route_kwargs(fixture: dict[str, Any], *, query: bool = True) -> dict[str, Any]:
    request = fixture["request"]
    kwargs: dict[str, Any] = {"method": request["method"], "path": request["path"]}
    if query:
        kwargs["params__eq"] = request["query"]
    return kwargs


def add_route(
    router: respx.MockRouter,
    fixture: dict[str, Any],
    *,
    query: bool = True,
    response: httpx.Response | None = None,
) -> respx.Route:
    """A route answering like the fixture, matching its method, path (and exact query)."""
    return router.route(**route_kwargs(fixture, query=query)).mock(
        return_value=response if response is not None else response_from(fixture)
    )


def replay(
    router: respx.MockRouter, name: str, version: str = VERSION, *, query: bool = True
) -> tuple[respx.Route, dict[str, Any]]:
    """``add_route`` for fixture ``name``; returns the route and the fixture."""
    fixture = load_fixture(name, version)
    return add_route(router, fixture, query=query), fixture


def sent_json(route: respx.Route, index: int = -1) -> Any:
    """The JSON body of a request the route saw."""
    return json.loads(route.calls[index].request.content)


def api_calls(router: respx.MockRouter) -> list[httpx.Request]:
    """Requests sent, not counting ``GET /api/v1/app/version``."""
    return [c.request for c in router.calls if c.request.url.path != "/api/v1/app/version"]


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE_URL, assert_all_called=False, assert_all_mocked=True) as mock:
        yield mock


def _client(router: respx.MockRouter, version: str) -> InvokeAIClient:
    replay(router, "version", version)
    return InvokeAIClient(BASE_URL, max_retries=0, verify=False, events=False)


@pytest.fixture
def client(router: respx.MockRouter) -> Iterator[InvokeAIClient]:
    c = _client(router, VERSION)
    yield c
    c.close()


@pytest.fixture
def repo(client: InvokeAIClient) -> DnnModelRepository:
    return client.dnn_model_repo


@pytest.fixture
def old_client(router: respx.MockRouter) -> Iterator[InvokeAIClient]:
    c = _client(router, OLD_VERSION)
    yield c
    c.close()


@pytest.fixture
def old_repo(old_client: InvokeAIClient) -> DnnModelRepository:
    return old_client.dnn_model_repo


RepoFor = Callable[[str], DnnModelRepository]


@pytest.fixture
def repo_for(router: respx.MockRouter) -> Iterator[RepoFor]:
    """``repo_for(version)``: a repository on a server answering ``version``."""
    clients: list[InvokeAIClient] = []
    routed: set[str] = set()

    def make(version: str) -> DnnModelRepository:
        if version not in routed:
            replay(router, "version", version)
            routed.add(version)
        c = InvokeAIClient(BASE_URL, max_retries=0, verify=False, events=False)
        clients.append(c)
        return c.dnn_model_repo

    yield make
    for c in clients:
        c.close()
