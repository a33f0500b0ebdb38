"""Multi-user mode (InvokeAI 6.13+) against a second, multi-user test-bed server."""

from __future__ import annotations

import asyncio
import json
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from invokeai_py_client import AsyncInvokeAIClient, InvokeAIClient
from invokeai_py_client._core.defaults import CONFIG_DIR_ENV
from invokeai_py_client.errors import (
    APIError,
    AuthenticationError,
    InvokeAIError,
    PermissionDeniedError,
)
from testbed import tiny_models as tm
from testbed.provision import configured_version
from testbed.server import InvokeAIServer, start_server, version_tuple
from tests.accounts import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    USER_EMAIL,
    USER_PASSWORD,
    create_accounts,
)

pytestmark = pytest.mark.integration

MakeClient = Any  # tests/integration/conftest.py: (url, **kwargs) -> a sync or async client

VERSION = configured_version()
if version_tuple(VERSION) < (6, 13):
    # 6.12's multi-user mode guards only the writes: reads need no token (a bad one is
    # ignored), job routes are open, and no token is refreshed.
    pytest.skip(
        f"these tests follow the multi-user mode of InvokeAI 6.13+; the test bed runs {VERSION}",
        allow_module_level=True,
    )


@dataclass
class MultiUser:
    server: InvokeAIServer
    url: str


@pytest.fixture(scope="module")
def multiuser() -> Iterator[MultiUser]:
    server = start_server(multiuser=True)
    try:
        create_accounts(server.url)
        yield MultiUser(server=server, url=server.url)
    finally:
        server.stop()


@pytest.fixture
def admin(multiuser: MultiUser, make_client: MakeClient) -> Iterator[InvokeAIClient]:
    with make_client(multiuser.url) as c:
        c.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        yield c


@pytest.fixture
def user(multiuser: MultiUser, make_client: MakeClient) -> Iterator[InvokeAIClient]:
    with make_client(multiuser.url) as c:
        c.login(USER_EMAIL, USER_PASSWORD)
        yield c


def test_login_keeps_token_and_lists_models(multiuser: MultiUser, make_client: MakeClient) -> None:
    with make_client(multiuser.url) as c:
        assert c.token is None
        me = c.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        assert c.token
        assert me.get("email") == ADMIN_EMAIL
        assert me.get("is_admin") is True
        assert c.is_multiuser() is True
        assert isinstance(c.dnn_model_repo.list_models(), list)
        assert isinstance(c.dnn_model_repo.list_install_jobs(), list)  # an admin route


def test_no_token_is_authentication_error(multiuser: MultiUser, make_client: MakeClient) -> None:
    with make_client(multiuser.url) as anonymous:
        with pytest.raises(AuthenticationError) as excinfo:
            anonymous.dnn_model_repo.list_install_jobs()
        assert excinfo.value.status_code == 401
        assert excinfo.value.route == "/api/v2/models/install"


def test_non_admin_is_denied_admin_routes(user: InvokeAIClient) -> None:
    assert isinstance(user.dnn_model_repo.list_models(), list)
    with pytest.raises(PermissionDeniedError) as excinfo:
        user.dnn_model_repo.list_install_jobs()
    assert excinfo.value.status_code == 403


def test_non_admin_install_is_permission_denied(user: InvokeAIClient, tmp_path: Path) -> None:
    path = tm.write_embedding_sd1(tmp_path)
    with pytest.raises(PermissionDeniedError) as excinfo:
        user.dnn_model_repo.install_model(path, inplace=True)
    assert excinfo.value.status_code == 403
    assert "admin" in str(excinfo.value.detail).lower()


def test_token_and_password_never_shown(
    multiuser: MultiUser, make_client: MakeClient, tmp_path: Path
) -> None:
    errors: list[InvokeAIError] = []
    with make_client(multiuser.url) as c:
        with pytest.raises(AuthenticationError) as excinfo:
            c.login(ADMIN_EMAIL, "Wr0ng-" + ADMIN_PASSWORD)
        errors.append(excinfo.value)
        c.login(USER_EMAIL, USER_PASSWORD)
        token = c.token
        assert token
        texts = [repr(c), str(c)]
        with pytest.raises(APIError) as excinfo2:
            c.dnn_model_repo.install_model(tm.write_embedding_sd1(tmp_path), inplace=True)
        errors.append(excinfo2.value)
        with pytest.raises(PermissionDeniedError) as excinfo3:
            c.dnn_model_repo.get_stats()
        errors.append(excinfo3.value)
    for err in errors:
        texts += [str(err), repr(err), repr(getattr(err, "body", None))]
    for text in texts:
        for secret in (token, USER_PASSWORD, ADMIN_PASSWORD):
            assert secret not in text, text


