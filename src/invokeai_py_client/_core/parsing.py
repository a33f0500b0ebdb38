"""Answers into typed models: strict for one value, tolerant for lists of records."""

from __future__ import annotations

import warnings
from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from .._redact import without_secrets
from ..errors import ResponseShapeWarning
from .calls import Call, JsonBytes, unexpected

__all__ = ["parse", "parse_records"]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

_adapters: dict[Any, TypeAdapter[Any]] = {}


def parse(shape: Any, payload: Any, call: Call) -> Any:
    """``payload`` validated as ``shape``; a mismatch is an ``UnexpectedResponseError``.

    ``JsonBytes`` (a ``record`` route's answer) are validated straight from the bytes,
    in one pass of pydantic-core; JSON that does not parse is "broken JSON".
    """
    adapter = _adapters.get(shape)
    if adapter is None:
        adapter = _adapters[shape] = TypeAdapter(shape)
    try:
        if isinstance(payload, JsonBytes):
            return adapter.validate_json(payload.content)
        return adapter.validate_python(payload)
    except ValidationError as err:
        if isinstance(payload, JsonBytes) and _is_broken_json(err):
            raise unexpected(call, f"broken JSON: {err.errors()[0]['msg']}") from err
        name = getattr(shape, "__name__", shape)
        raise unexpected(call, f"the answer does not fit {name}: {_first_problem(err)}") from err


def parse_records(model: type[M], payload: Any, call: Call) -> list[M]:
    """A list of records; one that does not fit is kept, with a warning.

    Its fields that did not fit hold a stand-in (their default, ``unknown`` for an open
    enum) and their raw values are in ``extra``; the warning names the record's key
    (or id, or path) and the field.
    """
    if not isinstance(payload, list):
        return list(parse(list[model], payload, call))  # type: ignore[valid-type]
    records: list[M] = []
    for item in payload:
        try:
            records.append(model.model_validate(item))
        except ValidationError as err:
            if not isinstance(item, dict):
                problem = _first_problem(err)
                raise unexpected(
                    call, f"a list item is not a {model.__name__} record: {problem}"
                ) from err
            name = next((item[k] for k in ("key", "id", "path", "name") if k in item), "?")
            warnings.warn(
                f"{call.method} {call.path}: record {name!r} does not fit {model.__name__} "
                f"({_first_problem(err)}); kept with its raw values",
                ResponseShapeWarning,
                stacklevel=2,
            )
            records.append(_kept(model, item, err))
    return records


def _kept(model: type[M], item: dict[str, Any], err: ValidationError) -> M:
    """The record with the fields that did not fit set to their default (``unknown`` for
    an open enum, the text of the value for a string) and their raw values in ``extra``.
    A model may normalize a server's dict first with a ``from_server`` classmethod."""
    data = without_secrets(item)
    normalize = getattr(model, "from_server", None)
    if normalize is not None:
        data = normalize(dict(data))
    bad = {str(e["loc"][0]) for e in err.errors() if e["loc"]}
    raw = {k: data.pop(k) for k in bad if k in data}
    for name in bad:
        field = model.model_fields.get(name)
        if field is not None and field.is_required():
            data[name] = _stand_in(field.annotation, raw.get(name))
    try:
        record = model.model_validate(data)
    except ValidationError:
        record = model.model_construct(**data)
    record.__pydantic_extra__ = {**(record.__pydantic_extra__ or {}), **raw}
    return record


def _stand_in(annotation: Any, value: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return annotation("unknown")
    return None if value is None else str(value)


def _is_broken_json(err: ValidationError) -> bool:
    problems = err.errors()
    return len(problems) == 1 and problems[0]["type"] == "json_invalid"


def _first_problem(err: ValidationError) -> str:
    problems = err.errors()
    first = problems[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "value"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"field {where!r}: {first['msg']}{more}"
