"""Plan and apply a manifest: what to change on one server, and the steps to change it.

Matching. Each entry of the manifest, in order, claims at most one model on the
server, and a model is claimed at most once. An entry matches, by the first rule
that finds an unclaimed model:

1. **source**: the model's recorded ``source`` is the entry's source, compared as
   the server writes it (``source_key``: paths as POSIX, URLs normalized, repo ids
   as ``repo[:variant][::subfolder]``, secrets in a URL's query ignored);
2. **hash**: the entry pins a ``hash`` and the model has it (the same file
   installed from elsewhere);
3. **name, type and base**: the entry states all three and the model has them.

A matched entry is ``keep`` when the settings it states equal the model's, else
``update`` (only the stated settings are sent; ``default_settings`` are merged
into the model's). A matched model whose hash differs from a pinned one is
``hash_mismatch``: a failure, nothing is changed. An unmatched entry is
``install``. With ``prune``, models no entry matched are ``delete``.

Everything here is free of I/O: ``apply_steps`` yields the requests to make
(``Install``, ``WaitAny``, ``Update``, ``Delete``) and the sync or async
repository carries them out.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from ..errors import InstallJobError, InvalidArgumentError, InvokeAIError, ManifestError
from ._job_base import JobHandleBase
from .dnn_model_models import ModelInstallConfig, ModelInstJobInfo
from .dnn_model_types import DnnModel
from .manifest import ManifestModel, ModelManifest, expand_env, source_key

__all__ = [
    "AppliedChange",
    "ApplyReport",
    "ManifestPlan",
    "PlanAction",
    "PlannedChange",
    "plan_changes",
]


class PlanAction(str, enum.Enum):
    """What a plan does with one model."""

    INSTALL = "install"
    UPDATE = "update"
    KEEP = "keep"
    DELETE = "delete"
    HASH_MISMATCH = "hash_mismatch"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class PlannedChange:
    """One entry (or, for ``delete``, one unlisted model) and what to do with it."""

    action: PlanAction
    entry: ManifestModel | None = None
    model: DnnModel | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    matched_by: str | None = None

    @property
    def label(self) -> str:
        """The entry's source, or the model's name and key."""
        if self.entry is not None:
            return self.entry.install_source
        assert self.model is not None
        return f"{self.model.name} ({self.model.key})"

    def to_dict(self) -> dict[str, Any]:
        """As JSON: action, source, key, name, matched_by, changes."""
        return {
            "action": self.action.value,
            "source": self.entry.install_source if self.entry else self.model_source,
            "key": self.model.key if self.model else None,
            "name": self.model.name if self.model else (self.entry.name if self.entry else None),
            "matched_by": self.matched_by,
            "changes": self.changes,
        }

    @property
    def model_source(self) -> str | None:
        return source_key(self.model.source) if self.model is not None else None


@dataclass(frozen=True)
class ManifestPlan:
    """What applying a manifest would change on one server."""

    changes: list[PlannedChange]

    def of(self, action: PlanAction) -> list[PlannedChange]:
        """The changes with this action."""
        return [c for c in self.changes if c.action is action]

    @property
    def has_drift(self) -> bool:
        """True when the server does not match the manifest."""
        return any(c.action is not PlanAction.KEEP for c in self.changes)

    def counts(self) -> dict[str, int]:
        """How many changes per action (every action named)."""
        return {a.value: len(self.of(a)) for a in PlanAction}

    def to_dict(self) -> dict[str, Any]:
        """As JSON: the changes, the counts, and ``drift``."""
        return {
            "drift": self.has_drift,
            "counts": self.counts(),
            "changes": [c.to_dict() for c in self.changes],
        }


def plan_changes(
    manifest: ModelManifest, models: Iterable[DnnModel], *, prune: bool = False
) -> ManifestPlan:
    """Match the manifest's entries to ``models`` and say what to change (no I/O)."""
    models = list(models)
    claimed: set[str] = set()
    changes = []
    for entry in manifest.models:
        model, matched_by = _match(entry, models, claimed)
        if model is None:
            changes.append(PlannedChange(PlanAction.INSTALL, entry))
            continue
        claimed.add(model.key)
        if entry.hash and model.hash != entry.hash:
            changes.append(
                PlannedChange(
                    PlanAction.HASH_MISMATCH,
                    entry,
                    model,
                    {"hash": {"expected": entry.hash, "found": model.hash}},
                    matched_by,
                )
            )
            continue
        diff = settings_diff(entry, model)
        action = PlanAction.UPDATE if diff else PlanAction.KEEP
        changes.append(PlannedChange(action, entry, model, diff, matched_by))
    if prune:
        for model in models:
            if model.key not in claimed:
                changes.append(PlannedChange(PlanAction.DELETE, model=model))
    return ManifestPlan(changes)


