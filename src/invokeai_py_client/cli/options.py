"""Options that several commands take, declared once (as ``Annotated`` types)."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["BaseFilter", "NoWait", "TypeFilter", "WaitTimeout", "Yes", "seconds"]


def seconds(value: float) -> float:
    """A ``--timeout`` (click's ``min=0`` lets NaN through: refused here, before any request)."""
    if value != value:
        raise typer.BadParameter("must be a number of seconds, not nan")
    return value


BaseFilter = Annotated[
    list[str] | None,
    typer.Option("--base", "-b", help="Base model, e.g. sd-1, sdxl, flux (repeatable)."),
]
TypeFilter = Annotated[
    str | None, typer.Option("--type", "-t", help="Model type, e.g. main, lora, vae.")
]
NoWait = Annotated[bool, typer.Option("--no-wait", help="Start the jobs and return their ids.")]
WaitTimeout = Annotated[
    float,
    typer.Option("--timeout", help="Seconds to wait for all jobs.", min=0, callback=seconds),
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
