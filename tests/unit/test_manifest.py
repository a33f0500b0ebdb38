"""Manifests: reading, matching rules, plans, the apply steps, export (offline)."""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from invokeai_py_client import AsyncInvokeAIClient, InvokeAIClient, ManifestError
from invokeai_py_client._core.job_state import JobHandleBase
from invokeai_py_client._core.manifest_apply import (
    ApplyReport,
    Delete,
    Install,
    StartInstalls,
    Update,
    WaitAny,
    apply_steps,
)
from invokeai_py_client._core.manifest_plan import check_sources, checked_manifest, plan_changes
from invokeai_py_client.dnn_model import (
    DnnModel,
    ManifestPlan,
    ModelInstJobInfo,
    ModelManifest,
    PlanAction,
)
from invokeai_py_client.dnn_model.manifest import source_key
from invokeai_py_client.dnn_model.manifest_sources import match_key
from invokeai_py_client.dnn_model.manifest_text import parse
from invokeai_py_client.errors import (
    APIConnectionError,
    ConflictError,
    InstallJobLostError,
    InstallJobTimeoutError,
)
from tests.unit.conftest import BASE_URL, V2, body, replay

MODELS = [DnnModel.model_validate(m) for m in body("models_list")["models"]]
LORA = next(m for m in MODELS if m.type == "lora")
VAE = next(m for m in MODELS if m.type == "vae")


def manifest(*entries: dict[str, Any], **top: Any) -> ModelManifest:
    return ModelManifest.from_dict({"models": list(entries), **top})


def refused(data: Any) -> str:
    with pytest.raises(ManifestError) as err:
        ModelManifest.from_dict(data)
    return str(err.value)


# -- reading ---------------------------------------------------------------------------


def test_yaml_and_json_files(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        "version: 1\nservers: [http://a:9090, {url: 'http://b:9090', token: '${B_TOKEN}'}]\n"
        "models:\n  - source: ./models/x.safetensors\n    name: X\n"
        "    trigger_phrases: [a, b]\n    default_settings: {weight: 0.5}\n    inplace: true\n"
    )
    loaded = ModelManifest.load(tmp_path / "m.yaml")
    entry = loaded.models[0]
    assert entry.source == (tmp_path / "models/x.safetensors").as_posix()
    assert entry.settings() == {
        "name": "X",
        "trigger_phrases": ["a", "b"],
        "default_settings": {"weight": 0.5},
    }
    assert [s.url for s in loaded.servers] == ["http://a:9090", "http://b:9090"]
    assert loaded.servers[1].resolved_token({"B_TOKEN": "tok"}) == "tok"
    (tmp_path / "m.json").write_text(json.dumps(loaded.to_dict()))
    assert ModelManifest.load(tmp_path / "m.json") == loaded
    assert ModelManifest.loads(loaded.dumps()) == loaded


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"models": [{"source": "o/r", "trigger_phrase": ["x"]}]}, "mean 'trigger_phrases'"),
        ({"models": [{"source": "o/r", "access_token": "hf_abc"}]}, "never the token itself"),
        ({"servers": [{"url": "http://a", "token": "abc"}], "models": []}, "never the token"),
        ({"models": [{"source": ""}]}, "models[0]"),
        ({"models": [{"source": "."}]}, "models[0]"),
        ({"models": [{"source": "just-a-name"}]}, "neither an absolute path"),
        ({"models": [{"source": "models/x.safetensors"}]}, "looks like a relative path"),
        ({"models": [{"source": "/m/x.safetensors", "variant": "fp16"}]}, "repo ids only"),
        ({"models": [{"source": "o/r:fp16", "variant": "fp16"}]}, "either in source"),
        ({"models": [{"source": "https://h/x", "inplace": True}]}, "paths on the server"),
        ({"models": [{"source": "o/r"}, {"source": "o/r"}]}, "the same source"),
        ({"models": [{"source": "o/r", "variant": "fp16"}, {"source": "o/r:fp16"}]}, "same"),
        ({"version": 2, "models": []}, "version"),
        ({"version": 1}, "models: Field required"),
        ({"models": [{"source": "https://h/x?token=abc123"}]}, "never the secret itself"),
        ({"models": [{"source": "https://u:pw@h/x.safetensors"}]}, "never the secret itself"),
        ({"models": [{"source": "o/r", "trigger_phrases": "x"}]}, "trigger_phrases"),
        ([1, 2], "a mapping"),
    ],
)
def test_bad_manifests_are_refused_with_the_place(data: Any, says: str) -> None:
    assert says in refused(data)


