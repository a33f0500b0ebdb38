"""Every default of the library and the CLI, named once. Imports nothing (the CLI reads
it at start-up)."""

__all__ = [
    "APPLY_CONCURRENCY",
    "APPLY_TIMEOUT",
    "CLI_POLL_INTERVAL",
    "CLI_WAIT_TIMEOUT",
    "CONFIG_DIR_ENV",
    "CONFIG_DIR_NAME",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "DEFAULT_URL",
    "EVENT_CONNECT_TIMEOUT",
    "LEGACY_HOST",
    "LEGACY_MAX_RETRIES",
    "LEGACY_PORT",
    "LEGACY_TIMEOUT",
    "POLL_INTERVAL",
    "TOKENS_FILE",
    "TOKEN_ENV",
    "URL_ENV",
    "WAIT_TIMEOUT",
]

DEFAULT_URL = "http://127.0.0.1:9090"
URL_ENV = "INVOKEAI_URL"
TOKEN_ENV = "INVOKEAI_TOKEN"
DEFAULT_TIMEOUT = 60.0
"""Seconds one call may take, retries included."""
DEFAULT_MAX_RETRIES = 2
"""Retries of a read (GET) on a connection error or a 502/503/504."""
WAIT_TIMEOUT = 600.0
"""Seconds ``wait()`` and friends wait for install jobs."""
POLL_INTERVAL = 2.0
"""Seconds between polls of a wait at most (with events: between safety polls)."""
APPLY_TIMEOUT = 3600.0
"""Seconds ``apply_manifest`` waits for all its installs."""
APPLY_CONCURRENCY = 4
"""Install requests ``apply_manifest`` sends at a time (the server queues the jobs)."""
EVENT_CONNECT_TIMEOUT = 5.0
"""Seconds to connect the event stream."""
CLI_WAIT_TIMEOUT = APPLY_TIMEOUT
"""Seconds the CLI's ``install``, ``scan --install``, ``starter install`` and ``apply`` wait."""
CLI_POLL_INTERVAL = 1.0
"""Seconds between the CLI's safety polls while it shows progress bars."""
CONFIG_DIR_ENV = "INVOKEAI_MODELS_CONFIG_DIR"
CONFIG_DIR_NAME = "invokeai-models"
TOKENS_FILE = "tokens.json"
"""The CLI keeps ``login`` tokens in ``$INVOKEAI_MODELS_CONFIG_DIR/tokens.json``, else
``$XDG_CONFIG_HOME/invokeai-models/tokens.json`` (default ``~/.config``)."""
LEGACY_HOST = "localhost"
LEGACY_PORT = 9090
LEGACY_TIMEOUT = 30.0
LEGACY_MAX_RETRIES = 3
"""The defaults of invokeai-py-client 1.1's ``InvokeAIClient(host, port, ...)``, used
when a client is made that way."""
