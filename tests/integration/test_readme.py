"""The README's examples run as printed against a real server (the demo's models too)."""

from __future__ import annotations

import fcntl
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from invokeai_py_client.client import parse_version
from testbed import provision
from testbed import tiny_models as tm

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"


def _runnable_blocks() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    return [b for b in blocks if ".demo/models" in b]


def test_readme_has_two_runnable_examples() -> None:
    blocks = _runnable_blocks()
    assert len(blocks) == 2
    assert "InvokeAIClient()" in blocks[0] and "AsyncInvokeAIClient()" in blocks[1]
    for needed in ("install_model", "wait(", "list_models", "update_model", "delete_model"):
        assert needed in blocks[0]


@pytest.mark.parametrize("index", [0, 1], ids=["sync", "async"])
def test_readme_example_runs(invokeai_url: str, tmp_path: Path, index: int) -> None:
    models = tmp_path / ".demo" / "models"
    models.mkdir(parents=True)
    tm.write_lora_sd1(models, "tiny-lora-sd1.safetensors")
    tm.write_embedding_sd1(models, "tiny-embedding-sd1.safetensors")
    tm.write_vae_sd1(models, "tiny-vae-sd1.safetensors")
    script = tmp_path / "example.py"
    script.write_text(_runnable_blocks()[index])
    env = {**os.environ, "INVOKEAI_URL": invokeai_url}
    env.pop("INVOKEAI_TOKEN", None)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    if index == 0:
        assert "Tiny LoRA - installed by the README example" in done.stdout
        assert "deleted: True" in done.stdout
    else:
        assert "['completed', 'completed']" in done.stdout
        assert "[True, True]" in done.stdout


def test_readme_first_command_runs_the_main_job() -> None:
    """``bash scripts/demo.sh``: its own server, apply, list, plan, export --lock, delete."""
    if os.environ.get("INVOKE_AI_ENDPOINT"):
        pytest.skip("demo.sh starts its own test-bed server (INVOKE_AI_ENDPOINT is set)")
    root = README.parent
    block = re.search(r"```bash\n(.*?)\n", README.read_text())
    assert block is not None, "README has no ```bash block"
    first = block.group(1)
    assert first.startswith("bash scripts/demo.sh")
    done = subprocess.run(
        ["bash", "scripts/demo.sh"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if parse_version(provision.configured_version()) < (6, 6):
        # examples/models.yaml gives its LoRA a default weight, which InvokeAI 6.6 added:
        # refused before sending, and the other three are installed.
        assert done.returncode == 1, done.stderr[-3000:]
        assert "with LoRA default settings (default_settings.weight) needs InvokeAI 6.6" in (
            done.stderr
        )
        assert re.search(r": 3 installed, 1 failed\n", done.stdout), done.stdout
        return
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r": 4 installed\n", done.stdout), done.stdout
    assert "4 already there" in done.stdout
    assert done.stdout.count("deleted ") == 4
    assert re.search(r"^0 model\(s\)$", done.stderr, re.M)
    for step in ("apply", "list", "plan --exit-code", "export --lock", "delete --yes"):
        assert f"$ invokeai-models {step}" in done.stderr
    locked = (root / ".demo" / "models.lock.yaml").read_text()
    assert locked.count("hash: blake3:") == 4
    assert "demo: server stopped" in done.stderr


def test_a_second_demo_in_the_same_checkout_waits_for_the_first() -> None:
    """Two demos share ``.demo`` (model files, server log): the second says so and waits
    while the first holds the checkout."""
    if os.environ.get("INVOKE_AI_ENDPOINT"):
        pytest.skip("demo.sh starts its own test-bed server (INVOKE_AI_ENDPOINT is set)")
    demo = README.parent / ".demo"
    demo.mkdir(exist_ok=True)
    with (demo / "lock").open("w") as first:
        fcntl.flock(first, fcntl.LOCK_EX)  # as a running demo holds it
        second = subprocess.Popen(
            ["bash", "scripts/demo.sh"],
            cwd=README.parent,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            assert second.stderr is not None
            said = ""
            for line in second.stderr:  # until the message, or the demo ends
                said += line
                if "waiting for it to end" in line:
                    break
            assert "demo: another demo runs in this checkout; waiting for it to end" in said
            time.sleep(1)
            assert second.poll() is None, "the second demo went on while the first ran"
        finally:
            os.killpg(second.pid, signal.SIGKILL)
            second.wait(timeout=30)
