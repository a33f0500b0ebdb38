"""``invokeai-models``: a command-line tool for the model manager of an InvokeAI server.

Needs the ``cli`` extra (``pip install "invokeai-py-client[cli]"``: Typer, Rich, PyYAML).
Imports are lazy: ``invokeai-models --version`` loads neither the HTTP client nor Rich.

Exit codes: 0 success, 1 an operation failed, 2 bad usage, 3 reserved (``plan --exit-code``
found drift), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """Entry point of ``invokeai-models``."""
    try:
        from .app import app
    except ImportError as exc:  # the extra is missing
        import sys

        sys.stderr.write(
            f"error: invokeai-models needs the cli extra ({exc.name} is missing); "
            'hint: pip install "invokeai-py-client[cli]"\n'
        )
        raise SystemExit(1) from None
    app(prog_name="invokeai-models")
