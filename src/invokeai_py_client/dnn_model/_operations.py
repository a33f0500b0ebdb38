"""Every model-manager route, described once, and the operations built on them.

No I/O here: an operation checks its arguments, yields ``Call`` objects, receives
their decoded answers and returns parsed results. ``DnnModelRepository`` and
``AsyncDnnModelRepository`` run the same operations (see ``_core``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .._core import ABSENT, Call, Operation, Route, path_segment
from .._parsing import parse, parse_records
from ..errors import (
    INSTALL_START_ERRORS,
    InvalidArgumentError,
    UnexpectedResponseError,
)
from .dnn_model_models import (
    BulkDeleteResult,
    BulkReidentifyResult,
    FoundModel,
    HFLoginStatus,
    HFRepoFiles,
    HFTokenStatus,
    ModelInstallConfig,
    ModelInstJobInfo,
    ModelManagerStats,
    OrphanDeleteResult,
    OrphanedModel,
    StarterModel,
    StarterModelCatalog,
)
from .dnn_model_types import DnnModel

V2 = "/api/v2/models"
MAX_JOB_ID = 2**63 - 1
_NOT_FOUND = frozenset({404})
# InvokeAI answers 415, not 404, for an install job id it does not know.
_NO_JOB = frozenset({404, 415})

LIST = Route("GET", f"{V2}/")
MODEL = Route("GET", f"{V2}/i/{{key}}", absent=_NOT_FOUND)
RECORD = Route("GET", f"{V2}/i/{{key}}")  # the same route, where a 404 is an error
BY_ATTRS = Route("GET", f"{V2}/get_by_attrs", absent=_NOT_FOUND)
BY_HASH = Route("GET", f"{V2}/get_by_hash", since="6.12", absent=_NOT_FOUND)
MISSING = Route("GET", f"{V2}/missing", since="6.12")
RUNTIME_CONFIG = Route("GET", "/api/v1/app/runtime_config")
INSTALL = Route("POST", f"{V2}/install", errors=INSTALL_START_ERRORS)
INSTALL_JOBS = Route("GET", f"{V2}/install")
INSTALL_JOB = Route("GET", f"{V2}/install/{{id}}", absent=_NOT_FOUND)
PRUNE_JOBS = Route("DELETE", f"{V2}/install", expect="nothing")
CANCEL_JOB = Route("DELETE", f"{V2}/install/{{id}}", expect="nothing", absent=_NO_JOB)
PAUSE_JOB = Route("POST", f"{V2}/install/{{id}}/pause", since="6.12", absent=_NO_JOB)
RESUME_JOB = Route("POST", f"{V2}/install/{{id}}/resume", since="6.12", absent=_NO_JOB)
RESTART_JOB = Route("POST", f"{V2}/install/{{id}}/restart_failed", since="6.12", absent=_NO_JOB)
UPDATE = Route("PATCH", f"{V2}/i/{{key}}")
DELETE = Route("DELETE", f"{V2}/i/{{key}}", expect="nothing", absent=_NOT_FOUND)
CONVERT = Route("PUT", f"{V2}/convert/{{key}}")
REIDENTIFY = Route("POST", f"{V2}/i/{{key}}/reidentify", since="6.9")
BULK_DELETE = Route("POST", f"{V2}/i/bulk_delete", since="6.10")
BULK_REIDENTIFY = Route("POST", f"{V2}/i/bulk_reidentify", since="6.13")
SCAN_FOLDER = Route("GET", f"{V2}/scan_folder")
EMPTY_CACHE = Route("POST", f"{V2}/empty_model_cache", expect="nothing")
STATS = Route("GET", f"{V2}/stats")
HF_STATUS = Route("GET", f"{V2}/hf_login")
HF_LOGIN = Route("POST", f"{V2}/hf_login")
HF_LOGOUT = Route("DELETE", f"{V2}/hf_login")
HF_FILES = Route("GET", f"{V2}/hugging_face")
STARTERS = Route("GET", f"{V2}/starter_models")
ORPHANED = Route("GET", f"{V2}/sync/orphaned", since="6.12")
DELETE_ORPHANED = Route("DELETE", f"{V2}/sync/orphaned", since="6.12")
IMAGE = Route("GET", f"{V2}/i/{{key}}/image", expect="bytes")
SET_IMAGE = Route("PATCH", f"{V2}/i/{{key}}/image", expect="nothing")
DELETE_IMAGE = Route("DELETE", f"{V2}/i/{{key}}/image", expect="nothing", absent=_NOT_FOUND)


# -- reads -------------------------------------------------------------------------------


def list_models(base: Any, type: Any, name: Any, format: Any) -> Operation[list[DnnModel]]:
    params = {
        "base_models": _bases(base),
        "model_type": _optional_text(type, "type"),
        "model_name": _optional_text(name, "name"),
        "model_format": _optional_text(format, "format"),
    }
    call = Call(LIST, "list_models", params=params)
    payload = yield call
    return parse_records(DnnModel, _member(payload, "models", call), call)


def get_model_by_key(key: Any) -> Operation[DnnModel | None]:
    call = Call(MODEL, "get_model_by_key", {"key": _key(key)})
    payload = yield call
    return None if payload is ABSENT else parse(DnnModel, payload, call)


def get_model_by_attrs(name: Any, type: Any, base: Any) -> Operation[DnnModel | None]:
    params = {"name": _text(name, "name"), "type": _text(type, "type"), "base": _text(base, "base")}
    call = Call(BY_ATTRS, "get_model_by_attrs", params=params)
    payload = yield call
    return None if payload is ABSENT else parse(DnnModel, payload, call)


def get_model_by_hash(hash: Any) -> Operation[DnnModel | None]:
    call = Call(BY_HASH, "get_model_by_hash", params={"hash": _text(hash, "hash")})
    payload = yield call
    return None if payload is ABSENT else parse(DnnModel, payload, call)


def list_missing_models() -> Operation[list[DnnModel]]:
    call = Call(MISSING, "list_missing_models")
    payload = yield call
    return parse_records(DnnModel, _member(payload, "models", call), call)


def get_models_dir() -> Operation[str]:
    call = Call(RUNTIME_CONFIG, "get_models_dir")
    payload = yield call
    config = payload.get("config") if isinstance(payload, dict) else None
    models_dir = config.get("models_dir") if isinstance(config, dict) else None
    if not isinstance(models_dir, str):
        raise _unexpected(call, "no config.models_dir in the runtime config")
    return models_dir


# -- install jobs ------------------------------------------------------------------------


def install_model(
    source: Any, config: Any, inplace: Any, access_token: Any
) -> Operation[ModelInstJobInfo]:
    token = _optional_text(access_token, "access_token")
    params = {
        "source": _server_path(source, "source"),
        "inplace": _optional_bool(inplace, "inplace"),
        "access_token": token,
    }
    secrets = (token,) if token else ()
    call = Call(INSTALL, "install_model", params=params, json=changes(config), secrets=secrets)
    payload = yield call
    info: ModelInstJobInfo = parse(ModelInstJobInfo, payload, call)
    return info


def install_huggingface(
    repo_id: Any, config: Any, access_token: Any, variant: Any, subfolder: Any
) -> Operation[ModelInstJobInfo]:
    repo = _text(repo_id, "repo_id")
    if repo.count("/") != 1 or ":" in repo or repo.startswith("/") or repo.endswith("/"):
        raise InvalidArgumentError(f"not a Hugging Face repo id (owner/name): {repo!r}")
    variant = _optional_text(variant, "variant")
    subfolder = _optional_text(subfolder, "subfolder")
    source = hf_source(repo, variant, subfolder)
    return (yield from install_model(source, config, None, access_token))


def hf_source(repo_id: str, variant: str | None, subfolder: str | None) -> str:
    """The install source of a repo: ``repo[:variant]``, ``repo:variant:sub`` or ``repo::sub``.

    (The server refuses ``repo:variant::sub``, though it records sources that way.)
    """
    source = repo_id + (f":{variant}" if variant else "")
    if subfolder:
        source += (":" if variant else "::") + subfolder.strip("/")
    return source


def list_install_jobs() -> Operation[list[ModelInstJobInfo]]:
    call = Call(INSTALL_JOBS, "list_install_jobs")
    payload = yield call
    return parse_records(ModelInstJobInfo, payload, call)


def get_install_job(id: Any) -> Operation[ModelInstJobInfo | None]:
    call = Call(INSTALL_JOB, "get_install_job", {"id": _job_id(id)})
    payload = yield call
    return None if payload is ABSENT else parse(ModelInstJobInfo, payload, call)


def prune_install_jobs() -> Operation[bool]:
    yield Call(PRUNE_JOBS, "prune_install_jobs")
    return True


def cancel_install_job(id: Any) -> Operation[bool]:
    """Cancel unless the job has ended or is unknown: the server would mark even a
    completed job ``cancelled``."""
    info = yield from get_install_job(id)
    if info is None or info.is_terminal:
        return False
    answer = yield Call(CANCEL_JOB, "cancel_install_job", {"id": _job_id(id)})
    return answer is not ABSENT


def install_job_action(id: Any, action: str) -> Operation[ModelInstJobInfo | None]:
    route = {"pause": PAUSE_JOB, "resume": RESUME_JOB, "restart_failed": RESTART_JOB}[action]
    call = Call(route, f"{action}_install_job", {"id": _job_id(id)})
    payload = yield call
    return None if payload is ABSENT else parse(ModelInstJobInfo, payload, call)


# -- changes -----------------------------------------------------------------------------


def update_model(key: Any, config: Any) -> Operation[DnnModel]:
    key = _key(key)
    body = changes(config)
    if not body:
        raise InvalidArgumentError("changes must set at least one field")
    call = Call(UPDATE, "update_model", {"key": key}, json=body)
    payload = yield call
    model: DnnModel = parse(DnnModel, payload, call)
    return model


def delete_model(key: Any) -> Operation[bool]:
    answer = yield Call(DELETE, "delete_model", {"key": _key(key)})
    return answer is not ABSENT


def convert_model(key: Any) -> Operation[DnnModel]:
    call = Call(CONVERT, "convert_model", {"key": _key(key)})
    payload = yield call
    model: DnnModel = parse(DnnModel, payload, call)
    return model


def reidentify_model(key: Any) -> Operation[DnnModel]:
    call = Call(REIDENTIFY, "reidentify_model", {"key": _key(key)})
    payload = yield call
    model: DnnModel = parse(DnnModel, payload, call)
    return model


def bulk_delete_models(keys: Any) -> Operation[BulkDeleteResult]:
    call = Call(BULK_DELETE, "bulk_delete_models", json={"keys": _texts(keys, "keys")})
    payload = yield call
    result: BulkDeleteResult = parse(BulkDeleteResult, payload, call)
    return result


def bulk_reidentify_models(keys: Any) -> Operation[BulkReidentifyResult]:
    call = Call(BULK_REIDENTIFY, "bulk_reidentify_models", json={"keys": _texts(keys, "keys")})
    payload = yield call
    result: BulkReidentifyResult = parse(BulkReidentifyResult, payload, call)
    return result


def scan_folder(scan_path: Any) -> Operation[list[FoundModel]]:
    params = {"scan_path": _server_path(scan_path, "scan_path")}
    call = Call(SCAN_FOLDER, "scan_folder", params=params)
    payload = yield call
    return parse_records(FoundModel, payload, call)


# -- cache, Hugging Face, starters ---------------------------------------------------------


def empty_model_cache() -> Operation[bool]:
    yield Call(EMPTY_CACHE, "empty_model_cache")
    return True


def get_stats() -> Operation[ModelManagerStats | None]:
    call = Call(STATS, "get_stats")
    payload = yield call
    return None if payload is None else parse(ModelManagerStats, payload, call)


def hf_status() -> Operation[HFLoginStatus]:
    call = Call(HF_STATUS, "hf_status")
    payload = yield call
    return HFLoginStatus(status=parse(HFTokenStatus, payload, call))


def hf_login(token: Any) -> Operation[bool]:
    token = _text(token, "token")
    call = Call(HF_LOGIN, "hf_login", json={"token": token}, secrets=(token,))
    payload = yield call
    return bool(parse(HFTokenStatus, payload, call) == HFTokenStatus.VALID)


def hf_logout() -> Operation[bool]:
    call = Call(HF_LOGOUT, "hf_logout")
    payload = yield call
    return bool(parse(HFTokenStatus, payload, call) != HFTokenStatus.VALID)


def list_huggingface_files(repo_id: Any) -> Operation[HFRepoFiles]:
    params = {"hugging_face_repo": _text(repo_id, "repo_id")}
    call = Call(HF_FILES, "list_huggingface_files", params=params)
    payload = yield call
    files: HFRepoFiles = parse(HFRepoFiles, payload, call)
    return files


def list_starter_models() -> Operation[StarterModelCatalog]:
    call = Call(STARTERS, "list_starter_models")
    payload = yield call
    catalog: StarterModelCatalog = parse(StarterModelCatalog, payload, call)
    return catalog


def install_starter_model(model: Any, skip_installed: Any) -> Operation[list[ModelInstJobInfo]]:
    """Dependencies first; with ``skip_installed``, models marked installed are left out."""
    starter = _starter(model)
    skip = _bool(skip_installed, "skip_installed")
    wanted = [*(starter.dependencies or []), starter]
    return (yield from _install_all(wanted, skip))


def install_starter_bundle(bundle: Any, skip_installed: Any) -> Operation[list[ModelInstJobInfo]]:
    name = _text(bundle, "bundle")
    skip = _bool(skip_installed, "skip_installed")
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
        infos.append((yield from install_model(item.source, None, None, None)))
    return infos


# -- orphaned folders ----------------------------------------------------------------------


def list_orphaned_models() -> Operation[list[OrphanedModel]]:
    call = Call(ORPHANED, "list_orphaned_models")
    payload = yield call
    return parse_records(OrphanedModel, payload, call)


def delete_orphaned_models(paths: Any) -> Operation[OrphanDeleteResult]:
    """Deletes only folders the server lists as orphaned now: its route would delete
    any path under the models directory, the whole directory for ``"."``."""
    wanted = _texts(
        [p.path if isinstance(p, OrphanedModel) else p for p in _iterable(paths, "paths")],
        "paths",
    )
    listing = Call(ORPHANED, "delete_orphaned_models")
    orphans = parse_records(OrphanedModel, (yield listing), listing)
    by_either = {o.path: o.path for o in orphans} | {o.absolute_path: o.path for o in orphans}
    refused = [p for p in wanted if p not in by_either]
    if refused:
        raise InvalidArgumentError(
            f"not orphaned folders on the server (nothing was deleted): {refused}; "
            "pass paths as list_orphaned_models() gives them"
        )
    body = {"paths": list(dict.fromkeys(by_either[p] for p in wanted))}
    call = Call(DELETE_ORPHANED, "delete_orphaned_models", json=body)
    payload = yield call
    result: OrphanDeleteResult = parse(OrphanDeleteResult, payload, call)
    return result


# -- cover images --------------------------------------------------------------------------


def get_model_image(key: Any) -> Operation[bytes | None]:
    """Reads the record first: the image route answers 500 for a model without one."""
    model = yield from _existing_model(key, "get_model_image")
    if not model.cover_image:
        return None
    data: bytes = yield Call(IMAGE, "get_model_image", {"key": _key(key)})
    return data


def set_model_image(key: Any, image: Any) -> Operation[None]:
    key = _key(key)
    data = _image_bytes(image)
    media_type = _image_type(data)
    files = {"image": ("cover." + media_type.split("/")[1], data, media_type)}
    yield Call(SET_IMAGE, "set_model_image", {"key": key}, files=files)


def delete_model_image(key: Any) -> Operation[bool]:
    model = yield from _existing_model(key, "delete_model_image")
    if not model.cover_image:
        return False
    answer = yield Call(DELETE_IMAGE, "delete_model_image", {"key": _key(key)})
    return answer is not ABSENT


def _existing_model(key: Any, name: str) -> Operation[DnnModel]:
    call = Call(RECORD, name, {"key": _key(key)})
    payload = yield call
    model: DnnModel = parse(DnnModel, payload, call)
    return model


# -- argument checks -----------------------------------------------------------------------


def changes(config: Any) -> dict[str, Any]:
    """The JSON body of an install config or of an update's changes."""
    if config is None:
        return {}
    return ModelInstallConfig.model_validate(config).to_record_changes()


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"{what} must be a non-empty string, not {_show(value)}")
    return value.strip()


