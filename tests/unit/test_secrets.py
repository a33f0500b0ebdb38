"""Secrets never show: the bearer token, the Hugging Face token, the install access
token, a token written into a source URL, and the login password.

One session of calls (sync and async) against a server that echoes everything it gets
(query strings, headers, bodies) and fails in every way (no answer, a time-out, 401,
422, 500), then succeeds with answers that echo the tokens back. Collected and searched:
the ``str``, ``repr``, attributes and whole traceback (causes included) of every error,
every warning, every log record (every logger at DEBUG, httpx, httpcore and the
socket.io client included: message and raw arguments), the ``repr``/``str`` of the
client, repository, handles, job infos, records and events, the exported manifest, and
the CLI's output (also with ``--debug`` and ``--json``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import respx
import typer.testing

from invokeai_py_client import AsyncInvokeAIClient, InvokeAIClient, InvokeAIError
from invokeai_py_client.cli.app import app
from invokeai_py_client.dnn_model.install_events import parse_event
from tests.unit.conftest import body, load_fixture

BEARER = "bearer-SECRET-1a2b3c"
ACCESS = "access-SECRET-4d5e6f"
URL_TOKEN = "urltok-SECRET-7g8h9i"
HF_TOKEN = "hf_SECRET0j1k2l3m"
PASSWORD = "pw-SECRET-4n5o6p"
SECRETS = (BEARER, ACCESS, URL_TOKEN, HF_TOKEN, PASSWORD)
SOURCE = f"https://files.test/m.safetensors?token={URL_TOKEN}"
V2 = "/api/v2/models"
LOGGERS = ("", "httpx", "httpcore", "socketio", "engineio", "websocket", "invokeai_py_client")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


BASE = f"http://127.0.0.1:{free_port()}"  # nothing listens: the event stream cannot connect


def echo(request: httpx.Request) -> str:
    """Everything the request carried, as a careless server or proxy would echo it."""
    headers = "; ".join(f"{k}: {v}" for k, v in request.headers.items())
    return f"{request.method} {request.url} [{headers}] {request.content.decode()}"


def job(echoed: bool = True) -> dict[str, Any]:
    """A completed URL install, echoing the tokens as servers do."""
    answer = body("install_job_completed_url")
    answer["source"] = {"url": SOURCE, "access_token": ACCESS, "type": "url"}
    answer["config_out"] = {**answer["config_out"], "source": SOURCE}
    answer["download_parts"] = [
        {**part, "source": SOURCE, "access_token": ACCESS} for part in answer["download_parts"]
    ]
    return answer if echoed else {**answer, "id": 1}


Answer = Callable[[httpx.Request], httpx.Response]


def in_turn(*answers: Answer) -> Answer:
    """A side effect giving each answer in turn, then again from the first."""
    turns = itertools.cycle(answers)
    return lambda request: next(turns)(request)


def failing_then_succeeding(router: respx.MockRouter) -> None:
    """Each write fails in each way once, then succeeds echoing the secrets."""
    record = {**body("model_get_lora_sd1"), "key": "k", "source": SOURCE}
    router.get("/api/v1/app/version").respond(json={"version": "6.14.2"})
    router.get("/api/v1/auth/status").respond(json={"multiuser_enabled": True})

    def raise_with(kind: type[httpx.TransportError]) -> Answer:
        def side_effect(request: httpx.Request) -> httpx.Response:
            raise kind(f"failed: {echo(request)}", request=request)

        return side_effect

    router.post(f"{V2}/install").mock(
        side_effect=in_turn(
            raise_with(httpx.ConnectError),
            raise_with(httpx.ReadTimeout),
            lambda r: httpx.Response(500, text=echo(r)),
            lambda r: httpx.Response(422, json={"detail": [{"loc": ["query"], "input": echo(r)}]}),
            lambda r: httpx.Response(201, json={**job(), "status": "running"}),  # then waited
        )
    )
    router.get(f"{V2}/install/{job()['id']}").respond(json=job())
    router.get(f"{V2}/install").respond(json=[job(), {**job(), "id": 99, "bytes": "many"}])
    router.get(f"{V2}/i/k").mock(
        side_effect=in_turn(
            raise_with(httpx.ConnectError), lambda r: httpx.Response(200, json=record)
        )
    )
    router.get(f"{V2}/").respond(json={"models": [record]})
    router.post(f"{V2}/hf_login").mock(
        side_effect=in_turn(
            lambda r: httpx.Response(500, text=echo(r)), lambda r: httpx.Response(200, json="valid")
        )
    )
    router.post("/api/v1/auth/login").mock(
        side_effect=lambda r: httpx.Response(401, json={"detail": echo(r)})
    )


class Seen:
    """Every text the session showed."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def error(self, err: BaseException) -> None:
        self.texts += [str(err), repr(err), "".join(traceback.format_exception(err))]
        if isinstance(err, InvokeAIError):
            self.texts += [repr(err.details), repr(vars(err))]

    def attempt(self, call: Callable[[], Any]) -> Any:
        try:
            result = call()
        except Exception as err:
            self.error(err)
            return None
        self.texts += [repr(result), str(result)]
        return result

    def leaks(self) -> list[str]:
        return [f"{s!r} in: {t[:300]!r}" for t in self.texts for s in SECRETS if s in t]


