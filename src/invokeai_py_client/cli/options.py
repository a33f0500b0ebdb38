"""Options that several commands take, declared once (as ``Annotated`` types)."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["BaseFilter", "NoWait", "TypeFilter", "WaitTimeout", "Yes"]

BaseFilter = Annotated[
    list[str] | None,
    typer.Option("--base", "-b", help="Base model, e.g. sd-1, sdxl, flux (repeatable)."),
]
TypeFilter = Annotated[
    str | None, typer.Option("--type", "-t", help="Model type, e.g. main, lora, vae.")
]
NoWait = Annotated[bool, typer.Option("--no-wait", help="Start the jobs and return their ids.")]
WaitTimeout = Annotated[
    float, typer.Option("--timeout", help="Seconds to wait for all jobs.", min=0)
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