def _optional_text(value: Any, what: str) -> str | None:
    return None if value is None else _text(value, what)


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgumentError(f"{what} must be True or False, not {_show(value)}")
    return value


def _optional_bool(value: Any, what: str) -> bool | None:
    return None if value is None else _bool(value, what)


def _iterable(value: Any, what: str) -> list[Any]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise InvalidArgumentError(f"{what} must be a list of strings, not {_show(value)}")
    return list(value)


def _texts(values: Any, what: str) -> list[str]:
    items = [_text(v, f"each of {what}") for v in _iterable(values, what)]
    if not items:
        raise InvalidArgumentError(f"{what} must not be empty")
    return items


def _bases(base: Any) -> list[str] | None:
    if base is None:
        return None
    items = [base] if isinstance(base, str) else _iterable(base, "base")
    return [_text(b, "base") for b in items] or None


def _key(key: Any) -> str:
    if not isinstance(key, str):
        raise InvalidArgumentError(f"a model key must be a string, not {_show(key)}")
    return path_segment(key, "a model key")


def _job_id(id: Any) -> str:
    if isinstance(id, str) and id.isdigit() and len(id) <= 19:
        id = int(id)
    if isinstance(id, bool) or not isinstance(id, int) or not 0 <= id <= MAX_JOB_ID:
        raise InvalidArgumentError(f"an install job id is a whole number >= 0, not {_show(id)}")
    return str(id)


