"""Entry points, options, errors where users look, tolerant lists, secrets, the pool."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx

import invokeai_py_client
from invokeai_py_client import AsyncInvokeAIClient, InvokeAIClient
from invokeai_py_client._core.session import Pool
from invokeai_py_client.dnn_model import (
    BaseDnnModelType,
    DnnModel,
    InstallJobStatus,
    ModelInstJobInfo,
)
from invokeai_py_client.errors import (
    ConflictError,
    FailedDependencyError,
    InstallStartError,
    InvalidArgumentError,
    ResponseShapeWarning,
    UnsupportedMediaTypeError,
)
from tests.unit.conftest import BASE_URL, V2, body, load_fixture, replay, response_from

SECRET = "tok-SECRET-9a8b7c"


# -- entry ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [InvokeAIClient, AsyncInvokeAIClient])
def test_reads_url_and_token_from_the_environment(
    cls: type[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INVOKEAI_URL", "http://env-host:1234/api/v1")
    monkeypatch.setenv("INVOKEAI_TOKEN", SECRET)
    client = cls()
    assert client.base_url == "http://env-host:1234"
    assert client.token == SECRET
    assert SECRET not in repr(client) and "token=***" in repr(client)
    explicit = cls("http://other:1", token="t2")
    assert (explicit.base_url, explicit.token) == ("http://other:1", "t2")
    monkeypatch.delenv("INVOKEAI_URL")
    monkeypatch.delenv("INVOKEAI_TOKEN")
    default = cls()
    assert (default.base_url, default.token) == ("http://127.0.0.1:9090", None)


@pytest.mark.parametrize("client_class", [InvokeAIClient, AsyncInvokeAIClient])
@pytest.mark.parametrize("token", ["a b", "tok\nen", "\x00", "k" * 4097, 5], ids=repr)
def test_a_token_that_cannot_be_a_header_is_refused(client_class: Any, token: Any) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        client_class(BASE_URL, token=token)
    assert str(token) not in str(caught.value)


def test_with_options_shares_pool_and_token_not_settings() -> None:
    client = InvokeAIClient(BASE_URL, timeout=5, max_retries=1)
    slow = client.with_options(timeout=600)
    assert (slow.timeout, slow.max_retries) == (600, 1)
    assert (client.timeout, client.max_retries) == (5, 1)
    assert client.with_options(max_retries=0).max_retries == 0
    assert slow._transport.session is client._transport.session
    slow.token = "new"
    assert client.token == "new"
    assert slow.dnn_model_repo is not client.dnn_model_repo


@respx.mock(base_url=BASE_URL)
def test_with_options_timeout_is_used(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(f"{V2}/").respond(json={"models": []})
    client = InvokeAIClient(BASE_URL, timeout=5)
    client.with_options(timeout=42).dnn_model_repo.list_models()
    timeout = route.calls.last.request.extensions["timeout"]
    assert 41 < timeout["read"] <= 42
    client.dnn_model_repo.list_models()
    assert route.calls.last.request.extensions["timeout"]["read"] <= 5
    client.with_options(timeout=None).dnn_model_repo.list_models()
    assert set(route.calls.last.request.extensions["timeout"].values()) == {None}


def test_repository_repr_names_its_server() -> None:
    client = InvokeAIClient("http://h:9090", token=SECRET)
    text = repr(client.dnn_model_repo)
    assert "DnnModelRepository" in text and "http://h:9090" in text
    assert SECRET not in text
    assert "AsyncDnnModelRepository" in repr(AsyncInvokeAIClient("http://h:9090").dnn_model_repo)


def test_errors_import_from_the_package() -> None:
    from invokeai_py_client import APIError, InvokeAIError, NotFoundError  # noqa: F401

    for name in invokeai_py_client.errors.__all__:
        assert getattr(invokeai_py_client, name) is getattr(invokeai_py_client.errors, name)
    assert set(invokeai_py_client.errors.__all__) <= set(invokeai_py_client.__all__)


@pytest.mark.parametrize(
    ("fixture", "status_class"),
    [
        ("install_409_nonexistent_path", ConflictError),
        (None, UnsupportedMediaTypeError),
        (None, FailedDependencyError),
    ],
)
def test_install_start_error_is_also_its_status_class(
    router: respx.MockRouter, fixture: str | None, status_class: type[Exception]
) -> None:
    status = {ConflictError: 409, UnsupportedMediaTypeError: 415, FailedDependencyError: 424}
    code = status[status_class]  # type: ignore[index]
    if fixture:
        replay(router, fixture, query=False)
    else:
        router.post(f"{V2}/install").respond(code, json={"detail": "nope"})
    with InvokeAIClient(BASE_URL) as client, pytest.raises(InstallStartError) as caught:
        client.dnn_model_repo.install_model("/no/such/file.safetensors")
    assert isinstance(caught.value, status_class)
    assert caught.value.status_code == code


# -- progress ------------------------------------------------------------------------


def test_progress_is_not_one_while_running() -> None:
    running = ModelInstJobInfo.model_validate(body("install_job_running"))
    assert running.status == InstallJobStatus.RUNNING
    assert running.bytes == running.total_bytes > 0
    assert running.progress is not None and running.progress < 1.0
    done = ModelInstJobInfo.model_validate(body("install_job_completed_inplace"))
    assert done.progress == 1.0


# -- one bad record does not sink a list -----------------------------------------------


def _models_with_one_bad(count: int) -> tuple[list[dict[str, Any]], str]:
    good = load_fixture("models_list")["body"]["models"][0]
    models = [{**good, "key": f"k{i}"} for i in range(count)]
    models[7] = {**models[7], "base": {"unexpected": "object"}, "brand_new": 1}
    return models, "k7"


def test_one_malformed_record_among_many_keeps_all(router: respx.MockRouter) -> None:
    models, odd = _models_with_one_bad(1009)
    router.get(f"{V2}/").respond(json={"models": models})
    with InvokeAIClient(BASE_URL) as client, warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        listed = client.dnn_model_repo.list_models()
    assert len(listed) == 1009
    assert all(isinstance(m, DnnModel) for m in listed)
    assert [m.key for m in listed] == [m["key"] for m in models]
    kept = listed[7]
    assert kept.base == BaseDnnModelType.UNKNOWN
    assert kept.extra["base"] == {"unexpected": "object"}
    assert kept.extra["brand_new"] == 1
    assert (kept.key, kept.name, kept.type) == (
        models[7]["key"],
        models[7]["name"],
        models[7]["type"],
    )
    shape = [w for w in seen if issubclass(w.category, ResponseShapeWarning)]
    assert len(shape) == 1
    assert odd in str(shape[0].message) and "'base'" in str(shape[0].message)


def test_one_malformed_job_keeps_the_rest_and_no_token(router: respx.MockRouter) -> None:
    good = body("install_job_running")
    bad = {
        **good,
        "id": 3,
        "bytes": "many",
        "source": {"url": "http://h/x", "access_token": SECRET},
    }
    router.get(f"{V2}/install").respond(json=[good, bad])
    client = InvokeAIClient(BASE_URL)
    with pytest.warns(ResponseShapeWarning, match="'bytes'"):
        handles = client.dnn_model_repo.list_install_jobs()
    assert [h.id for h in handles] == [good["id"], 3]
    kept = handles[1].info
    assert SECRET not in repr(kept.__dict__) + repr(kept.extra)
    assert kept.bytes == 0 and kept.extra["bytes"] == "many"
    assert kept.status == InstallJobStatus.RUNNING and not kept.is_terminal
    assert kept.progress == 0.0 and kept.source == "http://h/x"
    router.get(f"{V2}/install/3").respond(json={**bad, "bytes": 10})
    assert handles[1].refresh().bytes == 10


# -- secrets -------------------------------------------------------------------------


def test_echoed_secrets_are_masked_in_errors(
    router: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    echo = f"POST /api/v2/models/install?source=x&access_token={SECRET} failed: {SECRET}"
    router.post(f"{V2}/install").respond(500, text=echo)
    caplog.set_level(logging.DEBUG)
    with (
        InvokeAIClient(BASE_URL) as client,
        pytest.raises(invokeai_py_client.ServerError) as caught,
    ):
        client.dnn_model_repo.install_model("http://h/x.safetensors", access_token=SECRET)
    err = caught.value
    for text in (str(err), repr(err), str(err.detail), str(err.body), caplog.text):
        assert SECRET not in text
    assert "***" in str(err)


def test_bearer_token_echoed_in_json_detail_is_masked(router: respx.MockRouter) -> None:
    router.get(f"{V2}/i/k").respond(400, json={"detail": [f"bad token {SECRET}"], "t": SECRET})
    with (
        InvokeAIClient(BASE_URL, token=SECRET) as client,
        pytest.raises(invokeai_py_client.BadRequestError) as caught,
    ):
        client.dnn_model_repo.get_model_by_key("k")
    assert SECRET not in f"{caught.value} {caught.value.detail} {caught.value.body}"


# -- the pool ------------------------------------------------------------------------


def test_pool_close_waits_for_requests_in_flight() -> None:
    pool: Pool[object] = Pool(object(), user_given=False)
    pool.acquire()
    pool.acquire()
    assert pool.close() is False, "in use: closed when its last request ends"
    with pytest.raises(RuntimeError):
        pool.acquire()
    assert pool.release() is False
    assert pool.release() is True
    idle: Pool[object] = Pool(object(), user_given=True)
    assert idle.close() is True and idle.close() is False


class _Stream:
    """httpcore's network stream, as far as the transport looks at it."""

    def __init__(self) -> None:
        self.closed = 0
        self.closed_when_released: int | None = None

    def get_extra_info(self, info: str) -> Any:
        return self if info == "socket" else None

    def shutdown(self, how: int) -> None:
        self.closed += 1


