"""A synchronous facade over ``AsyncInvokeAIClient``, so that the integration tests
run unchanged against the async client.

The async client lives on an asyncio event loop in a dedicated background thread;
every coroutine is run there with ``asyncio.run_coroutine_threadsafe(...).result()``.
Results and exceptions come back unchanged (the same objects), except that an
``AsyncModelInstJobHandle`` (or a list of them) is wrapped in ``AsyncHandleFacade``,
whose coroutine methods run the same way. Async generators (``as_completed``, iterating
``events``) become sync generators stepped on the loop; ``events`` and its
subscriptions are wrapped too.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from types import TracebackType
from typing import Any, TypeVar

import httpx

from invokeai_py_client._async.event_stream import AsyncEventStream, AsyncSubscription
from invokeai_py_client.async_client import AsyncInvokeAIClient
from invokeai_py_client.dnn_model.async_install_job import AsyncModelInstJobHandle
from invokeai_py_client.dnn_model.dnn_model_models import ModelInstJobInfo

__all__ = [
    "AsyncClientFacade",
    "AsyncEventsFacade",
    "AsyncHandleFacade",
    "AsyncRepoFacade",
    "LoopThread",
]

T = TypeVar("T")
ResponseHook = Callable[[httpx.Response], None]


class LoopThread:
    """An asyncio event loop running forever in a daemon thread."""

    def __init__(self, name: str = "async-facade-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and return its result (or raise its exception)."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("LoopThread.run called from its own loop thread")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        # as asyncio.run does: async generators left open are closed on the loop
        asyncio.run_coroutine_threadsafe(self.loop.shutdown_asyncgens(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self.loop.close()


def _wrap(result: Any, runner: LoopThread) -> Any:
    """Wrap async job handles (alone or in a list) in sync facades; pass the rest."""
    if isinstance(result, AsyncModelInstJobHandle):
        return AsyncHandleFacade(result, runner)
    if isinstance(result, AsyncSubscription):
        return AsyncSubscriptionFacade(result, runner)
    if (
        isinstance(result, list)
        and result
        and all(isinstance(item, AsyncModelInstJobHandle) for item in result)
    ):
        return [AsyncHandleFacade(item, runner) for item in result]
    return result


def _unwrap(jobs: Any) -> Any:
    """Handle facades (alone or in an iterable) back to the async handles they wrap."""
    if isinstance(jobs, AsyncHandleFacade):
        return jobs.async_handle
    if isinstance(jobs, Iterable) and not isinstance(jobs, (str, bytes)):
        return [job.async_handle if isinstance(job, AsyncHandleFacade) else job for job in jobs]
    return jobs


def _sync_iter(agen: AsyncIterator[Any], runner: LoopThread) -> Iterator[Any]:
    """Step an async iterator on the loop; closed (``aclose``) when the sync one is."""

    async def step() -> tuple[bool, Any]:
        try:
            return False, await agen.__anext__()
        except StopAsyncIteration:
            return True, None

    try:
        while True:
            done, item = runner.run(step())
            if done:
                return
            yield _wrap(item, runner)
    finally:
        aclose = getattr(agen, "aclose", None)
        if aclose is not None and not runner.loop.is_closed():
            runner.run(aclose())


def _sync_method(method: Callable[..., Any], runner: LoopThread) -> Callable[..., Any]:
    """A function that calls the coroutine function ``method`` and runs it on the loop."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return _wrap(runner.run(method(*args, **kwargs)), runner)

    call.__name__ = getattr(method, "__name__", "call")
    call.__doc__ = getattr(method, "__doc__", None)
    return call


class _CoroutineProxy:
    """Attribute access returns sync functions for the target's coroutine methods."""

    _target: Any
    _runner: LoopThread

    def __getattr__(self, name: str) -> Any:
        if name in ("_target", "_runner"):  # not set yet (copy, pickle)
            raise AttributeError(name)
        attr = getattr(self._target, name)
        if inspect.iscoroutinefunction(attr):
            return _sync_method(attr, self._runner)
        return attr

    def __repr__(self) -> str:
        return repr(self._target)


class AsyncRepoFacade(_CoroutineProxy):
    """``AsyncDnnModelRepository`` seen as a ``DnnModelRepository``."""

    def __init__(self, repo: Any, runner: LoopThread) -> None:
        self._target = repo
        self._runner = runner

    def wait_all(self, jobs: Any, **kwargs: Any) -> list[ModelInstJobInfo]:
        return self._runner.run(self._target.wait_all(_unwrap(jobs), **kwargs))

    def as_completed(self, jobs: Any, **kwargs: Any) -> Iterator[Any]:
        """A sync generator over the async one (built on first ``next``, as the sync's)."""
        return _sync_iter(self._target.as_completed(_unwrap(jobs), **kwargs), self._runner)


