"""Answers into typed models: strict for one value, tolerant for lists of records."""

from __future__ import annotations

import warnings
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from ._core import Call
from .errors import ResponseShapeWarning, UnexpectedResponseError

__all__ = ["parse", "parse_records", "without_secrets"]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

_adapters: dict[Any, TypeAdapter[Any]] = {}


def parse(shape: Any, payload: Any, call: Call) -> Any:
    """``payload`` validated as ``shape``; a mismatch is an ``UnexpectedResponseError``."""
    adapter = _adapters.get(shape)
    if adapter is None:
        adapter = _adapters[shape] = TypeAdapter(shape)
    try:
        return adapter.validate_python(payload)
    except ValidationError as err:
        raise UnexpectedResponseError(
            f"the answer does not fit {getattr(shape, '__name__', shape)}: {_first_problem(err)}",
            method=call.method,
            route=call.path,
            status_code=200,
        ) from err


def parse_records(model: type[M], payload: Any, call: Call) -> list[M]:
    """A list of records; one that does not fit keeps its raw values, with a warning.

    The warning names the record's key (or id) and the field that did not fit.
    """
    if not isinstance(payload, list):
        return list(parse(list[model], payload, call))  # type: ignore[valid-type]
    records: list[M] = []
    for item in payload:
        try:
            records.append(model.model_validate(item))
        except ValidationError as err:
            if not isinstance(item, dict):
                raise UnexpectedResponseError(
                    f"a list item is not a {model.__name__} record: {_first_problem(err)}",
                    method=call.method,
                    route=call.path,
                    status_code=200,
                ) from err
            name = item.get("key", item.get("id", "?"))
            warnings.warn(
                f"{call.method} {call.path}: record {name!r} does not fit {model.__name__} "
                f"({_first_problem(err)}); kept with its raw values",
                ResponseShapeWarning,
                stacklevel=2,
            )
            records.append(model.model_construct(**without_secrets(item)))
    return records


def without_secrets(value: Any) -> Any:
    """``value`` without the ``access_token`` keys servers echo back, at any depth."""
    if isinstance(value, dict):
        return {k: without_secrets(v) for k, v in value.items() if k not in _SECRET_KEYS}
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value


_SECRET_KEYS = frozenset({"access_token"})


def _first_problem(err: ValidationError) -> str:
    problems = err.errors()
    first = problems[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "value"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"field {where!r}: {first['msg']}{more}"
