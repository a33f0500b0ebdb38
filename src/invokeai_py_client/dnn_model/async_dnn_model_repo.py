"""``AsyncDnnModelRepository``: the twin of ``DnnModelRepository`` for asyncio."""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..errors import InvalidArgumentError, InvokeAIError
from . import _operations as ops
from ._job_base import WaitClock
from ._wait_plan import InstallProgress, WaitPlan
from .async_install_job import AsyncJobWaiter, AsyncModelInstJobHandle, wait_for
from .dnn_model_models import (
    BulkDeleteResult,
    BulkReidentifyResult,
    FoundModel,
    HFLoginStatus,
    HFRepoFiles,
    ModelInstallConfig,
    ModelInstJobInfo,
    ModelManagerStats,
    OrphanDeleteResult,
    OrphanedModel,
    StarterModel,
    StarterModelCatalog,
)
from .dnn_model_types import BaseDnnModelType, DnnModel, DnnModelFormat, DnnModelType
from .manifest import ModelManifest
from .manifest_plan import (
    ApplyReport,
    Install,
    ManifestPlan,
    Step,
    Update,
    WaitAny,
    apply_steps,
    check_apply_args,
    checked_manifest,
    plan_changes,
    planned,
)

if TYPE_CHECKING:
    from ..async_client import AsyncInvokeAIClient

__all__ = ["AsyncDnnModelRepository"]

Config = ModelInstallConfig | Mapping[str, Any]
Manifest = ModelManifest | str | Path | Mapping[str, Any]
OnProgress = Callable[[InstallProgress], Any] | None


