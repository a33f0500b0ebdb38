"""``jobs``: the server's install jobs (list, show, cancel, pause, resume, prune)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from .context import connect, refuse_bad, report, state_of
from .output import EXIT_FAILED, Output, human_size

if TYPE_CHECKING:
    from invokeai_py_client.dnn_model import ModelInstJobInfo

JOBS_HINT = "`invokeai-models jobs` lists them"

jobs_app = typer.Typer(
    help="Install jobs on the server (lists them when given no command).",
    invoke_without_command=True,
    no_args_is_help=False,
)


def job_json(info: ModelInstJobInfo) -> dict[str, Any]:
    """A job as JSON (the parsed state; access tokens are never in it)."""
    return info.model_dump(mode="json")


def _progress_text(info: ModelInstJobInfo) -> str:
    if info.progress is None:
        return "-"
    return f"{info.progress:.0%} of {human_size(info.total_bytes)}"


def _print_jobs(out: Output, infos: list[ModelInstJobInfo]) -> None:
    out.listing(
        [job_json(i) for i in infos],
        [i.id for i in infos],
        ["id", "status", "progress", "source", "model key", "error"],
        [(i.id, i.status, _progress_text(i), i.source, i.model_key, i.message) for i in infos],
    )


@jobs_app.callback()
def list_jobs(ctx: typer.Context) -> None:
    """List the install jobs the server remembers (until pruned or restarted)."""
    if ctx.invoked_subcommand is not None:
        return
    state = state_of(ctx)
    with connect(state) as client:
        infos = [h.info for h in client.dnn_model_repo.list_install_jobs()]
    _print_jobs(state.out, infos)


@jobs_app.command("show")
def show(ctx: typer.Context, job_id: Annotated[int, typer.Argument(help="The job's id.")]) -> None:
    """Show one install job."""
    state = state_of(ctx)
    out = state.out
    with connect(state) as client:
        info = client.dnn_model_repo.get_install_job_info(job_id)
    if info is None:
        out.fail(f"no install job {job_id} on {state.url}", hint=JOBS_HINT)
    if out.json_mode:
        out.json(job_json(info))
        return
    _print_jobs(out, [info])
    if info.error_traceback and out.debug:
        typer.echo(out.mask(info.error_traceback), err=True)


@jobs_app.command("cancel")
def cancel(
    ctx: typer.Context,
    job_ids: Annotated[list[int], typer.Argument(help="Ids of the jobs to cancel.")],
) -> None:
    """Cancel install jobs (a job that has ended is left as it is)."""
    from invokeai_py_client._core.arguments import job_id as checked_job_id

    state = state_of(ctx)
    out = state.out
    refuse_bad(state, job_ids, checked_job_id)
    results: list[dict[str, Any]] = []
    code = 0
    with connect(state) as client:
        repo = client.dnn_model_repo
        for job_id in job_ids:
            try:
                sent = repo.cancel_install_job(job_id)  # sends nothing for an ended job
                info = None if sent else repo.get_install_job_info(job_id)
            except Exception as exc:
                code = max(code, report(state, exc))
                results.append({"id": job_id, "cancelled": False, "error": str(exc)})
                continue
            if sent:
                out.line(f"cancelled job {job_id}")
                results.append({"id": job_id, "cancelled": True, "status": "cancelled"})
            elif info is None:
                out.error(f"no install job {job_id} on {state.url}")
                results.append({"id": job_id, "cancelled": False, "status": None})
                code = max(code, EXIT_FAILED)
            else:
                out.line(f"job {job_id} has already ended: {info.status}")
                results.append({"id": job_id, "cancelled": False, "status": str(info.status)})
    if out.json_mode:
        out.json(results)
    if code:
        raise typer.Exit(code)


def _pause_or_resume(ctx: typer.Context, job_id: int, *, pause: bool) -> None:
    state = state_of(ctx)
    out = state.out
    with connect(state) as client:
        repo = client.dnn_model_repo
        info = repo.pause_install_job(job_id) if pause else repo.resume_install_job(job_id)
    if info is None:
        out.fail(f"no install job {job_id} on {state.url}", hint=JOBS_HINT)
    if out.json_mode:
        out.json(job_json(info))
    else:
        out.line(f"job {job_id}: {info.status}")


@jobs_app.command("pause")
def pause(ctx: typer.Context, job_id: Annotated[int, typer.Argument(help="The job's id.")]) -> None:
    """Pause a downloading job (InvokeAI 6.12+)."""
    _pause_or_resume(ctx, job_id, pause=True)


@jobs_app.command("resume")
def resume(
    ctx: typer.Context, job_id: Annotated[int, typer.Argument(help="The job's id.")]
) -> None:
    """Resume a paused job (InvokeAI 6.12+)."""
    _pause_or_resume(ctx, job_id, pause=False)


@jobs_app.command("prune")
def prune(ctx: typer.Context) -> None:
    """Forget finished jobs (completed, error, cancelled)."""
    state = state_of(ctx)
    with connect(state) as client:
        client.dnn_model_repo.prune_install_jobs()
    if state.out.json_mode:
        state.out.json({"pruned": True})
    else:
        state.out.line("pruned finished jobs")
