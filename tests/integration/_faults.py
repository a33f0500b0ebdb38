"""Shared by the fault tests (``test_faults_*.py``): the fault proxy in front of the
session's server, a client that bypasses it (the server's own view), and look-ups of
jobs and records by source. Import the fixtures into a test module to use them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from invokeai_py_client import InvokeAIClient
from invokeai_py_client.dnn_model import DnnModel, ModelInstJobInfo
from testbed import tiny_models as tm
from testbed.fault_proxy import FaultProxy, Rule

__all__ = [
    "MODELS",
    "Clock",
    "Rule",
    "direct",
    "install_tiny",
    "jobs_for",
    "proxy",
    "records_for",
]

MODELS = "/api/v2/models/"
INSTALL = r"^/api/v2/models/install$"


@pytest.fixture
def proxy(invokeai_url: str) -> Iterator[FaultProxy]:
    """A fault proxy in front of the session's server, with no rule yet."""
    with FaultProxy(invokeai_url, seed=16) as p:
        yield p


@pytest.fixture
def direct(invokeai_url: str) -> Iterator[InvokeAIClient]:
    """A client that does not go through the proxy: what the server really holds."""
    with InvokeAIClient.from_url(invokeai_url, events=False) as c:
        yield c


def jobs_for(direct: InvokeAIClient, source: str | Path) -> list[ModelInstJobInfo]:
    """The server's install jobs for ``source``."""
    jobs = direct.dnn_model_repo.list_install_jobs()
    return [job.info for job in jobs if job.info.source == str(source)]


def records_for(direct: InvokeAIClient, source: str | Path) -> list[DnnModel]:
    """The server's model records installed from ``source``."""
    return [m for m in direct.dnn_model_repo.list_models() if m.source == str(source)]


def install_tiny(
    direct: InvokeAIClient, directory: Path, installed: list[str], kind: Any = None
) -> DnnModel:
    """A tiny embedding installed in place, directly (not through the proxy)."""
    path = (kind or tm.write_embedding_sd1)(directory)
    info = direct.dnn_model_repo.install_and_wait(path, inplace=True, timeout=60)
    assert info.model_key and info.result is not None
    installed.append(info.model_key)
    return info.result


class Clock:
    """Seconds since it was made, or since ``restart()``."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def restart(self) -> None:
        self.started = time.monotonic()

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started
