"""The async client, repository, handle and event stream mirror the sync ones: names,
parameters, kinds and docs (the sync ones are generated from the async source)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from invokeai_py_client import (
    AsyncDnnModelRepository,
    AsyncInvokeAIClient,
    AsyncModelInstJobHandle,
    DnnModelRepository,
    InvokeAIClient,
    ModelInstJobHandle,
)
from invokeai_py_client._async.event_stream import AsyncEventStream, AsyncSubscription
from invokeai_py_client._sync.event_stream import EventStream, Subscription

PAIRS = [
    (DnnModelRepository, AsyncDnnModelRepository),
    (ModelInstJobHandle, AsyncModelInstJobHandle),
    (InvokeAIClient, AsyncInvokeAIClient),
    (EventStream, AsyncEventStream),
    (Subscription, AsyncSubscription),
]
SYNC_ONLY = {"__enter__", "__exit__", "__iter__"}
ASYNC_ONLY = {"__aenter__", "__aexit__", "__aiter__"}
NOT_IO = {"__repr__", "__init__", "with_options", "observe", "note_sent", "put", "mark"}
NOT_IO_OF: dict[type, set[str]] = {Subscription: {"close"}}


def _public(cls: type) -> dict[str, Any]:
    return {
        name: inspect.getattr_static(cls, name)
        for name in dir(cls)
        if not name.startswith("_") or name in {"_make_request", "_make_request_v2"}
    }


def _signature(func: Any) -> list[tuple[str, Any, Any]]:
    params = inspect.signature(func).parameters.values()
    return [(p.name, p.kind, p.default) for p in params]


def _doc_of(text: str | None) -> str:
    return (text or "").replace("Async", "").replace("await ", "")


@pytest.mark.parametrize(("sync", "async_"), PAIRS, ids=lambda c: c.__name__)
def test_same_public_names(sync: type, async_: type) -> None:
    assert set(_public(sync)) - SYNC_ONLY == set(_public(async_)) - ASYNC_ONLY


@pytest.mark.parametrize(("sync", "async_"), PAIRS, ids=lambda c: c.__name__)
def test_same_parameters_and_kinds(sync: type, async_: type) -> None:
    for name, member in _public(sync).items():
        twin = inspect.getattr_static(async_, name)
        if isinstance(member, property):
            assert isinstance(twin, property), name
            continue
        if isinstance(member, classmethod):
            assert isinstance(twin, classmethod), name
            assert _signature(getattr(sync, name)) == _signature(getattr(async_, name)), name
            continue
        func, twin_func = member, twin
        if not callable(func) or name in SYNC_ONLY:
            continue
        assert _signature(func) == _signature(twin_func), name
        sync_io = name not in NOT_IO | NOT_IO_OF.get(sync, set())
        if sync_io and not inspect.iscoroutinefunction(func):
            is_async = inspect.iscoroutinefunction(twin_func) or inspect.isasyncgenfunction(
                twin_func
            )
            assert is_async, f"{async_.__name__}.{name} must be async"
            if inspect.isgeneratorfunction(func):
                assert inspect.isasyncgenfunction(twin_func), name


@pytest.mark.parametrize(("sync", "async_"), PAIRS, ids=lambda c: c.__name__)
def test_same_docs(sync: type, async_: type) -> None:
    for name, member in _public(sync).items():
        if name.startswith("__"):
            continue
        twin = inspect.getattr_static(async_, name)
        doc = (
            getattr(member, "__doc__", None)
            if not isinstance(member, property)
            else member.fget.__doc__
        )
        twin_doc = (
            getattr(twin, "__doc__", None) if not isinstance(twin, property) else twin.fget.__doc__
        )
        assert doc, f"{sync.__name__}.{name} has no docstring"
        assert _doc_of(doc) == _doc_of(twin_doc), name


def test_async_repo_returns_async_handles() -> None:
    hints = inspect.get_annotations(AsyncDnnModelRepository.install_model)
    assert "AsyncModelInstJobHandle" in str(hints["return"])
    hints = inspect.get_annotations(DnnModelRepository.install_model)
    assert "AsyncModelInstJobHandle" not in str(hints["return"])
