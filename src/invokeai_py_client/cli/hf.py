"""``hf status``/``hf login``/``hf logout``: the server's Hugging Face token.

The token is never taken from the command line (it would land in shell history and in the
process list): ``hf login`` reads it from a hidden prompt, or from stdin when stdin is not
a terminal. It is masked in every output from the moment it is read.
"""

from __future__ import annotations

import sys

import typer

from . import context
from .context import State, connect, state_of
from .output import EXIT_FAILED, EXIT_USAGE

hf_app = typer.Typer(
    help="The server's Hugging Face token (for gated and private models).",
    no_args_is_help=True,
)

_MEANING = {
    "valid": "valid",
    "invalid": "none, or not valid",
    "unknown": "unknown: the server could not reach huggingface.co to check it",
}


def _meaning(status: str) -> str:
    return _MEANING.get(status, status)


def _read_token(state: State) -> str:
    """One token from a hidden prompt (terminal) or one line of stdin; masked from now on."""
    if context.stdin_is_tty():
        text = typer.prompt(
            "Hugging Face token", hide_input=True, default="", show_default=False, err=True
        )
    else:
        text = sys.stdin.readline()
    token = str(text).strip()
    if not token:
        state.out.fail(
            "no Hugging Face token given",
            hint="type it at the prompt, or pipe it in: invokeai-models hf login < token-file",
            code=EXIT_USAGE,
        )
    state.out.secrets.append(token)
    return token


@hf_app.command("status")
def status(ctx: typer.Context) -> None:
    """Whether the server holds a valid Hugging Face token."""
    state = state_of(ctx)
    out = state.out
    with connect(state) as client:
        info = client.dnn_model_repo.hf_status()
    value = str(info.status)
    if out.json_mode:
        out.json({"status": value, "logged_in": info.is_logged_in})
    elif out.quiet:
        out.essential(value)
    else:
        out.line(f"Hugging Face token on the server: {_meaning(value)}")


@hf_app.command(
    "login", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def login(ctx: typer.Context) -> None:
    """Give the server a Hugging Face token (read from a hidden prompt or from stdin).

    The server checks the token with huggingface.co before it keeps it.
    """
    state = state_of(ctx)
    out = state.out
    if ctx.args:  # most likely the token: refuse it, and never print it
        out.secrets.extend(a for a in ctx.args if a)
        out.fail(
            "hf login takes no arguments: the token is never read from the command line "
            "(shell history, process list)",
            hint="type it at the prompt, or pipe it in: invokeai-models hf login < token-file",
            code=EXIT_USAGE,
        )
    token = _read_token(state)
    with connect(state) as client:
        repo = client.dnn_model_repo
        ok = repo.hf_login(token)
        value = "valid" if ok else str(repo.hf_status().status)
    if out.json_mode:
        out.json({"logged_in": ok, "status": value})
    if ok:
        out.line("logged in: the server holds a valid Hugging Face token")
        return
    out.fail(
        f"the server did not accept the Hugging Face token (its token: {_meaning(value)})",
        hint="check the token at https://huggingface.co/settings/tokens; the server checks "
        "it with huggingface.co, so it must be online",
        code=EXIT_FAILED,
    )


@hf_app.command("logout")
def logout(ctx: typer.Context) -> None:
    """Remove the server's Hugging Face token."""
    state = state_of(ctx)
    out = state.out
    with connect(state) as client:
        done = client.dnn_model_repo.hf_logout()
    if out.json_mode:
        out.json({"logged_out": done})
    if done:
        out.line("logged out: the server holds no valid Hugging Face token")
        return
    out.fail(
        "the server still holds a valid Hugging Face token",
        hint="it may come from the server's HF_TOKEN environment variable, which only "
        "the server's owner can remove",
        code=EXIT_FAILED,
    )
