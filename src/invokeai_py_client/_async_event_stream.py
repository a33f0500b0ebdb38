"""The server's event stream for the async client: the twin of ``_event_stream``."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from ._event_stream import (
    CONNECT_TIMEOUT,
    RETRY_AFTER_FAILURE,
    STREAM_CLOSED,
    STREAM_CONNECTED,
    Callback,
    socketio_target,
)
from .dnn_model.install_events import InstallEvent, parse_event
from .errors import EventStreamError

__all__ = ["AsyncEventStream", "AsyncSubscription"]


def _reconnecting(sio: Any) -> bool:
    task = getattr(sio, "_reconnect_task", None)
    return task is not None and not task.done()


logger = logging.getLogger("invokeai_py_client")


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


class AsyncEventStream:
    """One socket per client, connected on first use (see ``EventStream``)."""

    def __init__(
        self, base_url: str, token: Callable[[], str | None], verify: bool | str, enabled: bool
    ) -> None:
        self._url, self._path = socketio_target(base_url)
        self._token = token
        self._verify = verify is not False
        self._enabled = enabled
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sio: Any = None
        self._failed_at: float | None = None
        self._subscriptions: list[AsyncSubscription] = []
        self._callbacks: list[tuple[str | None, Callback]] = []
        self._tasks: set[asyncio.Future[Any]] = set()
        self.epoch = 0
        self.model_events = True  # False for a non-admin on a multi-user server

    @property
    def is_connected(self) -> bool:
        """Whether the socket is connected now."""
        return bool(self._sio is not None and self._sio.connected)

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
            if self.is_connected and self._loop is asyncio.get_running_loop():
                return
            if not self._enabled:
                raise EventStreamError("events are turned off for this client")
            failed = self._failed_at
            if failed is not None and time.monotonic() - failed < RETRY_AFTER_FAILURE:
                raise EventStreamError("the event stream failed a moment ago")
            if self._sio is not None and self._loop is not asyncio.get_running_loop():
                self._sio = None  # its loop is gone (asyncio.run again): nothing to await
            if self._sio is not None and _reconnecting(self._sio):
                raise EventStreamError("the event stream is reconnecting")
            try:
                import socketio
            except ImportError as err:
                self._enabled = False
                raise EventStreamError("python-socketio is not installed") from err
            sio = self._sio = self._make(socketio)
            self._loop = asyncio.get_running_loop()
            try:
                # engine.io's own handshake has no overall bound (aiohttp's 300 s)
                await asyncio.wait_for(
                    sio.connect(
                        self._url,
                        socketio_path=self._path,
                        transports=["websocket"],
                        auth=self._auth,
                        wait_timeout=timeout,
                    ),
                    timeout + 1,
                )
            except BaseException as err:  # a cancelled wait must not leave it half-open
                self._sio, self._failed_at = None, time.monotonic()
                if not isinstance(err, Exception):
                    raise
                logger.info("event stream unavailable: %s", type(err).__name__)
                raise EventStreamError(f"cannot connect: {type(err).__name__}") from err
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

    def note_sent(self, action: str, job_id: int) -> None:
        """Tell this process's waits that it sent ``action`` for a job (the server says
        nothing when a queued download is cancelled, or on pause): they poll at once.
        Seen by subscribers as ``model_install_<action>_sent``."""
        self._received(f"model_install_{action}_sent", {"id": job_id})

    def _make(self, socketio: Any) -> Any:
        sio = socketio.AsyncClient(
            reconnection=True,
            reconnection_delay=0.2,
            reconnection_delay_max=5,
            ssl_verify=self._verify,
            logger=False,
            engineio_logger=False,
        )
        sio.on("connect", self._connected)
        sio.on("*", self._received)
        return sio

    def _auth(self) -> dict[str, str] | None:
        token = self._token()
        return {"token": token} if token else None

    def _connected(self) -> None:
        self.epoch += 1
        self._wake(STREAM_CONNECTED)

    def _wake(self, name: str) -> None:
        """Tell the subscriptions (not the callbacks) that the stream changed."""
        event = InstallEvent(name=name)
        for subscription in list(self._subscriptions):
            subscription.put(event)

    def _received(self, name: str, data: Any = None) -> None:
        event = parse_event(name, data)
        for subscription in list(self._subscriptions):
            subscription.put(event)
        for wanted, callback in list(self._callbacks):
            if wanted is None or wanted == name:
                try:
                    result = callback(event)
                    if inspect.isawaitable(result):
                        task = asyncio.ensure_future(result)
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)
                except Exception:
                    logger.exception("event callback failed for %s", name)

    def _unsubscribe(self, subscription: AsyncSubscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
