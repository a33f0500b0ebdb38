"""Model sources as text: what kind a source is, how the server records it, ``${VAR}``s.

Pure functions shared by manifests, their plans and the install routes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import PurePosixPath, PureWindowsPath
from typing import Literal

from .._redact import MASK, scrub
from ..errors import ManifestError

__all__ = [
    "MASKED",
    "MODEL_SUFFIXES",
    "SourceKind",
    "env_names",
    "env_reference",
    "expand_env",
    "expand_set",
    "hf_source",
    "is_absolute",
    "literal_secret",
    "source_key",
    "source_kind",
    "split_repo_source",
]

MASKED = MASK  # what a secret looks like once masked (``export`` writes it so)
_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_ENV_IN_TEXT = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# repo, repo:variant, repo:variant:sub, repo::sub, and as recorded: repo:variant::sub
# (6.8 to 6.14 on Python 3.11+ record the variant as "ModelRepoVariant.FP16")
_REPO_ID = re.compile(
    r"^([^/:\s]+/[^/:\s]+)(?::(?:ModelRepoVariant\.)?([A-Za-z0-9_]*)(?:::?/?([^:]+))?)?$"
)
_WINDOWS_PATH = re.compile(r"^[A-Za-z]:[\\/]")
MODEL_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".onnx")

SourceKind = Literal["path", "url", "hf", "external"]


def source_kind(source: str) -> SourceKind | None:
    """What a source string is: a server path, a URL, a repo id, or None (neither)."""
    text = source.strip().strip('"')
    if text.startswith("external://"):
        return "external"
    if re.match(r"^https?://[^/]+", text):
        return "url"
    if is_absolute(text):
        return "path"
    if _REPO_ID.match(text):
        return "hf"
    return None


@lru_cache(maxsize=8192)  # a pure function of the text; plans ask for each source often
def source_key(source: str | None) -> str:
    """``source`` as the server records it, secrets masked: what matching compares.

    Paths are normalized as the server does (``Path(p).as_posix()``), URLs as
    pydantic does, repo ids split into repo, variant and subfolder. Never raises.
    """
    text = (source or "").strip().strip('"')
    kind = source_kind(text)
    if kind == "path":
        pure = PureWindowsPath(text) if _WINDOWS_PATH.match(text) else PurePosixPath(text)
        text = pure.as_posix()
    elif kind == "url":
        try:
            from pydantic import AnyUrl

            text = str(AnyUrl(text))
        except (ValueError, TypeError):
            pass
    elif kind == "hf":
        repo_id, variant, subfolder = split_repo_source(text)
        text = f"{repo_id}:{variant or ''}::{subfolder or ''}"
    return str(scrub(text))


def split_repo_source(source: str) -> tuple[str, str | None, str | None]:
    """``(repo_id, variant, subfolder)`` of a repo source, in any of its spellings."""
    match = _REPO_ID.match(source.strip())
    if match is None:
        raise ValueError(f"not a repo id: {source!r}")
    repo_id, variant, subfolder = match.groups()
    sub = PurePosixPath(subfolder.strip("/")).as_posix() if subfolder else None
    return repo_id, (variant or "").lower() or None, sub


def expand_env(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with each ``${VAR}`` replaced; ``ManifestError`` names any unset one."""
    env = os.environ if environ is None else environ
    missing = [name for name in _ENV_IN_TEXT.findall(text) if not env.get(name)]
    if missing:
        raise ManifestError(f"environment variable(s) not set: {', '.join(sorted(set(missing)))}")
    return _ENV_IN_TEXT.sub(lambda m: env[m.group(1)], text)


def expand_set(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with each ``${VAR}`` that is set replaced; unset ones stay as they are."""
    env = os.environ if environ is None else environ
    return _ENV_IN_TEXT.sub(lambda m: env.get(m.group(1)) or m.group(0), text)


def env_names(text: str | None) -> list[str]:
    """The ``${VAR}`` names in ``text``."""
    return _ENV_IN_TEXT.findall(text or "")


def env_reference(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    if not _ENV_REF.match(value.strip()):
        raise ValueError(
            f"{what} must be an environment reference such as ${{HF_TOKEN}}, never the token itself"
        )
    return value.strip()


def is_absolute(path: str | None) -> bool:
    return bool(path) and (str(path).startswith("/") or bool(_WINDOWS_PATH.match(str(path))))


def literal_secret(source: str) -> bool:
    """True when ``source`` holds a secret that is neither ``${VAR}`` nor masked."""
    masked = str(scrub(source))
    if masked == source:
        return False
    placeholder = _ENV_IN_TEXT.sub(MASKED, source)  # ${VAR} and *** are fine
    return str(scrub(placeholder)) != placeholder


def hf_source(repo_id: str, variant: str | None, subfolder: str | None) -> str:
    """The install source of a repo: ``repo[:variant]``, ``repo:variant:sub`` or ``repo::sub``.

    (The server refuses ``repo:variant::sub``, though it records sources that way.)
    """
    source = repo_id + (f":{variant}" if variant else "")
    if subfolder:
        source += (":" if variant else "::") + subfolder.strip("/")
    return source
