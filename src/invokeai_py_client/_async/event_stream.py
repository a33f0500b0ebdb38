"""The server's event stream (socket.io): lazy, one socket per client, reconnecting.

Needs the ``events`` extra (python-socketio). Only the websocket transport is used:
InvokeAI's long-polling handshake fails when the server compresses answers. In
single-user mode every socket gets the model events; on a multi-user server the
bearer token is sent and only admins get them.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

from .._core.defaults import EVENT_CONNECT_TIMEOUT
from .._core.exchange import logger
from ..dnn_model.install_events import STREAM_CLOSED, STREAM_CONNECTED, InstallEvent, parse_event
from ..errors import EventStreamError
from . import backend

__all__ = ["AsyncEventStream", "AsyncSubscription", "Mark", "socketio_target"]

RETRY_AFTER_FAILURE = 30.0
RECENT_EVENTS = 512  # kept to replay to a subscription made a moment too late
Mark = tuple[int, int]  # (epoch, sequence number of the last event received)
Callback = Callable[[InstallEvent], Any]


def socketio_target(base_url: str) -> tuple[str, str]:
    """The URL to connect to and the socket.io path (a reverse-proxy prefix kept)."""
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/") + "/ws/socket.io"


class AsyncSubscription:
    """Events from the moment of subscribing, queued until read; ``epoch`` counts
    (re)connects, so a reader knows when to poll for what it may have missed."""

    def __init__(self, stream: AsyncEventStream, on_close: Callable[[], None]) -> None:
        self._stream = stream
        self._on_close = on_close
        self._queue: backend.EventQueue[InstallEvent] = backend.EventQueue()
        self.replayed = False  # got every event since the mark it was made with

    @property
    def epoch(self) -> int:
        """How often the stream has (re)connected; a change means events may be lost."""
        return self._stream.epoch

    def put(self, event: InstallEvent) -> None:
        """Queue an event for the reader (the stream calls this)."""
        self._queue.put(event)

    async def get(self, timeout: float | None = None) -> InstallEvent | None:
        """The next event, or None after ``timeout`` seconds."""
        return await self._queue.get(timeout)

    async def __aiter__(self) -> AsyncIterator[InstallEvent]:
        """The events as they come, until the stream is closed."""
        while True:
            event = await self.get()
            if event is not None and event.name == STREAM_CLOSED:
                return
            if event is not None:
                yield event

    def close(self) -> None:
        """Stop receiving events."""
        self._on_close()

    async def __aenter__(self) -> AsyncSubscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class AsyncEventStream:
    """One socket per client, connected on first use; events go to every subscription
    and callback. Get it as ``client.events``."""

    def __init__(
        self, base_url: str, token: Callable[[], str | None], verify: bool | str, enabled: bool
    ) -> None:
        self._url, self._path = socketio_target(base_url)
        self._token = token
        self._verify = verify is not False
        self._enabled = enabled
        self._sio: Any = None
        self._loop: Any = None
        self._lock = backend.Lock()
        self._failed_at: float | None = None
        self._subscriptions: list[AsyncSubscription] = []
        self._callbacks: list[tuple[str | None, Callback]] = []
        self._recent: deque[tuple[int, InstallEvent]] = deque(maxlen=RECENT_EVENTS)
        self._sequence = 0
        self._dispatch = threading.Lock()  # events are kept and handed out under it
        self.epoch = 0
        self.model_events = True  # False for a non-admin on a multi-user server

    @property
    def is_connected(self) -> bool:
        """Whether the socket is connected now."""
        return bool(self._sio is not None and self._sio.connected)

    async def on(self, name: str | None, callback: Callback) -> Callable[[], None]:
        """Call ``callback(event)`` for each event called ``name`` (None: every event).

        Connects if needed; returns a function that stops it. Callbacks run on
        python-socketio's threads (sync) or on the event loop, where a coroutine a
        callback returns is scheduled (async).
        """
        entry = (name, callback)
        await self.connect()
        self._callbacks.append(entry)
        return lambda: self._callbacks.remove(entry) if entry in self._callbacks else None

    def mark(self) -> Mark | None:
        """Where the stream is now, or None when it is not connected; ``subscribe``
        with it gets the events received since."""
        with self._dispatch:
            return (self.epoch, self._sequence) if self.is_connected else None

    async def subscribe(self, since: Mark | None = None) -> AsyncSubscription:
        """A subscription to every event from now on (connects if needed); with
        ``since`` (a ``mark()``), from then on when the stream still has them all
        (the subscription's ``replayed`` then says so).

        Raises ``EventStreamError`` when there is no stream to be had.
        """
        subscription = AsyncSubscription(self, lambda: self._unsubscribe(subscription))
        self._register(subscription, since)
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

    async def connect(self, timeout: float = EVENT_CONNECT_TIMEOUT) -> None:
        """Connect now if not connected; ``EventStreamError`` if it cannot."""
        async with self._lock:
            if self.is_connected and backend.is_current_loop(self._loop):
                return
            self._refuse_now()
            if self._sio is not None and not backend.is_current_loop(self._loop):
                self._sio = None  # its loop is gone (asyncio.run again): nothing to await
            if self._sio is not None and backend.is_reconnecting(self._sio):
                raise EventStreamError("the event stream is reconnecting")
            sio = self._sio = self._new_socket()  # one that stopped reconnecting is done for
            self._loop = backend.current_loop()
            try:
                # engine.io's own handshake has no overall bound (aiohttp's is 300 s)
                await backend.within(
                    sio.connect(self._url, **self._connect_args(timeout)), timeout + 1
                )
            except BaseException as err:  # a cancelled wait must not leave it half-open
                failure = self._failed(err)
                await backend.release_socket(sio)
                if not isinstance(err, Exception):
                    raise
                raise failure from err
            self._failed_at = None

    async def close(self) -> None:
        """Disconnect and stop reconnecting; subscriptions get ``stream_closed``. A later
        use connects again."""
        async with self._lock:
            sio, self._sio = self._sio, None
        if sio is not None and backend.is_current_loop(self._loop):
            await sio.shutdown()  # also stops a reconnect under way
            await backend.release_socket(sio)
        self._wake(STREAM_CLOSED)

    def note_sent(self, action: str, job_id: int) -> None:
        """Tell this process's waits that it sent ``action`` for a job (the server says
        nothing when a queued download is cancelled, or on pause): they poll at once.
        Seen by subscribers as ``model_install_<action>_sent``."""
        self._received(f"model_install_{action}_sent", {"id": job_id})

    def _refuse_now(self) -> None:
        """Raise ``EventStreamError`` when no connect should be tried now."""
        if not self._enabled:
            raise EventStreamError("events are turned off for this client")
        failed = self._failed_at
        if failed is not None and time.monotonic() - failed < RETRY_AFTER_FAILURE:
            raise EventStreamError("the event stream failed a moment ago")

    def _new_socket(self) -> Any:
        try:
            import socketio
        except ImportError as err:
            self._enabled = False
            raise EventStreamError("python-socketio is not installed") from err
        sio = getattr(socketio, backend.SOCKETIO_CLIENT)(
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

    def _connect_args(self, timeout: float) -> dict[str, Any]:
        return {
            "socketio_path": self._path,
            "transports": ["websocket"],
            "auth": self._auth,
            "wait_timeout": timeout,
        }

    def _failed(self, err: BaseException) -> EventStreamError:
        self._sio, self._failed_at = None, time.monotonic()
        logger.info("event stream unavailable: %s", type(err).__name__)
        return EventStreamError(f"cannot connect: {type(err).__name__}")

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

    def _register(self, subscription: AsyncSubscription, since: Mark | None) -> None:
        """Add ``subscription``, first giving it the events received after ``since``
        when none of them is lost (no reconnect since, none dropped from the buffer)."""
        with self._dispatch:
            self._subscriptions.append(subscription)
            if since is None or since[0] != self.epoch or not self.is_connected:
                return
            oldest = self._recent[0][0] if self._recent else self._sequence + 1
            if oldest > since[1] + 1:
                return
            for sequence, event in self._recent:
                if sequence > since[1]:
                    subscription.put(event)
            subscription.replayed = True

    def _received(self, name: str, data: Any = None) -> None:
        event = parse_event(name, data)
        with self._dispatch:
            self._sequence += 1
            self._recent.append((self._sequence, event))
            for subscription in list(self._subscriptions):
                subscription.put(event)
        for wanted, callback in list(self._callbacks):
            if wanted is None or wanted == name:
                try:
                    backend.call_back(callback, event)
                except Exception:
                    logger.exception("event callback failed for %s", name)

    def _unsubscribe(self, subscription: AsyncSubscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
