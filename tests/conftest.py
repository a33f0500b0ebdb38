"""Shared fixtures: a real InvokeAI server for the integration tests (see testbed/README.md).

- ``INVOKE_AI_ENDPOINT`` set: tests use that server and nothing is started.
- otherwise: InvokeAI is provisioned (once, cached) before the first test runs, and one
  server is started lazily for the whole session, only if a test asks for it.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import pytest

from testbed.provision import configured_version, ensure_invokeai
from testbed.server import InvokeAIServer

ENDPOINT_ENV = "INVOKE_AI_ENDPOINT"
SERVER_FIXTURES = frozenset({"invokeai_server", "invokeai_url"})
_INTEGRATION_DIR = Path(__file__).parent / "integration"


def _sigterm_to_interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM behaves like Ctrl-C, so fixture finalizers stop the server."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the teardown
    raise KeyboardInterrupt


@contextmanager
def _uncaptured(config: pytest.Config) -> Iterator[None]:
    """Let output reach the real stderr even while pytest captures it."""
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is None:
        yield
        return
    with capman.global_and_fixture_disabled():
        yield


def _say(config: pytest.Config, message: str) -> None:
    with _uncaptured(config):
        print(f"\n[testbed] {message}", file=sys.stderr, flush=True)


def pytest_configure(config: pytest.Config) -> None:
    signal.signal(signal.SIGTERM, _sigterm_to_interrupt)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/integration/ is marked ``integration``."""
    for item in items:
        if _INTEGRATION_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Provision InvokeAI before any test runs, so its minutes are not charged to a test's
    timeout; only when a selected test needs the server and none is given."""
    config = session.config
    if config.option.collectonly or os.environ.get(ENDPOINT_ENV):
        return
    if any(SERVER_FIXTURES & set(getattr(i, "fixturenames", ())) for i in session.items):
        _say(config, f"checking the InvokeAI {configured_version()} install ...")
        with _uncaptured(config):
            ensure_invokeai()


@pytest.fixture(scope="session")
def invokeai_server(request: pytest.FixtureRequest) -> Iterator[InvokeAIServer | None]:
    """The test bed's server, or None when ``INVOKE_AI_ENDPOINT`` names an external one."""
    if os.environ.get(ENDPOINT_ENV):
        yield None
        return
    server = InvokeAIServer()
    try:
        server.start()
        _say(
            request.config,
            f"InvokeAI {server.server_version} ready at {server.url} in "
            f"{server.ready_seconds:.1f} s (root {server.root})",
        )
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def invokeai_url(invokeai_server: InvokeAIServer | None) -> str:
    """Base URL of the server under test, without a trailing slash."""
    if invokeai_server is None:
        return os.environ[ENDPOINT_ENV].rstrip("/")
    return invokeai_server.url


@pytest.fixture
def tiny_models_dir(tmp_path: Path) -> Path:
    """An empty directory for tiny model files; the server reads them by absolute path."""
    path = tmp_path / "models"
    path.mkdir()
    return path.resolve()


@pytest.fixture(autouse=True)
def _own_token_store(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test reads or writes the developer's stored ``login`` tokens."""
    from invokeai_py_client._core.defaults import CONFIG_DIR_ENV

    monkeypatch.setenv(CONFIG_DIR_ENV, str(tmp_path_factory.mktemp("config")))
