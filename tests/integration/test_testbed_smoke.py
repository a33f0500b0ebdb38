"""Smoke test of the test bed itself, with plain httpx (not the library under test)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from testbed.provision import configured_version
from testbed.server import InvokeAIServer
from testbed.tiny_models import write_embedding_sd1

pytestmark = pytest.mark.integration

TERMINAL = {"completed", "error", "cancelled"}


@pytest.fixture
def http(invokeai_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=invokeai_url, timeout=30, trust_env=False) as client:
        yield client


def test_version(http: httpx.Client, invokeai_server: InvokeAIServer | None) -> None:
    resp = http.get("/api/v1/app/version")
    assert resp.status_code == 200
    version = resp.json()["version"]
    if invokeai_server is not None:
        assert version == invokeai_server.version


def test_install_tiny_embedding(http: httpx.Client, tiny_models_dir: Path) -> None:
    path = write_embedding_sd1(tiny_models_dir)
    resp = http.post(
        "/api/v2/models/install", params={"source": str(path), "inplace": "true"}, json={}
    )
    assert resp.status_code == 201, resp.text
    job = resp.json()
    deadline = time.monotonic() + 60
    while job["status"] not in TERMINAL and time.monotonic() < deadline:
        time.sleep(0.2)
        job = http.get(f"/api/v2/models/install/{job['id']}").raise_for_status().json()
    assert job["status"] == "completed", job
    key = job["config_out"]["key"]
    assert key
    record = http.get(f"/api/v2/models/i/{key}").raise_for_status().json()
    assert (record["type"], record["base"], record["format"]) == (
        "embedding",
        "sd-1",
        "embedding_file",
    )
    assert record["name"] == path.stem


@pytest.mark.slow
def test_a_stopped_server_leaves_no_temporary_files() -> None:
    """The server's TMPDIR is its own (torch and InvokeAI make tmpXXXX folders there), and
    stop() removes it: nothing is left in the system's temp directory."""
    if os.environ.get("INVOKE_AI_ENDPOINT"):
        pytest.skip("the test bed starts no server (INVOKE_AI_ENDPOINT is set)")
    server = InvokeAIServer(configured_version())
    try:
        server.start()
        assert server.process is not None and server.base_dir is not None
        environ = Path(f"/proc/{server.process.pid}/environ").read_bytes().split(b"\0")
        assert f"TMPDIR={server.temp_dir}".encode() in environ
        assert server.base_dir in server.temp_dir.parents
        assert list(server.temp_dir.iterdir()), "the server made no temporary files there"
    finally:
        server.stop()
    assert not server.temp_dir.exists()
    assert not server.base_dir.exists()
