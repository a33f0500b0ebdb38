"""``AsyncDnnModelRepository``: every model read and write, for asyncio."""

from .._async.repository import AsyncDnnModelRepository

__all__ = ["AsyncDnnModelRepository"]