class AsyncSubscriptionFacade(_CoroutineProxy):
    """``AsyncSubscription`` seen as a ``Subscription`` (``get``, iteration, ``close``)."""

    def __init__(self, subscription: AsyncSubscription, runner: LoopThread) -> None:
        self._target = subscription
        self._runner = runner

    def __iter__(self) -> Iterator[Any]:
        return _sync_iter(self._target.__aiter__(), self._runner)

    def __enter__(self) -> AsyncSubscriptionFacade:
        return self

    def __exit__(self, *exc: object) -> None:
        self._target.close()


class AsyncEventsFacade(_CoroutineProxy):
    """``AsyncEventStream`` seen as an ``EventStream`` (``is_connected``, ``subscribe``,
    ``on``, ``connect``, ``close``, iteration)."""

    def __init__(self, stream: AsyncEventStream, runner: LoopThread) -> None:
        self._target = stream
        self._runner = runner

    @property
    def is_connected(self) -> bool:
        return bool(self._target.is_connected)

    @property
    def epoch(self) -> int:
        return int(self._target.epoch)

    def __iter__(self) -> Iterator[Any]:
        return _sync_iter(self._target.__aiter__(), self._runner)


class AsyncHandleFacade(_CoroutineProxy):
    """``AsyncModelInstJobHandle`` seen as a ``ModelInstJobHandle``."""

    def __init__(self, handle: AsyncModelInstJobHandle, runner: LoopThread) -> None:
        self._target = handle
        self._runner = runner

    @property
    def id(self) -> int:
        return self._target.id  # type: ignore[no-any-return]

    @property
    def info(self) -> ModelInstJobInfo:
        return self._target.info  # type: ignore[no-any-return]

    @property
    def async_handle(self) -> AsyncModelInstJobHandle:
        return self._target  # type: ignore[no-any-return]


class AsyncClientFacade:
    """``AsyncInvokeAIClient`` seen as an ``InvokeAIClient`` (the parts the tests use).

    ``response_hook``: a sync function called with every ``httpx.Response`` (the
    facade builds its own ``httpx.AsyncClient`` for it).
    """

    def __init__(
        self,
        base_url: str,
        *,
        response_hook: ResponseHook | None = None,
        **kwargs: Any,
    ) -> None:
        self._runner = LoopThread()
        try:
            self._client = self._runner.run(self._create(base_url, response_hook, kwargs))
        except BaseException:
            self._runner.stop()
            raise
        self.dnn_model_repo = AsyncRepoFacade(self._client.dnn_model_repo, self._runner)

    @staticmethod
    async def _create(
        base_url: str, response_hook: ResponseHook | None, kwargs: dict[str, Any]
    ) -> AsyncInvokeAIClient:
        # built on the loop thread, so that httpx binds to that loop
        if response_hook is not None:
            hook = response_hook

            async def on_response(response: httpx.Response) -> None:
                hook(response)

            kwargs["http_client"] = httpx.AsyncClient(
                timeout=kwargs.pop("timeout", 30), event_hooks={"response": [on_response]}
            )
        return AsyncInvokeAIClient(base_url, **kwargs)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> AsyncClientFacade:
        return cls(url, **kwargs)

    @property
    def async_client(self) -> AsyncInvokeAIClient:
        return self._client

    @property
    def base_url(self) -> str:
        return self._client.base_url

    @property
    def events(self) -> AsyncEventsFacade:
        return AsyncEventsFacade(self._client.events, self._runner)

    @property
    def token(self) -> str | None:
        return self._client.token

    @token.setter
    def token(self, value: str | None) -> None:
        self._client.token = value

    def server_version(self) -> str:
        return self._runner.run(self._client.server_version())

    def is_multiuser(self) -> bool:
        return self._runner.run(self._client.is_multiuser())

    def login(self, email: str, password: str, *, remember_me: bool = False) -> dict[str, Any]:
        return self._runner.run(self._client.login(email, password, remember_me=remember_me))

    def _make_request(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        return self._runner.run(self._client._make_request(method, endpoint, **kwargs))

    def _make_request_v2(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        return self._runner.run(self._client._make_request_v2(method, endpoint, **kwargs))

    def close(self) -> None:
        if self._runner.loop.is_closed():
            return
        try:
            self._runner.run(self._client.close())
        finally:
            self._runner.stop()

    def __enter__(self) -> AsyncClientFacade:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return repr(self._client)

    def __str__(self) -> str:
        return str(self._client)
