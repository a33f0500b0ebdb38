"""Plan one model: what a tool that manages a single model (the Ansible collection's
``invokeai.models.model``) decides, on top of the manifest planner.

A model named by a source is a one-entry manifest, planned by ``plan_changes`` as it is.
What a manifest entry cannot say is added here:

- a model named by its key: the entry is compared with that one record
  (``plan_record``: ``hash_mismatch``, ``update`` or ``keep``, as ``plan_changes`` does
  for a matched entry);
- install-config fields beyond the manifest's settings (``variant``, ``prediction_type``,
  ``cpu_only``, ...): ``with_config`` adds those the record lacks to an update, so a
  ``keep`` becomes an ``update`` (``config_changes``).

Records and jobs as plain data without secrets: ``record_data``, ``job_data``.
Free of I/O.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .._redact import scrub, without_secrets
from ..dnn_model.dnn_model_models import ModelInstallConfig
from ..dnn_model.dnn_model_types import DnnModel
from ..dnn_model.job_models import ModelInstJobInfo
from ..dnn_model.manifest import ManifestModel
from .manifest_plan import PlanAction, PlannedChange, settings_diff

__all__ = [
    "MANIFEST_SETTINGS",
    "config_changes",
    "job_data",
    "plan_record",
    "record_data",
    "with_config",
]

# The settings a manifest entry holds; every other ModelInstallConfig field is "config".
MANIFEST_SETTINGS = ("name", "description", "trigger_phrases", "default_settings")


def plan_record(entry: ManifestModel, model: DnnModel) -> PlannedChange:
    """``entry`` against the record it names (found by key): ``hash_mismatch`` when the
    record's hash differs from a pinned one, else ``update`` or ``keep`` by its settings."""
    if entry.hash and model.hash != entry.hash:
        return PlannedChange(PlanAction.HASH_MISMATCH, entry, model, {})
    diff = settings_diff(entry, model)
    return PlannedChange(PlanAction.UPDATE if diff else PlanAction.KEEP, entry, model, diff)


def config_changes(config: ModelInstallConfig, model: DnnModel) -> dict[str, Any]:
    """The fields ``config`` sets (``extra`` included) whose values the record does not
    have, compared as JSON (an enum as its value)."""
    have = model.model_dump(mode="json")
    return {k: v for k, v in config.to_record_changes().items() if have.get(k) != v}


def with_config(change: PlannedChange, config: ModelInstallConfig | None) -> PlannedChange:
    """``change`` with the fields of ``config`` that its record lacks added to what an
    update sends; a ``keep`` with any becomes an ``update``. Other actions are kept."""
    keeps = change.action in (PlanAction.KEEP, PlanAction.UPDATE)
    if config is None or change.model is None or not keeps:
        return change
    extra = config_changes(config, change.model)
    if not extra:
        return change
    return replace(change, action=PlanAction.UPDATE, changes={**change.changes, **extra})


def record_data(model: DnnModel) -> dict[str, Any]:
    """A record as JSON data (unknown fields kept), with any token in it masked."""
    data: dict[str, Any] = scrub(without_secrets(model.model_dump(mode="json")))
    return data


def job_data(info: ModelInstJobInfo) -> dict[str, Any]:
    """An install job as JSON data: no access token, no server traceback."""
    raw = info.model_dump(mode="json")
    raw.pop("error_traceback", None)
    data: dict[str, Any] = scrub(without_secrets(raw))
    return data