def test_unreadable_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read"):
        ModelManifest.load(tmp_path / "absent.yaml")
    (tmp_path / "bad.yaml").write_text("models: [\n")
    with pytest.raises(ManifestError, match="not valid YAML"):
        ModelManifest.load(tmp_path / "bad.yaml")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ManifestError, match="not valid JSON"):
        ModelManifest.load(tmp_path / "bad.json")


def load_error(path: Path, text: str) -> str:
    path.write_text(text)
    with pytest.raises(ManifestError) as err:
        checked_manifest(path, False)  # loads, then checks the sources' ${VAR}s
    return str(err.value)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("version: 1\nmodels: [\n", ":3: not valid YAML: did not find expected node content"),
        ("models:\n  - source: o/r\n\tname: x\n", ":3: not valid YAML: found a tab"),
        ("models:\n- source: o/r\x07\n", ":2: not valid YAML: character #x0007"),
        (
            "version: 1\nmodels:\n  - source: o/r\n  - source: /m/a.safetensors\n"
            "    trigger_phrase: [x]\n",
            ":5: models[1].trigger_phrase: unknown field (did you mean 'trigger_phrases'?)",
        ),
        (
            "models:\n  - source: o/r\n  - source: /m/a.safetensors\n"
            "    trigger_phrases: x\n    inplace: maybe\n",
            ":4: models[1].trigger_phrases: Input should be a valid list",
        ),
        ("models:\n  - source: o/r\n  - name: x\n", ":3: models[1].source: Field required"),
        ("models:\n  - source: o/r\n  - source: .\n", ":3: models[1]: source must be"),
        ("version: 2\nmodels: []\n", ":1: version: Input should be 1"),
        ("servers: [{url: h, token: abc}]\nmodels: []\n", ":1: servers[0].token: "),
        (
            "models:\n  - source: o/r\n  - source: /m/a.safetensors\n  - {source: 'o/r'}\n",
            ":4: models[2] and models[0] have the same source 'o/r' (line 2)",
        ),
        (
            "models:\n  - source: o/r\n  - source: ${NO_SUCH_DIR_VAR}/x.safetensors\n",
            ":3: models[1].source: environment variable(s) not set: NO_SUCH_DIR_VAR",
        ),
    ],
)
def test_load_errors_name_the_file_and_the_line(tmp_path: Path, text: str, says: str) -> None:
    message = load_error(tmp_path / "models.yaml", text)
    assert f"{tmp_path / 'models.yaml'}{says}" in message
    assert "<unicode string>" not in message


def test_json_errors_name_the_line_and_every_problem_its_own(tmp_path: Path) -> None:
    text = '{"models": [\n {"source": "o/r"},\n {"source": "o/r", "nme": "x"}\n]}\n'
    message = load_error(tmp_path / "m.json", text)
    assert f"{tmp_path / 'm.json'}:3: models[1].nme: unknown field (did you mean 'name'?)" in (
        message
    )
    message = load_error(tmp_path / "m.json", '{"models": [\n {"source": "o/r"},\n')
    assert ":3: not valid JSON: Expecting value" in message
    many = {"models": [{"source": "o/r", f"x{i}": 1} for i in range(13)]}
    message = load_error(tmp_path / "m.json", json.dumps(many, indent=1))
    assert message.count("unknown field") == 10 and message.endswith("and 3 more")


