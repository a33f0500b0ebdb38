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
    Update,
    WaitAny,
    apply_steps,
)
from invokeai_py_client._core.manifest_plan import check_sources, plan_changes
from invokeai_py_client.dnn_model import (
    DnnModel,
    ManifestPlan,
    ModelInstJobInfo,
    ModelManifest,
    PlanAction,
)
from invokeai_py_client.dnn_model.manifest import source_key
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
    """Run ``steps``, replying with ``answer(step)``; return the report and the steps."""
    seen: list[Any] = []
    reply: Any = None
    while True:
        try:
            step = steps.send(reply)
        except StopIteration as stop:
            return stop.value, seen
        seen.append(step)
        reply = answer(step)


def entries(n: int) -> list[dict[str, Any]]:
    return [{"source": f"/m/tiny-{i}.safetensors", "name": f"tiny {i}"} for i in range(n)]


def test_installs_run_n_at_a_time_and_one_failure_does_not_stop_the_rest() -> None:
    plan = plan_changes(manifest(*entries(7)), [])
    running: dict[str, FakeJob] = {}
    most = 0

    def answer(step: Any) -> Any:
        nonlocal most
        if isinstance(step, Install):
            if step.source.endswith("tiny-3.safetensors"):
                return ConflictError(
                    method="POST",
                    route="/install",
                    status_code=409,
                    detail="Unsupported model source",
                    body=None,
                )
            ok = not step.source.endswith("tiny-5.safetensors")
            running[step.source] = FakeJob(job_info(len(running), step.source, ok=ok))
            most = max(most, len(running))
            return running[step.source]
        if isinstance(step, Update):  # the fake server kept no name: apply sets it after
            return LORA.model_copy(update=step.changes)
        assert isinstance(step, WaitAny) and len(step.jobs) <= 3
        first = step.jobs[0]
        running.pop(next(k for k, v in running.items() if v is first))
        return [first]

    report, steps = drive(apply_steps(plan, concurrency=3, environ={}), answer)
    assert most == 3
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
    started: list[FakeJob] = []
    waits = 0

    def answer(step: Any) -> Any:
        nonlocal waits
        if isinstance(step, Install):
            started.append(FakeJob(job_info(len(started), step.source, status="running")))
            return started[-1]
        if isinstance(step, Update):
            return LORA.model_copy(update=step.changes)
        waits += 1
        if waits == 1:  # job 1 is gone from the server
            return InstallJobLostError("gone", started[1].info)
        if waits == 2:
            return APIConnectionError("refused", method="GET", route="/install")
        for job in step.jobs:
            job._info = job_info(job.id, job.info.source or "")
        return list(step.jobs)

    report, steps = drive(apply_steps(plan, concurrency=2, environ={}), answer)
    outcomes = [(r.outcome, r.error) for r in report.results]
    assert outcomes[1] == ("failed", "gone")
    assert outcomes[0][0] == outcomes[2][0] == "failed"  # running when the server went away
    assert "refused" in str(outcomes[0][1]) and "refused" in str(outcomes[2][1])
    assert outcomes[3][0] == "done"  # the queue went on
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
    steps = apply_steps(plan, environ={"NO_SUCH_TOKEN": "hf_x"})
    step = next(steps)
    assert isinstance(step, Install) and step.access_token == "hf_x"


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
    assert "out of time" in str(by_action[PlanAction.INSTALL][1].error)
    updated = by_action[PlanAction.UPDATE][0].model
    assert updated is not None
    assert updated.name == "New"
    assert sum(r.outcome == "done" for r in by_action[PlanAction.DELETE]) == deletes - 1
    (gone,) = [r for r in by_action[PlanAction.DELETE] if r.outcome == "failed"]
    assert gone.change.model == VAE and "already gone" in str(gone.error)
    assert "timed out" in str(by_action[PlanAction.INSTALL][0].error)
    assert sum(isinstance(s, Install) for s in steps) == 1  # the second never started


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
    assert isinstance(step, Install) and step.source == "http://h:1/x.safetensors"
