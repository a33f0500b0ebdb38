"""The install routes and their operations: installs, install jobs, starter models.

No I/O: an operation checks its arguments, yields ``Call`` objects, receives their
decoded answers and returns parsed results (see ``calls``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from ..dnn_model.dnn_model_models import ModelInstallConfig, StarterModel, StarterModelCatalog
from ..dnn_model.job_models import ModelInstJobInfo
from ..dnn_model.model_sources import hf_source
from ..errors import INSTALL_START_ERRORS, InvalidArgumentError
from . import arguments as check
from .calls import ABSENT, Call, Operation, Route
from .parsing import parse, parse_records

__all__ = [
    "Config",
    "JobAction",
    "cancel_install_job",
    "get_install_job",
    "install_huggingface",
    "install_job_action",
    "install_model",
    "install_starter_bundle",
    "install_starter_model",
    "list_install_jobs",
    "list_starter_models",
    "prune_install_jobs",
    "restart_install_file",
]

Config = ModelInstallConfig | Mapping[str, Any]
"""Install overrides or record changes: a ``ModelInstallConfig`` or a dict of its fields."""
JobAction = Literal["pause", "resume", "restart_failed"]

V2 = "/api/v2/models"
# InvokeAI answers 415, not 404, for an install job id it does not know.
_NO_JOB = frozenset({404, 415})

INSTALL = Route("POST", f"{V2}/install", expect="record", errors=INSTALL_START_ERRORS)
LORA_SETTINGS = "LoRA default settings (default_settings.weight)"
INSTALL_LORA_SETTINGS = replace(INSTALL, since="6.6", feature=LORA_SETTINGS)
INSTALL_JOBS = Route("GET", f"{V2}/install")
INSTALL_JOB = Route("GET", f"{V2}/install/{{id}}", expect="record", absent=frozenset({404}))
PRUNE_JOBS = Route("DELETE", f"{V2}/install", expect="nothing")
CANCEL_JOB = Route("DELETE", f"{V2}/install/{{id}}", expect="nothing", absent=_NO_JOB)
JOB_ACTIONS: dict[str, Route] = {
    action: Route(
        "POST", f"{V2}/install/{{id}}/{action}", expect="record", since="6.12", absent=_NO_JOB
    )
    for action in ("pause", "resume", "restart_failed")
}
RESTART_FILE = Route(
    "POST", f"{V2}/install/{{id}}/restart_file", expect="record", since="6.12", absent=_NO_JOB
)
STARTERS = Route("GET", f"{V2}/starter_models")


def has_lora_settings(body: Mapping[str, Any] | None) -> bool:
    """Whether record changes set a LoRA's default settings (InvokeAI 6.6 added them)."""
    settings = (body or {}).get("default_settings")
    return isinstance(settings, Mapping) and "weight" in settings


def install_model(
    source: str | Path,
    *,
    config: Config | None = None,
    inplace: bool | None = None,
    access_token: str | None = None,
) -> Operation[ModelInstJobInfo]:
    token = check.optional_text(access_token, "access_token")
    params = {
        "source": check.server_path(source, "source"),
        "inplace": check.optional_bool(inplace, "inplace"),
        "access_token": token,
    }
    secrets = (token,) if token else ()
    body = check.changes(config)
    route = INSTALL_LORA_SETTINGS if has_lora_settings(body) else INSTALL
    call = Call(route, "install_model", params=params, json=body, secrets=secrets)
    payload = yield call
    info: ModelInstJobInfo = parse(ModelInstJobInfo, payload, call)
    return info


def install_huggingface(
    repo_id: str,
    *,
    config: Config | None = None,
    access_token: str | None = None,
    variant: str | None = None,
    subfolder: str | None = None,
) -> Operation[ModelInstJobInfo]:
    source = hf_source(
        check.repo_id(repo_id), check.hf_variant(variant), check.hf_subfolder(subfolder)
    )
    return (yield from install_model(source, config=config, access_token=access_token))


def list_install_jobs() -> Operation[list[ModelInstJobInfo]]:
    call = Call(INSTALL_JOBS, "list_install_jobs")
    payload = yield call
    return parse_records(ModelInstJobInfo, payload, call)


def get_install_job(id: int | str) -> Operation[ModelInstJobInfo | None]:
    """None, without a request, for an id no job can have (``"abc"``, ``-1``)."""
    job = check.job_id_or_none(id)
    if job is None:
        return None
    call = Call(INSTALL_JOB, "get_install_job", {"id": job})
    payload = yield call
    return None if payload is ABSENT else parse(ModelInstJobInfo, payload, call)


def prune_install_jobs() -> Operation[bool]:
    yield Call(PRUNE_JOBS, "prune_install_jobs")
    return True


def cancel_install_job(id: int | str) -> Operation[bool]:
    """Cancel unless the job has ended or is unknown: the server would mark even a
    completed job ``cancelled``."""
    check.job_id(id)
    info = yield from get_install_job(id)
    if info is None or info.is_terminal:
        return False
    answer = yield Call(CANCEL_JOB, "cancel_install_job", {"id": check.job_id(id)})
    return answer is not ABSENT


def install_job_action(id: int | str, action: JobAction) -> Operation[ModelInstJobInfo | None]:
    call = Call(JOB_ACTIONS[action], f"{action}_install_job", {"id": check.job_id(id)})
    payload = yield call
    return None if payload is ABSENT else parse(ModelInstJobInfo, payload, call)


def restart_install_file(id: int | str, file_url: str) -> Operation[ModelInstJobInfo | None]:
    """Restart one file download of a job (the body is the file's URL as a JSON string)."""
    url = check.http_url(file_url, "file_url")
    call = Call(RESTART_FILE, "restart_install_file", {"id": check.job_id(id)}, json=url)
    payload = yield call
    return None if payload is ABSENT else parse(ModelInstJobInfo, payload, call)


def list_starter_models() -> Operation[StarterModelCatalog]:
    call = Call(STARTERS, "list_starter_models")
    payload = yield call
    catalog: StarterModelCatalog = parse(StarterModelCatalog, payload, call)
    return catalog


def install_starter_model(
    model: StarterModel | Mapping[str, Any], *, skip_installed: bool = True
) -> Operation[list[ModelInstJobInfo]]:
    """Dependencies first; with ``skip_installed``, models marked installed are left out."""
    starter = check.starter(model)
    skip = check.boolean(skip_installed, "skip_installed")
    wanted = [*(starter.dependencies or []), starter]
    return (yield from _install_all(wanted, skip))


def install_starter_bundle(
    bundle: str, *, skip_installed: bool = True
) -> Operation[list[ModelInstJobInfo]]:
    name = check.text(bundle, "bundle")
    skip = check.boolean(skip_installed, "skip_installed")
    catalog = yield from list_starter_models()
    found = catalog.starter_bundles.get(name)
    if found is None:
        names = ", ".join(sorted(catalog.starter_bundles)) or "none"
        raise InvalidArgumentError(f"no starter bundle {name!r}; the server has: {names}")
    wanted = [item for m in found.models for item in [*(m.dependencies or []), m]]
    return (yield from _install_all(wanted, skip))


def _install_all(
    models: list[StarterModel], skip_installed: bool
) -> Operation[list[ModelInstJobInfo]]:
    infos: list[ModelInstJobInfo] = []
    started: set[str] = set()
    for item in models:
        if item.source in started or (skip_installed and item.is_installed):
            continue
        started.add(item.source)
        infos.append((yield from install_model(item.source)))
    return infos