def test_an_install_needing_an_unset_token_names_its_line(tmp_path: Path) -> None:
    file = tmp_path / "m.yaml"
    file.write_text("models:\n  - source: o/r\n  - source: o/s\n    access_token: ${NO_TK}\n")
    plan = plan_changes(ModelManifest.load(file), [])
    with pytest.raises(ManifestError) as err:
        next(apply_steps(plan, environ={}))
    assert str(err.value).startswith(f"{file}:3: models[1]: the manifest's installs need: NO_TK")
    loaded = ModelManifest.loads(file.read_text(), origin="given")
    assert (loaded.location(1), manifest({"source": "o/r"}).location(0)) == ("given:3", "manifest")


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\nb: [1, 2.5, .inf, 0x1F, 0o17, 1_000, 190:20:30, +1, -2, 1e3]\n"
        "c: {d: null, e: ~, f: '', g: yes, h: No, i: on}\n",
        "- x\n- 'y'\n- \"z\\u00e9\"\n- 2001-12-14t21:59:43.10-05:00\n- 2002-12-14\n-\n",
        "a: |\n  text\n  more\nb: >\n  folded\n  x\nc: 'it''s'\n",
        "- - - x\n    - y\n  - z\n- {}\n- []\n",
        "a: &x 1\nb: *x\n",
        "a: {<<: {b: 1}, c: 2}\n",
        "a: !!str 1\nb: !!binary aGk=\n",
        "%YAML 1.1\n---\na: 1\n",
        "a: 1\na: 2\n",
        "# only a comment\n",
        "plain",
    ],
)
def test_the_fast_yaml_reader_reads_as_safe_load(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    expected = yaml.safe_load(text)
    assert parse(text, "yaml", "t") == expected
    plain = "&" not in text and "!" not in text and "<<" not in text and "---" not in text
    if plain and "#" not in text:  # read from the events alone: yaml.load is not called
        monkeypatch.setattr(yaml, "load", None)
        assert parse(text, "yaml", "t") == expected


@pytest.mark.parametrize(
    "text", ["---\na: 1\n---\nb: 2\n", "? [1, 2]\n: x\n", "a: =\n", "a: *\n", "[1, 2"]
)
def test_the_fast_yaml_reader_refuses_as_safe_load(text: str) -> None:
    import yaml

    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(text)
    with pytest.raises(ManifestError, match=r"^t:\d+: not valid YAML: "):
        parse(text, "yaml", "t")


@pytest.mark.parametrize(
    "source",
    [
        "/srv/models/x.safetensors",
        "/srv//models/x.safetensors",
        "/srv/./models/x",
        "/srv/models/../x",
        "/srv/models/",
        "/",
        "/srv/.hidden/x",
        "/srv/a b/x?token=abc",
        "/srv/u:pw@h/x",
        ' "/srv/x" ',
        "C:\\models\\x.safetensors",
        "https://Example.COM/x?token=1",
        "o/r:fp16:vae",
        "",
        None,
    ],
)
def test_the_quick_matching_key_is_the_source_key(source: str | None) -> None:
    assert match_key(source) == source_key(source)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("/srv//models/x.safetensors", "/srv/models/x.safetensors"),
        ("/srv/models/dir/", "/srv/models/dir"),
        ("http://Example.COM/x.safetensors", "http://example.com/x.safetensors"),
        ("http://example.com", "http://example.com/"),
        ("https://h/x?token=abc", "https://h/x?token=other"),
        ("o/r::/vae", "o/r::vae"),
        ("o/r:fp16:vae", "o/r:ModelRepoVariant.FP16::vae"),  # sent, and as recorded
        ("o/r:fp16", "o/r:ModelRepoVariant.FP16"),
    ],
)
def test_sources_compare_as_the_server_records_them(a: str, b: str) -> None:
    assert source_key(a) == source_key(b)


def test_secrets_in_a_source_as_variables_or_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(Path("/"))
    by_var = manifest({"source": "https://h/x.safetensors?token=${CIVITAI}"}).models[0]
    recorded = LORA.model_copy(update={"source": "https://h/x.safetensors?token=s3cr3t"})
    monkeypatch.setenv("CIVITAI", "s3cr3t")
    plan = plan_changes(ModelManifest(models=[by_var]), [recorded])
    assert plan.changes[0].matched_by == "source"  # the secret's value is not compared
    masked = manifest({"source": "https://h/y.safetensors?api_key=***"})  # as export writes
    plan = plan_changes(masked, [])
    with pytest.raises(ManifestError, match=r"a token for https://h/y.safetensors\?api_key=\*\*\*"):
        next(apply_steps(plan, environ={}))
    relative = manifest({"source": "./m/x.safetensors"}).models[0]  # from the working dir
    assert relative.source == "/m/x.safetensors"


def test_repo_fields_and_inline_form_are_the_same_source() -> None:
    by_fields = manifest({"source": "o/r", "variant": "fp16", "subfolder": "vae"}).models[0]
    assert by_fields.install_source == "o/r:fp16:vae"  # what the server accepts
    assert by_fields.key == manifest({"source": "o/r:fp16:vae"}).models[0].key
    assert manifest({"source": "o/r", "subfolder": "vae"}).models[0].install_source == "o/r::vae"


