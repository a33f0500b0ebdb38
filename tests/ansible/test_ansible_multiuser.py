"""The example playbooks against a multi-user InvokeAI 6.14.2 (host ``invokeai-a`` pointed
at it), with the token from an Ansible Vault file."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from testbed.server import start_server
from tests.accounts import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    USER_EMAIL,
    USER_PASSWORD,
    create_accounts,
    login,
)
from tests.ansible.conftest import VERSIONS, Playbook, vault_args

HOST = "invokeai-a"
ONLY = ("--limit", HOST)


@pytest.fixture(scope="module")
def multiuser_url() -> Iterator[str]:
    server = start_server(VERSIONS[HOST], multiuser=True)
    try:
        create_accounts(server.url)
        yield server.url
    finally:
        server.stop()


def token_of(url: str, email: str, password: str) -> str:
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as http:
        return login(http, email, password)


def test_a_vaulted_admin_token_applies_and_never_shows(
    playbook: Playbook, multiuser_url: str, tmp_path: Path
) -> None:
    token = token_of(multiuser_url, ADMIN_EMAIL, ADMIN_PASSWORD)
    vault = vault_args(tmp_path, vault_invokeai_token=token)
    urls = {HOST: multiuser_url}

    check = playbook("apply.yml", *ONLY, *vault, "--check", "--diff", "-vvv", urls=urls)
    first = playbook("apply.yml", *ONLY, *vault, "-vvv", urls=urls)
    second = playbook("apply.yml", *ONLY, *vault, urls=urls)
    info = playbook("model.yml", *ONLY, *vault, "--diff", "-vvv", urls=urls)

    for run in (check, first, second, info):
        assert run.returncode == 0, run.output
        assert token not in run.output
    assert check.changed() == {HOST: 1} and first.changed() == {HOST: 1}
    assert second.changed() == {HOST: 0}
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in first.output  # the token was passed
    with httpx.Client(base_url=multiuser_url, timeout=30, trust_env=False) as http:
        listed = http.get("/api/v2/models/", headers={"Authorization": f"Bearer {token}"})
    names = {m["name"] for m in listed.raise_for_status().json()["models"]}
    assert "Tiny LoRA" in names


def test_no_token_and_a_user_token_fail_with_the_route_and_status(
    playbook: Playbook, multiuser_url: str, tmp_path: Path
) -> None:
    urls = {HOST: multiuser_url}
    anonymous = playbook("apply.yml", *ONLY, urls=urls)
    assert anonymous.failed() == {HOST: 1}, anonymous.output
    assert "GET /api/v2/models/ -> 401" in anonymous.output

    token = token_of(multiuser_url, USER_EMAIL, USER_PASSWORD)
    denied = playbook(
        "model.yml", *ONLY, *vault_args(tmp_path, vault_invokeai_token=token), "-vvv", urls=urls
    )
    assert denied.failed() == {HOST: 1}, denied.output
    assert re.search(r"(POST|PATCH) /api/v2/models/\S* -> 403", denied.output), denied.output
    assert "Traceback" not in denied.output and token not in denied.output
