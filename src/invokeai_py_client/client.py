"""``InvokeAIClient``, the entry point (generated into ``_sync/client.py``)."""

from ._core.calls import parse_version
from ._sync.client import InvokeAIClient

__all__ = ["InvokeAIClient", "parse_version"]
