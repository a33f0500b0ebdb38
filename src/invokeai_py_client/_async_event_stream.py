"""The server's event stream for the async client: the twin of ``_event_stream``."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

from ._event_stream import CONNECT_TIMEOUT, Callback, StreamBase
from .dnn_model.install_events import STREAM_CLOSED, InstallEvent
from .errors import EventStreamError

__all__ = ["AsyncEventStream", "AsyncSubscription"]


def _reconnecting(sio: Any) -> bool:
    task = getattr(sio, "_reconnect_task", None)
    return task is not None and not task.done()


class AsyncSubscription:
    """Events from the moment of subscribing, queued until read (see ``Subscription``)."""

    def __init__(self, stream: AsyncEventStream) -> None:
        self._stream = stream
        self._queue: asyncio.Queue[InstallEvent] = asyncio.Queue()

    @property
    def epoch(self) -> int:
        return self._stream.epoch

    def put(self, event: InstallEvent) -> None:
        self._queue.put_nowait(event)

    async def get(self, timeout: float | None = None) -> InstallEvent | None:
        """The next event, or None after ``timeout`` seconds."""
        if timeout is not None and timeout <= 0:
            return None if self._queue.empty() else self._queue.get_nowait()
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except asyncio.TimeoutError:
            return None

    def __aiter__(self) -> AsyncIterator[InstallEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[InstallEvent]:
        while True:
            event = await self._queue.get()
            if event.name == STREAM_CLOSED:
                return
            yield event

    def close(self) -> None:
        self._stream._unsubscribe(self)

    async def __aenter__(self) -> AsyncSubscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class AsyncEventStream(StreamBase):
    """One socket per client, connected on first use (see ``EventStream``)."""

    client_class = "AsyncClient"

    def __init__(
        self, base_url: str, token: Callable[[], str | None], verify: bool | str, enabled: bool
    ) -> None:
        super().__init__(base_url, token, verify, enabled)
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Future[Any]] = set()

    async def on(self, name: str | None, callback: Callback) -> Callable[[], None]:
        """Call ``callback(event)`` for each event called ``name`` (None: every event),
        on the event loop (a coroutine it returns is scheduled). Connects if needed;
        returns a function that stops it."""
        entry = (name, callback)
        await self.connect()
        self._callbacks.append(entry)
        return lambda: self._callbacks.remove(entry) if entry in self._callbacks else None

    async def subscribe(self) -> AsyncSubscription:
        """A subscription to every event from now on (connects if needed).

        Raises ``EventStreamError`` when there is no stream to be had.
        """
        subscription = AsyncSubscription(self)
        self._subscriptions.append(subscription)
        try:
            await self.connect()
        except EventStreamError:
            self._unsubscribe(subscription)
            raise
        return subscription

    async def __aiter__(self) -> AsyncIterator[InstallEvent]:
        """Every event from now on, forever (``break`` to stop)."""
        async with await self.subscribe() as subscription:
            async for event in subscription:
                yield event

    async def connect(self, timeout: float = CONNECT_TIMEOUT) -> None:
        """Connect now if not connected; ``EventStreamError`` if it cannot."""
        async with self._loop_lock():
            loop = asyncio.get_running_loop()
            if self.is_connected and self._loop is loop:
                return
            self._refuse_now()
            if self._sio is not None and self._loop is not loop:
                self._sio = None  # its loop is gone (asyncio.run again): nothing to await
            if self._sio is not None and _reconnecting(self._sio):
                raise EventStreamError("the event stream is reconnecting")
            sio = self._sio = self._new_socket()
            self._loop = loop
            try:
                # engine.io's own handshake has no overall bound (aiohttp's 300 s)
                await asyncio.wait_for(
                    sio.connect(self._url, **self._connect_args(timeout)), timeout + 1
                )
            except BaseException as err:  # a cancelled wait must not leave it half-open
                failure = self._failed(err)
                if not isinstance(err, Exception):
                    raise
                raise failure from err
            self._failed_at = None

    async def close(self) -> None:
        """Disconnect and stop reconnecting; subscriptions get ``stream_closed``. A later
        use connects again."""
        sio, self._sio = self._sio, None
        if sio is not None and self._loop is asyncio.get_running_loop():
            await sio.shutdown()
        self._wake(STREAM_CLOSED)

    def _loop_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    def _call(self, callback: Callback, event: InstallEvent) -> None:
        result = callback(event)
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
