"""Folder scan, cache, Hugging Face login, starter models, models dir, error mapping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from invokeai_py_client import InvokeAIClient
from invokeai_py_client.dnn_model import (
    FoundModel,
    HFLoginStatus,
    HFTokenStatus,
    InstallJobStatus,
    ModelManagerStats,
    StarterModelCatalog,
)
from invokeai_py_client.errors import APIConnectionError, NotFoundError, UnexpectedResponseError
from testbed import tiny_models as tm
from testbed.server import InvokeAIServer, free_port

pytestmark = pytest.mark.integration

InstallAndWait = Any  # tests/integration/conftest.py: (source, **kwargs) -> (handle, info)
MakeClient = Any  # tests/integration/conftest.py: (url, **kwargs) -> a sync or async client


def test_scan_folder(
    client: InvokeAIClient, install_and_wait: InstallAndWait, tiny_models_dir: Path
) -> None:
    installed_path = tm.write_embedding_sd1(tiny_models_dir)
    other_path = tm.write_lora_sd1(tiny_models_dir)
    nested_path = tm.write_vae_sd1(tiny_models_dir / "sub")
    _, info = install_and_wait(installed_path, inplace=True)
    assert info.status == InstallJobStatus.COMPLETED, info.describe()

    found = client.dnn_model_repo.scan_folder(tiny_models_dir)
    assert all(isinstance(f, FoundModel) for f in found)
    by_path = {Path(f.path).resolve(): f.is_installed for f in found}
    assert by_path.get(installed_path) is True, found
    assert by_path.get(other_path) is False, found
    assert by_path.get(nested_path) is False, found
    assert len(found) == 3, found


def test_stats_and_empty_model_cache(client: InvokeAIClient) -> None:
    stats = client.dnn_model_repo.get_stats()
    assert stats is None or isinstance(stats, ModelManagerStats)
    assert client.dnn_model_repo.empty_model_cache() is True


def test_hf_login_status_login_logout(client: InvokeAIClient) -> None:
    repo = client.dnn_model_repo
    status = repo.hf_status()
    assert isinstance(status, HFLoginStatus)
    assert status.status in (HFTokenStatus.VALID, HFTokenStatus.INVALID, HFTokenStatus.UNKNOWN)
    assert status.status.is_known
    if status.is_logged_in:
        pytest.skip("the server holds a valid Hugging Face token: not logging it out")
    assert repo.hf_login("hf_bogus_" + "x" * 30) is False
    assert repo.hf_logout() is True
    assert repo.hf_status().is_logged_in is False


def test_starter_models(client: InvokeAIClient) -> None:
    catalog = client.dnn_model_repo.list_starter_models()
    assert isinstance(catalog, StarterModelCatalog)
    assert catalog.starter_models
    assert all(m.source and m.name for m in catalog.starter_models)
    assert catalog.starter_bundles
    bundle = next(iter(catalog.starter_bundles.values()))
    assert bundle.name and bundle.models


def test_get_models_dir(client: InvokeAIClient, invokeai_server: InvokeAIServer | None) -> None:
    models_dir = client.dnn_model_repo.get_models_dir()
    assert isinstance(models_dir, str) and models_dir
    if invokeai_server is not None:
        resolved = Path(models_dir)
        if not resolved.is_absolute():
            resolved = invokeai_server.root / resolved
        assert resolved.resolve() == invokeai_server.models_dir.resolve()


def test_html_answer_is_unexpected_response(
    client: InvokeAIClient, server_version: tuple[int, ...]
) -> None:
    # httpx removes the dot segments: this is GET /, the web UI's HTML page, with status 200
    with pytest.raises(UnexpectedResponseError) as excinfo:
        client._make_request_v2("GET", "/../../")
    assert excinfo.value.status_code == 200
    assert "html" in str(excinfo.value).lower()

    # an encoded slash in a key: 6.12+ answers 200 with the web UI, older a JSON 404
    if server_version < (6, 12):
        with pytest.raises(NotFoundError):
            client._make_request_v2("GET", "/models/i/..%2Finstall")
        return
    with pytest.raises(UnexpectedResponseError) as excinfo:
        client._make_request_v2("GET", "/models/i/..%2Finstall")
    err = excinfo.value
    assert err.status_code == 200
    assert err.method == "GET"
    assert err.route == "/api/v2/models/i/..%2Finstall"
    assert "html" in str(err).lower()


def test_closed_port_is_connection_error(make_client: MakeClient) -> None:
    port = free_port()
    with make_client(f"http://127.0.0.1:{port}", timeout=5) as dead:
        with pytest.raises(APIConnectionError) as excinfo:
            dead.dnn_model_repo.list_models()
        assert excinfo.value.method == "GET"
        assert excinfo.value.route == "/api/v2/models/"
        with pytest.raises(APIConnectionError):
            dead.server_version()


def test_single_user_server_says_so(client: InvokeAIClient) -> None:
    assert client.is_multiuser() is False
