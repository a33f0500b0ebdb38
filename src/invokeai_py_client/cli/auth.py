"""``login`` and ``logout``: a multi-user server's token (InvokeAI 6.12+), kept per server.

The password comes from a hidden prompt or, with ``--password-stdin``, from the first
line of stdin; never from the command line. The token goes to the token store
(``token_store``), where every later command finds it for the same ``--url``; it is
printed only when ``--print-token`` asks for it.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from .context import connect, state_of
from .output import EXIT_FAILED, EXIT_USAGE, Output

__all__ = ["LOGIN_SETTINGS", "login", "logout"]

LOGIN_SETTINGS: dict[str, Any] = {"ignore_unknown_options": True, "allow_extra_args": True}
"""``login`` takes in what it does not know, to refuse it without echoing a password."""


def _password(out: Output, from_stdin: bool) -> str:
    """The password: the first line of stdin, or a hidden prompt (on stderr)."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            out.fail("--password-stdin: stdin holds no password", code=EXIT_USAGE)
    else:
        password = str(typer.prompt("Password", hide_input=True, err=True))
    out.secrets.append(password)
    return password


def login(
    ctx: typer.Context,
    email: Annotated[
        str | None, typer.Option("--email", "-e", help="The account's email (else asked).")
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from stdin's first line."),
    ] = False,
    print_token: Annotated[
        bool,
        typer.Option("--print-token", help="Print the token (only it) on stdout; still stored."),
    ] = False,
) -> None:
    """Log in to a multi-user server (InvokeAI 6.12+) and store its token for --url.

    Asks for the password (hidden), or reads it from stdin with --password-stdin; there
    is no --password option. Later commands on the same --url send the stored token,
    unless --token or INVOKEAI_TOKEN give another. Exit 1 on wrong credentials or a
    server that is not multi-user.
    """
    from invokeai_py_client.errors import AuthenticationError, PermissionDeniedError

    from .token_store import save_token

    state = state_of(ctx)
    out = state.out
    if ctx.args:  # never echoed: it may be a password
        out.fail(
            f"login takes no arguments and no --password ({len(ctx.args)} unexpected, not shown)",
            hint="type the password at the prompt, or pipe it in with --password-stdin",
            code=EXIT_USAGE,
        )
    if print_token and out.json_mode:
        out.fail("--print-token and --json do not mix", code=EXIT_USAGE)
    if email is None:
        if password_stdin:
            out.fail("--password-stdin needs --email", code=EXIT_USAGE)
        email = str(typer.prompt("Email", err=True))
    email = email.strip()
    if not email:
        out.fail("--email must not be empty", code=EXIT_USAGE)
    password = _password(out, password_stdin)
    with connect(state) as client:
        client.token = None  # log in afresh, whatever token was given or stored
        if not client.is_multiuser():
            version = client.server_version()
            out.fail(
                f"{client.base_url} (InvokeAI {version}) is not a multi-user server: "
                "it needs no login",
                hint="multi-user mode: InvokeAI 6.12+ with `multiuser: true` in invokeai.yaml",
            )
        try:
            user = client.login(email, password)
        except (AuthenticationError, PermissionDeniedError) as exc:  # 403: account disabled
            wrong = isinstance(exc, AuthenticationError)
            out.fail(
                f"login to {client.base_url} refused: {exc}",
                hint="check the email and password" if wrong else None,
                exc=exc,
            )
        token = client.token
        url = client.base_url
    if not token:  # pragma: no cover (login() raises rather than keep no token)
        out.fail(f"{url} answered the login without a token")
    out.secrets.append(token)
    email = str(user.get("email") or email)
    is_admin = user.get("is_admin") is True
    try:
        path = save_token(url, token, email=email, is_admin=is_admin)
    except OSError as exc:
        out.fail(
            f"cannot store the token: {exc.strerror or exc} ({exc.filename})", code=EXIT_FAILED
        )
    said = f"Logged in to {url} as {email} ({'admin' if is_admin else 'user'})"
    if print_token:
        typer.echo(token)  # asked for: the only line on stdout, not masked
        out.line(said, err=True)
    elif out.json_mode:
        out.json({"url": url, "email": email, "is_admin": is_admin, "stored": str(path)})
    else:
        out.line(said)
        out.line(f"token stored in {path}", err=True)


def logout(ctx: typer.Context) -> None:
    """Forget the token `login` stored for --url (exit 0 when there was none).

    INVOKEAI_TOKEN, if set, is not touched: unset it yourself.
    """
    from invokeai_py_client._core.defaults import TOKEN_ENV

    from .token_store import remove_token, server_key, tokens_path

    state = state_of(ctx)
    out = state.out
    if len(state.urls) > 1:
        out.fail("logout takes one --url", code=EXIT_USAGE)
    url = server_key(state.url)
    try:
        removed = remove_token(url)
    except OSError as exc:
        out.fail(f"cannot rewrite {exc.filename}: {exc.strerror or exc}")
    if out.json_mode:
        out.json({"url": url, "removed": removed, "stored": str(tokens_path())})
        return
    out.line(f"Logged out of {url}: token removed" if removed else f"no token stored for {url}")
    if state.token_source == TOKEN_ENV:
        out.line(f"note: {TOKEN_ENV} is set and still used; unset it to log out fully", err=True)
