"""Help that names values (``--url URL``, ``KEYS...``), never Python types (``<list[str]>``)."""

from __future__ import annotations

from typing import Any

import typer.core

__all__ = ["HelpGroup"]


class _NamedArgument(typer.core.TyperArgument):
    """An argument whose help shows its name only (Typer 0.28+ adds ``<type>``)."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        name = str(self.metavar)
        return [name if self.required else f"[{name}]"]


def _value_name(param: Any) -> str:
    descriptor = getattr(param, "type_descriptor", None) or getattr(param, "type", None)
    choices = getattr(descriptor, "choices", None)
    if choices:
        return "[" + "|".join(str(c) for c in choices) + "]"
    return str(param.name or "value").upper()


def name_values(params: list[Any]) -> None:
    """Give each parameter a metavar: its name in capitals, nothing for a flag."""
    for param in params:
        if isinstance(param, typer.core.TyperArgument):
            if param.metavar is None:
                dots = "..." if param.nargs != 1 else ""
                param.metavar = _value_name(param) + dots
            param.__class__ = _NamedArgument
        elif param.metavar is None:
            param.metavar = "" if getattr(param, "is_flag", False) else _value_name(param)


def _name_tree(command: Any, ctx: Any) -> None:
    name_values(command.get_params(ctx))
    for sub in getattr(command, "commands", {}).values():
        _name_tree(sub, ctx)


class HelpGroup(typer.core.TyperGroup):
    """The root group: names every command's values once, before parsing or help."""

    _named = False

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        if not self._named:
            self._named = True
            name_values(params)
            for sub in self.commands.values():
                _name_tree(sub, ctx)
        return params