def test_export_splits_a_recorded_repo_source() -> None:
    recorded = LORA.model_copy(update={"source": "o/r:ModelRepoVariant.FP16::vae"})
    (entry,) = ModelManifest.from_models([recorded]).models
    assert (entry.source, entry.variant, entry.subfolder) == ("o/r", "fp16", "vae")
    assert plan_changes(ModelManifest(models=[entry]), [recorded]).changes[0].matched_by == (
        "source"
    )


# -- matching and plans ----------------------------------------------------------------


def test_match_by_recorded_source_then_keep() -> None:
    plan = plan_changes(manifest({"source": LORA.source, "name": LORA.name}), MODELS)
    (change,) = plan.changes
    assert (change.action, change.model, change.matched_by) == (PlanAction.KEEP, LORA, "source")
    assert not plan.has_drift


def test_match_by_pinned_hash_when_the_source_differs() -> None:
    plan = plan_changes(manifest({"source": "/elsewhere/x.safetensors", "hash": LORA.hash}), MODELS)
    assert (plan.changes[0].model, plan.changes[0].matched_by) == (LORA, "hash")


def test_match_by_name_type_and_base_only_with_all_three() -> None:
    entry = {"source": "/elsewhere/y.safetensors", "name": VAE.name, "type": "vae"}
    assert plan_changes(manifest(entry), MODELS).changes[0].action is PlanAction.INSTALL
    plan = plan_changes(manifest({**entry, "base": "sd-1"}), MODELS)
    assert (plan.changes[0].model, plan.changes[0].matched_by) == (VAE, "name")
    wrong_base = plan_changes(manifest({**entry, "base": "sdxl"}), MODELS)
    assert wrong_base.changes[0].action is PlanAction.INSTALL


def test_a_model_is_claimed_once() -> None:
    plan = plan_changes(
        manifest(
            {"source": LORA.source},
            {"source": "/other/copy.safetensors", "hash": LORA.hash},
        ),
        MODELS,
    )
    assert [c.action for c in plan.changes] == [PlanAction.KEEP, PlanAction.INSTALL]


def test_settings_drift_is_an_update_of_what_the_entry_states() -> None:
    entry = {
        "source": LORA.source,
        "name": "Renamed",
        "trigger_phrases": ["b", "a"],
        "default_settings": {"weight": 0.7},
    }
    (change,) = plan_changes(manifest(entry), MODELS).changes
    assert change.action is PlanAction.UPDATE
    assert change.changes == {
        "name": "Renamed",
        "trigger_phrases": ["b", "a"],
        "default_settings": {"weight": 0.7, "weight_min": None, "weight_max": None},
    }
    tagged = LORA.model_copy(update={"trigger_phrases": ["a", "b"], "name": "Renamed"})
    tagged = tagged.model_copy(update={"default_settings": {"weight": 0.7}})
    assert plan_changes(manifest(entry), [tagged]).changes[0].action is PlanAction.KEEP


def test_hash_mismatch_is_neither_keep_nor_install() -> None:
    plan = plan_changes(manifest({"source": LORA.source, "hash": "blake3:00"}), MODELS)
    (change,) = plan.changes
    assert change.action is PlanAction.HASH_MISMATCH
    assert change.changes == {}
    assert change.to_dict()["hash"] == {"pinned": "blake3:00", "found": LORA.hash}


def test_prune_lists_what_no_entry_claims() -> None:
    wanted = manifest({"source": LORA.source})
    assert not plan_changes(wanted, MODELS).of(PlanAction.DELETE)
    plan = plan_changes(wanted, MODELS, prune=True)
    assert {c.model.key for c in plan.of(PlanAction.DELETE) if c.model} == {
        m.key for m in MODELS if m is not LORA
    }
    assert plan.counts() == {
        "install": 0,
        "update": 0,
        "keep": 1,
        "delete": len(MODELS) - 1,
        "hash_mismatch": 0,
    }
    assert json.loads(json.dumps(plan.to_dict()))["drift"] is True


# -- export ----------------------------------------------------------------------------


