"""invokeai-py-client 1.1.1's own model scripts, run unmodified against the test bed.

The 1.1.1 sdist on the package registry ships ``tests/manual_model_*.py``. They are
fetched at run time (never copied into this repository) and run with this package as
``invokeai_py_client``. They always exit 0: each is judged by its ``[OK]``/``[FAIL]``/
``[WARN]`` lines and by the server's state afterwards.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from invokeai_py_client import InvokeAIClient
from testbed.tiny_models import write_embedding_sd1, write_lora_sd1, write_vae_sd1

pytestmark = pytest.mark.integration

SCRIPTS = ("install_progress", "install_nonexistent", "bulk_install", "delete_installed")
TIMEOUT = 300


@pytest.fixture(scope="session")
def scripts_11(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of 1.1.1's ``tests/manual_model_*.py``, from its sdist."""
    download = tmp_path_factory.mktemp("sdist-1.1.1")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
         ":all:", "invokeai-py-client==1.1.1", "-d", str(download)],
        check=True, timeout=TIMEOUT,
    )  # fmt: skip
    (archive,) = download.glob("invokeai_py_client-1.1.1.tar.gz")
    folder = tmp_path_factory.mktemp("scripts-1.1.1")
    with tarfile.open(archive) as sdist:
        for member in sdist.getmembers():
            name = Path(member.name).name
            if member.isfile() and re.fullmatch(r"manual_model_\w+\.py", name):
                extracted = sdist.extractfile(member)
                assert extracted is not None
                (folder / name).write_bytes(extracted.read())
    assert sorted(p.stem for p in folder.glob("*.py")) == sorted(
        f"manual_model_{s}" for s in SCRIPTS
    )
    return folder


def run_script(folder: Path, name: str, url: str, **env: str) -> str:
    """Run 1.1.1's script ``name`` against ``url`` as its README says (the endpoint with
    ``/api/v1``); its output."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("INVOKEAI_")}
    environ.update(env, INVOKE_AI_ENDPOINT=f"{url}/api/v1", PYTHONUNBUFFERED="1")
    done = subprocess.run(
        [sys.executable, str(folder / f"manual_model_{name}.py")],
        env=environ, capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Traceback" not in output, output
    return output


def test_install_progress(
    scripts_11: Path, invokeai_url: str, tiny_models_dir: Path, installed: list[str]
) -> None:
    path = write_lora_sd1(tiny_models_dir)
    out = run_script(scripts_11, "install_progress", invokeai_url, MODEL_PATH=str(path))
    assert "[DONE] final status:" in out, out
    assert re.search(r"status=(InstallJobStatus\.)?completed", out, re.IGNORECASE), out
    key = re.search(r"model_key=([0-9a-f-]{8,})", out)
    assert key is not None, out
    installed.append(key.group(1))
    with InvokeAIClient.from_url(invokeai_url) as client:
        model = client.dnn_model_repo.get_model_by_key(key.group(1))
    assert model is not None and model.path == str(path)


def test_install_nonexistent(scripts_11: Path, invokeai_url: str, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model.safetensors"
    with InvokeAIClient.from_url(invokeai_url) as client:
        jobs_before = len(client.dnn_model_repo.list_install_jobs())
        out = run_script(scripts_11, "install_nonexistent", invokeai_url, MODEL_PATH=str(missing))
        jobs_after = len(client.dnn_model_repo.list_install_jobs())
    assert "[OK] Caught ModelInstallStartError on install" in out, out
    assert "409" in out and "[WARN]" not in out and "[FAIL]" not in out, out
    assert jobs_after == jobs_before, "a refused install starts no job"


def test_bulk_install(
    scripts_11: Path, invokeai_url: str, tiny_models_dir: Path, installed: list[str]
) -> None:
    paths = [
        write_embedding_sd1(tiny_models_dir),
        write_vae_sd1(tiny_models_dir),
        write_lora_sd1(tiny_models_dir),
    ]
    with InvokeAIClient.from_url(invokeai_url) as client:
        repo = client.dnn_model_repo
        first = repo.install_model(paths[0], inplace=True).wait_until(timeout=TIMEOUT)
        assert first.model_key
        installed.append(first.model_key)
        out = run_script(
            scripts_11,
            "bulk_install",
            invokeai_url,
            CONTAINER_EXTERNAL_MODEL_DIR=str(tiny_models_dir),
        )
        models = [m for m in repo.list_models() if m.path in {str(p) for p in paths}]
    installed.extend(m.key for m in models)
    assert "[SUMMARY] total=3 success=2 failures=0 skipped=1" in out, out
    assert "[FAIL]" not in out, out
    assert sorted(str(m.path) for m in models) == sorted(map(str, paths)), "each installed once"


def test_delete_installed(
    scripts_11: Path, invokeai_url: str, tiny_models_dir: Path, installed: list[str]
) -> None:
    path = write_vae_sd1(tiny_models_dir)
    with InvokeAIClient.from_url(invokeai_url) as client:
        repo = client.dnn_model_repo
        info = repo.install_model(path, inplace=True).wait_until(timeout=TIMEOUT)
        assert info.model_key
        installed.append(info.model_key)
        out = run_script(scripts_11, "delete_installed", invokeai_url, MODEL_KEY=info.model_key)
        assert repo.get_model_by_key(info.model_key) is None
    assert "[INFO] delete_model returned: True" in out, out
    assert "[OK] Model not found after delete" in out, out
    assert "[ERROR]" not in out and "[WARN]" not in out, out
