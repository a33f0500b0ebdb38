"""Models as code: ``plan``, ``apply`` and ``export`` of a manifest, on one server or many.

Servers: ``--url`` given on the command line (repeatable), else the manifest's
``servers:``, else ``$INVOKEAI_URL`` or the default. Several servers are handled at
once (one asyncio task each), with one summary per server. With ``--json``, one JSON
array with one object per server.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from invokeai_py_client._core.defaults import APPLY_CONCURRENCY, CLI_WAIT_TIMEOUT

from .context import (
    State,
    confirm_delete,
    connect,
    exit_code_of,
    hint_for,
    refuse_without_yes,
    state_of,
)
from .job_ui import job_label, progress_display
from .manifest_text import describe, print_plan, print_report
from .options import seconds
from .output import EXIT_DRIFT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE

if TYPE_CHECKING:
    from invokeai_py_client.dnn_model import (
        ApplyReport,
        InstallProgress,
        ManifestPlan,
        ModelManifest,
    )

FileArg = Annotated[
    Path, typer.Argument(help="The manifest (YAML, or JSON with a .json name).", dir_okay=False)
]
PruneOpt = Annotated[
    bool, typer.Option("--prune", help="Also delete the models the manifest does not list.")
]
MANY_BARS = 12  # more jobs than this share one bar


@dataclass
class Server:
    """One server to work on, and what became of it (a plan or a report, or an error)."""

    url: str
    token: str | None = field(repr=False)
    result: Any = field(default=None, repr=False)
    error: BaseException | None = None
    jobs: set[int] = field(default_factory=set)


Work = Callable[[Server, Any], Awaitable[Any]]


def _load(state: State, path: Path) -> ModelManifest:
    import gc

    from invokeai_py_client.dnn_model import ModelManifest
    from invokeai_py_client.errors import ManifestError

    gc.freeze()  # what is imported lives to the end: collections of big plans skip it
    try:
        return ModelManifest.load(path)
    except ManifestError as exc:
        state.out.fail(str(exc), code=EXIT_USAGE)


def _servers(ctx: typer.Context, state: State, manifest: ModelManifest) -> list[Server]:
    """``--url`` from the command line, else the file's ``servers:``, else the default."""
    from invokeai_py_client.errors import ManifestError

    source = ctx.find_root().get_parameter_source("url")
    if getattr(source, "name", None) != "COMMANDLINE" and manifest.servers:
        servers = []
        for i, entry in enumerate(manifest.servers):
            try:
                token = entry.resolved_token() or state.token_for(entry.url)
            except ManifestError as exc:
                where = manifest.location(i, "servers")
                state.out.fail(f"{where}: servers[{i}].token: {exc}", code=EXIT_USAGE)
            state.out.secrets.extend(t for t in [token] if t)
            servers.append(Server(entry.url, token))
        return servers
    return [Server(url, state.token_for(url)) for url in dict.fromkeys(state.urls)]


def _run(state: State, servers: list[Server], work: Work) -> None:
    """``work(server, client)`` on every server at once; each server keeps its result
    or its error (results stay off the task: asyncio would ``repr`` them)."""
    import asyncio

    from invokeai_py_client import AsyncInvokeAIClient

    async def one(server: Server) -> None:
        try:
            async with AsyncInvokeAIClient(
                server.url, token=server.token, events=state.events
            ) as client:
                server.result = await work(server, client)
        except Exception as exc:  # an InvokeAIError, or a bug: reported per server
            server.error = exc

    async def every() -> None:
        await asyncio.gather(*(one(s) for s in servers if s.error is None))

    try:
        asyncio.run(every())
    except KeyboardInterrupt:
        jobs = " ".join(str(j) for s in servers for j in sorted(s.jobs))
        cancel = f"cancel with: invokeai-models jobs cancel {jobs}; " if jobs else ""
        state.out.error(
            "interrupted: stopped waiting; installs already started go on on the server",
            hint=f"{cancel}`invokeai-models jobs` lists them",
            code=EXIT_INTERRUPTED,
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _server_error(state: State, server: Server) -> dict[str, Any]:
    assert server.error is not None
    exc = server.error
    hint = hint_for(exc, State(urls=[server.url], token=server.token))
    if not state.out.json_mode:
        state.out.error(f"{server.url}: {exc}", hint=hint, exc=exc)
    return {"server": server.url, "error": str(exc), "hint": hint, "exit_code": exit_code_of(exc)}


def _finish(state: State, servers: list[Server], show: Callable[[Server], int]) -> None:
    """One summary per server (with --json, one array of server objects); exit with the
    worst code."""
    code = 0
    docs = []
    for server in servers:
        if server.error is not None:
            doc = _server_error(state, server)
            code = max(code, doc["exit_code"])
        else:
            doc = {"server": server.url, **server.result.to_dict()}
            code = max(code, show(server))
        docs.append(doc)
    if state.out.json_mode:
        state.out.json(docs)
    if code:
        raise typer.Exit(code)


def plan(
    ctx: typer.Context,
    file: FileArg,
    prune: PruneOpt = False,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 3 when a server does not match the file.")
    ] = False,
) -> None:
    """Show what `apply` would change on each server: install, update, keep, delete.

    Sends no write. With --json: one object per server.
    """
    state = state_of(ctx)
    manifest = _load(state, file)
    servers = _servers(ctx, state, manifest)
    _plan_on(state, servers, manifest, prune=prune)

    def show(server: Server) -> int:
        print_plan(state.out, server.url, server.result)
        return EXIT_DRIFT if exit_code and server.result.has_drift else 0

    _finish(state, servers, show)


