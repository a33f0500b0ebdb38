"""``invokeai-models`` maintenance commands against captured answers (respx): update, convert,
reidentify, scan, missing, orphaned, cache, hf, starter."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx
from typer.testing import CliRunner

from invokeai_py_client.cli import context as cli_context
from invokeai_py_client.cli.app import app
from tests.unit.conftest import (
    BASE_URL,
    OLD_VERSION,
    SECRET,
    UNKNOWN_KEY,
    V2,
    body,
    load_fixture,
    replay,
    response_from,
    sent_json,
)


def run(*args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(app, ["--url", BASE_URL, "--no-events", *args], input=input)


@pytest.fixture
def v(router: respx.MockRouter) -> respx.MockRouter:
    """The router with the 6.14.2 version answer."""
    replay(router, "version")
    return router


@pytest.fixture
def old(router: respx.MockRouter) -> respx.MockRouter:
    """The router with the 6.8.1 version answer."""
    replay(router, "version", OLD_VERSION)
    return router


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def sent(router: respx.MockRouter, method: str) -> list[httpx.Request]:
    return [c.request for c in router.calls if c.request.method == method]


def key_of(fixture_name: str) -> str:
    return str(load_fixture(fixture_name)["request"]["path"].split("/")[5])


# -- bad usage: nothing is sent ---------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["update", "some-key"],  # nothing to change
        ["update", "some-key", "--config", "{}"],
        ["update", "some-key", "--config", "{not json"],
        ["update", "some-key", "--config", '{"nmae": "x"}'],
        ["update", "some-key", "--config", "[1]"],
        ["convert"],
        ["reidentify"],
        ["scan"],
        ["scan", "/models", "--no-wait"],
        ["missing", "--delete"],  # no --yes, stdin not a terminal
        ["orphaned", "--delete"],
        ["missing", "--no-such-option"],
        ["cache", "frobnicate"],
        ["hf", "login", "hf_token_on_the_command_line"],
        ["starter", "install"],
    ],
)
def test_bad_usage_exits_2_and_sends_nothing(v: respx.MockRouter, args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert not [c for c in v.calls if c.request.url.path != "/api/v1/app/version"]


def test_nothing_to_change_says_what_to_give(v: respx.MockRouter) -> None:
    result = run("update", "some-key")
    line = one_line(result.stderr)
    assert line.startswith("error: nothing to change") and "--trigger-phrase" in line


def test_did_you_mean_in_update_config(v: respx.MockRouter) -> None:
    result = run("update", "k", "--config", '{"trigger_phrase": ["a"]}')
    assert result.exit_code == 2
    assert "did you mean 'trigger_phrases'" in one_line(result.stderr)


# -- update ----------------------------------------------------------------------------------


def test_update_sends_the_changes_and_prints_the_record(v: respx.MockRouter) -> None:
    route, fixture = replay(v, "model_update")
    key = key_of("model_update")
    result = run(
        "--json", "update", key, "--name", "capture-vae-renamed",
        "--trigger-phrase", "a b", "--trigger-phrase", "c",
        "--config", '{"description": "a renamed VAE", "name": "overridden"}',
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sent_json(route) == {
        "name": "capture-vae-renamed",
        "description": "a renamed VAE",
        "trigger_phrases": ["a b", "c"],
    }
    record = json.loads(result.stdout)
    assert record["key"] == key and record["name"] == fixture["body"]["name"]
    table = run("update", key, "--description", "x")
    assert table.exit_code == 0 and key in table.stdout
    assert run("-q", "update", key, "--description", "x").stdout.split() == [key]


def test_update_config_can_clear_a_field(v: respx.MockRouter) -> None:
    route, _ = replay(v, "model_update")
    result = run("update", key_of("model_update"), "--config", '{"description": null}')
    assert result.exit_code == 0, result.output
    assert sent_json(route) == {"description": None}


@pytest.mark.parametrize(
    ("fixture", "status"), [("model_update_404", 404), ("model_update_409", 409)]
)
def test_update_server_errors_are_one_line_exit_1(
    v: respx.MockRouter, fixture: str, status: int
) -> None:
    replay(v, fixture)
    key = key_of(fixture)
    changes = load_fixture(fixture)["request"]["json"]
    result = run("update", key, "--config", json.dumps(changes))
    assert result.exit_code == 1, result.output
    line = one_line(result.stderr)
    assert f"-> {status}" in line and str(body(fixture)["detail"])[:40] in line
    as_json = run("--json", "update", key, "--config", json.dumps(changes))
    error = json.loads(one_line(as_json.stderr))
    assert error["status_code"] == status and error["exit_code"] == 1


# -- convert, reidentify ---------------------------------------------------------------------


def test_convert_each_key_independently(v: respx.MockRouter) -> None:
    replay(v, "convert_400_not_checkpoint")
    replay(v, "convert_unknown_key_424")
    record = body("model_get_main_checkpoint_sd1")
    old_key = record["key"]
    converted = {**record, "key": "new-diffusers-key", "format": "diffusers"}
    v.put(f"{V2}/convert/{old_key}").mock(return_value=httpx.Response(200, json=converted))
    not_checkpoint = key_of("convert_400_not_checkpoint")
    result = run("--json", "convert", old_key, not_checkpoint, UNKNOWN_KEY)
    assert result.exit_code == 1
    first, second, third = json.loads(result.stdout)
    assert first == {
        "key": old_key,
        "ok": True,
        "new_key": "new-diffusers-key",
        "name": record["name"],
        "format": "diffusers",
        "error": None,
    }
    assert second["ok"] is False and "not a main SD 1/2/XL checkpoint" in second["error"]
    assert third["ok"] is False and "424" in third["error"]
    errors = [json.loads(line) for line in result.stderr.splitlines()]
    assert [e["status_code"] for e in errors] == [400, 424]
    assert "invokeai-models list" in errors[1]["hint"]

    text = run("convert", old_key)
    assert text.exit_code == 0 and f"{old_key} -> new-diffusers-key" in text.stdout


def test_convert_offline_500_has_a_hint(v: respx.MockRouter) -> None:
    replay(v, "convert_checkpoint_offline")
    result = run("convert", key_of("convert_checkpoint_offline"))
    assert result.exit_code == 1
    line = one_line(result.stderr)
    assert "-> 500" in line and "huggingface.co" in line


def test_reidentify_per_key(v: respx.MockRouter) -> None:
    _, fixture = replay(v, "model_reidentify")
    key = fixture["body"]["key"]
    v.post(f"{V2}/i/{UNKNOWN_KEY}/reidentify").mock(
        return_value=httpx.Response(404, json={"detail": "model not found"})
    )
    result = run("--json", "reidentify", key, UNKNOWN_KEY)
    assert result.exit_code == 1
    ok, failed = json.loads(result.stdout)
    assert ok["ok"] is True and ok["key"] == key and ok["type"] == fixture["body"]["type"]
    assert failed["ok"] is False and "model not found" in failed["error"]
    text = run("reidentify", key)
    assert text.exit_code == 0 and f"re-identified {fixture['body']['name']}" in text.stdout


def test_reidentify_on_an_old_server_says_so_once(old: respx.MockRouter) -> None:
    result = run("reidentify", "k1", "k2")
    assert result.exit_code == 1
    assert "6.9" in one_line(result.stderr)


# -- scan ------------------------------------------------------------------------------------


def test_scan_lists(v: respx.MockRouter) -> None:
    _, fixture = replay(v, "scan_folder")
    path = fixture["request"]["query"]["scan_path"]
    result = run("--json", "scan", path)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == fixture["body"]
    table = run("scan", path)
    assert table.exit_code == 0
    for found in fixture["body"]:  # one row per path, marked installed
        (row,) = [line for line in table.stdout.splitlines() if found["path"] in line]
        assert ("yes" if found["is_installed"] else "no") in row.split("│")[-2]
    assert f"{len(fixture['body'])} model(s) found, 0 not installed" in table.stderr
    nothing = run("scan", path, "--install")
    assert nothing.exit_code == 0 and "nothing to install" in nothing.stdout
    assert not sent(v, "POST")


def test_scan_install_installs_in_place(v: respx.MockRouter) -> None:
    started, install = replay(v, "install_201_inplace")
    replay(v, "install_job_completed_inplace")
    source = install["request"]["query"]["source"]
    found = [
        {"path": source, "is_installed": False},
        {"path": "/x/y.safetensors", "is_installed": True},
    ]
    v.get(f"{V2}/scan_folder", params={"scan_path": "/x"}).mock(
        return_value=httpx.Response(200, json=found)
    )
    result = run("--json", "scan", "/x", "--install")
    assert result.exit_code == 0, result.output
    (job,) = json.loads(result.stdout)
    assert job["ok"] is True and job["source"] == source
    assert started.call_count == 1  # inplace=true: the route matches the exact query


def test_scan_missing_folder(v: respx.MockRouter) -> None:
    _, fixture = replay(v, "scan_folder_400")
    path = fixture["request"]["query"]["scan_path"]
    result = run("scan", path)
    assert result.exit_code == 1
    line = one_line(result.stderr)
    assert "-> 400" in line and "could not be scanned" in line
    assert "must exist on the server's machine" in line


def test_scan_relative_path_hint(v: respx.MockRouter) -> None:
    v.get(f"{V2}/scan_folder").mock(
        return_value=httpx.Response(400, json={"detail": "could not be scanned"})
    )
    result = run("scan", "models")
    assert result.exit_code == 1
    assert "absolute path on the server" in one_line(result.stderr)


# -- missing, orphaned -----------------------------------------------------------------------


def test_missing_lists(v: respx.MockRouter) -> None:
    replay(v, "models_missing")
    expected = body("models_missing")["models"]
    result = run("--json", "missing")
    assert result.exit_code == 0
    assert [m["key"] for m in json.loads(result.stdout)] == [m["key"] for m in expected]
    assert run("-q", "missing").stdout.split() == [m["key"] for m in expected]


def test_missing_delete_yes(v: respx.MockRouter) -> None:
    replay(v, "models_missing")
    key = body("models_missing")["models"][0]["key"]
    route = v.post(f"{V2}/i/bulk_delete").mock(
        return_value=httpx.Response(200, json={"deleted": [key], "failed": []})
    )
    result = run("--json", "missing", "--delete", "--yes")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"key": key, "deleted": True, "error": None}]
    assert sent_json(route) == {"keys": [key]}


def test_missing_delete_failure_is_exit_1(v: respx.MockRouter) -> None:
    replay(v, "models_missing")
    key = body("models_missing")["models"][0]["key"]
    v.post(f"{V2}/i/bulk_delete").mock(
        return_value=httpx.Response(
            200, json={"deleted": [], "failed": [{"key": key, "error": "model not found"}]}
        )
    )
    result = run("--json", "missing", "--delete", "--yes")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == [{"key": key, "deleted": False, "error": "model not found"}]


def test_missing_delete_asks_on_a_terminal(
    v: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_context, "stdin_is_tty", lambda: True)
    replay(v, "models_missing")
    no = run("missing", "--delete", input="n\n")
    assert no.exit_code == 1 and "About to delete" in no.stderr
    assert not sent(v, "POST")


def test_missing_and_orphaned_need_6_12(old: respx.MockRouter) -> None:
    for command in ("missing", "orphaned"):
        result = run(command)
        assert result.exit_code == 1
        assert "6.12" in one_line(result.stderr)


def test_nothing_missing_nothing_asked(v: respx.MockRouter) -> None:
    replay(v, "models_missing_empty")
    result = run("--json", "missing", "--delete", "--yes")
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_orphaned_list_and_delete(v: respx.MockRouter) -> None:
    replay(v, "orphaned_list")
    delete, _ = replay(v, "orphaned_delete")
    orphan = body("orphaned_list")[0]
    listed = run("--json", "orphaned")
    assert listed.exit_code == 0 and json.loads(listed.stdout) == body("orphaned_list")
    table = run("orphaned")
    assert orphan["absolute_path"] in table.stdout and "1 orphaned folder(s)" in table.stderr
    result = run("--json", "orphaned", "--delete", "--yes")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"path": orphan["path"], "deleted": True, "error": None}]
    assert sent_json(delete) == {"paths": [orphan["path"]]}


# -- cache -----------------------------------------------------------------------------------


def test_cache_stats_null(v: respx.MockRouter) -> None:
    replay(v, "stats_null")
    result = run("--json", "cache", "stats")
    assert result.exit_code == 0 and result.stdout.strip() == "null"
    text = run("cache", "stats")
    assert text.exit_code == 0 and "no cache statistics yet" in text.stdout


def test_cache_stats_and_empty(v: respx.MockRouter) -> None:
    replay(v, "stats")
    result = run("--json", "cache", "stats")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["cache_size"] == body("stats")["cache_size"] and data["hit_rate"] is None
    text = run("cache", "stats")
    assert "cache size:" in text.stdout and "10.5 GB" in text.stdout
    empty, _ = replay(v, "empty_model_cache")
    emptied = run("--json", "cache", "empty")
    assert emptied.exit_code == 0 and json.loads(emptied.stdout) == {"emptied": True}
    assert empty.called


# -- hf --------------------------------------------------------------------------------------


def test_hf_status(v: respx.MockRouter) -> None:
    replay(v, "hf_login_status")
    result = run("--json", "hf", "status")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"status": "invalid", "logged_in": False}
    assert "none, or not valid" in run("hf", "status").stdout


@pytest.mark.parametrize("json_mode", [False, True])
def test_hf_login_bad_token_from_stdin_is_masked(v: respx.MockRouter, json_mode: bool) -> None:
    login, _ = replay(v, "hf_login_bogus_token")
    replay(v, "hf_login_status")
    args = ["--debug", *(["--json"] if json_mode else []), "hf", "login"]
    result = run(*args, input=f"  {SECRET}  \nsecond line\n")
    assert result.exit_code == 1
    assert SECRET not in result.stdout + result.stderr
    assert sent_json(login) == {"token": SECRET}  # one line, stripped
    if json_mode:
        assert json.loads(result.stdout) == {"logged_in": False, "status": "invalid"}
    else:
        assert "did not accept the Hugging Face token" in one_line(result.stderr)


def test_hf_login_token_in_a_server_error_is_masked_even_with_debug(v: respx.MockRouter) -> None:
    v.post(f"{V2}/hf_login").mock(
        return_value=httpx.Response(500, json={"detail": f"bad token {SECRET}"})
    )
    for extra in ([], ["--json"]):
        result = run("--debug", *extra, "hf", "login", input=SECRET + "\n")
        assert result.exit_code == 1
        assert "Traceback" in result.stderr
        assert SECRET not in result.stdout + result.stderr
        assert "***" in result.stderr


def test_hf_login_from_the_hidden_prompt(
    v: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_context, "stdin_is_tty", lambda: True)
    login = v.post(f"{V2}/hf_login").mock(return_value=httpx.Response(200, json="valid"))
    result = run("--json", "hf", "login", input=SECRET + "\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"logged_in": True, "status": "valid"}
    assert SECRET not in result.stdout + result.stderr
    assert sent_json(login) == {"token": SECRET}


@pytest.mark.parametrize("given", ["", "\n", "   \n"])
def test_hf_login_empty_token_is_bad_usage(v: respx.MockRouter, given: str) -> None:
    result = run("hf", "login", input=given)
    assert result.exit_code == 2
    assert "no Hugging Face token" in one_line(result.stderr)
    assert not sent(v, "POST")


def test_hf_login_refuses_the_token_as_argument_without_printing_it(v: respx.MockRouter) -> None:
    result = run("--debug", "hf", "login", SECRET, f"--value={SECRET}")
    assert result.exit_code == 2
    assert SECRET not in result.stdout + result.stderr
    assert "never read from the command line" in one_line(result.stderr)


def test_hf_logout(v: respx.MockRouter) -> None:
    route, _ = replay(v, "hf_logout")
    result = run("--json", "hf", "logout")
    assert result.exit_code == 0 and json.loads(result.stdout) == {"logged_out": True}
    route.mock(return_value=httpx.Response(200, json="valid"))  # e.g. HF_TOKEN on the server
    still = run("hf", "logout")
    assert still.exit_code == 1 and "HF_TOKEN" in one_line(still.stderr)


# -- starter ---------------------------------------------------------------------------------


def test_starter_list(v: respx.MockRouter) -> None:
    replay(v, "starter_models")
    models = body("starter_models")["starter_models"]
    result = run("--json", "starter", "list")
    assert result.exit_code == 0
    listed = json.loads(result.stdout)
    assert [m["source"] for m in listed] == [m["source"] for m in models]
    ids = [m["id"] for m in listed]
    assert len(set(ids)) == len(ids)
    assert "sd-1/controlnet/Depth Map" in ids
    filtered = json.loads(run("--json", "starter", "list", "-b", "sd-1", "-t", "controlnet").stdout)
    assert filtered and all(m["base"] == "sd-1" and m["type"] == "controlnet" for m in filtered)
    table = run("starter", "list", "--type", "vae")
    assert table.exit_code == 0 and "FLUX.1-schnell_ae" in table.stdout


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Depth Mapp", "did you mean 'Depth Map'"),
        ("no such starter at all", "no starter model"),
        ("Depth Map", "'sdxl/controlnet/Depth Map'"),  # ambiguous: the ids are listed
    ],
)
def test_starter_install_unknown_or_ambiguous_is_bad_usage(
    v: respx.MockRouter, name: str, expected: str
) -> None:
    replay(v, "starter_models")
    for extra in ([], ["--no-wait"]):
        result = run("starter", "install", name, *extra)
        assert result.exit_code == 2, result.output
        assert expected in one_line(result.stderr)
    assert not sent(v, "POST")


@pytest.mark.parametrize(
    "name", ["sdxl/controlnet/depth map", "diffusers/controlNet-depth-sdxl-1.0"]
)
def test_starter_install_no_wait_by_id_or_source(v: respx.MockRouter, name: str) -> None:
    replay(v, "starter_models")
    job = {**body("install_201_url"), "source": {"repo_id": "x", "type": "hf"}}
    install = v.post(f"{V2}/install").mock(return_value=httpx.Response(201, json=job))
    result = run("-q", "starter", "install", name, "--no-wait")
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [str(job["id"])]
    assert install.calls[0].request.url.params["source"] == "diffusers/controlNet-depth-sdxl-1.0"


def test_starter_install_start_failure(v: respx.MockRouter) -> None:
    replay(v, "starter_models")
    fixture = load_fixture("install_hf_offline_500")
    v.post(f"{V2}/install").mock(return_value=response_from(fixture))
    result = run("starter", "install", "diffusers/controlNet-depth-sdxl-1.0")
    assert result.exit_code == 1
    assert "-> 500" in one_line(result.stderr)


def test_orphans_that_changed_meanwhile_are_not_deleted(v: respx.MockRouter) -> None:
    listing = v.get(f"{V2}/sync/orphaned")
    listing.side_effect = [
        response_from(load_fixture("orphaned_list")),
        httpx.Response(200, json=[]),
    ]
    result = run("orphaned", "--delete", "--yes")
    assert result.exit_code == 1
    assert "nothing was deleted" in one_line(result.stderr)
    assert not sent(v, "DELETE")