def test_export_then_plan_is_all_keep_and_lock_pins_hashes() -> None:
    exported = ModelManifest.from_models(MODELS, lock=True)
    assert len(exported.models) == len(MODELS)
    assert {e.hash for e in exported.models} == {m.hash for m in MODELS}
    plan = plan_changes(ModelManifest.loads(exported.dumps()), MODELS, prune=True)
    assert {c.action for c in plan.changes} == {PlanAction.KEEP}
    assert all(c.matched_by == "source" for c in plan.changes)
    unlocked = ModelManifest.from_models(MODELS)
    assert all(e.hash is None for e in unlocked.models)
    by_name = {e.name: e for e in unlocked.models}
    assert by_name[LORA.name].inplace is None  # moved into the models directory
    assert by_name["capture-unknown"].inplace is True
    main = by_name["capture-main-checkpoint-sd1"]
    assert main.default_settings == {"width": 512, "height": 512}


def test_export_masks_tokens_and_skips_sourceless_records() -> None:
    secret = LORA.model_copy(update={"source": "https://h/x.safetensors?token=s3cr3t"})
    nosource = VAE.model_copy(update={"source": None})
    exported = ModelManifest.from_models([secret, nosource])
    assert [e.source for e in exported.models] == ["https://h/x.safetensors?token=***"]
    assert "s3cr3t" not in exported.dumps()


# -- the apply steps -------------------------------------------------------------------


class FakeJob(JobHandleBase):
    def __init__(self, info: ModelInstJobInfo) -> None:
        super().__init__(info)


def job_info(
    job_id: int, source: str, *, ok: bool = True, model: DnnModel = LORA, status: str = ""
) -> Any:
    status = status or ("completed" if ok else "error")
    return ModelInstJobInfo.model_validate(
        {
            "id": job_id,
            "status": status,
            "source": {"type": "local", "path": source},
            "config_out": model.model_dump(mode="json") if ok else None,
            "error": None if ok else "boom",
            "error_reason": None if ok else "Boom",
        }
    )


def drive(steps: Generator[Any, Any, ApplyReport], answer: Any) -> tuple[ApplyReport, list[Any]]:
    """Run ``steps``, replying with ``answer(step)`` (to ``StartInstalls``: with
    ``answer(install)`` per install, in order); return the report and the steps, each
    install listed after its ``StartInstalls``."""
    seen: list[Any] = []
    reply: Any = None
    while True:
        try:
            step = steps.send(reply)
        except StopIteration as stop:
            return stop.value, seen
        seen.append(step)
        if isinstance(step, StartInstalls):
            seen.extend(step.installs)
            reply = [answer(install) for install in step.installs]
        else:
            reply = answer(step)


class FakeServer:
    """Jobs of ``Install`` steps, and the wait: ``WaitAny`` follows the jobs it is
    given, and those given before, until a reply that is an error."""

    def __init__(self) -> None:
        self.started: list[FakeJob] = []
        self.followed: list[FakeJob] = []
        self.waits: list[int] = []  # how many new jobs each WaitAny gave

    def start(self, install: Install, *, ok: bool = True, status: str = "") -> FakeJob:
        job = FakeJob(job_info(len(self.started), install.source, ok=ok, status=status))
        self.started.append(job)
        return job

    def follow(self, step: WaitAny) -> None:
        self.waits.append(len(step.jobs))
        self.followed.extend(j for j in step.jobs if isinstance(j, FakeJob))

    def end(self, *jobs: FakeJob) -> list[FakeJob]:
        for job in jobs:
            self.followed.remove(job)
            job._info = job_info(job.id, job.info.source or "")
        return list(jobs)

    def failed(self, error: Exception) -> Exception:
        self.followed.clear()  # the wait starts afresh
        return error


def entries(n: int) -> list[dict[str, Any]]:
    return [{"source": f"/m/tiny-{i}.safetensors", "name": f"tiny {i}"} for i in range(n)]


