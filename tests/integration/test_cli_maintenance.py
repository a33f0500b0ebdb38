"""``invokeai-models`` maintenance commands against the test-bed server: update, convert,
reidentify, scan, missing, orphaned, cache, hf, starter (--json output and exit codes)."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from testbed import tiny_models as tm
from testbed.server import InvokeAIServer
from tests.integration.conftest import Cli, json_lines

BOGUS_HF_TOKEN = "hf_bogusCLItoken" + "x" * 24


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def install(cli: Cli, installed: list[str], path: Path) -> str:
    """Install ``path`` in place with the CLI; its key (deleted after the test)."""
    result = cli("--json", "install", "--inplace", str(path))
    (job,) = json_lines(result.stdout)
    if job["model_key"]:
        installed.append(job["model_key"])
    assert result.exit_code == 0, result.output
    return str(job["model_key"])


def own_test_bed(server: InvokeAIServer | None) -> InvokeAIServer:
    if server is None:
        pytest.skip("INVOKE_AI_ENDPOINT is set: this test deletes on the whole server")
    return server


# -- update ----------------------------------------------------------------------------------


def test_update(cli: Cli, tiny_models_dir: Path, installed: list[str]) -> None:
    key = install(cli, installed, tm.write_lora_sd1(tiny_models_dir))
    result = cli(
        "--json", "update", key, "--name", "CLI LoRA", "--description", "updated by the CLI",
        "--trigger-phrase", "tiny style", "--trigger-phrase", "cli",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["key"] == key and record["name"] == "CLI LoRA"
    assert record["description"] == "updated by the CLI"
    # the server keeps trigger phrases as a set: their order is not kept
    assert sorted(record["trigger_phrases"]) == ["cli", "tiny style"]
    shown = json.loads(cli("--json", "show", key).stdout)
    assert sorted(shown["trigger_phrases"]) == ["cli", "tiny style"]
    assert shown["name"] == "CLI LoRA"

    replaced = cli("--json", "update", key, "--trigger-phrase", "only")
    assert json.loads(replaced.stdout)["trigger_phrases"] == ["only"]
    cleared = cli(
        "--json", "update", key, "--config", '{"trigger_phrases": [], "description": null}'
    )
    assert cleared.exit_code == 0, cleared.output
    record = json.loads(cleared.stdout)
    assert not record["trigger_phrases"] and record["description"] is None
    assert record["name"] == "CLI LoRA"  # untouched

    table = cli("update", key, "--description", "again")
    assert table.exit_code == 0 and key in table.stdout and "again" in table.stdout


def test_update_errors(cli: Cli, tiny_models_dir: Path, installed: list[str]) -> None:
    key = install(cli, installed, tm.write_embedding_sd1(tiny_models_dir))
    nothing = cli("update", key)
    assert nothing.exit_code == 2 and "nothing to change" in one_line(nothing.stderr)
    typo = cli("update", key, "--config", '{"descripton": "x"}')
    assert typo.exit_code == 2 and "did you mean 'description'" in one_line(typo.stderr)

    unknown = cli("update", "00000000-no-such-model-key", "--name", "x")
    assert unknown.exit_code == 1
    assert "-> 404" in one_line(unknown.stderr) and "model not found" in unknown.stderr

    # a format the record's kind does not allow: 409 with the server's validation message
    refused = cli("--json", "update", key, "--config", '{"format": "diffusers"}')
    assert refused.exit_code == 1
    error = json.loads(one_line(refused.stderr))
    assert error["status_code"] == 409 and "validation error" in error["detail"]
    assert json.loads(cli("--json", "show", key).stdout)["format"] == "embedding_file"


# -- convert, reidentify ---------------------------------------------------------------------


def test_convert(cli: Cli, tiny_models_dir: Path, installed: list[str]) -> None:
    lora = install(cli, installed, tm.write_lora_sd1(tiny_models_dir))
    checkpoint = install(cli, installed, tm.write_main_checkpoint_sd1(tiny_models_dir))
    unknown = "00000000-no-such-model-key"
    result = cli("--json", "convert", lora, unknown, checkpoint)
    results = json.loads(result.stdout)
    installed.extend(r["new_key"] for r in results if r.get("new_key"))
    assert result.exit_code == 1
    assert [r["key"] for r in results] == [lora, unknown, checkpoint]
    not_checkpoint, no_such, tiny = results
    assert not_checkpoint["ok"] is False and "-> 400" in not_checkpoint["error"]
    assert "checkpoint model" in not_checkpoint["error"]
    assert no_such["ok"] is False and "-> 424" in no_such["error"]  # 424, not 404
    errors = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert [e["status_code"] for e in errors[:2]] == [400, 424]
    # Converting needs the Hugging Face hub for the pipeline's config; the test machine may
    # be offline (500), and a tiny checkpoint has no real weights to convert anyway.
    if not tiny["ok"]:
        assert errors[2]["status_code"] == 500 and "huggingface.co" in errors[2]["hint"]

    text = cli("convert", lora)
    assert text.exit_code == 1
    line = one_line(text.stderr)
    assert line.startswith("error: PUT /api/v2/models/convert/") and "-> 400" in line


def test_reidentify(
    cli: Cli, tiny_models_dir: Path, installed: list[str], server_version: tuple[int, ...]
) -> None:
    key = install(cli, installed, tm.write_lora_sd1(tiny_models_dir))
    unknown = "00000000-no-such-model-key"
    if server_version < (6, 9):
        old = cli("reidentify", key, unknown)
        assert old.exit_code == 1
        assert "needs InvokeAI 6.9" in one_line(old.stderr)
        return
    named = f"kept {uuid.uuid4().hex[:8]}"  # not what a probe of the file would call it
    assert cli("update", key, "--name", named).exit_code == 0
    result = cli("--json", "reidentify", key, unknown)
    assert result.exit_code == 1
    ok, failed = json.loads(result.stdout)
    # re-identifying keeps the name from InvokeAI 6.11 on; 6.9 and 6.10 name it anew
    assert ok["name"] == named if server_version >= (6, 11) else ok["name"] != named
    assert ok == {
        "key": key,
        "ok": True,
        "name": ok["name"],
        "base": "sd-1",
        "type": "lora",
        "format": "lycoris",
        "error": None,
    }
    assert failed["key"] == unknown and failed["ok"] is False and "-> 404" in failed["error"]
    text = cli("reidentify", key)
    assert text.exit_code == 0 and f"re-identified {ok['name']} ({key})" in text.stdout


# -- scan ------------------------------------------------------------------------------------


def test_scan_and_install(cli: Cli, tiny_models_dir: Path, installed: list[str]) -> None:
    emb = tm.write_embedding_sd1(tiny_models_dir)
    lora = tm.write_lora_sd1(tiny_models_dir)
    vae = tm.write_vae_sd1(tiny_models_dir / "sub")
    install(cli, installed, emb)

    result = cli("--json", "scan", str(tiny_models_dir))
    assert result.exit_code == 0, result.output
    found = {Path(f["path"]).resolve(): f["is_installed"] for f in json.loads(result.stdout)}
    assert found == {emb: True, lora: False, vae: False}
    table = cli("scan", str(tiny_models_dir))
    assert table.exit_code == 0 and lora.name in table.stdout
    assert "3 model(s) found, 2 not installed" in table.stderr

    installing = cli("--json", "scan", str(tiny_models_dir), "--install")
    jobs = json_lines(installing.stdout)
    installed.extend(j["model_key"] for j in jobs if j["model_key"])
    assert installing.exit_code == 0, installing.output
    assert {Path(j["source"]).resolve() for j in jobs} == {lora, vae}
    assert all(j["ok"] and j["status"] == "completed" for j in jobs)
    for job in jobs:  # installed in place: the record points at the file where it is
        record = json.loads(cli("--json", "show", job["model_key"]).stdout)
        assert Path(record["path"]).resolve() in {lora, vae}
    assert lora.exists() and vae.exists()

    again = cli("scan", str(tiny_models_dir), "--install")
    assert again.exit_code == 0 and "nothing to install" in again.stdout


def test_scan_with_progress_text(cli: Cli, tiny_models_dir: Path, installed: list[str]) -> None:
    lora = tm.write_lora_sd1(tiny_models_dir)
    result = cli("scan", str(tiny_models_dir), "--install")
    listed = json.loads(cli("--json", "list", "--type", "lora").stdout)
    installed.extend(m["key"] for m in listed if m.get("source") == str(lora))
    assert result.exit_code == 0, result.output
    assert "✓ installed" in result.stdout and str(lora) in result.stdout
    assert "completed" in result.stderr  # the progress display


def test_scan_errors(cli: Cli, tiny_models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tiny_models_dir / "no-such-folder"
    result = cli("--json", "scan", str(missing))
    assert result.exit_code == 1
    error = json.loads(one_line(result.stderr))
    assert error["status_code"] == 400 and str(missing) in error["detail"]
    assert "must exist on the server" in error["hint"]

    monkeypatch.chdir(tiny_models_dir.parent)
    relative = cli("scan", "no-such-folder")
    assert relative.exit_code == 1
    assert "absolute path on the server" in one_line(relative.stderr)
    assert cli("scan", str(tiny_models_dir), "--no-wait").exit_code == 2


# -- missing, orphaned -----------------------------------------------------------------------


def test_missing(
    cli: Cli,
    tiny_models_dir: Path,
    installed: list[str],
    server_version: tuple[int, ...],
    invokeai_server: InvokeAIServer | None,
) -> None:
    if server_version < (6, 12):
        old = cli("missing")
        assert old.exit_code == 1 and "needs InvokeAI 6.12" in one_line(old.stderr)
        return
    path = tm.write_embedding_sd1(tiny_models_dir)
    key = install(cli, installed, path)
    assert key not in [m["key"] for m in json.loads(cli("--json", "missing").stdout)]
    path.unlink()
    listed = cli("--json", "missing")
    assert listed.exit_code == 0, listed.output
    assert key in [m["key"] for m in json.loads(listed.stdout)]
    table = cli("missing")
    assert key in table.stdout and "model(s) with missing files" in table.stderr

    refused = cli("missing", "--delete")  # stdin is not a terminal
    assert refused.exit_code == 2 and "--yes" in one_line(refused.stderr)
    assert key in [m["key"] for m in json.loads(cli("--json", "missing").stdout)]

    own_test_bed(invokeai_server)
    deleted = cli("--json", "missing", "--delete", "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert {"key": key, "deleted": True, "error": None} in json.loads(deleted.stdout)
    assert cli("show", key).exit_code == 1
    assert json.loads(cli("--json", "missing").stdout) == []
    empty = cli("--json", "missing", "--delete", "--yes")
    assert empty.exit_code == 0 and json.loads(empty.stdout) == []


def test_orphaned(
    cli: Cli, server_version: tuple[int, ...], invokeai_server: InvokeAIServer | None
) -> None:
    if server_version < (6, 12):
        old = cli("--json", "orphaned", "--delete", "--yes")
        assert old.exit_code == 1
        assert "needs InvokeAI 6.12" in json.loads(one_line(old.stderr))["error"]
        return
    server = own_test_bed(invokeai_server)
    orphan = server.models_dir / ("cli-orphan-" + uuid.uuid4().hex[:12])
    tm.write_embedding_sd1(orphan, "orphan.safetensors")
    try:
        listed = cli("--json", "orphaned")
        assert listed.exit_code == 0, listed.output
        by_path = {o["path"]: o for o in json.loads(listed.stdout)}
        assert orphan.name in by_path
        assert Path(by_path[orphan.name]["absolute_path"]).resolve() == orphan.resolve()
        assert by_path[orphan.name]["files"] == ["orphan.safetensors"]
        table = cli("orphaned")
        assert orphan.name in table.stdout and "orphaned folder(s)" in table.stderr

        refused = cli("orphaned", "--delete")
        assert refused.exit_code == 2 and "--yes" in one_line(refused.stderr)
        assert orphan.exists()

        deleted = cli("--json", "orphaned", "--delete", "--yes")
        assert deleted.exit_code == 0, deleted.output
        assert {"path": orphan.name, "deleted": True, "error": None} in json.loads(deleted.stdout)
        assert not orphan.exists()
        assert server.models_dir.is_dir()
        assert json.loads(cli("--json", "orphaned").stdout) == []
    finally:
        shutil.rmtree(orphan, ignore_errors=True)


# -- cache, hf, starter ----------------------------------------------------------------------


def test_cache(cli: Cli) -> None:
    stats = cli("--json", "cache", "stats")
    assert stats.exit_code == 0, stats.output
    data = json.loads(stats.stdout)
    assert data is None or {"hits", "misses", "cache_size", "hit_rate"} <= set(data)
    text = cli("cache", "stats")
    assert text.exit_code == 0
    if data is None:  # a fresh test bed has run no graph
        assert "no cache statistics yet" in text.stdout
    emptied = cli("--json", "cache", "empty")
    assert emptied.exit_code == 0 and json.loads(emptied.stdout) == {"emptied": True}
    assert cli("cache", "empty").stdout.strip() == "emptied the model cache"


def test_hf_status_login_logout(cli: Cli) -> None:
    status = cli("--json", "hf", "status")
    assert status.exit_code == 0, status.output
    data = json.loads(status.stdout)
    assert data["status"] in {"valid", "invalid", "unknown"}
    assert data["logged_in"] is (data["status"] == "valid")
    if data["logged_in"]:
        pytest.skip("the server holds a valid Hugging Face token: not logging it out")

    # The server checks the token with huggingface.co before keeping it: a bogus token (or
    # no network) leaves it with none, and it answers 200 "invalid".
    for extra in ([], ["--json"]):
        result = cli("--debug", *extra, "hf", "login", input=f"{BOGUS_HF_TOKEN}\n")
        assert result.exit_code == 1, result.output
        assert BOGUS_HF_TOKEN not in result.stdout + result.stderr
        assert "hf_bogusCLI" not in result.stdout + result.stderr
    assert json.loads(result.stdout) == {"logged_in": False, "status": "invalid"}
    text = cli("hf", "login", input=f"{BOGUS_HF_TOKEN}\n")
    assert "did not accept the Hugging Face token" in one_line(text.stderr)

    argv = cli("--debug", "hf", "login", BOGUS_HF_TOKEN)
    assert argv.exit_code == 2 and BOGUS_HF_TOKEN not in argv.stdout + argv.stderr
    assert cli("hf", "login", input="\n").exit_code == 2

    logout = cli("--json", "hf", "logout")
    assert logout.exit_code == 0 and json.loads(logout.stdout) == {"logged_out": True}
    assert json.loads(cli("--json", "hf", "status").stdout)["status"] == "invalid"
    assert "none, or not valid" in cli("hf", "status").stdout


def test_starter_list(cli: Cli) -> None:
    result = cli("--json", "starter", "list")
    assert result.exit_code == 0, result.output
    starters = json.loads(result.stdout)
    assert starters and all(s["id"] == f"{s['base']}/{s['type']}/{s['name']}" for s in starters)
    assert len({s["id"] for s in starters}) == len(starters)
    assert all(isinstance(s["is_installed"], bool) and s["source"] for s in starters)
    sd1 = json.loads(cli("--json", "starter", "list", "--base", "sd-1").stdout)
    assert sd1 and all(s["base"] == "sd-1" for s in sd1) and len(sd1) < len(starters)
    table = cli("starter", "list", "--base", "sd-1")
    assert table.exit_code == 0 and sd1[0]["name"] in table.stdout
    quiet = cli("-q", "starter", "list", "--base", "sd-1")
    assert quiet.stdout.splitlines() == [s["id"] for s in sd1]


def test_starter_install_refusals_download_nothing(cli: Cli) -> None:
    jobs_before = json.loads(cli("--json", "jobs").stdout)
    unknown = cli("starter", "install", "no such starter model", "--no-wait")
    assert unknown.exit_code == 2
    assert "no starter model" in one_line(unknown.stderr)
    close = cli("starter", "install", "Depth Mapp")
    assert close.exit_code == 2 and "did you mean 'Depth Map'" in one_line(close.stderr)
    ambiguous = cli("--json", "starter", "install", "Depth Map", "--no-wait")
    assert ambiguous.exit_code == 2
    error = json.loads(one_line(ambiguous.stderr))
    assert "sd-1/controlnet/Depth Map" in error["error"] and "hint" in error
    assert json.loads(cli("--json", "jobs").stdout) == jobs_before


def test_usage_errors(cli: Cli) -> None:
    for args in (
        ["convert"], ["reidentify"], ["scan"], ["update"], ["starter", "install"],
        ["cache"], ["hf"], ["starter"],  # a bare group prints its help, as a usage error
        ["cache", "stats", "extra"], ["missing", "--yes", "--delete", "extra"],
    ):  # fmt: skip
        assert cli(*args).exit_code == 2, args
