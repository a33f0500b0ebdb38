"""Provisioning reports progress while pip works (never minutes of silence)."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.provision import ProvisionError, _run_logged


def test_a_long_command_says_what_it_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = "for i in 1 2 3; do echo Collecting pkg$i; sleep 0.3; done"
    _run_logged(["bash", "-c", script], tmp_path / "pip.log", every=0.25)
    said = capsys.readouterr().err.splitlines()
    assert len(said) >= 2 and all(line.startswith("[testbed] ... ") for line in said)
    assert any("Collecting pkg" in line for line in said)
    assert "Collecting pkg3" in (tmp_path / "pip.log").read_text()


def test_a_failed_command_raises_with_the_log(tmp_path: Path) -> None:
    with pytest.raises(ProvisionError, match="boom"):
        _run_logged(["bash", "-c", "echo boom; exit 3"], tmp_path / "pip.log")
