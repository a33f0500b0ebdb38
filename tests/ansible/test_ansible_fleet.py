"""The example playbooks (examples/ansible/), run by ``ansible-playbook`` against InvokeAI
6.14.2 (``invokeai-a``) and 6.8.1 (``invokeai-b``) at once, from the built collection."""

from __future__ import annotations

import json
from pathlib import Path

from invokeai_py_client import InvokeAIClient
from testbed.server import InvokeAIServer
from tests.ansible.conftest import Playbook, StateOf, vault_args

HOSTS = ["invokeai-a", "invokeai-b"]
BOTH_CHANGED = dict.fromkeys(HOSTS, 1)
NONE_CHANGED = dict.fromkeys(HOSTS, 0)
NONE_FAILED = dict.fromkeys(HOSTS, 0)
SECRET = "vaulted-token-3c9e1f0a"


def extra(**variables: object) -> tuple[str, str]:
    """``-e`` with JSON, so values with spaces stay whole."""
    return "-e", json.dumps(variables)


def records_named(server: InvokeAIServer, name: str) -> list[tuple[str, str | None]]:
    with InvokeAIClient.from_url(server.url, events=False) as client:
        found = client.dnn_model_repo.list_models(name=name)
    return [(m.key, m.description) for m in found]


def test_check_mode_is_a_dry_run_that_sends_no_write(
    playbook: Playbook, server_state: StateOf
) -> None:
    before = server_state()
    run = playbook("apply.yml", "--check", "--diff")
    assert run.returncode == 0, run.output
    assert run.changed() == BOTH_CHANGED and run.failed() == NONE_FAILED
    assert run.output.count("tiny-lora-sd1.safetensors (install)") == 2  # the diff, per host
    assert server_state() == before  # the same records and jobs on both servers


def test_first_run_installs_second_run_changes_nothing(
    playbook: Playbook, server_state: StateOf, fleet: dict[str, InvokeAIServer]
) -> None:
    first = playbook("apply.yml")
    assert first.returncode == 0, first.output
    assert first.changed() == BOTH_CHANGED
    after_first = server_state()
    for host in HOSTS:
        names = {name for name, _ in after_first[host].records.values()}
        assert {"Tiny LoRA", "tiny-embedding", "Tiny VAE"} <= names, host
        assert records_named(fleet[host], "tiny-embedding")[-1][1] == "A tiny textual inversion"
    second = playbook("apply.yml")
    assert second.returncode == 0, second.output
    assert second.changed() == NONE_CHANGED
    assert server_state() == after_first  # no job, no record, no setting changed


def test_a_setting_update_is_one_change_then_none(
    playbook: Playbook, fleet: dict[str, InvokeAIServer]
) -> None:
    assert playbook("model.yml").changed() == BOTH_CHANGED  # installed
    described = playbook("model.yml", *extra(model_description="Adds detail"), "-v")
    assert described.returncode == 0, described.output
    assert described.changed() == BOTH_CHANGED
    assert described.output.count('"changes": {"description": "Adds detail"}') == 2
    again = playbook("model.yml", *extra(model_description="Adds detail"))
    assert again.changed() == NONE_CHANGED
    for host in HOSTS:
        descriptions = {d for _, d in records_named(fleet[host], "Tiny LoRA")}
        assert "Adds detail" in descriptions, host


def test_state_absent_deletes(playbook: Playbook, server_state: StateOf) -> None:
    assert playbook("model.yml").changed() == BOTH_CHANGED
    installed = server_state()
    gone = playbook("model.yml", *extra(model_state="absent"), "--diff")
    assert gone.returncode == 0, gone.output
    assert gone.changed() == BOTH_CHANGED
    after = server_state()
    for host in HOSTS:
        removed = set(installed[host].records) - set(after[host].records)
        assert [installed[host].records[key][0] for key in removed] == ["Tiny LoRA"], host
    assert playbook("model.yml", *extra(model_state="absent")).changed() == NONE_CHANGED


def test_a_bad_source_fails_that_host_and_the_other_goes_on(
    playbook: Playbook, models_dir: Path
) -> None:
    unknown = str(models_dir / "tiny-unknown.safetensors")  # 6.14 installs it, 6.8 cannot
    run = playbook("model.yml", *extra(model_source=unknown))
    assert run.returncode != 0
    assert run.failed() == {"invokeai-a": 0, "invokeai-b": 1}
    assert run.recap["invokeai-a"]["ok"] == 2  # it went on to the next task
    assert "InvalidModelConfigException: Unable to determine model type" in run.output
    assert "Traceback" not in run.output


def test_the_vault_token_never_appears_in_the_output(playbook: Playbook, tmp_path: Path) -> None:
    vault = vault_args(tmp_path, vault_invokeai_token=SECRET)
    run = playbook("apply.yml", *vault, "-vvv")
    assert run.returncode == 0, run.output
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in run.output  # the token was passed
    failing = playbook(
        "model.yml", *vault, *extra(model_source="/no/such/file.safetensors"), "-vvv", "--diff"
    )
    assert failing.failed() == dict.fromkeys(HOSTS, 1)
    assert "409: Unsupported model source" in failing.output
    assert SECRET not in run.output + failing.output


def test_rolling_run_and_a_manifest_in_the_playbook(playbook: Playbook) -> None:
    rolling = playbook("rolling.yml")
    assert rolling.returncode == 0, rolling.output
    assert rolling.output.count("PLAY [Roll the manifest out, one server at a time]") == 2
    assert rolling.changed() == BOTH_CHANGED
    inline = playbook("inline.yml")
    assert inline.returncode == 0, inline.output
    assert inline.changed() == NONE_CHANGED  # rolling.yml installed the same embedding
    assert playbook("apply.yml").changed() == NONE_CHANGED
