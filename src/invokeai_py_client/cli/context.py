"""Per-invocation state (global options) and the client session with error mapping."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from invokeai_py_client._core.defaults import DEFAULT_URL

from .output import EXIT_FAILED, EXIT_USAGE, Output

if TYPE_CHECKING:
    from invokeai_py_client import InvokeAIClient

STORED = "stored"
"""``State.token_source`` of a token ``invokeai-models login`` stored."""


@dataclass
class State:
    """The global options of one invocation."""

    urls: list[str] = field(default_factory=lambda: [DEFAULT_URL])
    token: str | None = field(default=None, repr=False)
    """The token for ``url``: ``--token``, else ``$INVOKEAI_TOKEN``, else the stored one."""
    events: bool = True
    out: Output = field(default_factory=Output)
    token_source: str | None = None
    """Where ``token`` came from: ``--token``, ``INVOKEAI_TOKEN``, ``stored`` (or None)."""

    @property
    def url(self) -> str:
        """The server (the first ``--url``)."""
        return self.urls[0]

    def token_for(self, url: str) -> str | None:
        """The token for the server at ``url``: the one given, else the one stored for it."""
        if self.token and self.token_source != STORED:
            return self.token
        from .token_store import stored_token

        token = stored_token(url)
        if token:
            self.out.secrets.append(token)
        return token


def state_of(ctx: typer.Context) -> State:
    """The ``State`` the app callback stored (a default one when called bare)."""
    obj = ctx.find_root().obj
    if isinstance(obj, State):
        return obj
    return State()


def relative_path_hint(source: str) -> str | None:
    """A hint when ``source`` looks like a relative path (servers take ``a/b`` for a repo id)."""
    from invokeai_py_client.dnn_model.manifest import MODEL_SUFFIXES

    text = source.strip()
    if not text or "://" in text or os.path.isabs(text) or text.startswith("~"):
        return None
    path = Path(text)
    looks_like_path = (
        text.startswith(("./", "../")) or path.suffix.lower() in MODEL_SUFFIXES or path.exists()
    )
    if not looks_like_path:
        return None
    return (
        f"{text!r} is a relative path, which the server takes for a Hugging Face repo id "
        f"or resolves against its own working directory; pass an absolute path on the "
        f"server, e.g. {path.resolve()}"
    )


def hint_for(exc: BaseException, state: State) -> str | None:
    """A hint for a library exception, where one helps."""
    from invokeai_py_client.errors import (
        APIConnectionError,
        AuthenticationError,
        PermissionDeniedError,
    )

    if isinstance(exc, APIConnectionError):
        return f"is an InvokeAI server running at {state.url}? set --url or INVOKEAI_URL"
    if isinstance(exc, AuthenticationError):
        login = f"`invokeai-models --url {state.url} login`"
        if state.token:
            source = {STORED: "the stored token", None: "the token"}.get(
                state.token_source, f"the token from {state.token_source}"
            )
            return (
                f"{source} was refused (expired or revoked): run {login} again, "
                "or set another one in INVOKEAI_TOKEN"
            )
        return f"this server needs a login: run {login}, or set INVOKEAI_TOKEN (or --token)"
    if isinstance(exc, PermissionDeniedError):
        return "this needs an admin account on a multi-user server"
    return None


def exit_code_of(exc: BaseException) -> int:
    """2 for input we refused before sending anything, else 1."""
    from invokeai_py_client.errors import InvalidArgumentError

    return EXIT_USAGE if isinstance(exc, InvalidArgumentError) else EXIT_FAILED


def report(state: State, exc: BaseException, *, hint: str | None = None) -> int:
    """Print one error line for ``exc``; return its exit code."""
    from invokeai_py_client.errors import InvokeAIError

    from .refusals import refused_values

    code = exit_code_of(exc)
    refused = refused_values(exc)
    if refused:
        code, message = EXIT_USAGE, refused
    elif isinstance(exc, InvokeAIError):
        message = str(exc)
    else:
        message = f"unexpected {type(exc).__name__}: {exc}"
    state.out.error(message, hint=hint or hint_for(exc, state), exc=exc, code=code)
    return code


def refuse_bad(state: State, values: Iterable[Any], check: Callable[[Any], object]) -> None:
    """Exit 2 at the first value ``check`` refuses (``InvalidArgumentError``), before a
    command that takes several values has sent anything for the good ones."""
    from invokeai_py_client.errors import InvalidArgumentError

    for value in values:
        try:
            check(value)
        except InvalidArgumentError as exc:
            state.out.fail(str(exc), code=EXIT_USAGE)


def stdin_is_tty() -> bool:
    """Whether a question can be asked (stdin is a terminal)."""
    return sys.stdin.isatty()


def refuse_without_yes(state: State, yes: bool, what: str) -> None:
    """Exit 2 when deleting needs a confirmation that cannot be asked."""
    if not yes and not stdin_is_tty():
        state.out.fail(
            f"refusing to delete {what} without --yes: stdin is not a terminal",
            hint="add --yes to delete without asking",
            code=EXIT_USAGE,
        )


def confirm_delete(state: State, items: list[str], question: str) -> None:
    """List what is about to be deleted and ask; exit 1 unless the answer is yes."""
    typer.echo(state.out.mask("About to delete:\n  " + "\n  ".join(items)), err=True)
    if not typer.confirm(question, default=False, err=True):
        state.out.fail("nothing deleted", code=EXIT_FAILED)


@contextmanager
def connect(state: State, *, events: bool = False) -> Iterator[InvokeAIClient]:
    """An ``InvokeAIClient`` for the command; any library error becomes one line and an exit."""
    if len(state.urls) > 1:
        state.out.fail(
            "only plan and apply take several --url", hint="give one --url", code=EXIT_USAGE
        )
    try:
        from invokeai_py_client import InvokeAIClient

        with InvokeAIClient(state.url, token=state.token, events=events and state.events) as client:
            yield client
    except Exception as exc:
        if type(exc).__module__.startswith(("typer", "click")):  # Exit, Abort, usage errors
            raise
        raise typer.Exit(report(state, exc)) from None
