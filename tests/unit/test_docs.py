"""The docs keep up with the code: every public name is documented, no outside references."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

import invokeai_py_client.errors
from invokeai_py_client import (
    AsyncDnnModelRepository,
    AsyncInvokeAIClient,
    AsyncModelInstJobHandle,
    DnnModelRepository,
    InvokeAIClient,
    ModelInstJobHandle,
    ModelManifest,
)
from invokeai_py_client.dnn_model import ApplyReport, ManifestPlan

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
DOCUMENTED = [
    InvokeAIClient,
    AsyncInvokeAIClient,
    DnnModelRepository,
    AsyncDnnModelRepository,
    ModelInstJobHandle,
    AsyncModelInstJobHandle,
    ModelManifest,
    ManifestPlan,
    ApplyReport,
]
SCANNED = [ROOT / "docs", ROOT / "README.md", ROOT / "ROADMAP.md", ROOT / "testbed", ROOT / "src"]
FORBIDDEN = ("../shared", "SERVER-FACTS")
SKIPPED_DIRS = {"__pycache__", ".venv", "node_modules"}
SKIPPED_SUFFIXES = {".pyc", ".pyo", ".so", ".whl", ".gz", ".zip", ".safetensors"}


def _code_names(path: Path) -> set[str]:
    """Every identifier inside a code span or code block of a Markdown file."""
    text = path.read_text(encoding="utf-8")
    spans = re.findall(r"```.*?```", text, flags=re.DOTALL)
    spans += re.findall(r"`[^`\n]+`", re.sub(r"```.*?```", "", text, flags=re.DOTALL))
    return {name for span in spans for name in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", span)}


def _public_names(cls: type) -> list[str]:
    inherited = set(dir(BaseModel)) if issubclass(cls, BaseModel) else set()
    return sorted(n for n in dir(cls) if not n.startswith("_") and n not in inherited)


@pytest.mark.parametrize("cls", DOCUMENTED, ids=lambda c: c.__name__)
def test_every_public_member_is_in_api_md(cls: type) -> None:
    names = _code_names(DOCS / "api.md")
    missing = [n for n in [cls.__name__, *_public_names(cls)] if n not in names]
    assert not missing, f"docs/api.md does not name these {cls.__name__} members: {missing}"


def test_every_exception_is_in_errors_md() -> None:
    names = _code_names(DOCS / "errors.md")
    missing = [n for n in invokeai_py_client.errors.__all__ if n not in names]
    assert not missing, f"docs/errors.md does not name: {missing}"


def _scanned_files() -> list[Path]:
    files: list[Path] = []
    for place in SCANNED:
        candidates = [place] if place.is_file() else sorted(place.rglob("*"))
        for path in candidates:
            if not path.is_file() or path.suffix in SKIPPED_SUFFIXES:
                continue
            if SKIPPED_DIRS & set(path.relative_to(ROOT).parts):
                continue
            files.append(path)
    return files


def test_scanned_places_exist() -> None:
    for place in SCANNED:
        assert place.exists(), place
    assert len(_scanned_files()) > 10


def test_no_reference_outside_the_repository() -> None:
    offenders = []
    for path in _scanned_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        offenders += [f"{path.relative_to(ROOT)}: {bad}" for bad in FORBIDDEN if bad in text]
    assert not offenders, "references to files outside the repository:\n" + "\n".join(offenders)