class _Body(httpx.SyncByteStream, httpx.AsyncByteStream):
    """An answer's body; closing it is where httpcore gives the connection back to the pool."""

    def __init__(self, content: bytes, network: _Stream) -> None:
        self.content = content
        self.network = network

    def __iter__(self) -> Iterator[bytes]:
        yield self.content

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.content

    def close(self) -> None:
        self.network.closed_when_released = self.network.closed

    async def aclose(self) -> None:
        self.close()


@pytest.mark.parametrize("status", [500, 502, 200, 404])
def test_only_the_connection_of_a_5xx_is_dropped(status: int) -> None:
    """After a plain-text 500 the server drops the connection without saying so: that
    connection (and no other, and not the pool) is shut down before the pool gets it
    back, where another thread could take it at once. (These answers have no
    Content-Length; with one, see test_stub_servers: httpcore closes the connection.)"""
    streams: list[_Stream] = []

    def answer(request: httpx.Request) -> httpx.Response:
        streams.append(_Stream())
        body: dict[str, object] = {"models": []} if status == 200 else {"detail": "x"}
        return httpx.Response(
            status,
            headers={"content-type": "application/json"},
            stream=_Body(json.dumps(body).encode(), streams[-1]),
            extensions={"network_stream": streams[-1]},
        )

    expected = [(1, 1) if status >= 500 else (0, 0)]
    http = httpx.Client(transport=httpx.MockTransport(answer))
    with InvokeAIClient(BASE_URL, http_client=http, max_retries=0) as client:
        for _ in range(2):
            with contextlib.suppress(invokeai_py_client.APIError):
                client.dnn_model_repo.list_models()
        assert client._transport.session.pool.client is http and not http.is_closed
    assert [(s.closed_when_released, s.closed) for s in streams] == expected * 2

    async def run() -> None:
        ahttp = httpx.AsyncClient(transport=httpx.MockTransport(answer))
        async with AsyncInvokeAIClient(BASE_URL, http_client=ahttp, max_retries=0) as aclient:
            with contextlib.suppress(invokeai_py_client.APIError):
                await aclient.dnn_model_repo.list_models()

    streams.clear()
    asyncio.run(run())
    assert [(s.closed_when_released, s.closed) for s in streams] == expected


