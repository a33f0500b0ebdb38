# Copyright (c) 2026 The invokeai-py-client authors
# MIT License (see LICENSE in the collection)
"""What the invokeai.models modules share: the common options, the client, the one place
where the library's errors become ``fail_json(msg=...)``, and the diff of a planned change.

The modules decide nothing themselves: invokeai-py-client's manifest planner does. This
file imports the library once, so that a module without it fails with Ansible's
missing-library message instead of a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ansible.module_utils.basic import _load_params, env_fallback, missing_required_lib

try:
    from invokeai_py_client import InvokeAIClient
    from invokeai_py_client._core.arguments import optional_text
    from invokeai_py_client._core.manifest_apply import check_apply_args
    from invokeai_py_client._core.manifest_plan import ManifestPlan, PlanAction, PlannedChange
    from invokeai_py_client._core.model_plan import (
        MANIFEST_SETTINGS,
        job_data,
        plan_record,
        record_data,
        with_config,
    )
    from invokeai_py_client.dnn_model import ManifestModel, ModelInstallConfig, ModelManifest
    from invokeai_py_client.dnn_model.manifest import expand_env
    from invokeai_py_client.errors import (
        APIConnectionError,
        AuthenticationError,
        InvalidArgumentError,
        InvokeAIError,
        PermissionDeniedError,
    )
except ImportError as exc:  # reported by require_library, after the options are read
    IMPORT_ERROR: ImportError | None = exc
else:
    IMPORT_ERROR = None

__all__ = [
    "COMMON_ARGUMENTS",
    "IMPORT_ERROR",
    "MANIFEST_SETTINGS",
    "InvalidArgumentError",
    "ManifestModel",
    "ManifestPlan",
    "ModelInstallConfig",
    "ModelManifest",
    "PlanAction",
    "PlannedChange",
    "change_diff",
    "check_apply_args",
    "check_text_options",
    "check_wait_timeout",
    "connect",
    "expand_env",
    "failures",
    "job_data",
    "optional_text",
    "plan_record",
    "private_token",
    "record_data",
    "require_library",
    "with_config",
]

PIP_NAME = "invokeai-py-client"
TOKEN_VARIABLE = "INVOKEAI_ANSIBLE_ACCESS_TOKEN"  # only in the module's own process

COMMON_ARGUMENTS: dict[str, dict[str, Any]] = {
    # not required=True: module_defaults may give it (group/invokeai.models.invokeai),
    # which linters do not see; connect() refuses a missing one before sending anything
    "url": {"type": "str", "fallback": (env_fallback, ["INVOKEAI_URL"])},
    "token": {"type": "str", "no_log": True, "fallback": (env_fallback, ["INVOKEAI_TOKEN"])},
    "timeout": {"type": "float", "default": 60.0},
    "validate_certs": {"type": "bool", "default": True},
}


def require_library(module: Any) -> None:
    """Fail with Ansible's missing-library message, naming the pip command."""
    if IMPORT_ERROR is None:
        return
    reason = (
        f"by the invokeai.models modules; install it there with "
        f"`{sys.executable} -m pip install {PIP_NAME}` ({IMPORT_ERROR})"
    )
    module.fail_json(msg=missing_required_lib(PIP_NAME, reason=reason))


def check_text_options(module: Any) -> None:
    """Fail for a dict or a list given to a text option (``str``, ``path`` or a list of
    ``str``): Ansible passes on its Python text (``{'a': 1}``), which no check after it
    can tell from a string. Only the type is named: the value may be a secret."""
    given = _load_params()
    for name, spec in module.argument_spec.items():
        value = given.get(name)
        if spec.get("type", "str") in ("str", "path"):
            values, what = [value], name
        elif spec.get("type") == "list" and spec.get("elements") == "str":
            values, what = value if isinstance(value, list) else [], f"each of {name}"
        else:
            continue
        for item in values:
            if isinstance(item, (dict, list)):
                module.fail_json(
                    msg=f"{what} must be a string, not a {type(item).__name__} (nothing was sent)"
                )


def check_wait_timeout(seconds: float) -> None:
    """The library's check of an apply timeout, naming the wait_timeout option."""
    try:
        check_apply_args(False, 1, seconds, None)
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(f"wait_timeout: {exc}") from None


def connect(module: Any) -> InvokeAIClient:
    """A client for the module's ``url``, ``token``, ``timeout`` and ``validate_certs``.

    Raises ``InvalidArgumentError`` for a missing or bad URL or timeout (nothing is sent)."""
    params = module.params
    if not params["url"]:
        raise InvalidArgumentError("no server URL: set the url option (or INVOKEAI_URL)")
    return InvokeAIClient.from_url(
        params["url"],
        token=params["token"] or None,
        timeout=params["timeout"],
        verify=params["validate_certs"],
    )


def message_for(exc: InvokeAIError, url: str | None) -> str:
    """The library's one-line message (method, route, status, server detail), and a hint
    where one helps."""
    text = str(exc)
    if isinstance(exc, InvalidArgumentError):
        return f"{text} (nothing was sent)"
    if isinstance(exc, APIConnectionError):
        return f"{text}; is an InvokeAI server running at {url}? (the url option)"
    if isinstance(exc, AuthenticationError):
        return f"{text}; the server needs a valid token (the token option or INVOKEAI_TOKEN)"
    if isinstance(exc, PermissionDeniedError):
        return f"{text}; this needs an admin account on a multi-user server"
    return text


@contextmanager
def failures(module: Any, **result: Any) -> Iterator[dict[str, Any]]:
    """Turn the library's errors into ``fail_json(msg=...)``: no traceback. ``result``
    (a dict the block may fill) goes with the failure."""
    try:
        yield result
    except InvokeAIError as exc:
        module.fail_json(msg=message_for(exc, module.params.get("url")), **result)


def private_token(module: Any, token: str, index: int = 0) -> str:
    """A ``${VAR}`` reference to ``token``, set in this module's own environment (a
    manifest holds tokens only as references); the value is kept out of every output."""
    name = f"{TOKEN_VARIABLE}_{index}"
    os.environ[name] = token
    module.no_log_values.add(token)
    return "${" + name + "}"


def change_diff(change: PlannedChange) -> dict[str, Any]:
    """``before`` and ``after`` of the fields a planned change touches (for ``--diff``)."""
    model = record_data(change.model) if change.model is not None else {}
    action = change.action.value
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    if action == "install" and change.entry is not None:
        after = {"source": change.entry.install_source, **change.entry.settings()}
    elif action == "update":
        before = {k: model.get(k) for k in change.changes}
        after = dict(change.changes)
    elif action == "delete":
        before = {k: model.get(k) for k in ("key", "name", "type", "base", "source")}
    elif action == "hash_mismatch" and change.entry is not None:
        before, after = {"hash": model.get("hash")}, {"hash": change.entry.hash}
    return {
        "before": before,
        "after": after,
        "before_header": f"{label(change)} (on the server)",
        "after_header": f"{label(change)} ({action})",
    }


def label(change: PlannedChange) -> str:
    """The model's name and key, else the entry's source."""
    if change.model is not None:
        return f"{change.model.name} ({change.model.key})"
    return change.entry.install_source if change.entry is not None else "?"
