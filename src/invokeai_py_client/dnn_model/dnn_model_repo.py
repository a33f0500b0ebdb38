"""``DnnModelRepository``: every model read and write, over ``/api/v2/models``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from .._transport import Expect, path_segment
from ..errors import (
    APIError,
    ConflictError,
    FailedDependencyError,
    InstallStartError,
    InvalidArgumentError,
    NotFoundError,
    UnexpectedResponseError,
    UnsupportedMediaTypeError,
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
from .dnn_model_types import BaseDnnModelType, DnnModel, DnnModelFormat, DnnModelType
from .install_job import ModelInstJobHandle

if TYPE_CHECKING:
    from ..client import InvokeAIClient

__all__ = ["DnnModelRepository"]

T = TypeVar("T")
_ROOT = "/models"


_adapters: dict[Any, TypeAdapter[Any]] = {}


def _adapter(shape: Any) -> TypeAdapter[Any]:
    adapter = _adapters.get(shape)
    if adapter is None:
        adapter = _adapters[shape] = TypeAdapter(shape)
    return adapter


class DnnModelRepository:
    """Reads and writes the server's models; stateless, nothing is cached.

    Get it as ``client.dnn_model_repo``. Calls a server is too old for raise
    ``UnsupportedByServerError``; bad arguments raise ``InvalidArgumentError``
    (a ``ValueError``) before anything is sent; server errors raise ``APIError``
    subclasses.
    """

    def __init__(self, client: InvokeAIClient) -> None:
        self._client = client

    # -- reads ---------------------------------------------------------------

    def list_models(
        self,
        *,
        base: BaseDnnModelType | str | Iterable[BaseDnnModelType | str] | None = None,
        type: DnnModelType | str | None = None,
        name: str | None = None,
        format: DnnModelFormat | str | None = None,
    ) -> list[DnnModel]:
        """List model records, optionally filtered.

        Parameters
        ----------
        base : BaseDnnModelType or str, or several of them
            Keep models of these bases.
        type, name, format
            Keep models of this type, name, format.
        """
        bases = _bases(base)
        for value in [type, format, name]:
            if value is not None and not isinstance(value, str):
                raise InvalidArgumentError(f"filters take enum members or strings, not {value!r}")
        params = {
            "base_models": bases or None,
            "model_type": _optional_str(type),
            "model_name": _optional_str(name),
            "model_format": _optional_str(format),
        }
        payload = self._call("GET", f"{_ROOT}/", dict[str, list[DnnModel]], params=params)
        return payload.get("models", [])

    def get_model_by_key(self, key: str) -> DnnModel | None:
        """The record with this key, or None if the server has none."""
        return self._find("GET", f"{_ROOT}/i/{_key(key)}", DnnModel)

    def get_model_by_attrs(
        self, name: str, type: DnnModelType | str, base: BaseDnnModelType | str
    ) -> DnnModel | None:
        """The record with this name, type and base, or None."""
        params = {"name": _required(name, "name"), "type": str(type), "base": str(base)}
        return self._find("GET", f"{_ROOT}/get_by_attrs", DnnModel, params=params)

    def get_model_by_hash(self, hash: str) -> DnnModel | None:
        """The record with this hash (``blake3:…``), or None. InvokeAI 6.12+."""
        params = {"hash": _required(hash, "hash")}
        self._client._require_version("6.12", "get_model_by_hash")
        return self._find("GET", f"{_ROOT}/get_by_hash", DnnModel, params=params)

    def list_missing_models(self) -> list[DnnModel]:
        """Records whose files are gone from disk. InvokeAI 6.12+."""
        self._client._require_version("6.12", "list_missing_models")
        payload = self._call("GET", f"{_ROOT}/missing", dict[str, list[DnnModel]])
        return payload.get("models", [])

    def get_models_dir(self) -> str:
        """The server's models directory, as configured: relative paths are relative
        to the server's root directory, which the API does not tell."""
        payload = self._client._make_request("GET", "/app/runtime_config")
        config = payload.get("config") if isinstance(payload, dict) else None
        models_dir = config.get("models_dir") if isinstance(config, dict) else None
        if not isinstance(models_dir, str):
            raise UnexpectedResponseError(
                "no config.models_dir in the runtime config",
                method="GET",
                route="/api/v1/app/runtime_config",
                status_code=200,
            )
        return models_dir

    # -- install jobs --------------------------------------------------------

    def install_model(
        self,
        source: str | Path,
        config: ModelInstallConfig | Mapping[str, Any] | None = None,
        inplace: bool | None = None,
        access_token: str | None = None,
    ) -> ModelInstJobHandle:
        """Start installing a model and return a handle on the job.

        Parameters
        ----------
        source : str or Path
            A path on the server, a URL, or a Hugging Face repo id
            (``owner/repo[:variant][::subfolder]``).
        config : ModelInstallConfig or dict, optional
            Overrides of what the server probes (name, description, …).
        inplace : bool, optional
            For a local path: True keeps the file where it is, False moves it into
            the models directory.
        access_token : str, optional
            A token for the URL or repo; never logged or kept in job info.

        Raises
        ------
        InstallStartError
            The server refused the source: 409 (e.g. a path it does not have),
            415 or 424. Other failures (401, 403, 5xx…) keep their own class.
        """
        source_text = _server_path(source, "source")
        body = _changes(config)
        params = {"source": source_text, "inplace": inplace, "access_token": access_token}
        try:
            info = self._call(
                "POST", f"{_ROOT}/install", params=params, json=body, shape=ModelInstJobInfo
            )
        except (ConflictError, UnsupportedMediaTypeError, FailedDependencyError) as err:
            raise InstallStartError(
                method=err.method,
                route=err.route,
                status_code=err.status_code,
                detail=err.detail,
                body=err.body,
            ) from err
        return ModelInstJobHandle(self, info)

    def install_huggingface(
        self,
        repo_id: str,
        config: ModelInstallConfig | Mapping[str, Any] | None = None,
        access_token: str | None = None,
        *,
        variant: str | None = None,
        subfolder: str | None = None,
    ) -> ModelInstJobHandle:
        """Install from a Hugging Face repo id, optionally one variant or subfolder.

        With no ``variant`` the server chooses (``fp16`` when it runs in float16).
        """
        repo = _required(repo_id, "repo_id")
        if repo.count("/") != 1 or ":" in repo:
            raise InvalidArgumentError(f"not a Hugging Face repo id (owner/name): {repo!r}")
        source = repo + (f":{variant}" if variant else "") + (f"::{subfolder}" if subfolder else "")
        return self.install_model(source, config, access_token=access_token)

    def list_install_jobs(self) -> list[ModelInstJobHandle]:
        """Every install job the server remembers (jobs live until pruned or restart)."""
        infos = self._call("GET", f"{_ROOT}/install", shape=list[ModelInstJobInfo])
        return [ModelInstJobHandle(self, info) for info in infos]

    def get_install_job(self, id: int | str) -> ModelInstJobHandle | None:
        """A handle on the job with this id, or None if the server does not know it."""
        info = self._find("GET", f"{_ROOT}/install/{_job_id(id)}", ModelInstJobInfo)
        return None if info is None else ModelInstJobHandle(self, info)

    def prune_install_jobs(self) -> bool:
        """Forget finished jobs (completed, error, cancelled). True when done."""
        self._send("DELETE", f"{_ROOT}/install", expect="nothing")
        return True

    # -- mutations -----------------------------------------------------------

    def update_model(self, key: str, changes: ModelInstallConfig | Mapping[str, Any]) -> DnnModel:
        """Change fields of a record (name, description, …) and return the new record.

        Raises ``NotFoundError`` for an unknown key, ``ConflictError`` for a change
        the record's kind does not allow.
        """
        body = _changes(changes)
        if not body:
            raise InvalidArgumentError("changes must set at least one field")
        return self._call("PATCH", f"{_ROOT}/i/{_key(key)}", json=body, shape=DnnModel)

    def delete_model(self, key: str) -> bool:
        """Delete a record and its files under the models directory.

        Returns True when deleted, False when the server has no such model.
        """
        return self._done("DELETE", f"{_ROOT}/i/{_key(key)}")

    def convert_model(self, key: str) -> DnnModel:
        """Convert a checkpoint to diffusers; the key and hash change.

        Raises ``BadRequestError`` for a model that is not a checkpoint.
        """
        return self._call("PUT", f"{_ROOT}/convert/{_key(key)}", shape=DnnModel)

    def reidentify_model(self, key: str) -> DnnModel:
        """Probe a model's files again and return the updated record. InvokeAI 6.9+."""
        endpoint = f"{_ROOT}/i/{_key(key)}/reidentify"
        self._client._require_version("6.9", "reidentify_model")
        return self._call("POST", endpoint, shape=DnnModel)

    def bulk_delete_models(self, keys: Iterable[str]) -> BulkDeleteResult:
        """Delete several models at once. InvokeAI 6.10+."""
        body = {"keys": _keys(keys)}
        self._client._require_version("6.10", "bulk_delete_models")
        return self._call("POST", f"{_ROOT}/i/bulk_delete", json=body, shape=BulkDeleteResult)

    def bulk_reidentify_models(self, keys: Iterable[str]) -> BulkReidentifyResult:
        """Re-identify several models at once. InvokeAI 6.13+."""
        body = {"keys": _keys(keys)}
        self._client._require_version("6.13", "bulk_reidentify_models")
        return self._call(
            "POST", f"{_ROOT}/i/bulk_reidentify", json=body, shape=BulkReidentifyResult
        )

    def scan_folder(self, scan_path: str | Path) -> list[FoundModel]:
        """Find model files in a folder on the server (an absolute path there).

        Raises ``BadRequestError`` when the folder does not exist on the server.
        """
        params = {"scan_path": _server_path(scan_path, "scan_path")}
        return self._call("GET", f"{_ROOT}/scan_folder", params=params, shape=list[FoundModel])

    # -- cache and stats -----------------------------------------------------

    def empty_model_cache(self) -> bool:
        """Drop the models held in RAM (models in use stay). True when done."""
        self._send("POST", f"{_ROOT}/empty_model_cache", expect="nothing")
        return True

    def get_stats(self) -> ModelManagerStats | None:
        """The RAM cache statistics, or None on a server that has run nothing yet."""
        payload = self._send("GET", f"{_ROOT}/stats")
        return (
            None
            if payload is None
            else self._parse("GET", "/models/stats", ModelManagerStats, payload)
        )

    # -- Hugging Face ----------------------------------------------------------

    def hf_status(self) -> HFLoginStatus:
        """Whether the server holds a valid Hugging Face token."""
        status = self._call("GET", f"{_ROOT}/hf_login", shape=HFTokenStatus)
        return HFLoginStatus(status=status)

    def hf_login(self, token: str) -> bool:
        """Give the server a Hugging Face token; True only if it now reports it valid."""
        body = {"token": _required(token, "token")}
        status = self._call("POST", f"{_ROOT}/hf_login", json=body, shape=HFTokenStatus)
        return bool(status == HFTokenStatus.VALID)

    def hf_logout(self) -> bool:
        """Remove the server's Hugging Face token; True if it no longer has a valid one."""
        status = self._call("DELETE", f"{_ROOT}/hf_login", shape=HFTokenStatus)
        return bool(status != HFTokenStatus.VALID)

    def list_huggingface_files(self, repo_id: str) -> HFRepoFiles:
        """The model files the server finds in a Hugging Face repo (needs the hub)."""
        params = {"hugging_face_repo": _required(repo_id, "repo_id")}
        return self._call("GET", f"{_ROOT}/hugging_face", params=params, shape=HFRepoFiles)

    # -- starter models --------------------------------------------------------

    def list_starter_models(self) -> StarterModelCatalog:
        """The server's curated starter models and bundles, marked if installed."""
        return self._call("GET", f"{_ROOT}/starter_models", shape=StarterModelCatalog)

    def install_starter_model(
        self, model: StarterModel, *, skip_installed: bool = True
    ) -> list[ModelInstJobHandle]:
        """Install a starter model and its dependencies; one handle per install started.

        Dependencies go first. With ``skip_installed``, models the server marks
        installed are left out.
        """
        wanted = [*(model.dependencies or []), model]
        return [
            self.install_model(item.source)
            for item in wanted
            if not (skip_installed and item.is_installed)
        ]

    def install_starter_bundle(
        self, bundle: str, *, skip_installed: bool = True
    ) -> list[ModelInstJobHandle]:
        """Install every model of a starter bundle (by its key, e.g. ``"sd-1"``)."""
        catalog = self.list_starter_models()
        found = catalog.starter_bundles.get(bundle)
        if found is None:
            names = ", ".join(sorted(catalog.starter_bundles)) or "none"
            raise InvalidArgumentError(f"no starter bundle {bundle!r}; the server has: {names}")
        handles: list[ModelInstJobHandle] = []
        started: set[str] = set()
        for model in found.models:
            for item in [*(model.dependencies or []), model]:
                if item.source in started or (skip_installed and item.is_installed):
                    continue
                started.add(item.source)
                handles.append(self.install_model(item.source))
        return handles

    # -- orphaned folders ------------------------------------------------------

    def list_orphaned_models(self) -> list[OrphanedModel]:
        """Folders in the models directory that no record uses. InvokeAI 6.12+."""
        self._client._require_version("6.12", "list_orphaned_models")
        return self._call("GET", f"{_ROOT}/sync/orphaned", shape=list[OrphanedModel])

    def delete_orphaned_models(self, paths: Iterable[str]) -> OrphanDeleteResult:
        """Delete orphaned folders (paths as ``list_orphaned_models`` gives them)."""
        body = {"paths": _keys(paths, what="paths")}
        self._client._require_version("6.12", "delete_orphaned_models")
        return self._call("DELETE", f"{_ROOT}/sync/orphaned", json=body, shape=OrphanDeleteResult)

    # -- cover images ----------------------------------------------------------

    def get_model_image(self, key: str) -> bytes | None:
        """The model's cover image bytes, or None if it has none.

        Servers store covers as WebP (though they label them ``image/png``).
        Raises ``NotFoundError`` for an unknown model.
        """
        model: DnnModel = self._call("GET", f"{_ROOT}/i/{_key(key)}", shape=DnnModel)
        if not model.cover_image:
            return None
        data: bytes = self._send("GET", f"{_ROOT}/i/{_key(key)}/image", expect="bytes")
        return data

    def set_model_image(self, key: str, image: bytes | bytearray | str | Path) -> None:
        """Set the model's cover image from bytes or a file (PNG, JPEG, WebP or GIF).

        The server resizes it and stores it as WebP.
        """
        data = bytes(image) if isinstance(image, (bytes, bytearray)) else _read_file(image)
        media_type = _image_type(data)
        files = {"image": ("cover." + media_type.split("/")[1], data, media_type)}
        self._send("PATCH", f"{_ROOT}/i/{_key(key)}/image", files=files, expect="nothing")

    def delete_model_image(self, key: str) -> bool:
        """Remove the model's cover image; False if the model has none.

        Raises ``NotFoundError`` for an unknown model.
        """
        endpoint = f"{_ROOT}/i/{_key(key)}"
        model: DnnModel = self._call("GET", endpoint, shape=DnnModel)
        if not model.cover_image:
            return False
        return self._done("DELETE", endpoint + "/image")

    # -- used by ModelInstJobHandle ------------------------------------------

    def _fetch_install_job(self, id: int) -> ModelInstJobInfo:
        info: ModelInstJobInfo = self._call(
            "GET", f"{_ROOT}/install/{_job_id(id)}", shape=ModelInstJobInfo
        )
        return info

    def _cancel_install_job(self, id: int) -> bool:
        # InvokeAI answers 415, not 404, when it does not know the job.
        return self._done("DELETE", f"{_ROOT}/install/{_job_id(id)}", UnsupportedMediaTypeError)

    def _install_job_action(self, id: int, action: str) -> ModelInstJobInfo:
        endpoint = f"{_ROOT}/install/{_job_id(id)}/{action}"
        self._client._require_version("6.12", action)
        return self._call("POST", endpoint, shape=ModelInstJobInfo)

    # -- the funnel ------------------------------------------------------------

    def _send(
        self,
        method: str,
        endpoint: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        files: dict[str, Any] | None = None,
        expect: Expect = "json",
    ) -> Any:
        """Send a v2 request; return the decoded answer."""
        return self._client._make_request_v2(
            method, endpoint, params=params, json=json, files=files, expect=expect
        )

    def _call(self, method: str, endpoint: str, shape: type[T], **kwargs: Any) -> T:
        """Send a v2 request and parse the answer as ``shape``."""
        return self._parse(method, endpoint, shape, self._send(method, endpoint, **kwargs))

    def _parse(self, method: str, endpoint: str, shape: type[T], payload: Any) -> T:
        """``payload`` as ``shape``; a mismatch is an ``UnexpectedResponseError``."""
        try:
            parsed: T = _adapter(shape).validate_python(payload)
        except ValidationError as err:
            raise UnexpectedResponseError(
                f"the answer does not fit {getattr(shape, '__name__', shape)}: "
                f"{err.error_count()} problem(s), first: {err.errors()[0]['msg']}",
                method=method,
                route="/api/v2" + endpoint,
                status_code=200,
            ) from err
        return parsed

    def _find(self, method: str, endpoint: str, shape: type[T], **kwargs: Any) -> T | None:
        """Like ``_call``, but None when the server answers 404."""
        try:
            return self._call(method, endpoint, shape, **kwargs)
        except NotFoundError:
            return None

    def _done(self, method: str, endpoint: str, unknown: type[APIError] = NotFoundError) -> bool:
        """Send a request that answers nothing; False when the server says ``unknown``."""
        try:
            self._send(method, endpoint, expect="nothing")
        except unknown:
            return False
        return True


