"""Tiny model files the InvokeAI server identifies offline, written without numpy.

Each call writes distinct bytes (a random salt goes into the tensor data and the
metadata), so two files never share a hash and the server never sees a duplicate.
Each recipe holds the few tensor names and shapes the server's probe looks for.
"""

from __future__ import annotations

import json
import random
import struct
import uuid
from collections.abc import Mapping, Sequence
from math import prod
from pathlib import Path

Shapes = Mapping[str, Sequence[int]]

_LORA_PREFIX = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
_SD1_UNET = "model.diffusion_model.input_blocks"

EMBEDDING_SD1: dict[str, list[int]] = {"emb_params": [1, 768]}
EMBEDDING_SD2: dict[str, list[int]] = {"emb_params": [1, 1024]}
EMBEDDING_SDXL: dict[str, list[int]] = {"clip_g": [1, 1280], "clip_l": [1, 768]}
LORA_SD1: dict[str, list[int]] = {
    f"{_LORA_PREFIX}.lora_down.weight": [4, 768],
    f"{_LORA_PREFIX}.lora_up.weight": [320, 4],
    f"{_LORA_PREFIX}.alpha": [],
}
VAE_SD1: dict[str, list[int]] = {"decoder.conv_in.weight": [8, 4, 1, 1]}
MAIN_CHECKPOINT_SD1: dict[str, list[int]] = {
    f"{_SD1_UNET}.2.1.transformer_blocks.0.attn2.to_k.weight": [8, 768],
    f"{_SD1_UNET}.0.0.weight": [8, 4, 1, 1],
}
UNKNOWN: dict[str, list[int]] = {"foo": [3]}


def safetensors_bytes(
    tensors: Mapping[str, Sequence[float]],
    shapes: Shapes,
    metadata: Mapping[str, str] | None = None,
) -> bytes:
    """Serialize float32 ``tensors`` (flat values, row-major) in the safetensors format."""
    header: dict[str, object] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    chunks: list[bytes] = []
    offset = 0
    for name, values in tensors.items():
        shape = list(shapes[name])
        if len(values) != prod(shape):
            raise ValueError(f"{name}: {len(values)} values for shape {shape}")
        data = struct.pack(f"<{len(values)}f", *values)
        header[name] = {
            "dtype": "F32",
            "shape": shape,
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # pad the header to 8-byte alignment
    return struct.pack("<Q", len(raw)) + raw + b"".join(chunks)


def read_safetensors_header(path: Path) -> dict[str, object]:
    """The JSON header of a safetensors file (for tests)."""
    with open(path, "rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        header: dict[str, object] = json.loads(fh.read(size))
    return header


def write_safetensors(
    path: Path, shapes: Shapes, *, fill: Mapping[str, float] | None = None
) -> Path:
    """Write tensors of ``shapes``: zeros with a random salt in the first values.

    ``fill`` gives a constant for some tensors (e.g. a LoRA ``alpha``) instead.
    """
    salt = uuid.uuid4().hex
    rng = random.Random(salt)
    tensors: dict[str, list[float]] = {}
    for name, shape in shapes.items():
        n = prod(shape)
        if fill and name in fill:
            tensors[name] = [fill[name]] * n
            continue
        values = [0.0] * n
        for i in range(min(n, 8)):
            values[i] = rng.uniform(-1e-3, 1e-3)
        tensors[name] = values
    path.write_bytes(safetensors_bytes(tensors, shapes, {"format": "pt", "testbed_salt": salt}))
    return path


def _target(directory: Path | str, name: str | None, kind: str) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return (directory / (name or f"tiny-{kind}-{uuid.uuid4().hex[:12]}.safetensors")).resolve()


def write_embedding_sd1(directory: Path | str, name: str | None = None) -> Path:
    """Textual inversion for SD1 (embedding / embedding_file / sd-1)."""
    return write_safetensors(_target(directory, name, "embedding-sd1"), EMBEDDING_SD1)


def write_embedding_sd2(directory: Path | str, name: str | None = None) -> Path:
    """Textual inversion for SD2 (embedding / sd-2)."""
    return write_safetensors(_target(directory, name, "embedding-sd2"), EMBEDDING_SD2)


def write_embedding_sdxl(directory: Path | str, name: str | None = None) -> Path:
    """Textual inversion for SDXL (embedding / sdxl)."""
    return write_safetensors(_target(directory, name, "embedding-sdxl"), EMBEDDING_SDXL)


def write_lora_sd1(directory: Path | str, name: str | None = None) -> Path:
    """LoRA for SD1 (lora / lycoris / sd-1)."""
    alpha = {f"{_LORA_PREFIX}.alpha": 4.0}
    return write_safetensors(_target(directory, name, "lora-sd1"), LORA_SD1, fill=alpha)


def write_vae_sd1(directory: Path | str, name: str | None = None) -> Path:
    """VAE (vae / sd-1)."""
    return write_safetensors(_target(directory, name, "vae-sd1"), VAE_SD1)


def write_main_checkpoint_sd1(directory: Path | str, name: str | None = None) -> Path:
    """Main SD1 checkpoint (main / checkpoint / sd-1)."""
    return write_safetensors(_target(directory, name, "main-sd1"), MAIN_CHECKPOINT_SD1)


def write_unknown(directory: Path | str, name: str | None = None) -> Path:
    """A model file nothing recognizes (6.14: installed as ``unknown``; 6.8: rejected)."""
    return write_safetensors(_target(directory, name, "unknown"), UNKNOWN)
