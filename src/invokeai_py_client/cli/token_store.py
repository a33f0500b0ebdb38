"""Tokens that ``invokeai-models login`` keeps, one per server, in a file only the user reads.

The file is ``$INVOKEAI_MODELS_CONFIG_DIR/tokens.json``, else
``$XDG_CONFIG_HOME/invokeai-models/tokens.json`` (default ``~/.config``)::

    {"version": 1, "servers": {"http://host:9090": {"token": "...", "email": "...",
                                                    "is_admin": true, "saved_at": "..."}}}

Servers are keyed by their root URL as the library normalizes it, so ``http://h:9090/``
and ``http://h:9090/api/v1`` share a token. The file is written whole to a new file
(mode 0600, in a directory created 0700) that then replaces the old one, so the token
is never in a file others can read, not even for a moment, and a reader never sees half
a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from invokeai_py_client._core.defaults import CONFIG_DIR_ENV, CONFIG_DIR_NAME, TOKENS_FILE

__all__ = ["remove_token", "save_token", "server_key", "stored_token", "tokens_path"]

FORMAT_VERSION = 1


def tokens_path() -> Path:
    """Where the tokens are kept (the file need not exist)."""
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override).expanduser() / TOKENS_FILE
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".config"  # XDG: absolute only
    return base / CONFIG_DIR_NAME / TOKENS_FILE


def server_key(url: str) -> str:
    """The server's root URL as the library normalizes it (the text itself if invalid)."""
    from invokeai_py_client._core.calls import normalize_base_url
    from invokeai_py_client.errors import InvalidArgumentError

    try:
        return normalize_base_url(url)
    except InvalidArgumentError:
        return url.strip()


def _servers(path: Path) -> dict[str, Any]:
    """The file's entries; none when it is missing, unreadable or not ours."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    servers = data.get("servers") if isinstance(data, dict) else None
    return (
        {k: v for k, v in servers.items() if isinstance(v, dict)}
        if isinstance(servers, dict)
        else {}
    )


def stored_token(url: str) -> str | None:
    """The token stored for the server at ``url``, if any."""
    token = _servers(tokens_path()).get(server_key(url), {}).get("token")
    return token if isinstance(token, str) and token else None


def _write(path: Path, servers: dict[str, Any]) -> None:
    """Replace the file with ``servers``: a new 0600 file renamed over the old one."""
    if not path.parent.is_dir():
        path.parent.mkdir(mode=0o700, parents=True)  # parents get the default mode
    text = json.dumps({"version": FORMAT_VERSION, "servers": servers}, indent=2) + "\n"
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tokens-", suffix=".tmp")  # 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def save_token(url: str, token: str, *, email: str, is_admin: bool) -> Path:
    """Store ``token`` for the server at ``url`` (replacing its old one); returns the file.

    Raises ``OSError`` when the file cannot be written.
    """
    path = tokens_path()
    servers = _servers(path)
    servers[server_key(url)] = {
        "token": token,
        "email": email,
        "is_admin": is_admin,
        "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    _write(path, servers)
    return path


def remove_token(url: str) -> bool:
    """Forget the token of the server at ``url``; whether there was one.

    Raises ``OSError`` when the file cannot be rewritten.
    """
    path = tokens_path()
    servers = _servers(path)
    if servers.pop(server_key(url), None) is None:
        return False
    _write(path, servers)
    return True
