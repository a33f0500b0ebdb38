"""The job UI that ``install``, ``scan --install``, ``starter install`` and ``apply`` share:
building an install config from options, starting installs, one progress bar per job,
waiting for them all, and the summary that sets the exit code."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import typer

from invokeai_py_client._core.defaults import CLI_POLL_INTERVAL

from .context import State, hint_for, relative_path_hint
from .output import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, human_size

if TYPE_CHECKING:
    from invokeai_py_client import InvokeAIClient
    from invokeai_py_client.dnn_model import (
        InstallProgress,
        ModelInstallConfig,
        ModelInstJobHandle,
        ModelInstJobInfo,
    )

__all__ = [
    "Started",
    "build_config",
    "job_label",
    "print_summary",
    "progress_display",
    "start_installs",
    "wait_for_jobs",
]


@dataclass
class Started:
    """One source: its job, or why it did not start."""

    source: str
    job: ModelInstJobHandle | None = None
    error: BaseException | None = None
    final: ModelInstJobInfo | None = None

    @property
    def info(self) -> ModelInstJobInfo | None:
        if self.final is not None:
            return self.final
        return self.job.info if self.job is not None else None

    @property
    def ok(self) -> bool:
        info = self.info
        return info is not None and info.is_success

    def hint(self, state: State) -> str | None:
        if self.ok:
            return None
        if self.error is not None:
            from invokeai_py_client.errors import APIConnectionError

            if isinstance(self.error, APIConnectionError):
                return hint_for(self.error, state)
            return relative_path_hint(self.source) or hint_for(self.error, state)
        return relative_path_hint(self.source)

    def error_text(self) -> str | None:
        if self.error is not None:
            return str(self.error)
        info = self.info
        if info is None or info.is_success:
            return None
        if info.is_duplicate:
            return "the model is already installed"
        if info.message:
            return info.message
        return None if not info.is_terminal else str(info.status)

    def as_json(self, state: State) -> dict[str, Any]:
        info = self.info
        result = info.result if info is not None else None
        return {
            "source": self.source,
            "job_id": info.id if info is not None else None,
            "status": str(info.status) if info is not None else "not_started",
            "ok": self.ok,
            "model_key": info.model_key if info is not None else None,
            "name": result.name if result is not None else None,
            "bytes": info.bytes if info is not None else 0,
            "total_bytes": info.total_bytes if info is not None else 0,
            "error": self.error_text(),
            "hint": self.hint(state),
        }


def job_label(source: str, width: int = 48) -> str:
    """A short name for a progress bar: a file name, or the repo id."""
    text = source.split("?", 1)[0].rstrip("/")
    if "://" in text or text.startswith("/"):
        text = PurePosixPath(text).name or text
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def build_config(
    name: str | None,
    description: str | None,
    config: str | None,
    state: State,
    *,
    more: dict[str, Any] | None = None,
) -> ModelInstallConfig:
    """``--config`` (a JSON object) merged with the options given (``more``: other fields)."""
    from invokeai_py_client.dnn_model import ModelInstallConfig
    from invokeai_py_client.errors import InvalidArgumentError

    fields: dict[str, Any] = {}
    if config is not None:
        try:
            parsed = json.loads(config)
        except ValueError as exc:
            state.out.fail(f"--config is not valid JSON: {exc}", code=EXIT_USAGE)
        if not isinstance(parsed, dict):
            state.out.fail('--config must be a JSON object, e.g. \'{"name": "x"}\'', code=2)
        fields.update(parsed)
    if name is not None:
        fields["name"] = name
    if description is not None:
        fields["description"] = description
    fields.update(more or {})
    try:
        return ModelInstallConfig.model_validate(fields)
    except InvalidArgumentError as exc:
        state.out.fail(str(exc), code=EXIT_USAGE)


def progress_display(state: State) -> Any:
    """A Rich progress display on stderr: source, bar, bytes, rate, ETA, status.

    Sizes, rate and ETA stay blank until the server reports them (local installs report
    no rate).
    """
    from rich.progress import (
        BarColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
    )
    from rich.text import Text

    class BytesColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            done = human_size(task.completed) if task.completed else ""
            text = f"{done or '0'}/{human_size(task.total)}" if task.total else done
            return Text(text, style="progress.download")

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            rate = task.fields.get("rate")
            return Text(f"{human_size(rate)}/s" if rate else "", style="progress.data.speed")

    class EtaColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            eta = task.fields.get("eta")
            if eta is None or task.finished:
                return Text("")
            seconds = int(eta)
            text = f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
            return Text(text, style="progress.remaining")

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        BytesColumn(),
        RateColumn(),
        EtaColumn(),
        TextColumn("{task.fields[status]}"),
        console=state.out.console(stderr=True),
        transient=False,
    )


def start_installs(
    state: State,
    client: InvokeAIClient,
    sources: list[str],
    *,
    config: ModelInstallConfig | None = None,
    inplace: bool | None = None,
) -> list[Started]:
    """Start one install per source; a source the server refuses is kept with its error."""
    from invokeai_py_client.errors import InvalidArgumentError

    started: list[Started] = []
    for source in sources:
        try:
            job = client.dnn_model_repo.install_model(source, config=config, inplace=inplace)
        except Exception as exc:
            if isinstance(exc, InvalidArgumentError):
                state.out.fail(str(exc), code=EXIT_USAGE)
            started.append(Started(source, error=exc))
            continue
        started.append(Started(source, job=job))
    return started


def wait_for_jobs(
    state: State, client: InvokeAIClient, started: list[Started], timeout: float
) -> None:
    """Wait for every started job (one ``wait_all``), with progress bars unless quiet."""
    from invokeai_py_client.errors import InstallJobError

    out = state.out
    jobs = [s for s in started if s.job is not None]
    handles = [s.job for s in jobs if s.job is not None]
    show = not (out.quiet or out.json_mode)
    progress = progress_display(state) if show else None
    tasks: dict[int, Any] = {}
    if progress is not None:
        for s in jobs:
            assert s.job is not None
            tasks[s.job.id] = progress.add_task(
                job_label(s.source), total=None, status=str(s.job.info.status), rate=None, eta=None
            )
        progress.start()

    def on_progress(p: InstallProgress) -> None:
        if progress is None or p.id not in tasks:
            return
        total = p.total_bytes or None
        done = p.bytes
        if p.status.is_success and total:
            done = total
        progress.update(
            tasks[p.id], completed=done, total=total, rate=p.rate, eta=p.eta, status=str(p.status)
        )

    try:
        finals = client.dnn_model_repo.wait_all(
            handles, timeout=timeout, poll_interval=CLI_POLL_INTERVAL, on_progress=on_progress
        )
        for s, final in zip(jobs, finals, strict=True):
            s.final = final
    except KeyboardInterrupt:
        if progress is not None:
            progress.stop()
        ids = " ".join(str(h.id) for h in handles)
        out.error(
            f"interrupted: stopped waiting; the install job(s) {ids} go on on the server",
            hint=f"cancel with: invokeai-models jobs cancel {ids}",
            code=EXIT_INTERRUPTED,
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except InstallJobError as exc:  # timeout, or a job the server lost
        if progress is not None:
            progress.stop()
        progress = None
        out.error(str(exc), hint="`invokeai-models jobs` shows the jobs on the server")
    finally:
        if progress is not None:
            progress.stop()


def print_summary(state: State, started: list[Started], *, waited: bool) -> None:
    """One line per source (with --json, one array of job objects); exit 1 if any failed
    or did not finish."""
    out = state.out
    if out.json_mode:
        out.json([s.as_json(state) for s in started])
    failed = False
    for s in started:
        info = s.info
        if s.error is not None or (info is not None and info.is_failure):
            failed = True
            out.error(
                f"{s.source}: {s.error_text()}"
                if s.error is not None or info is None
                else info.describe(),
                hint=s.hint(state),
            )
            continue
        if info is None:  # pragma: no cover
            continue
        if out.json_mode:
            continue
        if info.is_success:
            if out.quiet:
                out.essential(info.model_key or "")
            else:
                name = info.result.name if info.result is not None else "?"
                size = human_size(info.total_bytes) if info.total_bytes else ""
                out.line(f"✓ installed {name} ({info.model_key}) from {s.source} {size}".rstrip())
        elif not waited:
            if out.quiet:
                out.essential(str(info.id))
            else:
                out.line(f"started install job {info.id} ({s.source}): {info.status}")
        else:  # the wait ended early (timeout)
            failed = True
            out.error(f"{info.describe()} (not finished)")
    if failed:
        raise typer.Exit(EXIT_FAILED)