def test_idle_connections_end_before_the_servers_keep_alive() -> None:
    """uvicorn closes a connection idle for 5 s; reusing one near that mark loses the
    request on it, so our pools give idle connections up sooner."""

    def keepalive_expiry(http: httpx.Client | httpx.AsyncClient) -> float | None:
        transport = http._transport
        assert isinstance(transport, (httpx.HTTPTransport, httpx.AsyncHTTPTransport))
        return transport._pool._keepalive_expiry

    async def expiry_async() -> float | None:
        async with AsyncInvokeAIClient(BASE_URL) as aclient:
            return keepalive_expiry(aclient._transport.session.pool.client)

    with InvokeAIClient(BASE_URL) as client:
        expiry = keepalive_expiry(client._transport.session.pool.client)
    async_expiry = asyncio.run(expiry_async())
    assert expiry is not None and 0 < expiry < 5
    assert async_expiry is not None and 0 < async_expiry < 5


def test_calls_on_a_closed_client_raise_our_error() -> None:
    client = InvokeAIClient(BASE_URL)
    client.close()
    with pytest.raises(invokeai_py_client.APIConnectionError, match="closed"):
        client.dnn_model_repo.list_models()


# -- the async client on captured answers ------------------------------------------------


def test_async_install_and_wait(router: respx.MockRouter) -> None:
    replay(router, "install_201_inplace", query=False)
    job_id = body("install_201_inplace")["id"]
    router.get(f"{V2}/install/{job_id}").mock(
        side_effect=[
            response_from(load_fixture("install_job_running")),
            response_from(load_fixture("install_job_completed_inplace")),
        ]
    )
    replay(router, "models_list")

    async def run() -> tuple[ModelInstJobInfo, list[DnnModel]]:
        async with AsyncInvokeAIClient(BASE_URL, events=False) as client:
            repo = client.dnn_model_repo
            job = await repo.install_model("/x.safetensors", inplace=True)
            final = await job.wait(timeout=5, poll_interval=0.01)
            assert await job.raise_for_status() is final
            return final, await repo.list_models()

    final, models = asyncio.run(run())
    assert final.status == InstallJobStatus.COMPLETED and final.model_key
    assert models and all(isinstance(m, DnnModel) for m in models)


