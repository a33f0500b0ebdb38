"""1.1's model-management calls, written as its users write scripts, against a real server."""

from __future__ import annotations

from pathlib import Path

import pytest

from invokeai_py_client import InvokeAIClient
from invokeai_py_client.dnn_model import (
    DnnModelType,
    ModelInstallJobFailed,
    ModelInstJobHandle,
    ModelManagerError,
)
from invokeai_py_client.errors import UnsupportedByServerError
from testbed.tiny_models import write_embedding_sd1, write_lora_sd1, write_vae_sd1

pytestmark = pytest.mark.integration

TIMEOUT = 300.0


def test_delete_all_models_empties_the_server_and_counts(
    invokeai_url: str, tiny_models_dir: Path
) -> None:
    client = InvokeAIClient(
        host="127.0.0.1", port=int(invokeai_url.rsplit(":", 1)[1]), base_path="/api/v1"
    )
    repo = client.dnn_model_repo
    for write in (write_lora_sd1, write_vae_sd1, write_embedding_sd1):
        path = write(tiny_models_dir / f"{write.__name__}.safetensors")
        repo.install_model(str(path), inplace=True).wait_until(timeout=TIMEOUT)
    before = len(repo.list_models())
    assert before >= 3

    result = repo.delete_all_models()
    assert result == {"total": before, "deleted": before, "failed": 0, "errors": []}
    assert repo.list_models() == []
    assert repo.delete_all_models() == {"total": 0, "deleted": 0, "failed": 0, "errors": []}
    client.close()


def test_a_handle_from_an_id_waits_until_done(invokeai_url: str, tiny_models_dir: Path) -> None:
    with InvokeAIClient.from_url(invokeai_url) as client:
        repo = client.dnn_model_repo
        path = write_lora_sd1(tiny_models_dir / "from-id.safetensors")
        started = repo.install_model(source=str(path), inplace=True)
        handle = ModelInstJobHandle.from_client_and_id(client, started.job_id)
        info = handle.wait_until(timeout=None, poll_interval=0.5)
        assert info.model_key and info.error is None
        handle.raise_if_failed()
        model = repo.get_model_by_key(model_key=info.model_key)
        assert model is not None and model.get_category().startswith("LoRA")
        assert model.type == DnnModelType.LoRA
        assert repo.get_install_job(str(started.job_id)) is not None
        assert repo.get_install_job("not-a-number") is None
        repo.delete_model(info.model_key)

        again = repo.install_model(str(path), inplace=True)  # the record is gone: a fresh one
        assert again.wait_until(timeout=TIMEOUT).model_key
        duplicate = repo.install_model(str(path), inplace=True)
        with pytest.raises(ModelInstallJobFailed) as failed:
            duplicate.wait_until(timeout=TIMEOUT)
        assert isinstance(failed.value, ModelManagerError)
        assert failed.value.info is not None and failed.value.info.error
        for model in repo.list_models():
            repo.delete_model(model.key)


def test_list_ordering_on_6_13_and_a_clear_refusal_before(
    invokeai_url: str, server_version: tuple[int, ...], tiny_models_dir: Path
) -> None:
    with InvokeAIClient.from_url(invokeai_url) as client:
        repo = client.dnn_model_repo
        if server_version < (6, 13):
            with pytest.raises(UnsupportedByServerError, match=r"6\.13"):
                repo.list_models(order_by="name")
            return
        keys = []
        for name in ("b-model", "a-model"):
            path = write_lora_sd1(tiny_models_dir / f"{name}.safetensors")
            info = repo.install_model(str(path), inplace=True, config={"name": name})
            key = info.wait_until(timeout=TIMEOUT).model_key
            assert key is not None
            keys.append(key)
        names = [m.name for m in repo.list_models(order_by="name", direction="ASC")]
        assert names.index("a-model") < names.index("b-model")
        names = [m.name for m in repo.list_models(order_by="name", direction="DESC")]
        assert names.index("b-model") < names.index("a-model")
        for key in keys:
            repo.delete_model(key)


def test_restart_install_file_reaches_the_server(
    invokeai_url: str, server_version: tuple[int, ...], tiny_models_dir: Path
) -> None:
    """The server restarts a file of a URL or Hugging Face job (one that failed: restarting
    a running download makes two writers of one file); any other job comes back as it is."""
    url = "http://127.0.0.1:9/never-downloaded.safetensors"
    with InvokeAIClient.from_url(invokeai_url) as client:
        repo = client.dnn_model_repo
        if server_version < (6, 12):
            with pytest.raises(UnsupportedByServerError, match=r"6\.12"):
                repo.restart_install_file(1, url)
            return
        path = write_vae_sd1(tiny_models_dir / "restart.safetensors")
        handle = repo.install_model(str(path), inplace=True)
        info = handle.wait_until(timeout=TIMEOUT)
        assert info.model_key is not None
        same = handle.restart_install_file(url)
        assert same.id == handle.job_id and same.status == info.status
        assert repo.restart_install_file(handle.job_id, url) is not None
        assert repo.restart_install_file(999_999, url) is None
        assert [m.key for m in repo.list_models()].count(info.model_key) == 1
        repo.delete_model(info.model_key)