def _plan_on(state: State, servers: list[Server], manifest: ModelManifest, *, prune: bool) -> None:
    async def work(server: Server, client: Any) -> ManifestPlan:
        result: ManifestPlan = await client.dnn_model_repo.plan_manifest(manifest, prune=prune)
        return result

    _run(state, servers, work)


def apply(
    ctx: typer.Context,
    file: FileArg,
    prune: PruneOpt = False,
    concurrency: Annotated[
        int,
        typer.Option("--concurrency", "-j", help="Install requests at a time, per server.", min=1),
    ] = APPLY_CONCURRENCY,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", help="Seconds to wait for the installs.", min=0, callback=seconds
        ),
    ] = CLI_WAIT_TIMEOUT,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Delete (--prune) without asking.")
    ] = False,
) -> None:
    """Make each server match the manifest: install, update, and with --prune delete.

    Idempotent: with nothing to change, nothing is written.

    Every install is started first (--concurrency requests at a time per server; the
    server queues the jobs), then all are followed with live progress; one failure does
    not stop the rest.

    With --json: one object per server.
    """
    state = state_of(ctx)
    out = state.out
    manifest = _load(state, file)
    servers = _servers(ctx, state, manifest)
    if prune and not yes:  # plan first, ask, then carry out exactly what was shown
        _plan_on(state, servers, manifest, prune=True)
        _confirm_prune(state, servers)

    shown: list[Any] = []  # the display, made at the first report (Rich loads slowly)
    make = None if out.quiet or out.json_mode else (lambda: progress_display(state))
    follow = _follower(make, shown, several=len(servers) > 1)

    async def work(server: Server, client: Any) -> ApplyReport:
        planned = server.result  # a confirmed plan, or None
        result: ApplyReport = await client.dnn_model_repo.apply_manifest(
            planned or manifest,
            prune=prune and planned is None,
            concurrency=concurrency,
            timeout=timeout,
            on_progress=follow(server),
        )
        return result

    try:
        _run(state, servers, work)
    finally:
        for progress in shown:
            progress.stop()

    def show(server: Server) -> int:
        print_report(out, server.url, server.result)
        return 0 if server.result.ok else EXIT_FAILED

    _finish(state, servers, show)


def _follower(
    make: Callable[[], Any] | None, shown: list[Any], *, several: bool
) -> Callable[[Server], Any]:
    """``follow(server)``: an ``on_progress`` that keeps one bar per job of that server
    (on the display ``make()`` gives, made and started at the first report). Rich draws
    every bar again for each new one: jobs beyond MANY_BARS share one bar."""
    tasks: dict[tuple[str, int], Any] = {}
    others: dict[tuple[str, int], bool] = {}  # the jobs on the shared bar: ended?

    def follow(server: Server) -> Callable[[InstallProgress], None]:
        def on_progress(p: InstallProgress) -> None:
            server.jobs.add(p.id)
            if make is None:
                return
            if not shown:
                shown.append(make())
                shown[0].start()
            progress = shown[0]
            key = (server.url, p.id)
            if key not in tasks and len(tasks) >= MANY_BARS:
                if not others:
                    tasks[("", 0)] = progress.add_task("", total=None, status="")
                others[key] = p.status.is_terminal
                ended = sum(others.values())
                text = f"{len(others)} more jobs, {ended} ended"
                progress.update(tasks[("", 0)], description=text, status="")
                return
            if key not in tasks:
                label = job_label(p.source or str(p.id), 40 if several else 48)
                prefix = f"{_host(server.url)} " if several else ""
                tasks[key] = progress.add_task(prefix + label, total=None, status="")
            total = p.total_bytes or None
            done = total if p.status.is_success and total else p.bytes
            known = {k: v for k, v in (("rate", p.rate), ("eta", p.eta)) if v is not None}
            progress.update(tasks[key], completed=done, total=total, status=p.status, **known)

        return on_progress

    return follow


def _host(url: str) -> str:
    return url.split("://", 1)[-1].rstrip("/")


def _confirm_prune(state: State, servers: list[Server]) -> None:
    """Ask before ``--prune`` deletes (on a terminal); refuse elsewhere without --yes."""
    doomed = [
        f"{server.url}: {describe(change)}"
        for server in servers
        if server.result is not None
        for change in server.result.changes
        if change.action.value == "delete"
    ]
    if doomed:
        refuse_without_yes(state, False, f"{len(doomed)} model(s) (--prune)")
        confirm_delete(state, doomed, f"Delete {len(doomed)} model(s)?")


def export(
    ctx: typer.Context,
    lock: Annotated[bool, typer.Option("--lock", help="Pin each model's hash.")] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file (else stdout).", dir_okay=False),
    ] = None,
) -> None:
    """Write the manifest of the server's models (settings included, never a token).

    YAML, or JSON with --json or an --output name ending in .json.
    """
    from invokeai_py_client.dnn_model import ModelManifest

    state = state_of(ctx)
    out = state.out
    if output is not None and not output.parent.is_dir():
        out.fail(f"cannot write {output}: no such directory", code=EXIT_USAGE)
    with connect(state) as client:
        models = client.dnn_model_repo.list_models()
    manifest = ModelManifest.from_models(models, lock=lock)
    left_out = len(models) - len(manifest.models)
    as_json = out.json_mode or (output is not None and output.suffix.lower() == ".json")
    text = out.mask(manifest.dumps("json" if as_json else "yaml"))
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            out.fail(f"cannot write {output}: {exc.strerror or exc}")
        out.line(f"wrote {len(manifest.models)} model(s) to {output}", err=True)
    if left_out:
        out.line(f"left out {left_out} model(s) without a source a manifest can hold", err=True)
