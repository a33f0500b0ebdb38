"""Output of the CLI: plain lines, Rich tables, ``--json`` documents and one-line errors.

Everything printed goes through ``Output.mask`` so that a token never appears, not even in
a ``--debug`` traceback. Results go to stdout; errors, progress and notes to stderr.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

import typer

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_DRIFT = 3  # reserved for ``plan --exit-code``
EXIT_INTERRUPTED = 130


def cell(value: Any) -> str:
    """A table cell: ``-`` for nothing, a list of words joined, other nested values as JSON."""
    if value is None:
        return "-"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    if isinstance(value, dict):
        value = {k: v for k, v in value.items() if v is not None}
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def human_size(size: int | float | None) -> str:
    """``17932`` -> ``"17.9 kB"`` (decimal units, as Rich shows downloads)."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover


class Output:
    """How results and errors are written for one invocation."""

    def __init__(
        self,
        *,
        json_mode: bool = False,
        quiet: bool = False,
        debug: bool = False,
        secrets: Iterable[str | None] = (),
    ) -> None:
        self.json_mode = json_mode
        self.quiet = quiet
        self.debug = debug
        self.secrets = [s for s in secrets if s]

    # -- masking -----------------------------------------------------------------------

    def mask(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``, and any token, key or password
        written into a URL (``?token=***``, ``https://user:***@host``)."""
        from invokeai_py_client._redact import scrub

        for secret in self.secrets:
            text = text.replace(secret, "***")
        return str(scrub(text))

    # -- results -------------------------------------------------------------------------

    def json(self, value: Any) -> None:
        """One JSON document on stdout (one line)."""
        typer.echo(self.mask(json.dumps(value, ensure_ascii=False, default=str)))

    def line(self, text: str, *, err: bool = False) -> None:
        """A plain line for people (not in ``--json`` or ``--quiet`` mode)."""
        if not (self.quiet or self.json_mode):
            typer.echo(self.mask(text), err=err)

    def essential(self, text: str) -> None:
        """A line that ``--quiet`` keeps (ids, keys); not in ``--json`` mode."""
        if not self.json_mode:
            typer.echo(self.mask(text))

    def table(
        self, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None
    ) -> None:
        """A Rich table on stdout."""
        from rich.table import Table

        table = Table(title=title, header_style="bold", show_lines=False)
        for i, column in enumerate(columns):
            table.add_column(column, no_wrap=i == 0, overflow="fold")
        for row in rows:
            table.add_row(*(self.mask(cell(v)) for v in row))
        self.console().print(table)

    def listing(
        self,
        docs: Iterable[Any],
        ids: Iterable[Any],
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        summary: str | None = None,
        empty_table: bool = True,
    ) -> None:
        """A list: its JSON documents with --json, one id per line with --quiet, else a
        table (not when empty, unless ``empty_table``) and ``summary`` on stderr."""
        if self.json_mode:
            self.json(list(docs))
            return
        if self.quiet:
            for value in ids:
                self.essential(str(value))
            return
        rows = list(rows)
        if rows or empty_table:
            self.table(columns, rows)
        if summary is not None:
            self.line(summary, err=True)

    def console(self, *, stderr: bool = False) -> Any:
        """A Rich console on the current stdout/stderr (wide when not a terminal)."""
        from rich.console import Console

        file = sys.stderr if stderr else sys.stdout
        is_tty = bool(getattr(file, "isatty", lambda: False)())
        return Console(file=file, width=None if is_tty else 200, highlight=False)

    # -- errors --------------------------------------------------------------------------

    def error(
        self,
        message: str,
        *,
        hint: str | None = None,
        exc: BaseException | None = None,
        code: int = EXIT_FAILED,
    ) -> None:
        """One line on stderr: ``error: <message>; hint: <hint>`` (JSON with ``--json``)."""
        if self.debug and exc is not None:
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            typer.echo(self.mask(tb.rstrip()), err=True)
        if self.json_mode:
            doc: dict[str, Any] = {"error": message, "exit_code": code}
            if exc is not None:
                doc["type"] = type(exc).__name__
                for attr in ("status_code", "detail", "method", "route"):
                    if getattr(exc, attr, None) is not None:
                        doc[attr] = getattr(exc, attr)
            if hint:
                doc["hint"] = hint
            typer.echo(self.mask(json.dumps(doc, ensure_ascii=False, default=str)), err=True)
            return
        text = f"error: {message}" + (f"; hint: {hint}" if hint else "")
        typer.echo(self.mask(" ".join(text.split())), err=True)

    def fail(
        self,
        message: str,
        *,
        hint: str | None = None,
        exc: BaseException | None = None,
        code: int = EXIT_FAILED,
    ) -> NoReturn:
        """``error(...)``, then exit with ``code``."""
        self.error(message, hint=hint, exc=exc, code=code)
        raise typer.Exit(code)
