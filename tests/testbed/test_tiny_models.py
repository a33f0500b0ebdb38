"""Offline checks of the test bed's pure-Python safetensors writer."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from testbed import tiny_models as tm

WRITERS: list[tuple[Callable[..., Path], dict[str, list[int]]]] = [
    (tm.write_embedding_sd1, tm.EMBEDDING_SD1),
    (tm.write_embedding_sd2, tm.EMBEDDING_SD2),
    (tm.write_embedding_sdxl, tm.EMBEDDING_SDXL),
    (tm.write_lora_sd1, tm.LORA_SD1),
    (tm.write_vae_sd1, tm.VAE_SD1),
    (tm.write_main_checkpoint_sd1, tm.MAIN_CHECKPOINT_SD1),
    (tm.write_unknown, tm.UNKNOWN),
]


def _numel(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


@pytest.mark.parametrize(("writer", "shapes"), WRITERS, ids=[w.__name__ for w, _ in WRITERS])
def test_layout_parses_back(
    writer: Callable[..., Path], shapes: dict[str, list[int]], tmp_path: Path
) -> None:
    path = writer(tmp_path)
    assert path.is_absolute() and path.suffix == ".safetensors"
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    assert size % 8 == 0
    header = json.loads(raw[8 : 8 + size])
    assert header == tm.read_safetensors_header(path)
    assert set(header) == {*shapes, "__metadata__"}
    data = raw[8 + size :]
    end = 0
    for name, shape in shapes.items():
        entry = header[name]
        assert entry["dtype"] == "F32"
        assert entry["shape"] == shape
        start, stop = entry["data_offsets"]
        assert stop - start == 4 * _numel(shape)
        end = max(end, stop)
    assert end == len(data)


def test_each_file_is_distinct(tmp_path: Path) -> None:
    a = tm.write_embedding_sd1(tmp_path)
    b = tm.write_embedding_sd1(tmp_path)
    assert a != b
    header_len = 8 + struct.unpack("<Q", a.read_bytes()[:8])[0]
    # The tensor data differs, not only the metadata.
    assert a.read_bytes()[header_len:] != b.read_bytes()[header_len:]


def test_explicit_name_and_lora_alpha(tmp_path: Path) -> None:
    path = tm.write_lora_sd1(tmp_path / "sub", "my-lora.safetensors")
    assert path == (tmp_path / "sub" / "my-lora.safetensors").resolve()
    header = tm.read_safetensors_header(path)
    alpha = next(k for k in header if k.endswith(".alpha"))
    start, stop = header[alpha]["data_offsets"]  # type: ignore[index]
    size = path.read_bytes()[:8]
    offset = 8 + struct.unpack("<Q", size)[0]
    assert struct.unpack("<f", path.read_bytes()[offset + start : offset + stop]) == (4.0,)


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(ValueError):
        tm.safetensors_bytes({"x": [0.0, 1.0]}, {"x": [3]})
