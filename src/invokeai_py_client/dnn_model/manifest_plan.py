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
import os
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Literal

from ..errors import (
    InstallJobLostError,
    InstallJobTimeoutError,
    InvalidArgumentError,
    InvokeAIError,
    ManifestError,
)
from ._job_base import JobHandleBase
from .dnn_model_models import ModelInstallConfig, ModelInstJobInfo
from .dnn_model_types import DnnModel
from .manifest import MASKED, ManifestModel, ModelManifest, env_names, expand_env, source_key

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


MatchedBy = Literal["source", "hash", "name"]
Outcome = Literal["done", "skipped", "failed"]


@dataclass(frozen=True)
class PlannedChange:
    """One entry (or, for ``delete``, one unlisted model) and what to do with it.

    ``changes`` are the settings an ``update`` sends; ``matched_by`` says which rule
    matched the entry to ``model``.
    """

    action: PlanAction
    entry: ManifestModel | None = None
    model: DnnModel | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    matched_by: MatchedBy | None = None

    @property
    def label(self) -> str:
        """The entry's source, or the model's name and key."""
        if self.entry is not None:
            return self.entry.install_source
        assert self.model is not None
        return f"{self.model.name} ({self.model.key})"

    def to_dict(self) -> dict[str, Any]:
        """As JSON: action, source, key, name, matched_by, changes (and hashes)."""
        model, entry = self.model, self.entry
        source = entry.install_source if entry else source_key(getattr(model, "source", None))
        doc = {
            "action": self.action.value,
            "source": source,
            "key": model.key if model else None,
            "name": model.name if model else (entry.name if entry else None),
            "matched_by": self.matched_by,
            "changes": self.changes,
        }
        if self.action is PlanAction.HASH_MISMATCH:
            doc["hash"] = {"pinned": entry and entry.hash, "found": model and model.hash}
        return doc


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


def check_sources(manifest: ModelManifest, environ: Mapping[str, str] | None = None) -> None:
    """Raise ``ManifestError`` when a source names an unset ``${VAR}`` (it cannot match)."""
    env = os.environ if environ is None else environ
    missing = {n for e in manifest.models for n in env_names(e.source) if not env.get(n)}
    if missing:
        raise ManifestError(
            f"environment variable(s) not set: {', '.join(sorted(missing))} (sources use "
            "them); nothing was sent"
        )


def plan_changes(
    manifest: ModelManifest, models: Iterable[DnnModel], *, prune: bool = False
) -> ManifestPlan:
    """Match the manifest's entries to ``models`` and say what to change (no I/O)."""
    models = list(models)
    index = _Index(models)
    changes = []
    for entry in manifest.models:
        model, matched_by = index.match(entry)
        if model is None:
            changes.append(PlannedChange(PlanAction.INSTALL, entry))
            continue
        if entry.hash and model.hash != entry.hash:
            changes.append(PlannedChange(PlanAction.HASH_MISMATCH, entry, model, {}, matched_by))
            continue
        diff = settings_diff(entry, model)
        action = PlanAction.UPDATE if diff else PlanAction.KEEP
        changes.append(PlannedChange(action, entry, model, diff, matched_by))
    if prune:
        for model in models:
            if model.key not in index.claimed:
                changes.append(PlannedChange(PlanAction.DELETE, model=model))
    return ManifestPlan(changes)


class _Index:
    """The server's models by recorded source, hash, and name/type/base; each model is
    claimed by one entry at most."""

    def __init__(self, models: Sequence[DnnModel]) -> None:
        self.claimed: set[str] = set()
        self._by: dict[MatchedBy, dict[Any, list[DnnModel]]] = {
            "source": {},
            "hash": {},
            "name": {},
        }
        for model in models:
            self._by["source"].setdefault(source_key(model.source), []).append(model)
            self._by["hash"].setdefault(model.hash, []).append(model)
            named = (model.name, str(model.type), str(model.base))
            self._by["name"].setdefault(named, []).append(model)

    def match(self, entry: ManifestModel) -> tuple[DnnModel | None, MatchedBy | None]:
        """The first unclaimed model by the first rule that finds one; it is claimed."""
        wanted: list[tuple[MatchedBy, Any]] = [("source", entry.key)]
        if entry.hash:
            wanted.append(("hash", entry.hash))
        if entry.name and entry.type and entry.base:
            wanted.append(("name", (entry.name, entry.type, entry.base)))
        for rule, value in wanted:
            for model in self._by[rule].get(value, ()):
                if model.key not in self.claimed:
                    self.claimed.add(model.key)
                    return model, rule
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
    outcome: Outcome = "skipped"
    model: DnnModel | None = None
    job: ModelInstJobInfo | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Not failed."""
        return self.outcome != "failed"

    def to_dict(self) -> dict[str, Any]:
        """As JSON: the planned change, its outcome, the model's key and the error."""
        doc = self.change.to_dict()
        if self.model is not None:
            doc.update(key=self.model.key, name=self.model.name)
        doc.update(outcome=self.outcome, job_id=self.job.id if self.job else None)
        doc["error"] = self.error
        return doc