def test_async_versions_gate(router: respx.MockRouter) -> None:
    router.routes.clear()
    replay(router, "version", "6.8.1")
    catch_all = router.route().mock(return_value=httpx.Response(418))

    async def run() -> None:
        async with AsyncInvokeAIClient(BASE_URL, events=False) as client:
            with pytest.raises(invokeai_py_client.UnsupportedByServerError):
                await client.dnn_model_repo.list_missing_models()

    asyncio.run(run())
    assert catch_all.call_count == 0


def test_async_client_moves_to_a_new_event_loop(router: respx.MockRouter) -> None:
    """``asyncio.run`` twice with one client: an httpx.AsyncClient cannot follow, so the
    client's own pool is made anew for the new loop; a user's client is refused clearly."""
    router.get(f"{V2}/").respond(json={"models": []})
    client = AsyncInvokeAIClient(BASE_URL, events=False)
    pools = []

    async def once() -> None:
        assert await client.dnn_model_repo.list_models() == []
        pools.append(client._transport.session.pool.client)

    asyncio.run(once())
    asyncio.run(once())
    assert pools[0] is not pools[1]
    asyncio.run(client.close())

    mine = AsyncInvokeAIClient(BASE_URL, events=False, http_client=httpx.AsyncClient())
    asyncio.run(mine.dnn_model_repo.list_models())
    with pytest.raises(invokeai_py_client.APIConnectionError, match="another event loop"):
        asyncio.run(mine.dnn_model_repo.list_models())