def _server_path(value: str | Path, what: str) -> str:
    text = _required(str(value) if isinstance(value, Path) else value, what)
    if text == ".":
        raise InvalidArgumentError(f"{what} must name a path on the server, not '.'")
    return text


def _required(value: str | None, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"{what} must be a non-empty string")
    return value.strip()


def _bases(
    base: BaseDnnModelType | str | Iterable[BaseDnnModelType | str] | None,
) -> list[str] | None:
    if base is None:
        return None
    items = [base] if isinstance(base, str) else list(base) if isinstance(base, Iterable) else None
    if items is None or not all(isinstance(b, str) for b in items):
        raise InvalidArgumentError(f"base takes enum members or strings, not {base!r}")
    return [str(b) for b in items]


def _optional_str(value: str | None) -> str | None:
    return None if value is None else str(value)


def _key(key: str) -> str:
    return path_segment(key, "a model key")


def _job_id(id: int | str) -> str:
    if isinstance(id, bool) or not (
        (isinstance(id, int) and id >= 0) or (isinstance(id, str) and id.isdigit())
    ):
        raise InvalidArgumentError(f"an install job id is a whole number, not {id!r}")
    return str(int(id))


def _keys(keys: Iterable[str], what: str = "keys") -> list[str]:
    if isinstance(keys, str):
        raise InvalidArgumentError(f"{what} must be a list of strings, not one string")
    items = [_required(k, what[:-1]) for k in keys]
    if not items:
        raise InvalidArgumentError(f"{what} must not be empty")
    return items


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


def _read_file(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise InvalidArgumentError(f"cannot read {path}: {err.strerror or err}") from err


def _changes(config: ModelInstallConfig | Mapping[str, Any] | None) -> dict[str, Any]:
    if config is None:
        return {}
    if isinstance(config, ModelInstallConfig):
        return config.to_record_changes()
    if not isinstance(config, Mapping):
        raise InvalidArgumentError("config must be a ModelInstallConfig or a dict")
    try:
        return ModelInstallConfig.model_validate(dict(config)).to_record_changes()
    except ValidationError as err:
        raise InvalidArgumentError(f"invalid config: {err}") from err
