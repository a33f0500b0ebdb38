"""``ModelInstJobHandle``: one install job (generated into ``_sync/install_job.py``)."""

from .._sync.install_job import ModelInstJobHandle

__all__ = ["ModelInstJobHandle"]
