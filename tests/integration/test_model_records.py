"""Model records against a real server: get, update, reidentify, delete, bulk calls,
lookups, list filters, missing files, orphaned folders, cover images, conversion."""

from __future__ import annotations

import struct
import uuid
import zlib
from pathlib import Path
from typing import Any

import pytest

from invokeai_py_client import InvokeAIClient
from invokeai_py_client.dnn_model import (
    BulkDeleteResult,
    BulkReidentifyResult,
    DnnModel,
    InstallJobStatus,
    OrphanDeleteResult,
)
from invokeai_py_client.errors import (
    BadRequestError,
    ServerError,
    UnsupportedByServerError,
)
from testbed import tiny_models as tm
from testbed.server import InvokeAIServer

pytestmark = pytest.mark.integration

InstallAndWait = Any  # tests/integration/conftest.py: (source, **kwargs) -> (handle, info)


def _install(install_and_wait: InstallAndWait, path: Path, **kwargs: Any) -> DnnModel:
    """Install ``path`` in place (unless told otherwise) and return the record."""
    kwargs.setdefault("inplace", True)
    _, info = install_and_wait(path, **kwargs)
    assert info.status == InstallJobStatus.COMPLETED, info.describe()
    assert isinstance(info.result, DnnModel)
    return info.result


def test_get_model_by_key(
    client: InvokeAIClient, install_and_wait: InstallAndWait, tiny_models_dir: Path
) -> None:
    model = _install(install_and_wait, tm.write_vae_sd1(tiny_models_dir))
    fetched = client.dnn_model_repo.get_model_by_key(model.key)
    assert isinstance(fetched, DnnModel)
    assert fetched.key == model.key
    assert (fetched.type, fetched.base) == ("vae", "sd-1")
    assert fetched.hash and fetched.hash.startswith("blake3:")
    assert fetched.file_size and fetched.file_size > 0
    assert client.dnn_model_repo.get_model_by_key("no-such-key-" + uuid.uuid4().hex) is None


def test_update_model_name_and_description(
    client: InvokeAIClient, install_and_wait: InstallAndWait, tiny_models_dir: Path
) -> None:
    model = _install(install_and_wait, tm.write_embedding_sd1(tiny_models_dir))
    new_name = "renamed-" + uuid.uuid4().hex[:8]
    updated = client.dnn_model_repo.update_model(
        model.key, {"name": new_name, "description": "a tiny test embedding"}
    )
    assert updated.key == model.key
    assert updated.name == new_name
    assert updated.description == "a tiny test embedding"
    again = client.dnn_model_repo.get_model_by_key(model.key)
    assert again is not None
    assert (again.name, again.description) == (new_name, "a tiny test embedding")


def test_reidentify_model(
    client: InvokeAIClient,
    install_and_wait: InstallAndWait,
    tiny_models_dir: Path,
    server_version: tuple[int, ...],
) -> None:
    model = _install(install_and_wait, tm.write_lora_sd1(tiny_models_dir))
    if server_version < (6, 9):
        with pytest.raises(UnsupportedByServerError) as excinfo:
            client.dnn_model_repo.reidentify_model(model.key)
        assert excinfo.value.minimum_version == "6.9"
        assert "reidentify_model" in str(excinfo.value)
        return
    again = client.dnn_model_repo.reidentify_model(model.key)
    assert isinstance(again, DnnModel)
    assert again.key == model.key
    assert (again.type, again.base, again.format) == ("lora", "sd-1", "lycoris")


def test_delete_model(
    client: InvokeAIClient, install_and_wait: InstallAndWait, tiny_models_dir: Path
) -> None:
    path = tm.write_embedding_sd1(tiny_models_dir)
    model = _install(install_and_wait, path)
    assert client.dnn_model_repo.delete_model(model.key) is True
    assert client.dnn_model_repo.get_model_by_key(model.key) is None
    assert client.dnn_model_repo.delete_model(model.key) is False
    assert path.exists(), "deleting an in-place model leaves its file outside the models dir"


def test_bulk_delete_models(
    client: InvokeAIClient,
    install_and_wait: InstallAndWait,
    tiny_models_dir: Path,
    server_version: tuple[int, ...],
) -> None:
    a = _install(install_and_wait, tm.write_embedding_sd1(tiny_models_dir))
    b = _install(install_and_wait, tm.write_vae_sd1(tiny_models_dir))
    unknown = "no-such-key-" + uuid.uuid4().hex
    if server_version < (6, 10):
        with pytest.raises(UnsupportedByServerError) as excinfo:
            client.dnn_model_repo.bulk_delete_models([a.key, b.key, unknown])
        assert excinfo.value.minimum_version == "6.10"
        assert client.dnn_model_repo.get_model_by_key(a.key) is not None
        return
    result = client.dnn_model_repo.bulk_delete_models([a.key, b.key, unknown])
    assert isinstance(result, BulkDeleteResult)
    assert sorted(result.deleted) == sorted([a.key, b.key])
    assert [f.key for f in result.failed] == [unknown]
    assert result.failed[0].error
    assert client.dnn_model_repo.get_model_by_key(a.key) is None
    assert client.dnn_model_repo.get_model_by_key(b.key) is None


