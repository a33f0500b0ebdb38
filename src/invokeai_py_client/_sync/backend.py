"""What threads do their own way: sleeping, locks, queues, socket.io's class.

Hand-written (not generated): the sync twin of ``_async/backend.py``. The generated
shells beside it import these names from ``.backend``.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

__all__ = [
    "SOCKETIO_CLIENT",
    "EventQueue",
    "Gate",
    "Lock",
    "bind_loop",
    "call_back",
    "current_loop",
    "is_current_loop",
    "is_reconnecting",
    "map_limited",
    "release_socket",
    "sleep",
    "within",
]

T = TypeVar("T")
R = TypeVar("R")
SOCKETIO_CLIENT = "Client"
"""python-socketio's client class for this style."""

Lock = threading.Lock


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def within(result: T, seconds: float) -> T:
    """``result`` as it is: a blocking call has already ended, bounded by its own timeout."""
    return result


def map_limited(fn: Callable[[T], R], items: Sequence[T], limit: int) -> list[R]:
    """``[fn(item) for item in items]``, ``limit`` at a time (threads), in order.

    The first exception propagates, and the calls not started are dropped.
    """
    if limit <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    pool = ThreadPoolExecutor(min(limit, len(items)), thread_name_prefix="invokeai-map")
    try:
        return list(pool.map(fn, items))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def current_loop() -> object:
    """None: threads have no event loop."""
    return None


def is_current_loop(loop: object) -> bool:
    """Always True: threads have no event loop."""
    return True


def bind_loop(session: Any, method: str, route: str) -> None:
    """Nothing to bind: an ``httpx.Client`` may be used from any thread."""


def is_reconnecting(sio: Any) -> bool:
    """Whether python-socketio is reconnecting this socket now."""
    task = getattr(sio, "_reconnect_task", None)
    return task is not None and bool(task.is_alive())


def release_socket(sio: Any) -> None:
    """Nothing to close: the threaded engine.io client keeps no session of its own."""


def call_back(callback: Callable[[T], Any], event: T) -> None:
    """Call ``callback(event)`` on python-socketio's thread."""
    callback(event)


class EventQueue(Generic[T]):
    """Events queued for one reader (thread-safe)."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[T] = queue.SimpleQueue()

    def put(self, item: T) -> None:
        self._queue.put(item)

    def get(self, timeout: float | None = None) -> T | None:
        """The next item; None after ``timeout`` seconds (None: wait for one)."""
        try:
            return self._queue.get(timeout=max(timeout, 0) if timeout is not None else None)
        except queue.Empty:
            return None


class Gate:
    """Lets at most ``limit`` requests into the connection pool at once."""

    def __init__(self, limit: int) -> None:
        self._semaphore = threading.BoundedSemaphore(limit)

    def enter(self, timeout: float | None) -> threading.BoundedSemaphore | None:
        """A permit to ``release()`` when done, or None when ``timeout`` passed first."""
        return self._semaphore if self._semaphore.acquire(timeout=timeout) else None
