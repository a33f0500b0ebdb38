"""A manifest entry's source: what is wrong with it, and what it comes to (kind, install
source, matching key). Pure functions of the entry's fields and the environment; for a
source without ``${VAR}`` (nearly all) they are constants, cached, so that a manifest of
thousands of entries is checked and matched without working each out again.
"""

from __future__ import annotations

from functools import lru_cache

from . import model_sources
from ._base import ONLY_DOTS_AND_SLASHES
from .model_sources import (
    MODEL_SUFFIXES,
    SourceKind,
    expand_set,
    hf_source,
    literal_secret,
    source_key,
    source_kind,
    split_repo_source,
)

__all__ = [
    "match_key",
    "source_facts",
    "source_problem",
    "static_source_facts",
    "static_source_problem",
]


def source_problem(
    source: str, variant: str | None, subfolder: str | None, inplace: bool
) -> str | None:
    """What is wrong with an entry's source and the fields that go with it, or None."""
    constant = "${" not in source
    expanded = source if constant else expand_set(source)
    if not expanded or ONLY_DOTS_AND_SLASHES.fullmatch(expanded):
        return "source must be a path on the server, a URL or a repo id"
    if ("=" in source or "@" in source) and literal_secret(source):  # needs one of them
        return (
            "a token, key or password in a source must be an environment reference "
            "such as ${CIVITAI_TOKEN}, never the secret itself"
        )
    if not constant and model_sources.env_names(expanded):  # unset: refused when planning
        return None
    kind = (static_source_facts if constant else source_facts)(source, variant, subfolder)[0]
    if kind is None:
        return (
            f"{expanded!r} is neither an absolute path, a URL nor a repo id "
            "(owner/repo); write a path relative to the manifest as ./path"
        )
    if kind == "hf" and expanded.lower().endswith(MODEL_SUFFIXES):
        return (
            f"{expanded!r} looks like a relative path, which a server takes for a repo "
            "id; write ./path (relative to the manifest) or an absolute path"
        )
    if (variant or subfolder) and kind != "hf":
        return "variant and subfolder apply to Hugging Face repo ids only"
    if (variant or subfolder) and ":" in expanded:
        return "give the variant and subfolder either in source or as fields"
    if inplace and kind != "path":
        return "inplace applies to paths on the server only"
    return None


def source_facts(
    source: str, variant: str | None, subfolder: str | None
) -> tuple[SourceKind | None, str, str]:
    """An entry's kind, install source and matching key (``${VAR}`` that are set
    expanded for the kind and the key)."""
    expanded = _expanded(source)
    kind: SourceKind | None = "path" if expanded[:1] == "/" else source_kind(expanded)
    install = source
    if kind == "hf":
        repo_id, inline_variant, inline_subfolder = split_repo_source(source)
        install = hf_source(repo_id, variant or inline_variant, subfolder or inline_subfolder)
    return kind, install, match_key(_expanded(install))


def _expanded(text: str) -> str:
    return expand_set(text) if "${" in text else text


_NOT_PLAIN = frozenset('=@\\"')  # a secret to mask, a Windows path, quotes: the full way


def match_key(source: str | None) -> str:
    """``source_key(source)``, without its cost (masking, path parsing: about 50 us) for
    the usual source: an absolute POSIX path already as the server writes it, with
    nothing to mask."""
    if (
        source
        and source[0] == "/"
        and "//" not in source
        and "/." not in source
        and source[-1] != "/"
        and not any(c in source for c in _NOT_PLAIN)
        and source == source.strip()
    ):
        return source
    return source_key(source)


static_source_problem = lru_cache(maxsize=16384)(source_problem)
"""``source_problem`` of a source without ``${VAR}`` (a constant), cached."""
static_source_facts = lru_cache(maxsize=16384)(source_facts)
"""``source_facts`` of a source without ``${VAR}``, cached."""
