"""``scripts/every_version.py``: which versions it picks, and how it reads pytest's report."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "every_version.py"


@pytest.fixture(scope="module")
def every_version() -> ModuleType:
    spec = importlib.util.spec_from_file_location("every_version", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_newest_final_patch_of_each_minor(every_version: ModuleType) -> None:
    releases = {
        "5.9.0": ["f"], "6.0.0": ["f"], "6.0.2": ["f"], "6.0.10rc1": ["f"], "6.1.0": ["f"],
        "6.10.0": ["f"], "6.9.1": ["f"], "6.9.0": ["f"], "6.2.0": [], "6.11.0a1": ["f"],
    }  # fmt: skip
    assert every_version.latest_patches(releases) == ["6.0.2", "6.1.0", "6.9.1", "6.10.0"]


def test_counts_from_a_junit_report(every_version: ModuleType, tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text(
        '<?xml version="1.0"?><testsuites><testsuite name="pytest" errors="1" failures="2"'
        ' skipped="3" tests="20" time="1.0"></testsuite></testsuites>'
    )
    counts = every_version.junit_counts(report)
    assert counts == {"passed": 14, "failed": 2, "skipped": 3, "errors": 1}


def test_the_table_round_trips_in_version_order(
    every_version: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(every_version, "TABLE", tmp_path / "t.tsv")
    row = dict.fromkeys(every_version.COLUMNS, "")
    rows = {v: {**row, "version": v, "passed": "5", "failed": "1", "errors": "1"}
            for v in ("6.10.0", "6.9.0")}  # fmt: skip
    every_version.write_table(rows)
    assert list(every_version.read_table()) == ["6.9.0", "6.10.0"]
    assert every_version.markdown(rows).splitlines()[2].startswith("| 6.9.0 | 5 | 2 |")
