"""What asyncio does its own way: sleeping, locks, queues, event loops, socket.io's class.

Hand-written. The shells beside it import these names from ``.backend``; their
generated sync twins (``_sync/``) get the threading versions from ``_sync/backend.py``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, Generic, TypeVar

from ..errors import APIConnectionError

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
SOCKETIO_CLIENT = "AsyncClient"
"""python-socketio's client class for this style."""

_callback_tasks: set[asyncio.Future[Any]] = set()


async def sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def within(awaitable: Awaitable[T], seconds: float) -> T:
    """``awaitable``'s result, or ``TimeoutError`` after ``seconds``."""
    return await asyncio.wait_for(awaitable, seconds)


async def map_limited(fn: Callable[[T], Awaitable[R]], items: Sequence[T], limit: int) -> list[R]:
    """``[await fn(item) for item in items]``, ``limit`` at a time (tasks), in order.

    The first exception propagates, and the calls not ended are cancelled.
    """
    results: list[Any] = [None] * len(items)
    todo = iter(enumerate(items))

    async def worker() -> None:
        for index, item in todo:  # shared: each item goes to one worker
            results[index] = await fn(item)

    workers = [asyncio.ensure_future(worker()) for _ in range(min(limit, len(items)))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
    return results


def current_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def is_current_loop(loop: object) -> bool:
    """Whether ``loop`` (None: not bound yet) is the running one."""
    return loop is None or loop is asyncio.get_running_loop()


def bind_loop(session: Any, method: str, route: str) -> None:
    """Bind the session's pool to the running loop: an ``httpx.AsyncClient`` cannot move
    between event loops (``asyncio.run`` twice), so our own gets a fresh one for a new
    loop; a user's cannot."""
    loop = asyncio.get_running_loop()
    if session.loop is loop:
        return
    if session.loop is not None:
        if session.new_http_client is None:
            raise APIConnectionError(
                "the http_client belongs to another event loop; give each loop its own",
                method=method,
                route=route,
            )
        session.pool.client = session.new_http_client()
    session.loop = loop


def is_reconnecting(sio: Any) -> bool:
    """Whether python-socketio is reconnecting this socket now."""
    task = getattr(sio, "_reconnect_task", None)
    return task is not None and not task.done()


async def release_socket(sio: Any) -> None:
    """Close what python-engineio leaves open after a failed connect or an aborted
    reconnect: its aiohttp session (else a ``ResourceWarning`` and an open socket)."""
    eio = getattr(sio, "eio", None)
    http = getattr(eio, "http", None)
    if http is not None and not getattr(eio, "external_http", False) and not http.closed:
        await http.close()
    if eio is not None:
        eio.http = None


def call_back(callback: Callable[[T], Any], event: T) -> None:
    """Call ``callback(event)``; a coroutine it returns is scheduled on the loop."""
    result = callback(event)
    if inspect.isawaitable(result):
        task = asyncio.ensure_future(result)
        _callback_tasks.add(task)
        task.add_done_callback(_callback_tasks.discard)


class Lock:
    """An ``asyncio.Lock`` made anew for each event loop it is used on."""

    def __init__(self) -> None:
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> None:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock, self._loop = asyncio.Lock(), loop
        await self._lock.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._lock is not None
        self._lock.release()


class EventQueue(Generic[T]):
    """Events queued for one reader."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[T] = asyncio.Queue()

    def put(self, item: T) -> None:
        self._queue.put_nowait(item)

    async def get(self, timeout: float | None = None) -> T | None:
        """The next item; None after ``timeout`` seconds (None: wait for one)."""
        if timeout is not None and timeout <= 0:
            return None if self._queue.empty() else self._queue.get_nowait()
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except asyncio.TimeoutError:
            return None


class Gate:
    """Lets at most ``limit`` requests into the connection pool at once (an
    ``asyncio.Semaphore``, made anew for each event loop)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def enter(self, timeout: float | None) -> asyncio.Semaphore | None:
        """A permit to ``release()`` when done, or None when ``timeout`` passed first."""
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._loop is not loop:
            self._semaphore, self._loop = asyncio.Semaphore(self._limit), loop
        semaphore = self._semaphore
        if semaphore.locked() and timeout is not None:
            try:
                await asyncio.wait_for(semaphore.acquire(), timeout)
            except asyncio.TimeoutError:
                return None
        else:
            await semaphore.acquire()
        return semaphore
