"""The server's event stream (socket.io) for the sync client: lazy, shared, reconnecting.

Needs the ``events`` extra (python-socketio with websocket-client). Only the
websocket transport is used: InvokeAI's long-polling handshake fails when the server
compresses answers. In single-user mode every socket gets the model events; on a
multi-user server the bearer token is sent and only admins get them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from .dnn_model.install_events import STREAM_CLOSED, STREAM_CONNECTED, InstallEvent, parse_event
from .errors import EventStreamError

__all__ = [
    "STREAM_CLOSED",
    "STREAM_CONNECTED",
    "EventStream",
    "Subscription",
    "socketio_target",
]

logger = logging.getLogger("invokeai_py_client")

CONNECT_TIMEOUT = 5.0
RETRY_AFTER_FAILURE = 30.0
Callback = Callable[[InstallEvent], Any]


def _reconnecting(sio: Any) -> bool:
    task = getattr(sio, "_reconnect_task", None)
    return task is not None and task.is_alive()


def socketio_target(base_url: str) -> tuple[str, str]:
    """The URL to connect to and the socket.io path (a reverse-proxy prefix kept)."""
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/") + "/ws/socket.io"


class Subscription:
    """Events from the moment of subscribing, queued until read; ``epoch`` counts
    (re)connects, so a reader knows when to poll for what it may have missed."""

    def __init__(self, stream: EventStream) -> None:
        self._stream = stream
        self._queue: queue.SimpleQueue[InstallEvent] = queue.SimpleQueue()

    @property
    def epoch(self) -> int:
        return self._stream.epoch

    def put(self, event: InstallEvent) -> None:
        self._queue.put(event)

    def get(self, timeout: float | None = None) -> InstallEvent | None:
        """The next event, or None after ``timeout`` seconds."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def __iter__(self) -> Iterator[InstallEvent]:
        """The events as they come, until the stream is closed."""
        while True:
            event = self.get()
            if event is not None and event.name == STREAM_CLOSED:
                return
            if event is not None:
                yield event

    def close(self) -> None:
        self._stream._unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StreamBase:
    """What the sync and the async stream share: settings, dispatch, bookkeeping."""

    client_class = "Client"  # python-socketio's class for this stream

    def __init__(
        self, base_url: str, token: Callable[[], str | None], verify: bool | str, enabled: bool
    ) -> None:
        self._url, self._path = socketio_target(base_url)
        self._token = token
        self._verify = verify is not False
        self._enabled = enabled
        self._sio: Any = None
        self._failed_at: float | None = None
        self._subscriptions: list[Any] = []
        self._callbacks: list[tuple[str | None, Callback]] = []
        self.epoch = 0
        self.model_events = True  # False for a non-admin on a multi-user server

    @property
    def is_connected(self) -> bool:
        """Whether the socket is connected now."""
        return bool(self._sio is not None and self._sio.connected)

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
        sio = getattr(socketio, self.client_class)(
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

    def _received(self, name: str, data: Any = None) -> None:
        event = parse_event(name, data)
        for subscription in list(self._subscriptions):
            subscription.put(event)
        for wanted, callback in list(self._callbacks):
            if wanted is None or wanted == name:
                try:
                    self._call(callback, event)
                except Exception:
                    logger.exception("event callback failed for %s", name)

    def _call(self, callback: Callback, event: InstallEvent) -> None:
        callback(event)

    def _unsubscribe(self, subscription: Any) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)


class EventStream(StreamBase):
    """One socket per client, connected on first use; events go to every subscription
    and callback. Get it as ``client.events``.
    """

    def __init__(
        self, base_url: str, token: Callable[[], str | None], verify: bool | str, enabled: bool
    ) -> None:
        super().__init__(base_url, token, verify, enabled)
        self._lock = threading.Lock()

    def on(self, name: str | None, callback: Callback) -> Callable[[], None]:
        """Call ``callback(event)`` for each event called ``name`` (None: every event).

        Callbacks run on python-socketio's threads, possibly several at once. Connects
        if needed; returns a function that stops it.
        """
        entry = (name, callback)
        self.connect()
        self._callbacks.append(entry)
        return lambda: self._callbacks.remove(entry) if entry in self._callbacks else None

    def subscribe(self) -> Subscription:
        """A subscription to every event from now on (connects if needed).

        Raises ``EventStreamError`` when there is no stream to be had.
        """
        subscription = Subscription(self)
        self._subscriptions.append(subscription)
        try:
            self.connect()
        except EventStreamError:
            self._unsubscribe(subscription)
            raise
        return subscription

    def __iter__(self) -> Iterator[InstallEvent]:
        """Every event from now on, forever (``break`` to stop)."""
        with self.subscribe() as subscription:
            yield from subscription

    def connect(self, timeout: float = CONNECT_TIMEOUT) -> None:
        """Connect now if not connected; ``EventStreamError`` if it cannot."""
        with self._lock:
            if self.is_connected:
                return
            self._refuse_now()
            if self._sio is not None and _reconnecting(self._sio):
                raise EventStreamError("the event stream is reconnecting")
            self._sio = self._new_socket()  # one that stopped reconnecting is done for
            try:
                self._sio.connect(self._url, **self._connect_args(timeout))
            except Exception as err:  # socketio raises its own and the socket library's
                raise self._failed(err) from err
            self._failed_at = None

    def close(self) -> None:
        """Disconnect and stop reconnecting; subscriptions get ``stream_closed``. A later
        use connects again."""
        with self._lock:
            sio, self._sio = self._sio, None
        if sio is not None:
            sio.shutdown()
        self._wake(STREAM_CLOSED)
