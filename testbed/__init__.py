"""Test bed: provisions and runs a real InvokeAI server for integration tests.

Not shipped in the wheel. Stdlib only, so it works before the library does.
"""

from __future__ import annotations

from testbed.provision import DEFAULT_VERSION, ProvisionError, configured_version, ensure_invokeai
from testbed.server import InvokeAIServer, ServerStartError, start_server

__all__ = [
    "DEFAULT_VERSION",
    "InvokeAIServer",
    "ProvisionError",
    "ServerStartError",
    "configured_version",
    "ensure_invokeai",
    "start_server",
]
