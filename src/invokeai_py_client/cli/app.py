"""The Typer app of ``invokeai-models`` and its global options."""

from __future__ import annotations

from typing import Annotated

import typer

from invokeai_py_client._core.defaults import DEFAULT_URL, TOKEN_ENV

from . import auth, hf, install, jobs, maintenance, manifest, models, records, starter
from .context import STORED, State
from .help import HelpGroup
from .output import Output

HELP = (
    "Manage the models of an InvokeAI server.\n\n"
    "Exit codes: 0 success, 1 an operation failed, 2 bad usage, "
    "3 `plan --exit-code` found drift, 130 interrupted."
)

app = typer.Typer(
    name="invokeai-models",
    cls=HelpGroup,
    help=HELP,
    no_args_is_help=True,
    rich_markup_mode="markdown",
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from invokeai_py_client import __version__

        typer.echo(f"invokeai-models {__version__} (invokeai-py-client)")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    url: Annotated[
        list[str],
        typer.Option(
            "--url",
            envvar="INVOKEAI_URL",
            help="The server's URL (plan and apply take several).",
            show_envvar=True,
        ),
    ] = [DEFAULT_URL],  # noqa: B006 (Typer reads the default; it is never mutated)
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="INVOKEAI_TOKEN",
            help="Bearer token for a multi-user server (prefer the variable).",
            show_default=False,
            show_envvar=True,
        ),
    ] = None,
    json_mode: Annotated[
        bool, typer.Option("--json", help="Machine-readable output (JSON on stdout).")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only essential output (ids, keys).")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    events: Annotated[
        bool,
        typer.Option(
            "--events/--no-events",
            help="Follow install jobs on the server's event stream (else poll).",
            hidden=True,
        ),
    ] = True,
    version: Annotated[
        bool | None,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = None,
) -> None:
    """Manage the models of an InvokeAI server."""
    urls = list(url) or [DEFAULT_URL]
    source = None
    if token:  # --token, else $INVOKEAI_TOKEN, else the token `login` stored for the URL
        from_env = getattr(ctx.get_parameter_source("token"), "name", None) == "ENVIRONMENT"
        source = TOKEN_ENV if from_env else "--token"
    else:
        from .token_store import stored_token

        token = stored_token(urls[0])
        source = STORED if token else None
    ctx.obj = State(
        urls=urls,
        token=token,
        events=events,
        out=Output(json_mode=json_mode, quiet=quiet, debug=debug, secrets=[token]),
        token_source=source,
    )


app.command("list")(models.list_models)
app.command("show")(models.show)
app.command("server")(models.server)
app.command("delete")(models.delete)
app.command("install")(install.install)
app.add_typer(jobs.jobs_app, name="jobs")
app.command("update")(records.update)
app.command("convert")(records.convert)
app.command("reidentify")(records.reidentify)
app.command("scan")(maintenance.scan)
app.command("missing")(maintenance.missing)
app.command("orphaned")(maintenance.orphaned)
app.add_typer(maintenance.cache_app, name="cache")
app.add_typer(hf.hf_app, name="hf")
app.add_typer(starter.starter_app, name="starter")
app.command("plan")(manifest.plan)
app.command("apply")(manifest.apply)
app.command("export")(manifest.export)
app.command("login", context_settings=auth.LOGIN_SETTINGS)(auth.login)
app.command("logout")(auth.logout)