def test_bulk_reidentify_models(
    client: InvokeAIClient,
    install_and_wait: InstallAndWait,
    tiny_models_dir: Path,
    server_version: tuple[int, ...],
) -> None:
    a = _install(install_and_wait, tm.write_embedding_sd1(tiny_models_dir))
    b = _install(install_and_wait, tm.write_lora_sd1(tiny_models_dir))
    unknown = "no-such-key-" + uuid.uuid4().hex
    if server_version < (6, 13):
        with pytest.raises(UnsupportedByServerError) as excinfo:
            client.dnn_model_repo.bulk_reidentify_models([a.key, b.key, unknown])
        assert excinfo.value.minimum_version == "6.13"
        return
    result = client.dnn_model_repo.bulk_reidentify_models([a.key, b.key, unknown])
    assert isinstance(result, BulkReidentifyResult)
    assert sorted(result.succeeded) == sorted([a.key, b.key])
    assert [f.key for f in result.failed] == [unknown]
    assert result.failed[0].error
    again = client.dnn_model_repo.get_model_by_key(b.key)
    assert again is not None and again.type == "lora"


def test_get_model_by_attrs_and_hash(
    client: InvokeAIClient,
    install_and_wait: InstallAndWait,
    tiny_models_dir: Path,
    server_version: tuple[int, ...],
) -> None:
    model = _install(install_and_wait, tm.write_embedding_sdxl(tiny_models_dir))
    repo = client.dnn_model_repo

    found = repo.get_model_by_attrs(model.name, "embedding", "sdxl")
    assert found is not None and found.key == model.key
    assert repo.get_model_by_attrs(model.name, "embedding", "sd-1") is None
    assert repo.get_model_by_attrs("no-such-" + uuid.uuid4().hex, "embedding", "sdxl") is None

    assert model.hash
    if server_version < (6, 12):
        with pytest.raises(UnsupportedByServerError) as excinfo:
            repo.get_model_by_hash(model.hash)
        assert excinfo.value.minimum_version == "6.12"
        return
    by_hash = repo.get_model_by_hash(model.hash)
    assert by_hash is not None and by_hash.key == model.key
    assert repo.get_model_by_hash("blake3:" + "0" * 64) is None


def test_list_models_filters(
    client: InvokeAIClient, install_and_wait: InstallAndWait, tiny_models_dir: Path
) -> None:
    emb1 = _install(install_and_wait, tm.write_embedding_sd1(tiny_models_dir))
    embx = _install(install_and_wait, tm.write_embedding_sdxl(tiny_models_dir))
    lora = _install(install_and_wait, tm.write_lora_sd1(tiny_models_dir))
    vae = _install(install_and_wait, tm.write_vae_sd1(tiny_models_dir))
    ours = {m.key for m in (emb1, embx, lora, vae)}
    repo = client.dnn_model_repo

    def keys(models: list[DnnModel]) -> set[str]:
        return {m.key for m in models} & ours

    everything = repo.list_models()
    assert all(isinstance(m, DnnModel) for m in everything)
    assert keys(everything) == ours

    sd1 = repo.list_models(base=["sd-1"])
    assert keys(sd1) == {emb1.key, lora.key, vae.key}
    assert all(m.base == "sd-1" for m in sd1)
    assert keys(repo.list_models(base="sdxl")) == {embx.key}
    assert keys(repo.list_models(base=["sd-1", "sdxl"])) == ours

    embeddings = repo.list_models(type="embedding")
    assert keys(embeddings) == {emb1.key, embx.key}
    assert all(m.type == "embedding" for m in embeddings)

    by_name = repo.list_models(name=lora.name)
    assert [m.key for m in by_name] == [lora.key]

    lycoris = repo.list_models(format="lycoris")
    assert keys(lycoris) == {lora.key}
    assert all(m.format == "lycoris" for m in lycoris)

    combined = repo.list_models(base=["sd-1"], type="embedding")
    assert keys(combined) == {emb1.key}


def test_list_missing_models(
    client: InvokeAIClient,
    install_and_wait: InstallAndWait,
    tiny_models_dir: Path,
    server_version: tuple[int, ...],
) -> None:
    path = tm.write_embedding_sd1(tiny_models_dir)
    model = _install(install_and_wait, path)
    path.unlink()
    if server_version < (6, 12):
        with pytest.raises(UnsupportedByServerError) as excinfo:
            client.dnn_model_repo.list_missing_models()
        assert excinfo.value.minimum_version == "6.12"
        return
    missing = client.dnn_model_repo.list_missing_models()
    assert model.key in {m.key for m in missing}
    assert all(isinstance(m, DnnModel) for m in missing)


