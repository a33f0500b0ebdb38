"""Install jobs against a real server: local, moved, URL, duplicate, cancel, prune, list."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest

from invokeai_py_client import InvokeAIClient
from invokeai_py_client.dnn_model import DnnModel, InstallJobStatus
from invokeai_py_client.errors import (
    InstallJobCancelledError,
    InstallJobFailedError,
    InstallStartError,
)
from testbed import tiny_models as tm
from testbed.server import InvokeAIServer

pytestmark = pytest.mark.integration

POLL = 0.1
TIMEOUT = 60.0
FileServer = Any  # tests/integration/conftest.py: FileServer
InstallAndWait = Any  # (source, **install_kwargs) -> (handle, final info)


def test_install_local_in_place(
    client: InvokeAIClient, install_and_wait: InstallAndWait, tiny_models_dir: Path
) -> None:
    path = tm.write_embedding_sd1(tiny_models_dir)
    handle, info = install_and_wait(path, inplace=True)

    assert info.status == InstallJobStatus.COMPLETED, info.describe()
    assert info.is_success and not info.is_failure
    assert info.model_key
    assert info.progress == 1.0
    assert handle.progress() == 1.0
    assert handle.is_done() and not handle.is_failed()
    assert isinstance(info.result, DnnModel)
    assert info.result.key == info.model_key
    assert info.result.type == "embedding" and info.result.base == "sd-1"
    assert info.source == str(path)
    assert info.inplace is True
    assert handle.raise_for_status() is info
    assert handle.cancel() is False, "an ended job is not cancelled"
    assert handle.refresh().status == InstallJobStatus.COMPLETED
    assert path.exists(), "an in-place install must leave the file where it is"
    record = client.dnn_model_repo.get_model_by_key(info.model_key)
    assert record is not None and record.path == str(path)


def test_install_moved_into_models_dir(
    client: InvokeAIClient,
    install_and_wait: InstallAndWait,
    tiny_models_dir: Path,
    invokeai_server: InvokeAIServer | None,
    server_version: tuple[int, ...],
) -> None:
    """``inplace=False`` takes the file into the models dir: moved from InvokeAI 6.3 on,
    copied before."""
    path = tm.write_lora_sd1(tiny_models_dir)
    _, info = install_and_wait(path, inplace=False)

    assert info.status == InstallJobStatus.COMPLETED, info.describe()
    assert info.model_key
    moves = server_version >= (6, 3)
    assert path.exists() != moves, f"inplace=False {'moves' if moves else 'copies'} the file"
    record = client.dnn_model_repo.get_model_by_key(info.model_key)
    assert record is not None
    assert record.path and not Path(record.path).is_absolute(), record.path
    if invokeai_server is not None:
        assert (invokeai_server.models_dir / record.path).exists()


def test_duplicate_install_fails_as_duplicate(
    install_and_wait: InstallAndWait, tiny_models_dir: Path
) -> None:
    path = tm.write_embedding_sd1(tiny_models_dir)
    _, first = install_and_wait(path, inplace=True)
    assert first.status == InstallJobStatus.COMPLETED, first.describe()

    handle, info = install_and_wait(path, inplace=True)
    assert info.status == InstallJobStatus.ERROR, info.describe()
    assert info.is_failure
    assert info.is_duplicate
    assert "already installed" in info.describe()
    assert info.model_key is None
    assert handle.is_failed()
    with pytest.raises(InstallJobFailedError) as excinfo:
        handle.raise_for_status()
    assert excinfo.value.info.id == handle.id
    assert "already installed" in str(excinfo.value)


def test_install_nonexistent_path_is_refused(client: InvokeAIClient, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "nothing-here.safetensors"
    with pytest.raises(InstallStartError) as excinfo:
        client.dnn_model_repo.install_model(missing, inplace=True)
    err = excinfo.value
    assert err.status_code == 409
    assert err.method == "POST" and err.route == "/api/v2/models/install"
    assert str(missing) in str(err.detail)
    assert str(missing) in str(err)


def test_install_from_url(
    client: InvokeAIClient,
    install_and_wait: InstallAndWait,
    file_server: FileServer,
    tiny_models_dir: Path,
) -> None:
    path = tm.write_embedding_sd1(tiny_models_dir)
    url = file_server.add(path)
    _, info = install_and_wait(url)

    assert info.status == InstallJobStatus.COMPLETED, info.describe()
    assert info.source == url
    assert info.model_key and isinstance(info.result, DnnModel)
    assert info.progress == 1.0
    assert info.download_parts, "a URL install reports its download parts"
    part = info.download_parts[0]
    assert part.source == url
    assert part.total_bytes == path.stat().st_size
    assert part.bytes == part.total_bytes
    assert any(method == "GET" for method, _, _ in file_server.requests)
    record = client.dnn_model_repo.get_model_by_key(info.model_key)
    assert record is not None and record.type == "embedding"


def _wait_for_status(handle, wanted: set[str], timeout: float = TIMEOUT):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    info = handle.refresh()
    while info.status not in wanted and not info.is_terminal:
        assert time.monotonic() < deadline, f"job never reached {wanted}: {info.describe()}"
        time.sleep(POLL)
        info = handle.refresh()
    return info


def test_cancel_downloading_job(
    client: InvokeAIClient, file_server: FileServer, tiny_models_dir: Path
) -> None:
    path = tm.write_embedding_sd1(tiny_models_dir)
    url = file_server.add(path, slow=True)
    handle = client.dnn_model_repo.install_model(url)
    try:
        info = _wait_for_status(handle, {"downloading"})
        assert info.status == InstallJobStatus.DOWNLOADING, info.describe()
        assert not handle.is_done()
        assert handle.cancel() is True
        final = handle.wait(timeout=TIMEOUT, poll_interval=POLL)
    finally:
        file_server.stop.set()
    assert final.status == InstallJobStatus.CANCELLED, final.describe()
    assert handle.is_failed()
    assert final.model_key is None
    with pytest.raises(InstallJobCancelledError) as excinfo:
        handle.raise_for_status()
    assert excinfo.value.info.status == InstallJobStatus.CANCELLED


def test_list_install_jobs_contains_started_jobs(
    client: InvokeAIClient, install_and_wait: InstallAndWait, tiny_models_dir: Path
) -> None:
    h1, _ = install_and_wait(tm.write_embedding_sd1(tiny_models_dir), inplace=True)
    h2, _ = install_and_wait(tm.write_vae_sd1(tiny_models_dir), inplace=True)
    jobs = client.dnn_model_repo.list_install_jobs()
    by_id = {job.id: job for job in jobs}
    assert {h1.id, h2.id} <= set(by_id)
    assert by_id[h1.id].info.status == InstallJobStatus.COMPLETED
    fetched = client.dnn_model_repo.get_install_job(h2.id)
    assert fetched is not None and fetched.id == h2.id
    assert fetched.info.model_key == h2.info.model_key


def test_get_install_job_unknown_id_is_none(client: InvokeAIClient) -> None:
    assert client.dnn_model_repo.get_install_job(987654321) is None


def test_prune_install_jobs(
    client: InvokeAIClient, install_and_wait: InstallAndWait, tiny_models_dir: Path
) -> None:
    handle, info = install_and_wait(tm.write_embedding_sd1(tiny_models_dir), inplace=True)
    assert info.status == InstallJobStatus.COMPLETED, info.describe()
    assert handle.id in {job.id for job in client.dnn_model_repo.list_install_jobs()}

    assert client.dnn_model_repo.prune_install_jobs() is True

    remaining = client.dnn_model_repo.list_install_jobs()
    assert handle.id not in {job.id for job in remaining}
    assert not [job for job in remaining if job.info.is_terminal]
    assert client.dnn_model_repo.get_install_job(handle.id) is None


SECRET = "sekrit-123"


def test_access_token_never_leaks(
    client: InvokeAIClient,
    install_and_wait: InstallAndWait,
    file_server: FileServer,
    tiny_models_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name in (None, "httpx", "httpcore", "invokeai_py_client"):
        caplog.set_level(logging.DEBUG, logger=name)
    url = file_server.add(tm.write_embedding_sd1(tiny_models_dir))

    handle, info = install_and_wait(url, access_token=SECRET)

    assert info.status == InstallJobStatus.COMPLETED, info.describe()
    # the token did reach the server (it sends it on as a bearer token)
    assert any(SECRET in str(headers) for _, _, headers in file_server.requests)
    for text in (
        repr(handle),
        handle.info.model_dump_json(),
        repr(handle.info),
        info.describe(),
        repr(client.dnn_model_repo.get_install_job(handle.id)),
        client.dnn_model_repo.get_install_job(handle.id).info.model_dump_json(),  # type: ignore[union-attr]
    ):
        assert SECRET not in text
    messages = [r.getMessage() for r in caplog.records]
    assert any("/api/v2/models/install?" in m for m in messages), "httpx logged no install URL"
    leaks = [r.getMessage() for r in caplog.records if SECRET in r.getMessage()]
    assert not leaks
