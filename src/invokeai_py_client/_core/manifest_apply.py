"""Apply a manifest plan: the steps that carry it out, and the report of what became of it.

Free of I/O: ``apply_steps`` yields the requests to make (``Install``, ``WaitAny``,
``Update``, ``Delete``), the repository (``_async/manifests.py`` and its generated
twin) carries each out and sends back the reply or the ``InvokeAIError`` it raised.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..dnn_model.dnn_model_models import ModelInstallConfig
from ..dnn_model.dnn_model_types import DnnModel
from ..dnn_model.job_models import ModelInstJobInfo
from ..dnn_model.manifest import ManifestModel
from ..dnn_model.model_sources import MASKED, expand_env
from ..errors import (
    InstallJobLostError,
    InstallJobTimeoutError,
    InvalidArgumentError,
    InvokeAIError,
    ManifestError,
)
from .defaults import APPLY_CONCURRENCY
from .job_state import JobHandleBase
from .manifest_plan import (
    ManifestPlan,
    Outcome,
    PlanAction,
    PlannedChange,
    check_prune,
    settings_diff,
)

__all__ = [
    "AppliedChange",
    "ApplyReport",
    "ApplySteps",
    "Delete",
    "Install",
    "Step",
    "Update",
    "WaitAny",
    "apply_steps",
    "check_apply_args",
]


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


def needed_variables(plan: ManifestPlan, environ: Mapping[str, str]) -> list[str]:
    """The unset environment variables the plan's installs need, and masked tokens."""
    installs = [c.entry for c in plan.of(PlanAction.INSTALL) if c.entry]
    names = {n for entry in installs for n in entry.env_names()}
    missing = sorted(n for n in names if not environ.get(n))
    masked = [e.install_source for e in installs if MASKED in e.install_source]
    return missing + [f"a token for {source} (written as ***)" for source in masked]


def apply_steps(
    plan: ManifestPlan, *, concurrency: int = APPLY_CONCURRENCY, environ: Mapping[str, str]
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
