"""``invokeai-models login`` / ``logout`` and the stored token, against mocked answers (respx)."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from typer.testing import CliRunner

from invokeai_py_client._core.defaults import CONFIG_DIR_ENV
from invokeai_py_client.cli import token_store
from invokeai_py_client.cli.app import app
from tests.unit.conftest import BASE_URL, OLD_VERSION, V2, body, replay

TOKEN = "tok-LOGIN-7c3e91f0"
OTHER_TOKEN = "tok-OTHER-55aa01"
EMAIL = "admin@example.com"
PASSWORD = "Pa55-w0rd-Secret"
USER = {"user_id": "u-1", "email": EMAIL, "display_name": "Admin", "is_admin": True}


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh token store per test, and no token or URL from the environment."""
    directory = tmp_path / "config" / "invokeai-models"
    monkeypatch.setenv(CONFIG_DIR_ENV, str(directory))
    monkeypatch.delenv("INVOKEAI_TOKEN", raising=False)
    monkeypatch.delenv("INVOKEAI_URL", raising=False)
    return directory


def run(*args: str, url: str = BASE_URL, **kwargs: Any) -> Any:
    return CliRunner().invoke(app, ["--url", url, "--no-events", *args], **kwargs)


def multiuser(router: respx.MockRouter, *, enabled: bool = True, status: int = 200) -> respx.Route:
    """A 6.14.2 server in multi-user mode (or not); returns the login route."""
    replay(router, "version")
    router.get("/api/v1/auth/status").mock(
        return_value=httpx.Response(
            200, json={"setup_required": False, "multiuser_enabled": enabled}
        )
    )
    answer = (
        {"token": TOKEN, "user": USER, "expires_in": 86400}
        if status == 200
        else {"detail": "Incorrect email or password"}
    )
    return router.post("/api/v1/auth/login").mock(return_value=httpx.Response(status, json=answer))


def login_stdin(*options: str) -> Any:
    """``invokeai-models [options] login`` with the password on stdin."""
    return run(*options, "login", "--email", EMAIL, "--password-stdin", input=PASSWORD + "\n")


def authorization(router: respx.MockRouter, path: str = f"{V2}/") -> list[str | None]:
    return [
        c.request.headers.get("authorization") for c in router.calls if c.request.url.path == path
    ]


# -- login -------------------------------------------------------------------------------------


def test_login_stores_a_private_file_keyed_by_server(
    router: respx.MockRouter, config_dir: Path
) -> None:
    token_store.save_token("http://elsewhere.test:9090", OTHER_TOKEN, email="x@y", is_admin=False)
    route = multiuser(router)
    result = run(
        "login", "--email", EMAIL, "--password-stdin", url=BASE_URL + "/api/v1/",
        input=f"{PASSWORD}\nsecond line\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(route.calls[-1].request.content) | {"remember_me": False} == {
        "email": EMAIL, "password": PASSWORD, "remember_me": False,
    }  # fmt: skip
    path = config_dir / "tokens.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700
    servers = json.loads(path.read_text())["servers"]
    assert servers[BASE_URL]["token"] == TOKEN  # the normalized URL, /api/v1/ dropped
    assert servers["http://elsewhere.test:9090"]["token"] == OTHER_TOKEN  # kept
    assert [p.name for p in config_dir.iterdir()] == ["tokens.json"]  # no temporary left
    assert result.stdout == f"Logged in to {BASE_URL} as {EMAIL} (admin)\n"
    assert token_store.stored_token(BASE_URL + "/") == TOKEN


