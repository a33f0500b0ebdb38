"""``AsyncDnnModelRepository``: every model read and write, over ``/api/v2/models``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

from .._core import arguments, model_ops
from .._core.defaults import APPLY_CONCURRENCY, APPLY_TIMEOUT
from .._core.job_ops import Config
from .._core.manifest_apply import (
    ApplyReport,
    Install,
    Records,
    StartInstalls,
    Step,
    Update,
    WaitAny,
    apply_steps,
    check_apply_args,
)
from .._core.manifest_plan import ManifestPlan, checked_manifest, plan_changes, planned
from .._redact import redact_url
from ..dnn_model.dnn_model_models import (
    BulkDeleteResult,
    BulkReidentifyResult,
    FoundModel,
    HFLoginStatus,
    HFRepoFiles,
    ModelManagerStats,
    OrphanDeleteResult,
    OrphanedModel,
)
from ..dnn_model.dnn_model_types import BaseDnnModelType, DnnModel, DnnModelFormat, DnnModelType
from ..dnn_model.manifest import ModelManifest
from ..errors import APIRequestError, InvokeAIError, ManifestError
from . import backend
from .install_jobs import AsyncJobWaiter, OnProgress
from .installs import AsyncInstallMethods
from .transport import AsyncTransport

__all__ = ["AsyncDnnModelRepository"]

Manifest = ModelManifest | str | Path | Mapping[str, Any]


class AsyncDnnModelRepository(AsyncInstallMethods):
    """Reads and writes the server's models; stateless, nothing is cached.

    Get it as ``client.dnn_model_repo``. Calls a server is too old for raise
    ``UnsupportedByServerError``; bad arguments raise ``InvalidArgumentError``
    (a ``ValueError``) before anything is sent; server errors raise ``APIError``
    subclasses. Install calls return ``AsyncModelInstJobHandle`` objects.
    """

    def __init__(self, transport: AsyncTransport) -> None:
        super().__init__(transport)
        self._transport = transport

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {redact_url(self._transport.session.base_url)!r}>"

    # -- reads ---------------------------------------------------------------

    async def list_models(
        self,
        *,
        base: BaseDnnModelType | str | Iterable[BaseDnnModelType | str] | None = None,
        type: DnnModelType | str | None = None,
        name: str | None = None,
        format: DnnModelFormat | str | None = None,
        order_by: str | None = None,
        direction: str | None = None,
    ) -> list[DnnModel]:
        """List model records, optionally filtered and ordered.

        A record that does not fit ``DnnModel`` (a newer or patched server) is kept
        with its raw values, and a ``ResponseShapeWarning`` names its key and field.

        Parameters
        ----------
        base : BaseDnnModelType or str, or several of them
            Keep models of these bases.
        type, name, format
            Keep models of this type, name, format.
        order_by, direction
            Order by a field (``name``, ``type``, ``base``, ``format``, ...) and a
            direction (``ASC``, ``DESC``); InvokeAI 6.13+.
        """
        return await self._run(
            model_ops.list_models(
                base=base,
                type=type,
                name=name,
                format=format,
                order_by=order_by,
                direction=direction,
            )
        )

    async def get_model_by_key(self, model_key: str) -> DnnModel | None:
        """The record with this key, or None if the server has none."""
        return await self._run(model_ops.get_model_by_key(model_key))

    async def get_model_by_attrs(
        self, name: str, type: DnnModelType | str, base: BaseDnnModelType | str
    ) -> DnnModel | None:
        """The record with this name, type and base, or None."""
        return await self._run(model_ops.get_model_by_attrs(name, type, base))

    async def get_model_by_hash(self, hash: str) -> DnnModel | None:
        """The record with this hash (``blake3:…``), or None. InvokeAI 6.12+."""
        return await self._run(model_ops.get_model_by_hash(hash))

    async def list_missing_models(self) -> list[DnnModel]:
        """Records whose files are gone from disk. InvokeAI 6.12+."""
        return await self._run(model_ops.list_missing_models())

    async def get_models_dir(self) -> str:
        """The server's models directory, as configured: relative paths are relative
        to the server's root directory, which the API does not tell."""
        return await self._run(model_ops.get_models_dir())

    # -- changes -------------------------------------------------------------

    async def update_model(self, key: str, changes: Config) -> DnnModel:
        """Change fields of a record (name, description, …) and return the new record.

        Raises ``NotFoundError`` for an unknown key, ``ConflictError`` for a change
        the record's kind does not allow.
        """
        return await self._run(model_ops.update_model(key, changes))

    async def delete_model(self, key: str) -> bool:
        """Delete a record and its files under the models directory.

        Returns True when deleted, False when the server has no such model.
        """
        return await self._run(model_ops.delete_model(key))

    async def convert_model(self, key: str) -> DnnModel:
        """Convert a checkpoint to diffusers; the key and hash change.

        Raises ``BadRequestError`` for a model that is not a checkpoint.
        """
        return await self._run(model_ops.convert_model(key))

    async def reidentify_model(self, key: str) -> DnnModel:
        """Probe a model's files again and return the updated record. InvokeAI 6.9+."""
        return await self._run(model_ops.reidentify_model(key))

    async def bulk_delete_models(self, keys: Iterable[str]) -> BulkDeleteResult:
        """Delete several models at once. InvokeAI 6.10+."""
        return await self._run(model_ops.bulk_delete_models(keys))

    async def bulk_reidentify_models(self, keys: Iterable[str]) -> BulkReidentifyResult:
        """Re-identify several models at once. InvokeAI 6.13+."""
        return await self._run(model_ops.bulk_reidentify_models(keys))

    async def scan_folder(self, scan_path: str | Path | None = None) -> list[FoundModel]:
        """Find model files in a folder on the server (an absolute path there).

        Raises ``BadRequestError`` when the folder does not exist on the server, and
        ``InvalidArgumentError`` before sending when no folder is given.
        """
        return await self._run(model_ops.scan_folder(scan_path))

    async def delete_all_models(self) -> dict[str, Any]:
        """Delete every model, one by one, going on past a failure (1.1's call).

        Returns ``{"total", "deleted", "failed", "errors"}``, each error
        ``{"key", "message", "status_code"}`` (``status_code`` None when no answer
        came). A model already gone counts as failed ("not found").
        """
        models = await self.list_models()
        errors: list[dict[str, Any]] = []
        for model in models:
            try:
                if not await self.delete_model(model.key):
                    errors.append({"key": model.key, "message": "not found", "status_code": 404})
            except APIRequestError as err:
                error = {"key": model.key, "message": str(err), "status_code": err.status_code}
                errors.append(error)
        failed = len(errors)
        deleted = len(models) - failed
        return {"total": len(models), "deleted": deleted, "failed": failed, "errors": errors}

    # -- cache and stats -----------------------------------------------------

    async def empty_model_cache(self) -> bool:
        """Drop the models held in RAM (models in use stay). True when done."""
        return await self._run(model_ops.empty_model_cache())

    async def get_stats(self) -> ModelManagerStats | None:
        """The RAM cache statistics, or None on a server that has run nothing yet."""
        return await self._run(model_ops.get_stats())

    # -- Hugging Face ----------------------------------------------------------

    async def hf_status(self) -> HFLoginStatus:
        """Whether the server holds a valid Hugging Face token."""
        return await self._run(model_ops.hf_status())

    async def hf_login(self, token: str) -> bool:
        """Give the server a Hugging Face token; True only if it now reports it valid."""
        return await self._run(model_ops.hf_login(token))

    async def hf_logout(self) -> bool:
        """Remove the server's Hugging Face token; True if it no longer has a valid one."""
        return await self._run(model_ops.hf_logout())

    async def list_huggingface_files(self, repo_id: str) -> HFRepoFiles:
        """The model files the server finds in a Hugging Face repo (needs the hub)."""
        return await self._run(model_ops.list_huggingface_files(repo_id))

    # -- orphaned folders ------------------------------------------------------

    async def list_orphaned_models(self) -> list[OrphanedModel]:
        """Folders in the models directory that no record uses. InvokeAI 6.12+."""
        return await self._run(model_ops.list_orphaned_models())

    async def delete_orphaned_models(
        self, paths: Iterable[str | OrphanedModel]
    ) -> OrphanDeleteResult:
        """Delete orphaned folders (as ``list_orphaned_models`` gives them). InvokeAI 6.12+.

        Only folders the server lists as orphaned right now are deleted: any other
        path raises ``InvalidArgumentError`` and nothing is deleted (the server's
        route would delete any path under the models directory).
        """
        return await self._run(model_ops.delete_orphaned_models(paths))

    # -- cover images ----------------------------------------------------------

    async def get_model_image(self, key: str) -> bytes | None:
        """The model's cover image bytes, or None if it has none.

        Servers store covers as WebP (though they label them ``image/png``).
        Raises ``NotFoundError`` for an unknown model.
        """
        return await self._run(model_ops.get_model_image(key))

    async def set_model_image(self, key: str, image: bytes | bytearray | str | Path) -> None:
        """Set the model's cover image from bytes or a file (PNG, JPEG, WebP or GIF).

        The server resizes it and stores it as WebP.
        """
        await self._run(model_ops.set_model_image(key, image))

    async def delete_model_image(self, key: str) -> bool:
        """Remove the model's cover image; False if the model has none.

        Raises ``NotFoundError`` for an unknown model.
        """
        return await self._run(model_ops.delete_model_image(key))

    # -- manifests -----------------------------------------------------------

    async def plan_manifest(self, manifest: Manifest, *, prune: bool = False) -> ManifestPlan:
        """What applying ``manifest`` would change here: one list request, no write.

        Parameters
        ----------
        manifest : ModelManifest, str, Path or mapping
            The manifest, a file (YAML, or JSON by its ``.json`` name), or parsed data.
        prune : bool
            Also plan to delete the models the manifest does not list.

        Raises
        ------
        ManifestError
            The manifest is invalid, or a source names an unset ``${VAR}``.
        """
        wanted = checked_manifest(manifest, prune)
        return plan_changes(wanted, await self.list_models(), prune=prune)

    async def apply_manifest(
        self,
        manifest: Manifest | ManifestPlan,
        *,
        prune: bool = False,
        concurrency: int = APPLY_CONCURRENCY,
        timeout: float | None = APPLY_TIMEOUT,
        on_progress: OnProgress = None,
    ) -> ApplyReport:
        """Make the server match ``manifest``; with nothing to change, send only the
        one list request.

        Every install is started first (the server queues them), then all are
        followed at once; then updates, then (``prune``) deletes. One failure does
        not stop the rest. A pinned hash is checked after install, and settings the
        server dropped at install are set after it.

        Parameters
        ----------
        manifest : ModelManifest, str, Path, mapping or ManifestPlan
            As for ``plan_manifest``; a ``ManifestPlan`` is carried out as planned
            (no list request; ``prune`` must then be False).
        prune : bool
            Also delete the models the manifest does not list.
        concurrency : int
            Install requests sent at a time (not jobs running: the server runs its
            queue of jobs itself).
        timeout : float or None
            Seconds for all installs to end.
        on_progress : callable, optional
            Called with an ``InstallProgress`` per job, as in ``wait``.

        Returns
        -------
        ApplyReport
            What was done, skipped and failed (failures are reported, not raised).

        Raises
        ------
        ManifestError
            Before any write: the manifest is invalid, or an install needs an unset
            ``${VAR}``.
        """
        check_apply_args(prune, concurrency, timeout, on_progress)
        if isinstance(manifest, ManifestPlan):
            plan = planned(manifest, prune)
        else:
            plan = plan_changes(
                checked_manifest(manifest, prune), await self.list_models(), prune=prune
            )
        steps = apply_steps(plan, concurrency=concurrency, environ=os.environ)
        waiter = self._jobs.waiter(timeout, on_progress)
        reply: Any = None
        try:
            while True:
                try:
                    step = steps.send(reply)
                except StopIteration as stop:
                    return cast(ApplyReport, stop.value)
                try:
                    reply = await self._apply_step(step, waiter)
                except InvokeAIError as exc:
                    reply = exc
        finally:
            await waiter.close()

    async def export_manifest(self, *, lock: bool = False) -> ModelManifest:
        """The manifest of the server's models: settings included, never a token.

        ``lock`` pins each model's hash (``apply_manifest`` then checks it).
        Records whose source a manifest cannot hold are left out.
        """
        lock = arguments.boolean(lock, "lock")
        return ModelManifest.from_models(await self.list_models(), lock=lock)

    async def _apply_step(self, step: Step, waiter: AsyncJobWaiter) -> Any:
        if isinstance(step, StartInstalls):

            async def start(install: Install) -> Any:
                if waiter.out_of_time():
                    return ManifestError("not started: out of time")
                try:
                    return await self.install_model(
                        install.source, install.config, install.inplace, install.access_token
                    )
                except InvokeAIError as exc:
                    return exc

            return await backend.map_limited(start, step.installs, step.concurrency)
        if isinstance(step, WaitAny):
            return await waiter.next_ended(step.jobs)
        if isinstance(step, Records):
            if not step.one_by_one:
                return {m.key: m for m in await self.list_models()}
            found = [await self.get_model_by_key(key) for key in step.keys]
            return {m.key: m for m in found if m is not None}
        if isinstance(step, Update):
            return await self.update_model(step.key, step.changes)
        return await self.delete_model(step.key)