@dataclass
class ApplyReport:
    """The outcome of one ``apply_manifest`` on one server."""

    plan: ManifestPlan
    results: list[AppliedChange]

    def of(self, outcome: Outcome) -> list[AppliedChange]:
        """The results with this outcome (``done``, ``skipped``, ``failed``)."""
        return [r for r in self.results if r.outcome == outcome]

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return all(r.ok for r in self.results)

    def counts(self) -> dict[str, int]:
        """How many results were done, skipped and failed."""
        outcomes: tuple[Outcome, ...] = ("done", "skipped", "failed")
        return {o: len(self.of(o)) for o in outcomes}

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

    source: str = field(repr=False)  # may hold a token from ${VAR}
    config: ModelInstallConfig
    inplace: bool | None
    access_token: str | None = field(repr=False)


@dataclass(frozen=True)
class WaitAny:
    """Wait until one of ``jobs`` ends; the reply is the list of ended jobs, or the
    ``InvokeAIError`` the wait raised."""

    jobs: tuple[JobHandleBase, ...]


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


def checked_manifest(manifest: Any, prune: Any) -> ModelManifest:
    """A ``ModelManifest`` from itself, a file path or a parsed mapping, whose sources'
    variables are set; ``prune`` checked too. Nothing is sent before this passes."""
    check_prune(prune)
    if isinstance(manifest, ManifestPlan):
        raise InvalidArgumentError("a ManifestPlan is carried out by apply_manifest")
    if isinstance(manifest, ModelManifest):
        wanted = manifest
    elif isinstance(manifest, (str, PurePath)):
        wanted = ModelManifest.load(Path(manifest))
    elif isinstance(manifest, Mapping):
        wanted = ModelManifest.from_dict(manifest)
    else:
        raise InvalidArgumentError(
            f"a manifest is a ModelManifest, a file path or a mapping, not "
            f"{type(manifest).__name__}"
        )
    check_sources(wanted)
    return wanted


def planned(plan: ManifestPlan, prune: bool) -> ManifestPlan:
    """A plan to carry out as it is (``prune`` was decided when it was made)."""
    if prune:
        raise InvalidArgumentError("prune is decided by plan_manifest; pass prune=False")
    return plan


def check_apply_args(prune: Any, concurrency: Any, timeout: Any, on_progress: Any) -> None:
    """Refuse bad ``apply_manifest`` arguments before anything is sent."""
    check_prune(prune)
    if on_progress is not None and not callable(on_progress):
        raise InvalidArgumentError(f"on_progress must be callable, not {on_progress!r:.60}")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidArgumentError(f"concurrency must be an int >= 1, not {concurrency!r}")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0
    ):
        raise InvalidArgumentError(f"timeout must be seconds >= 0 or None, not {timeout!r}")


def check_prune(prune: Any) -> None:
    """Refuse a ``prune`` that is not a bool (``"no"`` must not mean yes)."""
    if not isinstance(prune, bool):
        raise InvalidArgumentError(f"prune must be True or False, not {prune!r:.60}")


def needed_variables(plan: ManifestPlan, environ: Mapping[str, str]) -> list[str]:
    """The unset environment variables the plan's installs need, and masked tokens."""
    installs = [c.entry for c in plan.of(PlanAction.INSTALL) if c.entry]
    names = {n for entry in installs for n in entry.env_names()}
    missing = sorted(n for n in names if not environ.get(n))
    masked = [e.install_source for e in installs if MASKED in e.install_source]
    return missing + [f"a token for {source} (written as ***)" for source in masked]


def apply_steps(
    plan: ManifestPlan, *, concurrency: int = 4, environ: Mapping[str, str]
) -> ApplySteps:
    """The steps that carry out ``plan``; returns the report.

    Raises ``ManifestError`` before the first step when an install needs an unset
    variable. Installs run ``concurrency`` at a time; a failure does not stop the
    rest. Then updates, then deletes.
    """
    missing = needed_variables(plan, environ)
    if missing:
        raise ManifestError(
            f"the manifest's installs need: {', '.join(missing)}; set them (write a token "
            "in a source as ${VAR}); nothing was changed"
        )
    results = {id(c): AppliedChange(c) for c in plan.changes}
    yield from _installs(plan.of(PlanAction.INSTALL), results, concurrency, environ)
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
        assert change.model is not None
        results[id(change)].outcome = "failed"
        results[id(change)].error = _mismatch(change.entry, change.model.hash, change.model)
    return ApplyReport(plan, [results[id(c)] for c in plan.changes])


def _installs(
    changes: list[PlannedChange],
    results: dict[int, AppliedChange],
    concurrency: int,
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
        reply = yield WaitAny(tuple(job for job, _ in running.values()))
        if isinstance(reply, InvokeAIError):
            _wait_failed(reply, running, queue, results)
            continue
        for job in reply:
            _, change = running.pop(id(job))
            yield from _finish(results[id(change)], job.info)


def _wait_failed(
    error: InvokeAIError,
    running: dict[int, tuple[JobHandleBase, PlannedChange]],
    queue: list[PlannedChange],
    results: dict[int, AppliedChange],
) -> None:
    """A wait raised: a lost job fails alone; out of time, every job left fails; any other
    error (the server unreachable) fails the running jobs, whose end is unknown."""
    if isinstance(error, InstallJobLostError):
        lost = [k for k, (job, _) in running.items() if job.id == error.info.id] or list(running)
        for k in lost:
            job, change = running.pop(k)
            _record(results[id(change)], error, job=job.info)
        return
    for job, change in running.values():
        _record(results[id(change)], error, job=job.info)
    running.clear()
    if isinstance(error, InstallJobTimeoutError):
        for change in queue:
            _record(results[id(change)], ManifestError("not started: out of time"))
        queue.clear()


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
