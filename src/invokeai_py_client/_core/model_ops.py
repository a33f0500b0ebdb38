"""The model routes and their operations: records, changes, cache, Hugging Face,
orphaned folders and cover images.

No I/O: an operation checks its arguments, yields ``Call`` objects, receives their
decoded answers and returns parsed results (see ``calls``). Install routes are in
``job_ops``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from ..dnn_model.dnn_model_models import (
    BulkDeleteResult,
    BulkReidentifyResult,
    FoundModel,
    HFLoginStatus,
    HFRepoFiles,
    HFTokenStatus,
    ModelManagerStats,
    OrphanDeleteResult,
    OrphanedModel,
)
from ..dnn_model.dnn_model_types import BaseDnnModelType, DnnModel, DnnModelFormat, DnnModelType
from ..errors import InvalidArgumentError
from . import arguments as check
from .calls import ABSENT, Call, Operation, Route, unexpected
from .job_ops import LORA_SETTINGS, Config, has_lora_settings
from .parsing import parse, parse_records

V2 = "/api/v2/models"
_NOT_FOUND = frozenset({404})

LIST = Route("GET", f"{V2}/")
LIST_ORDERED = Route("GET", f"{V2}/", since="6.13")  # order_by and direction
MODEL = Route("GET", f"{V2}/i/{{key}}", expect="record", absent=_NOT_FOUND)
RECORD = Route("GET", f"{V2}/i/{{key}}", expect="record")  # where a 404 is an error
BY_ATTRS = Route("GET", f"{V2}/get_by_attrs", expect="record", absent=_NOT_FOUND)
BY_HASH = Route("GET", f"{V2}/get_by_hash", expect="record", since="6.12", absent=_NOT_FOUND)
MISSING = Route("GET", f"{V2}/missing", since="6.12")
RUNTIME_CONFIG = Route("GET", "/api/v1/app/runtime_config")
UPDATE = Route("PATCH", f"{V2}/i/{{key}}", expect="record")
UPDATE_LORA_SETTINGS = replace(UPDATE, since="6.6", feature=LORA_SETTINGS)
DELETE = Route("DELETE", f"{V2}/i/{{key}}", expect="nothing", absent=_NOT_FOUND)
CONVERT = Route("PUT", f"{V2}/convert/{{key}}", expect="record")
REIDENTIFY = Route("POST", f"{V2}/i/{{key}}/reidentify", expect="record", since="6.9")
BULK_DELETE = Route("POST", f"{V2}/i/bulk_delete", since="6.10")
BULK_REIDENTIFY = Route("POST", f"{V2}/i/bulk_reidentify", since="6.13")
SCAN_FOLDER = Route("GET", f"{V2}/scan_folder")
EMPTY_CACHE = Route("POST", f"{V2}/empty_model_cache", expect="nothing")
STATS = Route("GET", f"{V2}/stats")
HF_STATUS = Route("GET", f"{V2}/hf_login")
HF_LOGIN = Route("POST", f"{V2}/hf_login")
HF_LOGOUT = Route("DELETE", f"{V2}/hf_login")
HF_FILES = Route("GET", f"{V2}/hugging_face")
ORPHANED = Route("GET", f"{V2}/sync/orphaned", since="6.12")
DELETE_ORPHANED = Route("DELETE", f"{V2}/sync/orphaned", since="6.12")
IMAGE = Route("GET", f"{V2}/i/{{key}}/image", expect="bytes")
SET_IMAGE = Route("PATCH", f"{V2}/i/{{key}}/image", expect="nothing")
DELETE_IMAGE = Route("DELETE", f"{V2}/i/{{key}}/image", expect="nothing", absent=_NOT_FOUND)

Base = BaseDnnModelType | str
Key = str


# -- reads -------------------------------------------------------------------------------


def list_models(
    *,
    base: Base | Iterable[Base] | None = None,
    type: DnnModelType | str | None = None,
    name: str | None = None,
    format: DnnModelFormat | str | None = None,
    order_by: str | None = None,
    direction: str | None = None,
) -> Operation[list[DnnModel]]:
    params = {
        "base_models": check.bases(base),
        "model_type": check.optional_text(type, "type"),
        "model_name": check.optional_text(name, "name"),
        "model_format": check.optional_text(format, "format"),
        "order_by": check.optional_text(order_by, "order_by"),
        "direction": check.optional_text(direction, "direction"),
    }
    ordered = params["order_by"] is not None or params["direction"] is not None
    call = Call(LIST_ORDERED if ordered else LIST, "list_models", params=params)
    payload = yield call
    return parse_records(DnnModel, check.member(payload, "models", call), call)


def get_model_by_key(key: Key) -> Operation[DnnModel | None]:
    call = Call(MODEL, "get_model_by_key", {"key": check.model_key(key)})
    payload = yield call
    return None if payload is ABSENT else parse(DnnModel, payload, call)


def get_model_by_attrs(
    name: str, type: DnnModelType | str, base: Base
) -> Operation[DnnModel | None]:
    params = {
        "name": check.text(name, "name"),
        "type": check.text(type, "type"),
        "base": check.text(base, "base"),
    }
    call = Call(BY_ATTRS, "get_model_by_attrs", params=params)
    payload = yield call
    return None if payload is ABSENT else parse(DnnModel, payload, call)


def get_model_by_hash(hash: str) -> Operation[DnnModel | None]:
    call = Call(BY_HASH, "get_model_by_hash", params={"hash": check.text(hash, "hash")})
    payload = yield call
    return None if payload is ABSENT else parse(DnnModel, payload, call)


def list_missing_models() -> Operation[list[DnnModel]]:
    call = Call(MISSING, "list_missing_models")
    payload = yield call
    return parse_records(DnnModel, check.member(payload, "models", call), call)


def get_models_dir() -> Operation[str]:
    call = Call(RUNTIME_CONFIG, "get_models_dir")
    payload = yield call
    config = payload.get("config") if isinstance(payload, dict) else None
    models_dir = config.get("models_dir") if isinstance(config, dict) else None
    if not isinstance(models_dir, str):
        raise unexpected(call, "no config.models_dir in the runtime config")
    return models_dir


# -- changes -----------------------------------------------------------------------------


def update_model(key: Key, config: Config) -> Operation[DnnModel]:
    key = check.model_key(key)
    body = check.changes(config)
    if not body:
        raise InvalidArgumentError("changes must set at least one field")
    route = UPDATE_LORA_SETTINGS if has_lora_settings(body) else UPDATE
    call = Call(route, "update_model", {"key": key}, json=body)
    payload = yield call
    model: DnnModel = parse(DnnModel, payload, call)
    return model


def delete_model(key: Key) -> Operation[bool]:
    answer = yield Call(DELETE, "delete_model", {"key": check.model_key(key)})
    return answer is not ABSENT


def convert_model(key: Key) -> Operation[DnnModel]:
    call = Call(CONVERT, "convert_model", {"key": check.model_key(key)})
    payload = yield call
    model: DnnModel = parse(DnnModel, payload, call)
    return model


def reidentify_model(key: Key) -> Operation[DnnModel]:
    call = Call(REIDENTIFY, "reidentify_model", {"key": check.model_key(key)})
    payload = yield call
    model: DnnModel = parse(DnnModel, payload, call)
    return model


def bulk_delete_models(keys: Iterable[Key]) -> Operation[BulkDeleteResult]:
    call = Call(BULK_DELETE, "bulk_delete_models", json={"keys": check.model_keys(keys, "keys")})
    payload = yield call
    result: BulkDeleteResult = parse(BulkDeleteResult, payload, call)
    return result


def bulk_reidentify_models(keys: Iterable[Key]) -> Operation[BulkReidentifyResult]:
    body = {"keys": check.model_keys(keys, "keys")}
    call = Call(BULK_REIDENTIFY, "bulk_reidentify_models", json=body)
    payload = yield call
    result: BulkReidentifyResult = parse(BulkReidentifyResult, payload, call)
    return result


def scan_folder(scan_path: str | Path | None) -> Operation[list[FoundModel]]:
    if scan_path is None:
        raise InvalidArgumentError("scan_folder needs the folder to scan (a path on the server)")
    params = {"scan_path": check.server_path(scan_path, "scan_path")}
    call = Call(SCAN_FOLDER, "scan_folder", params=params)
    payload = yield call
    return parse_records(FoundModel, payload, call)


# -- cache, Hugging Face ---------------------------------------------------------


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


def hf_login(token: str) -> Operation[bool]:
    token = check.text(token, "token")
    call = Call(HF_LOGIN, "hf_login", json={"token": token}, secrets=(token,))
    payload = yield call
    return bool(parse(HFTokenStatus, payload, call) == HFTokenStatus.VALID)


def hf_logout() -> Operation[bool]:
    call = Call(HF_LOGOUT, "hf_logout")
    payload = yield call
    return bool(parse(HFTokenStatus, payload, call) != HFTokenStatus.VALID)


def list_huggingface_files(repo_id: str) -> Operation[HFRepoFiles]:
    params = {"hugging_face_repo": check.repo_id(repo_id)}
    call = Call(HF_FILES, "list_huggingface_files", params=params)
    payload = yield call
    files: HFRepoFiles = parse(HFRepoFiles, payload, call)
    return files


# -- orphaned folders ----------------------------------------------------------------------


def list_orphaned_models() -> Operation[list[OrphanedModel]]:
    call = Call(ORPHANED, "list_orphaned_models")
    payload = yield call
    return parse_records(OrphanedModel, payload, call)


def delete_orphaned_models(paths: Iterable[str | OrphanedModel]) -> Operation[OrphanDeleteResult]:
    """Deletes only folders the server lists as orphaned now: its route would delete
    any path under the models directory, the whole directory for ``"."``."""
    wanted = check.texts(
        [p.path if isinstance(p, OrphanedModel) else p for p in check.iterable(paths, "paths")],
        "paths",
    )
    for path in wanted:
        check.server_path(path, "each of paths")
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


def get_model_image(key: Key) -> Operation[bytes | None]:
    """Reads the record first: the image route answers 500 for a model without one."""
    model = yield from _existing_model(key, "get_model_image")
    if not model.cover_image:
        return None
    data: bytes = yield Call(IMAGE, "get_model_image", {"key": check.model_key(key)})
    return data


def set_model_image(key: Key, image: bytes | bytearray | str | Path) -> Operation[None]:
    key = check.model_key(key)
    data = check.image_bytes(image)
    media_type = check.image_type(data)
    files = {"image": ("cover." + media_type.split("/")[1], data, media_type)}
    yield Call(SET_IMAGE, "set_model_image", {"key": key}, files=files)


def delete_model_image(key: Key) -> Operation[bool]:
    model = yield from _existing_model(key, "delete_model_image")
    if not model.cover_image:
        return False
    answer = yield Call(DELETE_IMAGE, "delete_model_image", {"key": check.model_key(key)})
    return answer is not ABSENT


def _existing_model(key: Key, name: str) -> Operation[DnnModel]:
    call = Call(RECORD, name, {"key": check.model_key(key)})
    payload = yield call
    model: DnnModel = parse(DnnModel, payload, call)
    return model
