"""The invokeai.models collection as a whole: its metadata follows the package, its
documentation follows its argument specs, its examples and docs are in place; and the
library's one-model planner (``_core/model_plan.py``) that its model module uses."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import invokeai_py_client
from ansible_collections.invokeai.models.plugins.modules import manifest, model, model_info
from invokeai_py_client._core.manifest_plan import PlanAction, PlannedChange
from invokeai_py_client._core.model_plan import (
    config_changes,
    job_data,
    plan_record,
    record_data,
    with_config,
)
from invokeai_py_client.dnn_model import (
    DnnModel,
    ModelInstallConfig,
    ModelInstJobInfo,
    ModelManifest,
)
from tests.unit.conftest import body

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = ROOT / "ansible_collections" / "invokeai" / "models"
MODULES = {"model": model, "manifest": manifest, "model_info": model_info}
EXAMPLES = ROOT / "examples" / "ansible"


def semver(version: str) -> str:
    """PEP 440 as SemVer, which ansible-galaxy requires: 2.0.0.dev0 -> 2.0.0-dev0."""
    match = re.fullmatch(r"(\d+\.\d+\.\d+)\.?((?:a|b|rc|dev|post)\d*)?", version)
    assert match, f"cannot spell {version} as SemVer"
    core, pre = match.groups()
    return f"{core}-{pre}" if pre else core


def test_galaxy_version_is_the_package_version() -> None:
    galaxy = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    assert (galaxy["namespace"], galaxy["name"]) == ("invokeai", "models")
    assert galaxy["version"] == semver(invokeai_py_client.__version__)
    assert galaxy["license"] == ["MIT"]


def test_semver_spelling() -> None:
    assert [semver(v) for v in ("2.0.0", "2.0.0.dev0", "2.1.0rc1")] == [
        "2.0.0",
        "2.0.0-dev0",
        "2.1.0-rc1",
    ]


def test_runtime_metadata_and_the_one_ignore() -> None:
    runtime = yaml.safe_load((COLLECTION / "meta" / "runtime.yml").read_text())
    assert runtime["requires_ansible"] == ">=2.16.0"
    entries = [
        line.split()
        for path in (COLLECTION / "tests" / "sanity").glob("ignore-*.txt")
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    assert entries and {rule for _, rule in entries} == {"validate-modules:missing-gplv3-license"}


def documentation(module: Any) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(module.DOCUMENTATION)
    fragment = COLLECTION / "plugins" / "doc_fragments" / "common.py"
    tree = ast.parse(fragment.read_text())
    text = next(
        node.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        and getattr(node.targets[0], "id", "") == "DOCUMENTATION"
    )
    doc["options"].update(yaml.safe_load(text)["options"])
    return doc


@pytest.mark.parametrize("name", sorted(MODULES))
def test_documentation_follows_the_argument_spec(name: str) -> None:
    module = MODULES[name]
    doc = documentation(module)
    spec = module.argument_spec()
    assert doc["module"] == name
    assert set(doc["options"]) == set(spec)
    for option, rules in spec.items():
        documented = doc["options"][option]
        assert documented["type"] == rules["type"], option
        assert documented.get("default") == rules.get("default"), option
        assert documented.get("choices") == rules.get("choices"), option
        assert bool(documented.get("required")) == bool(rules.get("required")), option
    assert yaml.safe_load(module.EXAMPLES) and yaml.safe_load(module.RETURN)


def test_secrets_are_no_log() -> None:
    for module in MODULES.values():
        spec = module.argument_spec()
        assert spec["token"]["no_log"] is True
    assert model.argument_spec()["access_token"]["no_log"] is True


def test_examples_and_docs_are_in_place() -> None:
    files = {p.name for p in EXAMPLES.iterdir()}
    assert {"inventory.yml", "models.yaml", "apply.yml", "rolling.yml", "model.yml"} <= files
    doc = (ROOT / "docs" / "ansible.md").read_text()
    for name in sorted(files):
        assert f"examples/ansible/{name}" in doc or name in doc, name
    readme = (ROOT / "README.md").read_text()
    assert "## Ansible" in readme and "(docs/ansible.md)" in readme
    ModelManifest.load(EXAMPLES / "models.yaml")  # a valid manifest


# -- the library's one-model planner ------------------------------------------------


def lora(**fields: Any) -> DnnModel:
    return DnnModel.model_validate({**body("model_get_lora_sd1"), **fields})


def entry(**fields: Any) -> Any:
    return ModelManifest.from_dict({"models": [{"source": "/m/x.safetensors", **fields}]}).models[0]


def test_plan_record_compares_hash_then_settings() -> None:
    model = lora(description="old")
    assert plan_record(entry(description="old"), model).action is PlanAction.KEEP
    update = plan_record(entry(description="new"), model)
    assert (update.action, update.changes) == (PlanAction.UPDATE, {"description": "new"})
    assert plan_record(entry(hash="blake3:x"), model).action is PlanAction.HASH_MISMATCH


def test_with_config_turns_a_keep_into_an_update_only_for_differing_fields() -> None:
    model = lora(cpu_only=False)
    keep = PlannedChange(PlanAction.KEEP, entry(), model)
    assert with_config(keep, None) is keep
    assert with_config(keep, ModelInstallConfig(cpu_only=False)) is keep
    update = with_config(keep, ModelInstallConfig(cpu_only=True, base="sd-1"))
    assert (update.action, update.changes) == (PlanAction.UPDATE, {"cpu_only": True})
    install = PlannedChange(PlanAction.INSTALL, entry())
    assert with_config(install, ModelInstallConfig(cpu_only=True)) is install
    assert config_changes(ModelInstallConfig(extra={"new_field": 1}), model) == {"new_field": 1}


def test_records_and_jobs_as_data_hold_no_secret() -> None:
    model = lora(source="https://h.test/m.safetensors?token=SECRET")
    assert "SECRET" not in str(record_data(model))
    raw = body("install_job_completed_url")
    raw["error_traceback"] = "Traceback (most recent call last): ..."
    raw["source"]["access_token"] = "SECRET"
    data = job_data(ModelInstJobInfo.model_validate(raw))
    assert "SECRET" not in str(data) and "error_traceback" not in data