def _match(
    entry: ManifestModel, models: Sequence[DnnModel], claimed: set[str]
) -> tuple[DnnModel | None, str | None]:
    free = [m for m in models if m.key not in claimed]
    key = entry.key
    for model in free:
        if source_key(model.source) == key:
            return model, "source"
    if entry.hash:
        for model in free:
            if model.hash == entry.hash:
                return model, "hash"
    if entry.name and entry.type and entry.base:
        for model in free:
            if (model.name, str(model.type), str(model.base)) == (
                entry.name,
                entry.type,
                entry.base,
            ):
                return model, "name"
    return None, None


def settings_diff(entry: ManifestModel, model: DnnModel) -> dict[str, Any]:
    """The settings to send so that ``model`` has what ``entry`` states."""
    diff: dict[str, Any] = {}
    for name, wanted in entry.settings().items():
        have = getattr(model, name)
        if name == "trigger_phrases":
            if set(wanted) != set(have or ()):
                diff[name] = wanted
        elif name == "default_settings":
            merged = {**(have or {}), **wanted}
            if any((have or {}).get(k) != v for k, v in wanted.items()):
                diff[name] = merged
        elif have != wanted:
            diff[name] = wanted
    return diff


# -- applying ---------------------------------------------------------------------


@dataclass
class AppliedChange:
    """What became of one planned change: ``done``, ``skipped`` or ``failed``."""

    change: PlannedChange
    outcome: str = "skipped"
    model: DnnModel | None = None
    job: ModelInstJobInfo | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Not failed."""
        return self.outcome != "failed"

    def to_dict(self) -> dict[str, Any]:
        """As JSON: the planned change, its outcome, the model's key and the error."""
        model = self.model or self.change.model
        return {
            **self.change.to_dict(),
            "outcome": self.outcome,
            "key": model.key if model else None,
            "name": model.name if model else self.change.to_dict()["name"],
            "job_id": self.job.id if self.job else None,
            "error": self.error,
        }


@dataclass
class ApplyReport:
    """The outcome of one ``apply_manifest`` on one server."""

    plan: ManifestPlan
    results: list[AppliedChange]

    def of(self, outcome: str) -> list[AppliedChange]:
        """The results with this outcome (``done``, ``skipped``, ``failed``)."""
        return [r for r in self.results if r.outcome == outcome]

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return all(r.ok for r in self.results)

    def counts(self) -> dict[str, int]:
        """How many results were done, skipped and failed."""
        return {o: len(self.of(o)) for o in ("done", "skipped", "failed")}

    def to_dict(self) -> dict[str, Any]:
        """As JSON: ``ok``, the counts and every result."""
        return {
            "ok": self.ok,
            "counts": self.counts(),
            "results": [r.to_dict() for r in self.results],
        }


@dataclass(frozen=True)
class Install:
    """Start an install; the reply is a job handle or an ``InvokeAIError``."""

    source: str
    config: ModelInstallConfig
    inplace: bool | None
    access_token: str | None


@dataclass(frozen=True)
class WaitAny:
    """Wait until one of ``jobs`` ends; the reply is the list of ended jobs."""

    jobs: tuple[JobHandleBase, ...]
    timeout: float | None


@dataclass(frozen=True)
class Update:
    """Change a record's settings; the reply is the new record."""

    key: str
    changes: dict[str, Any]


@dataclass(frozen=True)
class Delete:
    """Delete a model; the reply is True, or False when it was already gone."""

    key: str


Step = Install | WaitAny | Update | Delete
ApplySteps = Generator[Step, Any, ApplyReport]


def as_manifest(manifest: Any) -> ModelManifest:
    """A ``ModelManifest`` from itself, a file path, or a parsed mapping."""
    if isinstance(manifest, ModelManifest):
        return manifest
    if isinstance(manifest, (str, PurePath)):
        return ModelManifest.load(Path(manifest))
    if isinstance(manifest, Mapping):
        return ModelManifest.from_dict(manifest)
    raise InvalidArgumentError(
        f"a manifest is a ModelManifest, a file path or a mapping, not {type(manifest).__name__}"
    )


def check_apply_args(concurrency: Any, timeout: Any) -> None:
    """Refuse a concurrency that is not a positive int, or a negative timeout."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidArgumentError(f"concurrency must be an int >= 1, not {concurrency!r}")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0
    ):
        raise InvalidArgumentError(f"timeout must be seconds >= 0 or None, not {timeout!r}")


def needed_variables(plan: ManifestPlan, environ: Mapping[str, str]) -> list[str]:
    """The unset environment variables the plan's installs need."""
    names = {n for c in plan.of(PlanAction.INSTALL) if c.entry for n in c.entry.env_names()}
    return sorted(n for n in names if not environ.get(n))


