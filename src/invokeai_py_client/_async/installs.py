"""Install methods of the repository: installs, install jobs, waits, starter models."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any, cast

from .._core import job_ops
from .._core.defaults import POLL_INTERVAL, WAIT_TIMEOUT
from .._core.job_ops import Config
from .._core.job_state import check_wait_args
from ..dnn_model.dnn_model_models import StarterModel, StarterModelCatalog
from ..dnn_model.install_events import InstallProgress
from ..dnn_model.job_models import ModelInstJobInfo
from ..errors import InvalidArgumentError
from .install_job import AsyncModelInstJobHandle
from .install_jobs import AsyncInstallJobs
from .transport import AsyncTransport

__all__ = ["AsyncInstallMethods"]


class AsyncInstallMethods:
    """The install half of ``AsyncDnnModelRepository`` (see there)."""

    def __init__(self, transport: AsyncTransport) -> None:
        self._run = transport.run
        self._jobs = AsyncInstallJobs(transport)

    def _handle(
        self, info: ModelInstJobInfo, events_mark: tuple[int, int] | None = None
    ) -> AsyncModelInstJobHandle:
        return AsyncModelInstJobHandle(self._jobs, info, events_mark=events_mark)

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
        mark = self._jobs.mark()  # before the request: no event of its jobs is older
        info = await self._run(
            job_ops.install_model(source, config=config, inplace=inplace, access_token=access_token)
        )
        return self._handle(info, mark)

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
        mark = self._jobs.mark()  # before the request: no event of its jobs is older
        info = await self._run(
            job_ops.install_huggingface(
                repo_id,
                config=config,
                access_token=access_token,
                variant=variant,
                subfolder=subfolder,
            )
        )
        return self._handle(info, mark)

    async def list_install_jobs(self) -> list[AsyncModelInstJobHandle]:
        """Every install job the server remembers (jobs live until pruned or restart)."""
        return [self._handle(info) for info in await self._jobs.list()]

    async def get_install_job(self, id: int | str) -> AsyncModelInstJobHandle | None:
        """A handle on the job with this id, or None if the server does not know it."""
        info = await self._jobs.get(id)
        return None if info is None else self._handle(info)

    async def get_install_job_info(self, id: int | str) -> ModelInstJobInfo | None:
        """The state of the job with this id, or None if the server does not know it."""
        return await self._jobs.get(id)

    async def cancel_install_job(self, id: int | str) -> bool:
        """Cancel a job; False if it has ended or the server does not know it."""
        return await self._jobs.cancel(id)

    async def pause_install_job(self, id: int | str) -> ModelInstJobInfo | None:
        """Pause a downloading job; None if unknown. InvokeAI 6.12+."""
        return await self._jobs.act(id, "pause")

    async def resume_install_job(self, id: int | str) -> ModelInstJobInfo | None:
        """Resume a paused job; None if unknown. InvokeAI 6.12+."""
        return await self._jobs.act(id, "resume")

    async def restart_failed_install_job(self, id: int | str) -> ModelInstJobInfo | None:
        """Restart the failed downloads of a job; None if unknown. InvokeAI 6.12+."""
        return await self._jobs.act(id, "restart_failed")

    async def restart_install_file(self, id: int | str, file_url: str) -> ModelInstJobInfo | None:
        """Restart one file download of a job (its URL, as in ``download_parts``);
        None if the job is unknown. InvokeAI 6.12+."""
        return await self._jobs.restart_file(id, file_url)

    async def prune_install_jobs(self) -> bool:
        """Forget finished jobs (completed, error, cancelled). True when done."""
        return await self._jobs.prune()

    # -- waiting -------------------------------------------------------------

    async def wait_all(
        self,
        jobs: Iterable[AsyncModelInstJobHandle],
        *,
        timeout: float | None = WAIT_TIMEOUT,
        poll_interval: float = POLL_INTERVAL,
        on_progress: Callable[[InstallProgress], Any] | None = None,
    ) -> list[ModelInstJobInfo]:
        """Wait until every job has ended; their final states, in the order given.

        One event stream serves every job; polls ask for all jobs in one request
        when there are more than two. Raises as ``ModelInstJobHandle.wait``.
        """
        handles = _handles(jobs)
        await self._jobs.wait(
            handles, timeout=timeout, poll_interval=poll_interval, on_progress=on_progress
        )
        return [job.info for job in handles]

    async def as_completed(
        self,
        jobs: Iterable[AsyncModelInstJobHandle],
        *,
        timeout: float | None = WAIT_TIMEOUT,
        poll_interval: float = POLL_INTERVAL,
        on_progress: Callable[[InstallProgress], Any] | None = None,
    ) -> AsyncIterator[AsyncModelInstJobHandle]:
        """Yield each job as it ends, first ended first (like ``asyncio.as_completed``).

        Raises ``InstallJobTimeoutError`` when ``timeout`` passes with jobs pending.
        """
        ended = self._jobs.as_completed(
            _handles(jobs), timeout=timeout, poll_interval=poll_interval, on_progress=on_progress
        )
        async for job in ended:
            yield cast(AsyncModelInstJobHandle, job)

    async def install_and_wait(
        self,
        source: str | Path,
        config: Config | None = None,
        inplace: bool | None = None,
        access_token: str | None = None,
        *,
        timeout: float | None = WAIT_TIMEOUT,
        on_progress: Callable[[InstallProgress], Any] | None = None,
    ) -> ModelInstJobInfo:
        """Install, wait, and return the final state of a job that completed.

        Raises ``InstallJobFailedError`` or ``InstallJobCancelledError`` when the job
        did not complete, ``InstallJobTimeoutError`` when ``timeout`` passed.
        """
        check_wait_args(timeout, POLL_INTERVAL, on_progress)  # before the install is sent
        job = await self.install_model(source, config, inplace, access_token)
        await job.wait(timeout=timeout, on_progress=on_progress)
        return await job.raise_for_status()

    # -- starter models --------------------------------------------------------

    async def list_starter_models(self) -> StarterModelCatalog:
        """The server's curated starter models and bundles, marked if installed."""
        return await self._run(job_ops.list_starter_models())

    async def install_starter_model(
        self, model: StarterModel, *, skip_installed: bool = True
    ) -> list[AsyncModelInstJobHandle]:
        """Install a starter model and its dependencies; one handle per install started.

        Dependencies go first. With ``skip_installed``, models the server marks
        installed are left out.
        """
        mark = self._jobs.mark()  # before the request: no event of its jobs is older
        infos = await self._run(job_ops.install_starter_model(model, skip_installed=skip_installed))
        return [self._handle(info, mark) for info in infos]

    async def install_starter_bundle(
        self, bundle: str, *, skip_installed: bool = True
    ) -> list[AsyncModelInstJobHandle]:
        """Install every model of a starter bundle (by its key, e.g. ``"sd-1"``)."""
        mark = self._jobs.mark()  # before the request: no event of its jobs is older
        infos = await self._run(
            job_ops.install_starter_bundle(bundle, skip_installed=skip_installed)
        )
        return [self._handle(info, mark) for info in infos]


def _handles(jobs: Any) -> list[AsyncModelInstJobHandle]:
    if isinstance(jobs, AsyncModelInstJobHandle):
        return [jobs]
    if isinstance(jobs, (str, bytes)) or not isinstance(jobs, Iterable):
        raise InvalidArgumentError(f"jobs must be install-job handles, not {jobs!r:.60}")
    return list(jobs)
