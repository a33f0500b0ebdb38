"""A small soak (``benchmarks/soak.py --count 40``) on the session's server: 40 tiny
installs, half by a sync and half by an async client, through the fault proxy (5 %
resets, 10 % delays): each model installed exactly once, no duplicate job, no thread,
task or aiohttp session left, no ``ResourceWarning``. The full soak (1,000 installs on
two servers) runs on demand (see the script's docstring)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from invokeai_py_client import InvokeAIClient

pytestmark = pytest.mark.integration

SOAK = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"
COUNT = 40


@pytest.fixture
def soak_models_removed(invokeai_url: str) -> Iterator[None]:
    """The soak's models (their files are gone with its temporary folder) are deleted."""
    yield
    with InvokeAIClient.from_url(invokeai_url, events=False) as client:
        repo = client.dnn_model_repo
        keys = [m.key for m in repo.list_models() if "/soak-" in (m.source or "")]
        for key in keys:
            repo.delete_model(key)


def test_small_soak(invokeai_url: str, soak_models_removed: None) -> None:
    done = subprocess.run(
        [sys.executable, str(SOAK), "--url", invokeai_url, "--url", invokeai_url,
         "--count", str(COUNT), "--batch", "10", "--seconds", "240", "--seed", "3"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert f"soak: {COUNT} installs of {COUNT}" in done.stdout
    installed = [int(n) for n in re.findall(r"(\d+) installed exactly once", done.stdout)]
    assert sum(installed) == COUNT
    assert "threads left: none; tasks left: 0" in done.stdout
    assert "ResourceWarnings: 0; asyncio 'Unclosed' errors: 0" in done.stdout
    assert "soak: ok" in done.stdout