def test_refreshed_token_replaces_client_token(
    multiuser: MultiUser, make_client: MakeClient
) -> None:
    seen: list[str] = []

    def remember(response: httpx.Response) -> None:
        refreshed = response.headers.get("X-Refreshed-Token")
        if refreshed:
            seen.append(refreshed)

    with make_client(multiuser.url, response_hook=remember, timeout=30) as c:
        c.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        first = c.token
        assert first and not seen, "login itself is not refreshed"
        time.sleep(1.1)  # a token minted in a later second differs (its exp differs)
        assert c.dnn_model_repo.empty_model_cache() is True
        assert seen, "the server sent no X-Refreshed-Token on a mutating call"
        assert seen[-1] != first
        assert c.token == seen[-1]
        # the refreshed token works
        assert isinstance(c.dnn_model_repo.list_install_jobs(), list)
        name = "never-" + uuid.uuid4().hex
        assert c.dnn_model_repo.get_model_by_attrs(name, "embedding", "sd-1") is None


def test_admin_wait_follows_events_with_the_token(admin: InvokeAIClient, tmp_path: Path) -> None:
    """On a multi-user server the socket needs the bearer token; admins get model events."""
    seen: list[str] = []
    job = admin.dnn_model_repo.install_model(tm.write_embedding_sd1(tmp_path), inplace=True)
    info = job.wait(timeout=60, on_progress=lambda p: seen.append(str(p.status)))
    try:
        assert info.status == "completed", info.describe()
        assert admin.events.is_connected, "the socket connected with the admin's token"
        assert seen[-1] == "completed"
    finally:
        if info.model_key:
            admin.dnn_model_repo.delete_model(info.model_key)


def test_non_admin_login_turns_model_events_off(user: InvokeAIClient) -> None:
    """A non-admin gets no model events: after login() its waits poll (fast) instead."""
    assert user.events.model_events is False


# -- the CLI: login, the stored token, logout --------------------------------------------------


