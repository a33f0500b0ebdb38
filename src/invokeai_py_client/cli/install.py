"""``install``: start installs, then wait for all of them with one progress bar per job."""

from __future__ import annotations

from typing import Annotated

import typer

from invokeai_py_client._core.defaults import CLI_WAIT_TIMEOUT

from .context import connect, refuse_bad, state_of
from .job_ui import build_config, print_summary, start_installs, wait_for_jobs
from .options import NoWait, WaitTimeout
from .output import EXIT_USAGE


def install(
    ctx: typer.Context,
    sources: Annotated[
        list[str],
        typer.Argument(
            help="Absolute paths on the server, URLs, or Hugging Face repo ids "
            "(owner/repo[:variant[:subfolder]])."
        ),
    ],
    inplace: Annotated[
        bool, typer.Option("--inplace", help="Keep local files where they are (else moved).")
    ] = False,
    name: Annotated[str | None, typer.Option("--name", help="The model's name.")] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="The model's description.")
    ] = None,
    config: Annotated[
        str | None,
        typer.Option("--config", help='More settings as a JSON object, e.g. \'{"base": "sd-1"}\'.'),
    ] = None,
    no_wait: NoWait = False,
    timeout: WaitTimeout = CLI_WAIT_TIMEOUT,
) -> None:
    """Install models; wait for all of them with live progress, then sum up.

    With --json: one JSON array, one object per job.
    """
    from invokeai_py_client._core.arguments import server_path

    state = state_of(ctx)
    out = state.out
    refuse_bad(state, sources, lambda source: server_path(source, "source"))
    if (name is not None or description is not None) and len(sources) > 1:
        out.fail("--name and --description apply to one source only", code=EXIT_USAGE)
    install_config = build_config(name, description, config, state)

    with connect(state, events=not no_wait) as client:
        started = start_installs(
            state, client, sources, config=install_config, inplace=True if inplace else None
        )
        jobs = [s for s in started if s.job is not None]
        if jobs and not no_wait:
            wait_for_jobs(state, client, started, timeout)
    print_summary(state, started, waited=not no_wait)