def test_installs_start_ahead_and_one_failure_does_not_stop_the_rest() -> None:
    plan = plan_changes(manifest(*entries(7)), [])
    server = FakeServer()

    def answer(step: Any) -> Any:
        if isinstance(step, Install):
            if step.source.endswith("tiny-3.safetensors"):
                return ConflictError(
                    method="POST",
                    route="/install",
                    status_code=409,
                    detail="Unsupported model source",
                    body=None,
                )
            return server.start(step, ok=not step.source.endswith("tiny-5.safetensors"))
        if isinstance(step, Update):  # the fake server kept no name: apply sets it after
            return LORA.model_copy(update=step.changes)
        assert isinstance(step, WaitAny)
        server.follow(step)
        return [server.followed.pop(0)]  # one at a time, in order

    report, steps = drive(apply_steps(plan, concurrency=3, environ={}), answer)
    (start,) = [s for s in steps if isinstance(s, StartInstalls)]
    assert start.concurrency == 3 and len(start.installs) == 7  # all sent first
    assert steps.index(start) == 0
    assert server.waits == [6, 0, 0, 0, 0, 0]  # one wait follows every job started
    assert report.counts() == {"done": 5, "skipped": 0, "failed": 2}
    failed = {r.change.entry.source: r.error for r in report.of("failed") if r.change.entry}
    assert set(failed) == {"/m/tiny-3.safetensors", "/m/tiny-5.safetensors"}
    assert "Unsupported model source" in str(failed["/m/tiny-3.safetensors"])
    assert sum(isinstance(s, Install) for s in steps) == 7
    assert sorted(s.changes["name"] for s in steps if isinstance(s, Update)) == [
        f"tiny {i}" for i in (0, 1, 2, 4, 6)
    ]
    assert {r.model.name for r in report.of("done") if r.model} == {
        "tiny 0",
        "tiny 1",
        "tiny 2",
        "tiny 4",
        "tiny 6",
    }
    first = next(s for s in steps if isinstance(s, Install))
    assert first.config.name == "tiny 0" and first.inplace is None


def test_a_lost_job_fails_alone_and_a_dead_server_fails_the_running() -> None:
    plan = plan_changes(manifest(*entries(4)), [])
    server = FakeServer()

    def answer(step: Any) -> Any:
        if isinstance(step, Install):
            return server.start(step, status="running")
        if isinstance(step, Update):
            return LORA.model_copy(update=step.changes)
        server.follow(step)
        if len(server.waits) == 1:  # job 1 is gone from the server
            return server.failed(InstallJobLostError("gone", server.started[1].info))
        if len(server.waits) == 2:
            return server.end(server.started[0], server.started[2])
        return server.failed(APIConnectionError("refused", method="GET", route="/install"))

    report, steps = drive(apply_steps(plan, concurrency=2, environ={}), answer)
    outcomes = [(r.outcome, r.error) for r in report.results]
    assert outcomes[1] == ("failed", "gone")
    assert outcomes[0][0] == outcomes[2][0] == "done"  # the others went on
    assert outcomes[3][0] == "failed" and "refused" in str(outcomes[3][1])  # its end unknown
    assert server.waits == [4, 3, 0]  # after an error, the wait is given the rest again
    assert sum(isinstance(s, Install) for s in steps) == 4


def test_a_pinned_hash_is_verified_after_install() -> None:
    plan = plan_changes(manifest({"source": "/m/a.safetensors", "hash": "blake3:00"}), [])

    def answer(step: Any) -> Any:
        return FakeJob(job_info(1, "/m/a")) if isinstance(step, Install) else list(step.jobs)

    report, _ = drive(apply_steps(plan, environ={}), answer)
    (result,) = report.results
    assert result.outcome == "failed" and "hash mismatch" in str(result.error)
    assert result.model == LORA  # installed all the same, and said so
    assert LORA.key in str(result.error)


def test_an_unset_variable_stops_apply_before_any_step() -> None:
    plan = plan_changes(manifest({"source": "o/r", "access_token": "${NO_SUCH_TOKEN}"}), [])
    with pytest.raises(ManifestError, match="NO_SUCH_TOKEN"):
        next(apply_steps(plan, environ={}))
    step = next(apply_steps(plan, environ={"NO_SUCH_TOKEN": "hf_x"}))
    assert isinstance(step, StartInstalls) and step.installs[0].access_token == "hf_x"