class AsyncDnnModelRepository:
    """Reads and writes the server's models, for asyncio: every method of
    ``DnnModelRepository``, same names, parameters and errors, as coroutines.

    Get it as ``AsyncInvokeAIClient.dnn_model_repo``. Install calls return
    ``AsyncModelInstJobHandle`` objects (``await job.wait()``).
    """

    def __init__(self, client: AsyncInvokeAIClient) -> None:
        self._client = client
        self._run = client._execute

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._client!r}>"

    # -- reads ---------------------------------------------------------------

    async def list_models(
        self,
        *,
        base: BaseDnnModelType | str | Iterable[BaseDnnModelType | str] | None = None,
        type: DnnModelType | str | None = None,
        name: str | None = None,
        format: DnnModelFormat | str | None = None,
    ) -> list[DnnModel]:
        """List model records, optionally filtered.

        A record that does not fit ``DnnModel`` (a newer or patched server) is kept
        with its raw values, and a ``ResponseShapeWarning`` names its key and field.

        Parameters
        ----------
        base : BaseDnnModelType or str, or several of them
            Keep models of these bases.
        type, name, format
            Keep models of this type, name, format.
        """
        return await self._run(ops.list_models(base, type, name, format))

    async def get_model_by_key(self, key: str) -> DnnModel | None:
        """The record with this key, or None if the server has none."""
        return await self._run(ops.get_model_by_key(key))

    async def get_model_by_attrs(
        self, name: str, type: DnnModelType | str, base: BaseDnnModelType | str
    ) -> DnnModel | None:
        """The record with this name, type and base, or None."""
        return await self._run(ops.get_model_by_attrs(name, type, base))

    async def get_model_by_hash(self, hash: str) -> DnnModel | None:
        """The record with this hash (``blake3:…``), or None. InvokeAI 6.12+."""
        return await self._run(ops.get_model_by_hash(hash))

    async def list_missing_models(self) -> list[DnnModel]:
        """Records whose files are gone from disk. InvokeAI 6.12+."""
        return await self._run(ops.list_missing_models())

    async def get_models_dir(self) -> str:
        """The server's models directory, as configured: relative paths are relative
        to the server's root directory, which the API does not tell."""
        return await self._run(ops.get_models_dir())

    # -- install jobs --------------------------------------------------------

    async def install_model(
        self,
        source: str | Path,
        config: Config | None = None,
        inplace: bool | None = None,
        access_token: str | None = None,
    ) -> AsyncModelInstJobHandle:
        """Start installing a model and return a handle on the job.

        Parameters
        ----------
        source : str or Path
            A path on the server, a URL, or a Hugging Face repo id
            (``owner/repo[:variant[:subfolder]]``).
        config : ModelInstallConfig or dict, optional
            Overrides of what the server probes (name, description, …).
        inplace : bool, optional
            For a local path: True keeps the file where it is, False moves it into
            the models directory.
        access_token : str, optional
            A token for the URL or repo; masked in logs and errors, never kept in
            job info.

        Raises
        ------
        InstallStartError
            The server refused the source: 409 (e.g. a path it does not have),
            415 or 424; also a ``ConflictError``, ``UnsupportedMediaTypeError`` or
            ``FailedDependencyError``. Other failures keep their own class.
        """
        info = await self._run(ops.install_model(source, config, inplace, access_token))
        return AsyncModelInstJobHandle(self, info)

    async def install_huggingface(
        self,
        repo_id: str,
        config: Config | None = None,
        access_token: str | None = None,
        *,
        variant: str | None = None,
        subfolder: str | None = None,
    ) -> AsyncModelInstJobHandle:
        """Install from a Hugging Face repo id, optionally one variant or subfolder.

        With no ``variant`` the server chooses (``fp16`` when it runs in float16).
        """
        info = await self._run(
            ops.install_huggingface(repo_id, config, access_token, variant, subfolder)
        )
        return AsyncModelInstJobHandle(self, info)

    async def list_install_jobs(self) -> list[AsyncModelInstJobHandle]:
        """Every install job the server remembers (jobs live until pruned or restart)."""
        return [
            AsyncModelInstJobHandle(self, info) for info in await self._run(ops.list_install_jobs())
        ]

    async def get_install_job(self, id: int | str) -> AsyncModelInstJobHandle | None:
        """A handle on the job with this id, or None if the server does not know it."""
        info = await self._run(ops.get_install_job(id))
        return None if info is None else AsyncModelInstJobHandle(self, info)

    async def get_install_job_info(self, id: int | str) -> ModelInstJobInfo | None:
        """The state of the job with this id, or None if the server does not know it."""
        return await self._run(ops.get_install_job(id))

    async def cancel_install_job(self, id: int | str) -> bool:
        """Cancel a job; False if it has ended or the server does not know it."""
        sent: bool = await self._run(ops.cancel_install_job(id))
        if sent:
            self._client.events.note_sent("cancel", int(id))
        return sent

    async def pause_install_job(self, id: int | str) -> ModelInstJobInfo | None:
        """Pause a downloading job; None if unknown. InvokeAI 6.12+."""
        info = await self._run(ops.install_job_action(id, "pause"))
        if info is not None:
            self._client.events.note_sent("pause", info.id)
        return info

    async def resume_install_job(self, id: int | str) -> ModelInstJobInfo | None:
        """Resume a paused job; None if unknown. InvokeAI 6.12+."""
        return await self._run(ops.install_job_action(id, "resume"))

    async def restart_failed_install_job(self, id: int | str) -> ModelInstJobInfo | None:
        """Restart the failed downloads of a job; None if unknown. InvokeAI 6.12+."""
        return await self._run(ops.install_job_action(id, "restart_failed"))

    async def prune_install_jobs(self) -> bool:
        """Forget finished jobs (completed, error, cancelled). True when done."""
        return await self._run(ops.prune_install_jobs())

    # -- waiting -------------------------------------------------------------

    async def wait_all(
        self,
        jobs: Iterable[AsyncModelInstJobHandle],
        *,
        timeout: float | None = 600.0,
        poll_interval: float = 2.0,
        on_progress: Callable[[InstallProgress], Any] | None = None,
    ) -> list[ModelInstJobInfo]:
        """Wait until every job has ended; their final states, in the order given.

        One event stream serves every job; polls ask for all jobs in one request
        when there are more than two. Raises as ``ModelInstJobHandle.wait``.
        """
        jobs = _handles(jobs)
        async for _ in self.as_completed(
            jobs, timeout=timeout, poll_interval=poll_interval, on_progress=on_progress
        ):
            pass
        return [job.info for job in jobs]

    async def as_completed(
        self,
        jobs: Iterable[AsyncModelInstJobHandle],
        *,
        timeout: float | None = 600.0,
        poll_interval: float = 2.0,
        on_progress: Callable[[InstallProgress], Any] | None = None,
    ) -> AsyncGenerator[AsyncModelInstJobHandle, None]:
        """Yield each job as it ends, first ended first (like ``asyncio.as_completed``).

        Raises ``InstallJobTimeoutError`` when ``timeout`` passes with jobs pending.
        """
        plan = WaitPlan(_handles(jobs), WaitClock(timeout, poll_interval), on_progress)
        async for job in wait_for(plan, self._client.events, self._poll):
            yield cast(AsyncModelInstJobHandle, job)

    async def install_and_wait(
        self,
        source: str | Path,
        config: Config | None = None,
        inplace: bool | None = None,
        access_token: str | None = None,
        *,
        timeout: float | None = 600.0,
        on_progress: Callable[[InstallProgress], Any] | None = None,
    ) -> ModelInstJobInfo:
        """Install, wait, and return the final state of a job that completed.

        Raises ``InstallJobFailedError`` or ``InstallJobCancelledError`` when the job
        did not complete, ``InstallJobTimeoutError`` when ``timeout`` passed.
        """
        job = await self.install_model(source, config, inplace, access_token)
        await job.wait(timeout=timeout, on_progress=on_progress)
        return await job.raise_for_status()

    async def _poll(self, plan: WaitPlan) -> None:
        jobs = list(plan.pending.values())
        if len(jobs) <= 2:
            infos = [await self.get_install_job_info(job.id) for job in jobs]
            plan.take_infos(infos, jobs)
        else:
            plan.take_listing(await self._run(ops.list_install_jobs()))

    # -- changes -------------------------------------------------------------

    async def update_model(self, key: str, changes: Config) -> DnnModel:
        """Change fields of a record (name, description, …) and return the new record.

        Raises ``NotFoundError`` for an unknown key, ``ConflictError`` for a change
        the record's kind does not allow.
        """
        return await self._run(ops.update_model(key, changes))

    async def delete_model(self, key: str) -> bool:
        """Delete a record and its files under the models directory.

        Returns True when deleted, False when the server has no such model.
        """
        return await self._run(ops.delete_model(key))

    async def convert_model(self, key: str) -> DnnModel:
        """Convert a checkpoint to diffusers; the key and hash change.

        Raises ``BadRequestError`` for a model that is not a checkpoint.
        """
        return await self._run(ops.convert_model(key))

    async def reidentify_model(self, key: str) -> DnnModel:
        """Probe a model's files again and return the updated record. InvokeAI 6.9+."""
        return await self._run(ops.reidentify_model(key))

    async def bulk_delete_models(self, keys: Iterable[str]) -> BulkDeleteResult:
        """Delete several models at once. InvokeAI 6.10+."""
        return await self._run(ops.bulk_delete_models(keys))

    async def bulk_reidentify_models(self, keys: Iterable[str]) -> BulkReidentifyResult:
        """Re-identify several models at once. InvokeAI 6.13+."""
        return await self._run(ops.bulk_reidentify_models(keys))

    async def scan_folder(self, scan_path: str | Path) -> list[FoundModel]:
        """Find model files in a folder on the server (an absolute path there).

        Raises ``BadRequestError`` when the folder does not exist on the server.
        """
        return await self._run(ops.scan_folder(scan_path))

    # -- cache and stats -----------------------------------------------------

    async def empty_model_cache(self) -> bool:
        """Drop the models held in RAM (models in use stay). True when done."""
        return await self._run(ops.empty_model_cache())

    async def get_stats(self) -> ModelManagerStats | None:
        """The RAM cache statistics, or None on a server that has run nothing yet."""
        return await self._run(ops.get_stats())

    # -- Hugging Face ----------------------------------------------------------

    async def hf_status(self) -> HFLoginStatus:
        """Whether the server holds a valid Hugging Face token."""
        return await self._run(ops.hf_status())

    async def hf_login(self, token: str) -> bool:
        """Give the server a Hugging Face token; True only if it now reports it valid."""
        return await self._run(ops.hf_login(token))

    async def hf_logout(self) -> bool:
        """Remove the server's Hugging Face token; True if it no longer has a valid one."""
        return await self._run(ops.hf_logout())

    async def list_huggingface_files(self, repo_id: str) -> HFRepoFiles:
        """The model files the server finds in a Hugging Face repo (needs the hub)."""
        return await self._run(ops.list_huggingface_files(repo_id))

    # -- starter models --------------------------------------------------------

    async def list_starter_models(self) -> StarterModelCatalog:
        """The server's curated starter models and bundles, marked if installed."""
        return await self._run(ops.list_starter_models())

    async def install_starter_model(
        self, model: StarterModel, *, skip_installed: bool = True
    ) -> list[AsyncModelInstJobHandle]:
        """Install a starter model and its dependencies; one handle per install started.

        Dependencies go first. With ``skip_installed``, models the server marks
        installed are left out.
        """
        infos = await self._run(ops.install_starter_model(model, skip_installed))
        return [AsyncModelInstJobHandle(self, info) for info in infos]

    async def install_starter_bundle(
        self, bundle: str, *, skip_installed: bool = True
    ) -> list[AsyncModelInstJobHandle]:
        """Install every model of a starter bundle (by its key, e.g. ``"sd-1"``)."""
        infos = await self._run(ops.install_starter_bundle(bundle, skip_installed))
        return [AsyncModelInstJobHandle(self, info) for info in infos]

    # -- orphaned folders ------------------------------------------------------

    async def list_orphaned_models(self) -> list[OrphanedModel]:
        """Folders in the models directory that no record uses. InvokeAI 6.12+."""
        return await self._run(ops.list_orphaned_models())

    async def delete_orphaned_models(
        self, paths: Iterable[str | OrphanedModel]
    ) -> OrphanDeleteResult:
        """Delete orphaned folders (as ``list_orphaned_models`` gives them). InvokeAI 6.12+.

        Only folders the server lists as orphaned right now are deleted: any other
        path raises ``InvalidArgumentError`` and nothing is deleted (the server's
        route would delete any path under the models directory).
        """
        return await self._run(ops.delete_orphaned_models(paths))

    # -- cover images ----------------------------------------------------------

    async def get_model_image(self, key: str) -> bytes | None:
        """The model's cover image bytes, or None if it has none.

        Servers store covers as WebP (though they label them ``image/png``).
        Raises ``NotFoundError`` for an unknown model.
        """
        return await self._run(ops.get_model_image(key))

    async def set_model_image(self, key: str, image: bytes | bytearray | str | Path) -> None:
        """Set the model's cover image from bytes or a file (PNG, JPEG, WebP or GIF).

        The server resizes it and stores it as WebP.
        """
        await self._run(ops.set_model_image(key, image))

    async def delete_model_image(self, key: str) -> bool:
        """Remove the model's cover image; False if the model has none.

        Raises ``NotFoundError`` for an unknown model.
        """
        return await self._run(ops.delete_model_image(key))

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
        concurrency: int = 4,
        timeout: float | None = 3600.0,
        on_progress: OnProgress = None,
    ) -> ApplyReport:
        """Make the server match ``manifest``; with nothing to change, send only the
        one list request.

        Installs run ``concurrency`` at a time, then updates, then (``prune``)
        deletes; one failure does not stop the rest. A pinned hash is checked after
        install, and settings the server dropped at install are set after it.

        Parameters
        ----------
        manifest : ModelManifest, str, Path, mapping or ManifestPlan
            As for ``plan_manifest``; a ``ManifestPlan`` is carried out as planned
            (no list request; ``prune`` must then be False).
        prune : bool
            Also delete the models the manifest does not list.
        concurrency : int
            Installs at a time.
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
        waiter = AsyncJobWaiter(self, timeout, on_progress)
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
        return ModelManifest.from_models(await self.list_models(), lock=lock)

    async def _apply_step(self, step: Step, waiter: AsyncJobWaiter) -> Any:
        if isinstance(step, Install):
            return await self.install_model(
                step.source, step.config, step.inplace, step.access_token
            )
        if isinstance(step, WaitAny):
            return await waiter.next_ended(step.jobs)
        if isinstance(step, Update):
            return await self.update_model(step.key, step.changes)
        return await self.delete_model(step.key)


def _handles(jobs: Any) -> list[AsyncModelInstJobHandle]:
    if isinstance(jobs, AsyncModelInstJobHandle):
        return [jobs]
    if isinstance(jobs, (str, bytes)) or not isinstance(jobs, Iterable):
        raise InvalidArgumentError(f"jobs must be install-job handles, not {jobs!r:.60}")
    return list(jobs)
