"""``AsyncInvokeAIClient``, the entry point for asyncio (source: ``_async/client.py``)."""

from ._async.client import AsyncInvokeAIClient

__all__ = ["AsyncInvokeAIClient"]