def test_updates_deletes_and_a_timeout() -> None:
    wanted = manifest({"source": LORA.source, "name": "New"}, *entries(2))
    plan = plan_changes(wanted, MODELS, prune=True)
    deletes = len(MODELS) - 1

    def answer(step: Any) -> Any:
        if isinstance(step, Install):
            return FakeJob(job_info(0, step.source, status="running"))
        if isinstance(step, WaitAny):
            return InstallJobTimeoutError("timed out", step.jobs[0].info)
        if isinstance(step, Update):
            return LORA.model_copy(update=step.changes)
        assert isinstance(step, Delete)
        return step.key != VAE.key  # already gone

    report, steps = drive(apply_steps(plan, concurrency=1, environ={}), answer)
    by_action = {a: [r for r in report.results if r.change.action is a] for a in PlanAction}
    assert [r.outcome for r in by_action[PlanAction.INSTALL]] == ["failed", "failed"]
    updated = by_action[PlanAction.UPDATE][0].model
    assert updated is not None
    assert updated.name == "New"
    assert sum(r.outcome == "done" for r in by_action[PlanAction.DELETE]) == deletes - 1
    (gone,) = [r for r in by_action[PlanAction.DELETE] if r.outcome == "failed"]
    assert gone.change.model == VAE and "already gone" in str(gone.error)
    assert all("timed out" in str(r.error) for r in by_action[PlanAction.INSTALL])
    assert all(r.job is not None for r in by_action[PlanAction.INSTALL])  # to cancel
    assert sum(isinstance(s, Install) for s in steps) == 2


# -- the repositories ------------------------------------------------------------------


def test_plan_and_a_no_op_apply_send_one_list_request(router: respx.MockRouter) -> None:
    replay(router, "version")
    listing, _ = replay(router, "models_list")
    exported = ModelManifest.from_models(MODELS, lock=True)
    with InvokeAIClient(BASE_URL, max_retries=0, events=False) as client:
        repo = client.dnn_model_repo
        plan = repo.plan_manifest(exported, prune=True)
        assert isinstance(plan, ManifestPlan) and not plan.has_drift
        report = repo.apply_manifest(exported.to_dict(), prune=True)
        assert report.ok and report.counts()["skipped"] == len(MODELS)
        again = repo.export_manifest(lock=True)
    assert again == exported
    assert listing.call_count == 3
    writes = [c for c in router.calls if c.request.method != "GET"]
    assert writes == []


def test_async_apply_installs_then_sets_what_the_server_dropped(router: respx.MockRouter) -> None:
    replay(router, "version")
    router.get(f"{V2}/").mock(return_value=httpx.Response(200, json={"models": []}))
    installed = body("install_job_completed_inplace")
    post = router.post(f"{V2}/install").mock(return_value=httpx.Response(201, json=installed))
    router.get(f"{V2}/install/{installed['id']}").mock(
        return_value=httpx.Response(200, json=installed)
    )
    record = installed["config_out"]
    patch = router.patch(f"{V2}/i/{record['key']}").mock(
        return_value=httpx.Response(200, json={**record, "trigger_phrases": ["tiny"]})
    )
    wanted = manifest(
        {"source": installed["source"]["path"], "name": record["name"], "trigger_phrases": ["tiny"]}
    )

    async def run() -> ApplyReport:
        async with AsyncInvokeAIClient(BASE_URL, max_retries=0, events=False) as client:
            return await client.dnn_model_repo.apply_manifest(wanted, timeout=5)

    import asyncio

    report = asyncio.run(run())
    assert report.counts() == {"done": 1, "skipped": 0, "failed": 0}
    sent = {"name": record["name"], "trigger_phrases": ["tiny"]}
    assert json.loads(post.calls[0].request.content) == sent
    # the server drops trigger phrases given at install: apply sets them after
    assert json.loads(patch.calls[0].request.content) == {"trigger_phrases": ["tiny"]}
    assert report.results[0].model is not None
    assert report.results[0].model.trigger_phrases == ["tiny"]


def test_a_variable_in_a_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FILES_AT", raising=False)
    wanted = manifest({"source": "${FILES_AT}/x.safetensors"})  # unset: the file loads
    recorded = LORA.model_copy(update={"source": "http://127.0.0.1:8123/x.safetensors"})
    with pytest.raises(ManifestError, match="FILES_AT"):  # but cannot be planned
        check_sources(wanted)
    monkeypatch.setenv("FILES_AT", "http://127.0.0.1:8123")
    check_sources(wanted)
    assert plan_changes(wanted, [recorded]).changes[0].matched_by == "source"
    step = next(apply_steps(plan_changes(wanted, []), environ={"FILES_AT": "http://h:1"}))
    assert isinstance(step, StartInstalls)
    assert step.installs[0].source == "http://h:1/x.safetensors"
