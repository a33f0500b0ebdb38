"""``AsyncModelInstJobHandle``: one install job, for asyncio."""

from .._async.install_job import AsyncModelInstJobHandle

__all__ = ["AsyncModelInstJobHandle"]