def test_orphaned_models(
    client: InvokeAIClient,
    invokeai_server: InvokeAIServer | None,
    server_version: tuple[int, ...],
) -> None:
    if server_version < (6, 12):
        with pytest.raises(UnsupportedByServerError):
            client.dnn_model_repo.list_orphaned_models()
        with pytest.raises(UnsupportedByServerError):
            client.dnn_model_repo.delete_orphaned_models(["whatever"])
        return
    if invokeai_server is None:
        pytest.skip("INVOKE_AI_ENDPOINT is set: this test writes into the server's models dir")
    folder = invokeai_server.models_dir / ("orphan-" + uuid.uuid4().hex[:12])
    tm.write_embedding_sd1(folder, "orphan.safetensors")
    try:
        orphans = client.dnn_model_repo.list_orphaned_models()
        ours = [o for o in orphans if o.path == folder.name]
        assert len(ours) == 1, orphans
        assert Path(ours[0].absolute_path).resolve() == folder.resolve()
        assert ours[0].files == ["orphan.safetensors"]
        assert ours[0].size_bytes == (folder / "orphan.safetensors").stat().st_size

        result = client.dnn_model_repo.delete_orphaned_models([ours[0].path])
        assert isinstance(result, OrphanDeleteResult)
        assert result.deleted == [folder.name]
        assert not result.errors
        assert not folder.exists()
        assert folder.name not in {o.path for o in client.dnn_model_repo.list_orphaned_models()}
    finally:
        if folder.exists():
            import shutil

            shutil.rmtree(folder, ignore_errors=True)


def _tiny_png(width: int = 4, height: int = 4) -> bytes:
    """An RGB PNG, written with zlib and struct."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + bytes([200, 40, 90]) * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_cover_image_round_trip(
    client: InvokeAIClient, install_and_wait: InstallAndWait, tiny_models_dir: Path
) -> None:
    model = _install(install_and_wait, tm.write_embedding_sd1(tiny_models_dir))
    repo = client.dnn_model_repo
    assert repo.get_model_image(model.key) is None

    repo.set_model_image(model.key, _tiny_png())
    record = repo.get_model_by_key(model.key)
    assert record is not None and record.cover_image
    data = repo.get_model_image(model.key)
    assert data is not None
    # Servers keep a 256 px WebP thumbnail and serve it labelled image/png (6.8.1 and 6.14.2).
    assert data.startswith(b"\x89PNG\r\n\x1a\n") or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")

    assert repo.delete_model_image(model.key) is True
    assert repo.get_model_image(model.key) is None
    assert repo.delete_model_image(model.key) is False


def test_convert_non_checkpoint_is_bad_request(
    client: InvokeAIClient, install_and_wait: InstallAndWait, tiny_models_dir: Path
) -> None:
    model = _install(install_and_wait, tm.write_embedding_sd1(tiny_models_dir))
    with pytest.raises(BadRequestError) as excinfo:
        client.dnn_model_repo.convert_model(model.key)
    err = excinfo.value
    assert err.status_code == 400
    assert err.route == f"/api/v2/models/convert/{model.key}"
    assert "checkpoint" in str(err.detail)
    assert model.key in str(err.detail)


def test_convert_checkpoint_offline_is_server_error(
    client: InvokeAIClient, install_and_wait: InstallAndWait, tiny_models_dir: Path
) -> None:
    model = _install(install_and_wait, tm.write_main_checkpoint_sd1(tiny_models_dir))
    assert (model.type, model.format) == ("main", "checkpoint")
    with pytest.raises(ServerError) as excinfo:
        client.dnn_model_repo.convert_model(model.key)
    assert type(excinfo.value) is ServerError
    assert excinfo.value.status_code == 500
    still = client.dnn_model_repo.get_model_by_key(model.key)
    assert still is not None and still.format == "checkpoint"


def test_client_still_usable_after_a_server_error(
    client: InvokeAIClient, install_and_wait: InstallAndWait, tiny_models_dir: Path
) -> None:
    """After an unhandled server exception (HTTP 500) uvicorn drops the keep-alive
    connection; the next call, a write that is never retried, must still work."""
    checkpoint = _install(install_and_wait, tm.write_main_checkpoint_sd1(tiny_models_dir))
    other = _install(install_and_wait, tm.write_embedding_sd1(tiny_models_dir))
    # the drop races with the next request: a few rounds make the check deterministic
    for attempt in range(5):
        with pytest.raises(ServerError):
            client.dnn_model_repo.convert_model(checkpoint.key)
        text = f"after a 500, attempt {attempt}"
        updated = client.dnn_model_repo.update_model(other.key, {"description": text})
        assert updated.description == text
