"""A server's 422 for a command-line value, told as a usage error with a did-you-mean."""

from __future__ import annotations

import difflib
import re
from typing import Any

__all__ = ["OPTION_OF_QUERY", "refused_values"]

OPTION_OF_QUERY = {
    "model_type": "--type",
    "base_models": "--base",
    "model_format": "--format",
    "model_name": "--name",
    "order_by": "--order-by",
    "direction": "--direction",
}

_QUOTED = re.compile(r"'([^']*)'")


def _suggestion(value: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(value.lower(), choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}? "
    return ""


def _refusal(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    loc = item.get("loc") or []
    if len(loc) < 2 or loc[0] != "query" or loc[1] not in OPTION_OF_QUERY:
        return None
    option = OPTION_OF_QUERY[loc[1]]
    value = str(item.get("input", ""))
    expected = str((item.get("ctx") or {}).get("expected") or item.get("msg") or "")
    choices = _QUOTED.findall(expected)
    if not choices:
        return f"{option} {value!r}: {item.get('msg', 'refused by the server')}"
    return (
        f"{option} {value!r} is not a value this server knows; {_suggestion(value, choices)}"
        f"valid: {', '.join(choices)}"
    )


def refused_values(exc: BaseException) -> str | None:
    """One line per refused option when ``exc`` is a 422 for query values, else ``None``."""
    from invokeai_py_client.errors import UnprocessableEntityError

    if not isinstance(exc, UnprocessableEntityError) or not isinstance(exc.detail, list):
        return None
    lines = [_refusal(item) for item in exc.detail]
    if not lines or None in lines:
        return None
    return "; ".join(line for line in lines if line)
