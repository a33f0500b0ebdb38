"""Maintenance of the server's models folder and cache: ``scan``, ``missing``,
``orphaned`` and ``cache stats``/``cache empty``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from invokeai_py_client._core.defaults import CLI_WAIT_TIMEOUT

from .context import confirm_delete, connect, refuse_without_yes, report, state_of
from .job_ui import print_summary, start_installs, wait_for_jobs
from .models import model_json
from .options import Yes, seconds
from .output import EXIT_FAILED, EXIT_USAGE, Output, human_size

if TYPE_CHECKING:
    from invokeai_py_client import DnnModel


# -- scan ------------------------------------------------------------------------------------


def _scan_hint(path: str) -> str:
    if not os.path.isabs(path):
        return (
            f"{path!r} is a relative path, which the server resolves against its own working "
            f"directory; pass an absolute path on the server, e.g. {Path(path).resolve()}"
        )
    return "the folder must exist on the server's machine"


def scan(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="A folder on the server (an absolute path).")],
    install: Annotated[
        bool,
        typer.Option(
            "--install", help="Install every model found that is not installed (in place)."
        ),
    ] = False,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="With --install: start the jobs and return.")
    ] = False,
    timeout: Annotated[
        float,
        typer.Option("--timeout", help="With --install: seconds to wait.", min=0, callback=seconds),
    ] = CLI_WAIT_TIMEOUT,
) -> None:
    """List the model files and folders in a folder on the server, installed or not.

    With --install, install the ones not installed, in place (as the web UI does), and wait
    like `install`; with --json that prints one JSON array, one object per install job.
    """
    from invokeai_py_client.errors import BadRequestError

    state = state_of(ctx)
    out = state.out
    if no_wait and not install:
        out.fail("--no-wait goes with --install", code=EXIT_USAGE)
    with connect(state, events=install and not no_wait) as client:
        try:
            found = client.dnn_model_repo.scan_folder(path)
        except BadRequestError as exc:
            raise typer.Exit(report(state, exc, hint=_scan_hint(path))) from None
        todo = [f.path for f in found if not f.is_installed]
        if not install or not (out.quiet or out.json_mode):  # --install reports its jobs
            out.listing(
                [f.model_dump(mode="json") for f in found],
                [f.path for f in found],
                ["path", "installed"],
                [(f.path, "yes" if f.is_installed else "no") for f in found],
                summary=f"{len(found)} model(s) found, {len(todo)} not installed",
                empty_table=False,
            )
        if not install:
            return
        if not todo:
            out.line("nothing to install")
            if out.json_mode:
                out.json([])
            return
        started = start_installs(state, client, todo, inplace=True)
        if any(s.job is not None for s in started) and not no_wait:
            wait_for_jobs(state, client, started, timeout)
    print_summary(state, started, waited=not no_wait)


# -- missing, orphaned -----------------------------------------------------------------------


def missing(
    ctx: typer.Context,
    delete: Annotated[
        bool, typer.Option("--delete", help="Delete these records (asks first).")
    ] = False,
    yes: Yes = False,
) -> None:
    """List the models whose files are gone from disk (InvokeAI 6.12+); --delete deletes them."""
    state = state_of(ctx)
    out = state.out
    if delete:
        refuse_without_yes(state, yes, "the models with missing files")
    with connect(state) as client:
        repo = client.dnn_model_repo
        found = repo.list_missing_models()
        if not delete:
            _print_missing(out, found)
            return
        if not found:
            out.line("no models with missing files")
            if out.json_mode:
                out.json([])
            return
        if not yes:
            confirm_delete(
                state,
                [f"{m.name} ({m.key}): {m.path}" for m in found],
                f"Delete {len(found)} model record(s)?",
            )
        result = repo.bulk_delete_models([m.key for m in found])
    failures = {f.key: f.error or "not deleted" for f in result.failed if f.key}
    _report_deleted(
        out,
        "key",
        [
            (m.key, f"{m.name} ({m.key})", m.key in result.deleted, failures.get(m.key))
            for m in found
        ],
    )


def _report_deleted(
    out: Output, field: str, items: list[tuple[str, str, bool, str | None]]
) -> None:
    """Per ``(id, label, deleted, error)``: a line, or one JSON list; exit 1 if any was not."""
    results: list[dict[str, Any]] = []
    for ident, label, deleted, error in items:
        if deleted:
            results.append({field: ident, "deleted": True, "error": None})
            out.line(f"deleted {label}")
            if out.quiet:
                out.essential(ident)
            continue
        error = error or "the server did not report it deleted"
        results.append({field: ident, "deleted": False, "error": error})
        out.error(f"{label} not deleted: {error}")
    if out.json_mode:
        out.json(results)
    if any(not r["deleted"] for r in results):
        raise typer.Exit(EXIT_FAILED)


def _print_missing(out: Output, found: list[DnnModel]) -> None:
    out.listing(
        [model_json(m) for m in found],
        [m.key for m in found],
        ["key", "name", "base", "type", "path"],
        [(m.key, m.name, m.base, m.type, m.path) for m in found],
        summary=f"{len(found)} model(s) with missing files",
        empty_table=False,
    )


def orphaned(
    ctx: typer.Context,
    delete: Annotated[
        bool, typer.Option("--delete", help="Delete these folders (asks first).")
    ] = False,
    yes: Yes = False,
) -> None:
    """List folders in the models directory no model uses (InvokeAI 6.12+); --delete them."""
    from invokeai_py_client.errors import InvalidArgumentError

    state = state_of(ctx)
    out = state.out
    if delete:
        refuse_without_yes(state, yes, "orphaned folders")
    with connect(state) as client:
        repo = client.dnn_model_repo
        found = repo.list_orphaned_models()
        if not delete:
            out.listing(
                [o.model_dump(mode="json") for o in found],
                [o.path for o in found],
                ["path", "files", "size", "absolute path"],
                [(o.path, len(o.files), human_size(o.size_bytes), o.absolute_path) for o in found],
                summary=f"{len(found)} orphaned folder(s)",
                empty_table=False,
            )
            return
        if not found:
            out.line("no orphaned folders")
            if out.json_mode:
                out.json([])
            return
        if not yes:
            confirm_delete(
                state,
                [f"{o.absolute_path} ({human_size(o.size_bytes)})" for o in found],
                f"Delete {len(found)} folder(s)?",
            )
        try:
            result = repo.delete_orphaned_models(found)
        except InvalidArgumentError as exc:  # the listing changed since: not a usage error
            out.fail(str(exc), hint="run `invokeai-models orphaned` again", exc=exc)
    _report_deleted(
        out,
        "path",
        [
            (o.path, o.absolute_path, o.path in result.deleted, result.errors.get(o.path))
            for o in found
        ],
    )


# -- cache -----------------------------------------------------------------------------------

cache_app = typer.Typer(help="The server's RAM model cache.", no_args_is_help=True)


@cache_app.command("stats")
def cache_stats(ctx: typer.Context) -> None:
    """Show the cache's statistics (none until the server has loaded a model)."""
    state = state_of(ctx)
    out = state.out
    with connect(state) as client:
        stats = client.dnn_model_repo.get_stats()
    if stats is None:
        if out.json_mode:
            out.json(None)
        else:
            out.line("no cache statistics yet: the server has loaded no model since it started")
        return
    if out.json_mode:
        data = stats.model_dump(mode="json")
        data.update(hit_rate=stats.hit_rate, ram_used_bytes=sum(stats.loaded_model_sizes.values()))
        out.json(data)
        return
    rate = "-" if stats.hit_rate is None else f"{stats.hit_rate:.0%}"
    used = sum(stats.loaded_model_sizes.values())
    out.line(f"hits:           {stats.hits} ({rate} of requests)")
    out.line(f"misses (loads): {stats.misses}")
    out.line(f"in cache:       {stats.in_cache} model(s), {human_size(used)}")
    out.line(f"cache size:     {human_size(stats.cache_size)}")
    out.line(f"high watermark: {human_size(stats.high_watermark)}")
    out.line(f"cleared:        {stats.cleared}")
    if stats.loaded_model_sizes:
        out.table(
            ["model key", "size"],
            [(k, human_size(v)) for k, v in stats.loaded_model_sizes.items()],
        )


@cache_app.command("empty")
def cache_empty(ctx: typer.Context) -> None:
    """Drop the models held in RAM (models in use stay)."""
    state = state_of(ctx)
    with connect(state) as client:
        client.dnn_model_repo.empty_model_cache()
    if state.out.json_mode:
        state.out.json({"emptied": True})
    else:
        state.out.line("emptied the model cache")