def apply_steps(
    plan: ManifestPlan,
    *,
    concurrency: int = 4,
    timeout: float | None = 3600.0,
    environ: Mapping[str, str],
) -> ApplySteps:
    """The steps that carry out ``plan``; returns the report.

    Raises ``ManifestError`` before the first step when an install needs an unset
    variable. Installs run ``concurrency`` at a time; a failure does not stop the
    rest. Then updates, then deletes.
    """
    missing = needed_variables(plan, environ)
    if missing:
        raise ManifestError(
            f"environment variable(s) not set: {', '.join(missing)} (the manifest's "
            "installs need them); nothing was changed"
        )
    results = {id(c): AppliedChange(c) for c in plan.changes}
    deadline = None if timeout is None else time.monotonic() + timeout
    yield from _installs(plan.of(PlanAction.INSTALL), results, concurrency, deadline, environ)
    for change in plan.of(PlanAction.UPDATE):
        assert change.model is not None
        reply = yield Update(change.model.key, change.changes)
        _record(results[id(change)], reply)
    for change in plan.of(PlanAction.DELETE):
        assert change.model is not None
        reply = yield Delete(change.model.key)
        if reply is False:
            reply = ManifestError("the model was already gone")
        _record(results[id(change)], reply, model=change.model)
    for change in plan.of(PlanAction.HASH_MISMATCH):
        found = change.changes["hash"]["found"]
        results[id(change)].outcome = "failed"
        results[id(change)].error = _mismatch(change.entry, found, change.model)
    return ApplyReport(plan, [results[id(c)] for c in plan.changes])


def _installs(
    changes: list[PlannedChange],
    results: dict[int, AppliedChange],
    concurrency: int,
    deadline: float | None,
    environ: Mapping[str, str],
) -> Generator[Step, Any, None]:
    queue = list(changes)
    running: dict[int, tuple[JobHandleBase, PlannedChange]] = {}
    while queue or running:
        while queue and len(running) < concurrency:
            change = queue.pop(0)
            entry = change.entry
            assert entry is not None
            token = entry.access_token
            reply = yield Install(
                expand_env(entry.install_source, environ),
                ModelInstallConfig.model_validate(entry.settings()),
                entry.inplace,
                expand_env(token, environ) if token else None,
            )
            if isinstance(reply, JobHandleBase):
                running[id(reply)] = (reply, change)
            else:
                _record(results[id(change)], reply)
        if not running:
            continue
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        reply = yield WaitAny(tuple(job for job, _ in running.values()), left)
        if isinstance(reply, InstallJobError):  # out of time: every running job fails
            for job, change in running.values():
                _record(results[id(change)], reply, job=job.info)
            running.clear()
            for change in queue:
                _record(results[id(change)], ManifestError("not started: out of time"))
            queue.clear()
            continue
        for job in reply:
            _, change = running.pop(id(job))
            yield from _finish(results[id(change)], job.info)


def _finish(result: AppliedChange, info: ModelInstJobInfo) -> Generator[Step, Any, None]:
    """Check an ended install: its status, its pinned hash, and the settings it got."""
    result.job = info
    entry = result.change.entry
    assert entry is not None
    model = info.result
    if not info.is_success or model is None:
        result.outcome = "failed"
        result.error = info.describe()
        return
    result.model = model
    if entry.hash and model.hash != entry.hash:
        result.outcome = "failed"
        result.error = _mismatch(entry, model.hash, model)
        return
    result.outcome = "done"
    diff = settings_diff(entry, model)  # servers drop some settings given at install
    if diff:
        reply = yield Update(model.key, diff)
        _record(result, reply, model=model, job=info)


def _mismatch(entry: ManifestModel | None, found: str | None, model: DnnModel | None) -> str:
    assert entry is not None
    where = f" installed as {model.key}" if model is not None else ""
    return (
        f"hash mismatch for {entry.install_source}: the file{where} has {found}, the "
        f"manifest pins {entry.hash} (a changed file behind the same source?); "
        "nothing was deleted"
    )


def _record(
    result: AppliedChange,
    reply: Any,
    *,
    model: DnnModel | None = None,
    job: ModelInstJobInfo | None = None,
) -> None:
    result.job = job
    if isinstance(reply, InvokeAIError):
        result.outcome = "failed"
        result.error = str(reply)
        return
    result.outcome = "done"
    result.model = reply if isinstance(reply, DnnModel) else model