def _server_path(value: Any, what: str) -> str:
    text = _text(str(value) if isinstance(value, Path) else value, what)
    if text == ".":
        raise InvalidArgumentError(f"{what} must name a path on the server, not '.'")
    return text


def _starter(model: Any) -> StarterModel:
    if isinstance(model, StarterModel):
        return model
    if isinstance(model, Mapping):
        try:
            return StarterModel.model_validate(dict(model))
        except ValueError as err:
            raise InvalidArgumentError(f"not a starter model: {err}") from err
    raise InvalidArgumentError(
        f"model must be a StarterModel from list_starter_models(), not {_show(model)}"
    )


def _image_bytes(image: Any) -> bytes:
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image)
    if isinstance(image, (str, Path)) and str(image).strip():
        try:
            return Path(image).read_bytes()
        except OSError as err:
            raise InvalidArgumentError(f"cannot read {image}: {err.strerror or err}") from err
    raise InvalidArgumentError(f"image must be bytes or a file path, not {_show(image)}")


_IMAGE_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}


def _image_type(data: bytes) -> str:
    if not data:
        raise InvalidArgumentError("the image is empty")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for signature, media_type in _IMAGE_SIGNATURES.items():
        if data.startswith(signature):
            return media_type
    raise InvalidArgumentError("the image is not PNG, JPEG, WebP or GIF")


def _member(payload: Any, name: str, call: Call) -> Any:
    if not isinstance(payload, dict) or name not in payload:
        raise _unexpected(call, f"expected an object with {name!r}")
    return payload[name]


def _unexpected(call: Call, message: str) -> Exception:
    return UnexpectedResponseError(message, method=call.method, route=call.path, status_code=200)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
