"""Apply a manifest plan: the steps that carry it out, and the report of what became of it.

Free of I/O: ``apply_steps`` yields the requests to make (``StartInstalls``,
``WaitAny``, ``Records``, ``Update``, ``Delete``), the repository (``_async/repository.py`` and its
generated twin) carries each out and sends back the reply or the ``InvokeAIError`` it
raised.

Installs are all started first (``concurrency`` requests at a time): the server queues
the jobs and runs its queue itself, so it never waits for the client between two. One
wait then follows them all, and each job is checked as it ends (its pinned hash, the
settings the server dropped). A server whose completion events lack the model's record
(6.8) has those records fetched once, after the wait, rather than each job's state.
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
    entries_named,
    settings_diff,
)

__all__ = [
    "AppliedChange",
    "ApplyReport",
    "ApplySteps",
    "Delete",
    "Install",
    "Records",
    "StartInstalls",
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
class StartInstalls:
    """Start every install, ``concurrency`` requests at a time; the reply is a list in
    the same order, of job handles and ``InvokeAIError``s (a ``ManifestError`` for one
    not sent because the time was out)."""

    installs: tuple[Install, ...]
    concurrency: int


@dataclass(frozen=True)
class WaitAny:
    """Follow ``jobs`` too (the wait goes on following the jobs given before) and wait
    until one of all followed ends; the reply is the list of ended jobs, or the
    ``InvokeAIError`` the wait raised (after which it follows none)."""

    jobs: tuple[JobHandleBase, ...]


@dataclass(frozen=True)
class Records:
    """Fetch the records with these keys; the reply maps each key the server has to its
    record (one by one when they are few, else one listing), or is an ``InvokeAIError``."""

    keys: tuple[str, ...]

    @property
    def one_by_one(self) -> bool:
        """Few enough to fetch each alone rather than list every model."""
        return len(self.keys) <= RECORDS_ONE_BY_ONE


@dataclass(frozen=True)
class Update:
    """Change a record's settings; the reply is the new record."""

    key: str
    changes: dict[str, Any]


@dataclass(frozen=True)
class Delete:
    """Delete a model; the reply is True, or False when it was already gone."""

    key: str


Step = StartInstalls | WaitAny | Records | Update | Delete
RECORDS_ONE_BY_ONE = 8
ApplySteps = Generator[Step, Any, ApplyReport]


def check_apply_args(prune: Any, concurrency: Any, timeout: Any, on_progress: Any) -> None:
    """Refuse bad ``apply_manifest`` arguments before anything is sent."""
    check_prune(prune)
    if on_progress is not None and not callable(on_progress):
        raise InvalidArgumentError(f"on_progress must be callable, not {on_progress!r:.60}")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidArgumentError(f"concurrency must be an int >= 1, not {concurrency!r}")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0
    ):  # `not >`: NaN too
        raise InvalidArgumentError(f"timeout must be seconds > 0 or None, not {timeout!r}")


def needed_variables(plan: ManifestPlan, environ: Mapping[str, str]) -> tuple[str, str]:
    """What the plan's installs need and do not have (unset variables, masked tokens;
    empty when nothing), and where: ``file:line: models[i]`` of the entries that do."""
    missing: set[str] = set()
    needy: list[ManifestModel] = []
    for change in plan.of(PlanAction.INSTALL):
        entry = change.entry
        assert entry is not None
        unset = {n for n in entry.env_names() if not environ.get(n)}
        if MASKED in entry.install_source:
            unset.add(f"a token for {entry.install_source} (written as ***)")
        if unset:
            missing |= unset
            needy.append(entry)
    names = sorted(n for n in missing if not n.startswith("a token"))
    text = ", ".join(names + sorted(missing - set(names)))
    manifest = plan.manifest
    index = {id(e): i for i, e in enumerate(manifest.models)} if manifest else {}
    found = [index[id(e)] for e in needy if id(e) in index]
    if manifest is None or not found:
        return text, ""
    return text, f"{manifest.location(found[0])}: {entries_named(found)}: "


def apply_steps(
    plan: ManifestPlan, *, concurrency: int = APPLY_CONCURRENCY, environ: Mapping[str, str]
) -> ApplySteps:
    """The steps that carry out ``plan``; returns the report.

    Raises ``ManifestError`` before the first step when an install needs an unset
    variable. Every install is started (``concurrency`` requests at a time), then
    followed until it ends; a failure does not stop the rest. Then updates, then
    deletes.
    """
    missing, where = needed_variables(plan, environ)
    if missing:
        raise ManifestError(
            f"{where}the manifest's installs need: {missing}; set them (write a token in a "
            "source as ${VAR}); nothing was changed"
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
    if not changes:
        return
    replies = yield StartInstalls(tuple(_install(c, environ) for c in changes), concurrency)
    running: dict[int, tuple[JobHandleBase, PlannedChange]] = {}
    for change, reply in zip(changes, replies, strict=True):
        if isinstance(reply, JobHandleBase):
            running[id(reply)] = (reply, change)
        else:
            _record(results[id(change)], reply)
    new = [job for job, _ in running.values()]  # what the wait does not follow yet
    later: list[tuple[AppliedChange, ModelInstJobInfo]] = []  # ended without the record
    while running:
        reply = yield WaitAny(tuple(new))
        new = []
        if isinstance(reply, InvokeAIError):
            _wait_failed(reply, running, results)
            new = [job for job, _ in running.values()]  # the wait starts afresh
            continue
        for job in reply:
            _, change = running.pop(id(job))
            if job.info.is_success and job.info.result is None and job.info.model_key:
                later.append((results[id(change)], job.info))
            else:
                yield from _finish(results[id(change)], job.info)
    if later:
        yield from _finish_later(later)


def _finish_later(
    later: list[tuple[AppliedChange, ModelInstJobInfo]],
) -> Generator[Step, Any, None]:
    """Fetch the records of the jobs that ended without them, then check each."""
    records = yield Records(tuple(info.model_key for _, info in later if info.model_key))
    for result, info in later:
        if isinstance(records, InvokeAIError):
            _record(result, records, job=info)
        elif info.model_key in records:
            yield from _finish(result, info.model_copy(update={"result": records[info.model_key]}))
        else:
            result.job, result.outcome = info, "failed"
            result.error = f"{info.describe()}, but the server has no model {info.model_key}"


def _install(change: PlannedChange, environ: Mapping[str, str]) -> Install:
    entry = change.entry
    assert entry is not None
    token = entry.access_token
    return Install(
        expand_env(entry.install_source, environ),
        ModelInstallConfig.model_validate(entry.settings()),
        entry.inplace,
        expand_env(token, environ) if token else None,
    )


def _wait_failed(
    error: InvokeAIError,
    running: dict[int, tuple[JobHandleBase, PlannedChange]],
    results: dict[int, AppliedChange],
) -> None:
    """A wait raised: a lost job fails alone; out of time, or any other error (the
    server unreachable), every job still running fails, its end unknown."""
    if isinstance(error, InstallJobLostError):
        lost = [k for k, (job, _) in running.items() if job.id == error.info.id] or list(running)
        for k in lost:
            job, change = running.pop(k)
            _record(results[id(change)], error, job=job.info)
        return
    for job, change in running.values():
        _record(results[id(change)], error, job=job.info)
    running.clear()


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