class Capture(logging.Handler):
    def __init__(self, seen: Seen) -> None:
        super().__init__(logging.DEBUG)
        self.seen = seen
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.texts += [self.format(record), repr(record.args), repr(record.msg)]


@pytest.fixture
def seen() -> Iterator[Seen]:
    """Every log record at DEBUG and every warning, into one ``Seen``."""
    collected = Seen()
    handler = Capture(collected)
    levels = {name: logging.getLogger(name).level for name in LOGGERS}
    root = logging.getLogger()
    root.addHandler(handler)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield collected
        collected.texts += [str(w.message) for w in caught]
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def test_the_sync_client_shows_no_secret(seen: Seen) -> None:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        failing_then_succeeding(router)
        client = InvokeAIClient(BASE, token=BEARER, max_retries=0, verify=False)
        repo = client.dnn_model_repo
        for _ in range(5):
            handle = seen.attempt(lambda: repo.install_model(SOURCE, access_token=ACCESS))
        assert handle is not None, "the fifth install succeeds"
        seen.attempt(lambda: handle.wait(timeout=5, poll_interval=0.05))  # events: refused
        seen.texts += [repr(handle.info), str(handle.info), repr(handle), handle.info.describe()]
        assert URL_TOKEN in str(handle.info.source)  # the data keeps what the server recorded
        seen.texts += [repr(h.info) for h in seen.attempt(repo.list_install_jobs) or []]
        for _ in range(2):
            seen.attempt(lambda: repo.get_model_by_key("k"))
            seen.attempt(lambda: repo.hf_login(HF_TOKEN))
        seen.attempt(lambda: client.login("a@b.c", PASSWORD))
        seen.texts.append(repo.export_manifest(lock=True).dumps())
        seen.texts += [repr(client), str(client), repr(repo), repr(client.with_options(timeout=5))]
        seen.attempt(lambda: parse_event("model_install_complete", {**job(), "id": 3}))
        client.close()
    assert len(seen.texts) > 50
    assert any("event stream unavailable" in t for t in seen.texts)  # the socket.io client ran
    assert seen.leaks() == []


def test_the_async_client_shows_no_secret(seen: Seen) -> None:
    async def session() -> None:
        async with AsyncInvokeAIClient(BASE, token=BEARER, max_retries=0, verify=False) as c:
            repo = c.dnn_model_repo
            handle = None
            for _ in range(5):
                try:
                    handle = await repo.install_model(SOURCE, access_token=ACCESS)
                except InvokeAIError as err:
                    seen.error(err)
            assert handle is not None
            seen.texts.append(repr(await handle.wait(timeout=5, poll_interval=0.05)))
            for _ in range(2):
                for call in (repo.get_model_by_key("k"), repo.hf_login(HF_TOKEN)):
                    try:
                        seen.texts.append(repr(await call))
                    except InvokeAIError as err:
                        seen.error(err)
            seen.texts.append((await repo.export_manifest(lock=True)).dumps("json"))
            seen.texts += [repr(c), repr(repo), repr(handle)]

    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        failing_then_succeeding(router)
        asyncio.run(session())
    assert seen.leaks() == []


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (["install", SOURCE], None),  # fails (no answer), then the others
        (["install", SOURCE], None),
        (["install", SOURCE], None),
        (["--json", "install", SOURCE, "--no-wait"], None),
        (["jobs", "show", "10"], None),
        (["--json", "jobs"], None),
        (["show", "k"], None),
        (["export", "--lock"], None),
        (["--json", "export"], None),
        (["hf", "login"], HF_TOKEN + "\n"),
        (["login", "--email", "a@b.c", "--password-stdin"], PASSWORD + "\n"),
    ],
)
def test_the_cli_shows_no_secret_even_with_debug(
    seen: Seen, args: list[str], stdin: str | None
) -> None:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        failing_then_succeeding(router)
        router.get(f"{V2}/install/10").respond(json=job())
        for debug in (["--debug"], []):
            result = typer.testing.CliRunner().invoke(
                app, ["--url", BASE, "--token", BEARER, "--no-events", *debug, *args], input=stdin
            )
            seen.texts += [result.stdout, result.stderr]
    assert seen.leaks() == []


def test_the_captured_fixtures_carry_no_token() -> None:
    """The replayed answers were captured with fake tokens, masked as ``***``."""
    fixture = load_fixture("install_201_url")
    text = json.dumps(fixture)
    assert "access_token" in text and '"***"' in text
