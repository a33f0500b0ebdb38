"""Shared pieces of the typed models: open enums and a tolerant base model."""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict

from .._redact import scrub

__all__ = ["MAX_ARGUMENT_CHARS", "ONLY_DOTS_AND_SLASHES", "ApiModel", "OpenStrEnum"]

MAX_ARGUMENT_CHARS = 4096
"""The longest text (a name, a path, a token) the library sends."""
ONLY_DOTS_AND_SLASHES = re.compile(r"[./\\]+")
"""``.``, ``..``, ``/`` and the like: a folder, never a model's path."""

_unknown_members: dict[tuple[type[Enum], str], Any] = {}


class OpenStrEnum(str, Enum):
    """A string enum that also accepts values it does not know.

    A value from a newer server becomes a member of its own (``is_known`` is
    False) that still equals its raw string, so parsing never fails on it.
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        member = _unknown_members.get((cls, value))
        if member is None:
            member = str.__new__(cls, value)
            member._name_ = value
            member._value_ = value
            _unknown_members[(cls, value)] = member
        return member

    @property
    def is_known(self) -> bool:
        """Whether this library knows the value (False for a newer server's value)."""
        return type(self)._value2member_map_.get(self._value_) is self

    def __str__(self) -> str:
        return str(self.value)


class ApiModel(BaseModel):
    """Base of every server answer: unknown fields are kept, reachable as ``extra``."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)

    @property
    def extra(self) -> dict[str, Any]:
        """Fields the server sent that this model does not declare."""
        return self.__pydantic_extra__ if self.__pydantic_extra__ is not None else {}

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """The fields ``repr`` and ``str`` show, a token in a URL masked (``?token=***``)."""
        for name, value in super().__repr_args__():
            yield name, scrub(value) if isinstance(value, (str, dict, list)) else value
