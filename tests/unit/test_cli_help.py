"""Every ``--help`` names values in capitals and never shows a Python type."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from invokeai_py_client.cli.app import app

PYTHON_TYPE = re.compile(r"<(?:str|bool|int|float|list|Path|dict)\b|\{\w+")


def command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        if not sub.hidden:
            yield from command_paths(sub, (*path, name))


PATHS = list(command_paths(typer.main.get_command(app)))


def test_every_command_is_walked() -> None:
    assert ("delete",) in PATHS and ("jobs", "cancel") in PATHS and ("hf", "login") in PATHS


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "root")
def test_help_shows_no_python_types(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert not PYTHON_TYPE.search(result.output), result.output


def test_values_are_named_and_flags_take_none() -> None:
    root = CliRunner().invoke(app, ["--help"], terminal_width=200).output
    assert re.search(r"--url\s+URL\s", root)
    assert re.search(r"--json\s+Machine", root)
    delete = CliRunner().invoke(app, ["delete", "--help"], terminal_width=200).output
    assert "Usage: invokeai-models delete [OPTIONS] KEYS..." in delete


def test_every_command_has_its_json_shape_in_docs_cli_md() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    cells = [line.split("|")[1] for line in text.splitlines() if line.startswith("| `")]
    spans = [span.split(" [")[0] for cell in cells for span in re.findall(r"`([^`]+)`", cell)]
    named = {" ".join(w for w in span.split() if not w.isupper()) for span in spans}
    root = typer.main.get_command(app)
    groups = {
        name for name, sub in getattr(root, "commands", {}).items() if hasattr(sub, "commands")
    }
    commands = {" ".join(p) for p in PATHS if p} - (groups - {"jobs"})  # jobs lists the jobs
    assert commands <= named, commands - named


def test_readme_puts_the_command_on_path_before_it_uses_it() -> None:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)
    lines = [line for block in blocks for line in block.splitlines()]
    first = next(i for i, line in enumerate(lines) if line.startswith("invokeai-models"))
    assert any("source .venv/bin/activate" in line for line in lines[:first])
