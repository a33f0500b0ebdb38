"""Argument checks of the route builders: each raises ``InvalidArgumentError`` before
anything is sent, naming the argument and showing (a short form of) the bad value."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..dnn_model._base import ONLY_DOTS_AND_SLASHES
from ..dnn_model.dnn_model_models import ModelInstallConfig, StarterModel
from ..errors import InvalidArgumentError
from .calls import MAX_ARGUMENT_CHARS, Call, path_segment, unexpected

__all__ = [
    "bases",
    "boolean",
    "changes",
    "hf_subfolder",
    "hf_variant",
    "http_url",
    "image_bytes",
    "image_type",
    "iterable",
    "job_id",
    "job_id_or_none",
    "member",
    "model_key",
    "model_keys",
    "optional_bool",
    "optional_text",
    "repo_id",
    "server_path",
    "show",
    "starter",
    "text",
    "texts",
]

MAX_JOB_ID = 2**63 - 1


def changes(config: object) -> dict[str, Any]:
    """The JSON body of an install config or of an update's changes."""
    if config is None:
        return {}
    return ModelInstallConfig.model_validate(config).to_record_changes()


def text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"{what} must be a non-empty string, not {show(value)}")
    if len(value) > MAX_ARGUMENT_CHARS:
        raise InvalidArgumentError(
            f"{what} is {len(value)} characters long; at most {MAX_ARGUMENT_CHARS}"
        )
    return value.strip()


def optional_text(value: object, what: str) -> str | None:
    return None if value is None else text(value, what)


def boolean(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{what} must be True or False, not {show(value)}")
    return value


def optional_bool(value: object, what: str) -> bool | None:
    return None if value is None else boolean(value, what)


def iterable(value: object, what: str) -> list[object]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise InvalidArgumentError(f"{what} must be a list of strings, not {show(value)}")
    return list(value)


def texts(values: object, what: str) -> list[str]:
    items = [text(v, f"each of {what}") for v in iterable(values, what)]
    if not items:
        raise InvalidArgumentError(f"{what} must not be empty")
    return items


def bases(base: object) -> list[str] | None:
    if base is None:
        return None
    items = [base] if isinstance(base, str) else iterable(base, "base")
    return [text(b, "base") for b in items] or None


def model_key(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidArgumentError(f"a model key must be a string, not {show(value)}")
    return path_segment(value, "a model key")


def model_keys(values: object, what: str) -> list[str]:
    """Model keys for a JSON body: each checked as ``model_key``, sent as given."""
    keys = texts(values, what)
    for key in keys:
        model_key(key)
    return keys


def job_id(value: object) -> str:
    if isinstance(value, str) and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_JOB_ID:
        raise InvalidArgumentError(f"an install job id is a whole number >= 0, not {show(value)}")
    return str(value)


def job_id_or_none(value: object) -> str | None:
    """``job_id(value)``, or None for a text that is no whole number, or a negative
    number: no job has such an id (as 1.1 answered). Other types still raise."""
    if isinstance(value, str):
        text = value.strip()
        if not text.lstrip("-").isdigit():
            return None
        if text.startswith("-"):
            return None
        return job_id(text)
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return None
    return job_id(value)


def server_path(value: object, what: str) -> str:
    """A path on the server (or a URL, a repo id); not one of dots and slashes alone
    (``.``, ``..``, ``/``), which names no model but a folder the server would take."""
    path = text(str(value) if isinstance(value, Path) else value, what)
    if ONLY_DOTS_AND_SLASHES.fullmatch(path):
        raise InvalidArgumentError(f"{what} must name a model's path on the server, not {path!r}")
    return path


def repo_id(value: object) -> str:
    """A Hugging Face repo id, ``owner/name``."""
    repo = text(value, "repo_id")
    owner, _, name = repo.partition("/")
    if (
        repo.count("/") != 1
        or ":" in repo
        or "\\" in repo
        or not owner.strip()
        or not name.strip()
        or {owner, name} & {".", ".."}
    ):
        raise InvalidArgumentError(f"not a Hugging Face repo id (owner/name): {show(repo)}")
    return repo


def hf_variant(value: object) -> str | None:
    """A repo variant (``fp16``): one word, no slash, colon or dot path."""
    variant = optional_text(value, "variant")
    if variant is not None and (
        ONLY_DOTS_AND_SLASHES.fullmatch(variant) or any(c in variant for c in "/\\:")
    ):
        raise InvalidArgumentError(f"not a repo variant: {show(variant)}")
    return variant


def hf_subfolder(value: object) -> str | None:
    """A folder inside a repo (``vae``, ``a/b``): relative, no ``..``, no colon."""
    subfolder = optional_text(value, "subfolder")
    if subfolder is not None and (
        subfolder.startswith("/")
        or any(c in subfolder for c in "\\:")
        or {"", ".", ".."} & set(subfolder.split("/"))
    ):
        raise InvalidArgumentError(f"not a folder inside a repo: {show(subfolder)}")
    return subfolder


def http_url(value: object, what: str) -> str:
    url = text(value, what)
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InvalidArgumentError(f"{what} must be an http(s) URL, not {show(url)}")
    return url


def starter(model: object) -> StarterModel:
    if isinstance(model, StarterModel):
        return model
    if isinstance(model, Mapping):
        try:
            return StarterModel.model_validate(dict(model))
        except ValueError as err:
            raise InvalidArgumentError(f"not a starter model: {err}") from err
    raise InvalidArgumentError(
        f"model must be a StarterModel from list_starter_models(), not {show(model)}"
    )


def image_bytes(image: object) -> bytes:
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image)
    if isinstance(image, (str, Path)) and str(image).strip():
        try:
            return Path(image).read_bytes()
        except OSError as err:
            raise InvalidArgumentError(f"cannot read {image}: {err.strerror or err}") from err
    raise InvalidArgumentError(f"image must be bytes or a file path, not {show(image)}")


_IMAGE_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}


def image_type(data: bytes) -> str:
    if not data:
        raise InvalidArgumentError("the image is empty")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for signature, media_type in _IMAGE_SIGNATURES.items():
        if data.startswith(signature):
            return media_type
    raise InvalidArgumentError("the image is not PNG, JPEG, WebP or GIF")


def member(payload: Any, name: str, call: Call) -> Any:
    if not isinstance(payload, dict) or name not in payload:
        raise unexpected(call, f"expected an object with {name!r}")
    return payload[name]


def show(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."
