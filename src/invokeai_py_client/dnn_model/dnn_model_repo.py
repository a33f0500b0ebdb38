"""``DnnModelRepository``: every model read and write (generated into ``_sync/repository.py``)."""

from .._sync.repository import DnnModelRepository

__all__ = ["DnnModelRepository"]