@pytest.fixture
def cli_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private token store for ``invokeai-models``, and no token from the environment."""
    directory = tmp_path / "invokeai-models"
    monkeypatch.setenv(CONFIG_DIR_ENV, str(directory))
    monkeypatch.delenv("INVOKEAI_TOKEN", raising=False)
    return directory


def run_cli(url: str, *args: str, stdin: str | None = None) -> Any:
    from invokeai_py_client.cli.app import app

    return CliRunner().invoke(app, ["--url", url, "--no-events", *args], input=stdin)


def test_cli_login_then_list_with_the_stored_token(multiuser: MultiUser, cli_store: Path) -> None:
    login = run_cli(
        multiuser.url, "login", "--email", ADMIN_EMAIL, "--password-stdin", stdin=ADMIN_PASSWORD
    )
    assert login.exit_code == 0, login.output
    assert f"as {ADMIN_EMAIL} (admin)" in login.stdout
    servers = json.loads((cli_store / "tokens.json").read_text())["servers"]
    token = servers[multiuser.url.rstrip("/")]["token"]
    assert token and token not in login.output and ADMIN_PASSWORD not in login.output
    assert stat.S_IMODE((cli_store / "tokens.json").stat().st_mode) == 0o600
    listed = run_cli(multiuser.url, "--json", "list")
    assert listed.exit_code == 0, listed.output
    assert isinstance(json.loads(listed.stdout), list)
    jobs = run_cli(multiuser.url, "--json", "jobs")  # an admin route: the admin's token
    assert jobs.exit_code == 0, jobs.output

    out = run_cli(multiuser.url, "logout")
    assert out.exit_code == 0 and "Logged out" in out.stdout
    anonymous = run_cli(multiuser.url, "list")
    assert anonymous.exit_code == 1
    assert f"invokeai-models --url {multiuser.url.rstrip('/')} login" in anonymous.stderr
    assert "refused" not in anonymous.stderr


def test_cli_wrong_password_exits_1(multiuser: MultiUser, cli_store: Path) -> None:
    wrong = "Wr0ng-" + USER_PASSWORD
    result = run_cli(multiuser.url, "login", "-e", USER_EMAIL, "--password-stdin", stdin=wrong)
    assert result.exit_code == 1
    assert "check the email and password" in result.stderr and wrong not in result.output
    assert not (cli_store / "tokens.json").exists()


def test_cli_refused_stored_token_says_log_in_again(multiuser: MultiUser, cli_store: Path) -> None:
    from invokeai_py_client.cli import token_store

    bogus = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJub2JvZHkifQ.bogus-signature"
    token_store.save_token(multiuser.url, bogus, email=USER_EMAIL, is_admin=False)
    result = run_cli(multiuser.url, "list")
    assert result.exit_code == 1
    assert "stored token was refused" in result.stderr
    assert f"invokeai-models --url {multiuser.url.rstrip('/')} login` again" in result.stderr
    assert bogus not in result.output


# -- one client shared by threads or tasks; a non-admin following a job --------------------


def _refreshing_phase(tokens_sent: list[str], refreshed: list[str], first: str) -> None:
    """What sharing one client through a token refresh must give."""
    assert refreshed, "no mutating call was answered with X-Refreshed-Token"
    assert tokens_sent, "no request was seen"
    assert first not in tokens_sent, "a request after the refresh sent the old token"
    assert set(tokens_sent) <= set(refreshed), "a request sent a token the server never gave"


def test_a_refreshed_token_is_adopted_by_every_thread_of_one_client(multiuser: MultiUser) -> None:
    lock = threading.Lock()
    sent: list[str] = []
    refreshed: list[str] = []

    def hook(response: httpx.Response) -> None:
        with lock:
            sent.append(response.request.headers.get("Authorization", "").removeprefix("Bearer "))
            if token := response.headers.get("X-Refreshed-Token"):
                refreshed.append(token)

    http = httpx.Client(timeout=30, event_hooks={"response": [hook]})
    with InvokeAIClient(multiuser.url, http_client=http) as c:
        c.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        first = c.token
        assert first
        time.sleep(1.1)  # a token minted in a later second differs
        with ThreadPoolExecutor(4) as pool:
            assert all(pool.map(lambda _: c.dnn_model_repo.empty_model_cache(), range(8)))
        sent.clear()
        with ThreadPoolExecutor(4) as pool:
            listed = list(pool.map(lambda _: c.dnn_model_repo.list_install_jobs(), range(8)))
        assert all(isinstance(jobs, list) for jobs in listed)
        assert c.token in refreshed
    _refreshing_phase(sent, refreshed, first)


def test_a_refreshed_token_is_adopted_by_every_task_of_one_client(multiuser: MultiUser) -> None:
    sent: list[str] = []
    refreshed: list[str] = []

    async def hook(response: httpx.Response) -> None:
        sent.append(response.request.headers.get("Authorization", "").removeprefix("Bearer "))
        if token := response.headers.get("X-Refreshed-Token"):
            refreshed.append(token)

    async def main() -> str:
        http = httpx.AsyncClient(timeout=30, event_hooks={"response": [hook]})
        async with AsyncInvokeAIClient(multiuser.url, http_client=http) as c:
            await c.login(ADMIN_EMAIL, ADMIN_PASSWORD)
            first = c.token
            assert first
            await asyncio.sleep(1.1)
            repo = c.dnn_model_repo
            assert all(await asyncio.gather(*(repo.empty_model_cache() for _ in range(8))))
            sent.clear()
            listed = await asyncio.gather(*(repo.list_install_jobs() for _ in range(8)))
            assert all(isinstance(jobs, list) for jobs in listed)
            assert c.token in refreshed
            return first

    _refreshing_phase(sent, refreshed, asyncio.run(main()))


def test_a_non_admin_following_a_job_is_refused_at_once_naming_the_route(
    admin: InvokeAIClient, user: InvokeAIClient, multiuser: MultiUser, tmp_path: Path
) -> None:
    job = admin.dnn_model_repo.install_model(tm.write_embedding_sd1(tmp_path), inplace=True)
    info = job.wait(timeout=60)
    route = f"/api/v2/models/install/{job.id}"
    try:
        started = time.monotonic()
        with pytest.raises(PermissionDeniedError) as excinfo:
            user.dnn_model_repo.get_install_job(job.id)
        assert (excinfo.value.status_code, excinfo.value.route) == (403, route)
        assert route in str(excinfo.value)
        assert user.token
        result = run_cli(multiuser.url, "--token", user.token, "jobs", "show", str(job.id))
        assert result.exit_code == 1, result.output
        assert route in result.output and "403" in result.output
        assert user.token not in result.output
        assert time.monotonic() - started < 10
    finally:
        if info.model_key:
            admin.dnn_model_repo.delete_model(info.model_key)