def test_hidden_prompts_never_echo_the_password(router: respx.MockRouter) -> None:
    route = multiuser(router)
    result = run("login", input=f"{EMAIL}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert json.loads(route.calls[-1].request.content)["password"] == PASSWORD
    assert "Email" in result.stderr and "Password" in result.stderr  # prompts on stderr
    assert PASSWORD not in result.output and TOKEN not in result.output
    assert token_store.stored_token(BASE_URL) == TOKEN


@pytest.mark.parametrize(
    "args",
    [["--password", PASSWORD], [f"--password={PASSWORD}"], ["--email", EMAIL, PASSWORD]],
)
def test_a_password_on_the_command_line_is_refused_unechoed(
    router: respx.MockRouter, args: list[str]
) -> None:
    result = run("login", *args, input=f"{EMAIL}\nother\n")
    assert result.exit_code == 2
    assert PASSWORD not in result.output
    assert "--password-stdin" in result.stderr
    assert not router.calls


def test_print_token_prints_only_the_token_and_stores_it(router: respx.MockRouter) -> None:
    multiuser(router)
    result = run(
        "--debug", "login", "-e", EMAIL, "--password-stdin", "--print-token", input=PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == TOKEN + "\n"
    assert TOKEN not in result.stderr and PASSWORD not in result.output
    assert token_store.stored_token(BASE_URL) == TOKEN


@pytest.mark.parametrize("extra", [[], ["--json"], ["--debug"], ["--quiet"]])
def test_the_token_is_not_printed_unless_asked(router: respx.MockRouter, extra: list[str]) -> None:
    multiuser(router)
    result = login_stdin(*extra)
    assert result.exit_code == 0, result.output
    assert TOKEN not in result.output and PASSWORD not in result.output
    assert token_store.stored_token(BASE_URL) == TOKEN


def test_login_json_shape(router: respx.MockRouter, config_dir: Path) -> None:
    multiuser(router)
    result = login_stdin("--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "url": BASE_URL,
        "email": EMAIL,
        "is_admin": True,
        "stored": str(config_dir / "tokens.json"),
    }


def test_wrong_credentials_exit_1_and_store_nothing(
    router: respx.MockRouter, config_dir: Path
) -> None:
    multiuser(router, status=401)
    result = login_stdin()
    assert result.exit_code == 1
    assert "refused" in result.stderr and "check the email and password" in result.stderr
    assert PASSWORD not in result.output
    assert not (config_dir / "tokens.json").exists()


@pytest.mark.parametrize("version", ["6.14.2", OLD_VERSION])
def test_login_on_a_single_user_server_fails_clearly(
    router: respx.MockRouter, config_dir: Path, version: str
) -> None:
    login = multiuser(router, enabled=False)
    replay(router, "version", version)
    result = login_stdin()
    assert result.exit_code == 1
    assert "is not a multi-user server" in result.stderr and version in result.stderr
    assert not login.called
    assert not (config_dir / "tokens.json").exists()


# -- the stored token in later commands -----------------------------------------------------------


def test_the_stored_token_is_sent_by_the_next_command(router: respx.MockRouter) -> None:
    multiuser(router)
    assert login_stdin().exit_code == 0
    replay(router, "models_list")
    result = run("list")
    assert result.exit_code == 0, result.output
    assert authorization(router) == [f"Bearer {TOKEN}"]


def test_a_stored_token_is_for_its_server_only(router: respx.MockRouter) -> None:
    token_store.save_token("http://elsewhere.test:9090", OTHER_TOKEN, email="x@y", is_admin=False)
    replay(router, "version")
    replay(router, "models_list")
    assert run("list").exit_code == 0
    assert authorization(router) == [None]


@pytest.mark.parametrize("via", ["--token", "env"])
def test_token_option_and_env_beat_the_stored_token(router: respx.MockRouter, via: str) -> None:
    token_store.save_token(BASE_URL, TOKEN, email=EMAIL, is_admin=True)
    replay(router, "version")
    replay(router, "models_list")
    if via == "env":
        result = run("list", env={"INVOKEAI_TOKEN": OTHER_TOKEN})
    else:
        result = CliRunner().invoke(app, ["--url", BASE_URL, "--token", OTHER_TOKEN, "list"])
    assert result.exit_code == 0, result.output
    assert authorization(router) == [f"Bearer {OTHER_TOKEN}"]


def test_plan_on_several_servers_sends_each_its_own_token(tmp_path: Path) -> None:
    other = "http://elsewhere.test:9090"
    token_store.save_token(BASE_URL, TOKEN, email=EMAIL, is_admin=True)
    token_store.save_token(other, OTHER_TOKEN, email=EMAIL, is_admin=True)
    manifest = tmp_path / "empty.json"
    manifest.write_text(json.dumps({"models": []}))
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        mock.get(path="/api/v1/app/version").mock(
            return_value=httpx.Response(200, json={"version": "6.14.2"})
        )
        mock.get(path=f"{V2}/").mock(return_value=httpx.Response(200, json=body("models_list")))
        result = CliRunner().invoke(
            app, ["--no-events", "--url", BASE_URL, "--url", other, "plan", str(manifest)]
        )
        sent = {
            (c.request.url.host, c.request.headers.get("authorization"))
            for c in mock.calls
            if c.request.url.path == f"{V2}/"
        }
    assert result.exit_code == 0, result.output
    assert sent == {
        ("invokeai.test", f"Bearer {TOKEN}"),
        ("elsewhere.test", f"Bearer {OTHER_TOKEN}"),
    }
    assert TOKEN not in result.output and OTHER_TOKEN not in result.output


# -- logout ----------------------------------------------------------------------------------------


def test_logout_removes_the_token_of_that_server_only(router: respx.MockRouter) -> None:
    token_store.save_token(BASE_URL, TOKEN, email=EMAIL, is_admin=True)
    token_store.save_token("http://elsewhere.test:9090", OTHER_TOKEN, email=EMAIL, is_admin=True)
    result = run("logout", url=BASE_URL + "/")
    assert result.exit_code == 0, result.output
    assert f"Logged out of {BASE_URL}" in result.stdout
    assert token_store.stored_token(BASE_URL) is None
    assert token_store.stored_token("http://elsewhere.test:9090") == OTHER_TOKEN
    again = run("logout")
    assert again.exit_code == 0
    assert f"no token stored for {BASE_URL}" in again.stdout
    replay(router, "version")
    replay(router, "models_list")
    assert run("list").exit_code == 0
    assert authorization(router) == [None]


# -- 401: the hint says what to do ---------------------------------------------------------------


def test_a_refused_stored_token_asks_to_log_in_again(router: respx.MockRouter) -> None:
    token_store.save_token(BASE_URL, TOKEN, email=EMAIL, is_admin=True)
    replay(router, "version")
    router.get(f"{V2}/").mock(return_value=httpx.Response(401, json={"detail": "expired"}))
    for extra in ([], ["--json"], ["--debug"]):
        result = run(*extra, "list")
        assert result.exit_code == 1
        assert TOKEN not in result.output
    plain = run("list")
    assert "stored token was refused" in plain.stderr
    assert f"invokeai-models --url {BASE_URL} login` again" in plain.stderr


def test_401_without_a_token_says_to_log_in(router: respx.MockRouter) -> None:
    replay(router, "version")
    router.get(f"{V2}/").mock(return_value=httpx.Response(401, json={"detail": "no token"}))
    result = run("list")
    assert result.exit_code == 1
    assert f"run `invokeai-models --url {BASE_URL} login`, or set INVOKEAI_TOKEN" in result.stderr
    assert "refused" not in result.stderr
