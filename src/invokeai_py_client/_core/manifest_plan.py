"""Plan a manifest: what to change on one server to make it match.

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

Everything here is free of I/O; carrying a plan out is in ``manifest_apply``.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any, Literal

from ..dnn_model.dnn_model_types import DnnModel
from ..dnn_model.manifest import ManifestModel, ModelManifest
from ..dnn_model.manifest_sources import match_key
from ..dnn_model.model_sources import env_names, source_key
from ..errors import InvalidArgumentError, ManifestError

__all__ = [
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
    """What applying a manifest would change on one server (and the manifest, whose
    ``location`` errors name)."""

    changes: list[PlannedChange]
    manifest: ModelManifest | None = field(default=None, compare=False, repr=False)

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
    """Raise ``ManifestError`` when a source names an unset ``${VAR}`` (it cannot match),
    naming the file and line of the first entry that does."""
    env = os.environ if environ is None else environ
    missing: dict[str, list[int]] = {}
    for i, entry in enumerate(manifest.models):
        if "${" in entry.source:
            for name in env_names(entry.source):
                if not env.get(name):
                    missing.setdefault(name, []).append(i)
    if missing:
        users = sorted({i for found in missing.values() for i in found})
        raise ManifestError(
            f"{manifest.location(users[0])}: {entries_named(users)}.source: environment "
            f"variable(s) not set: {', '.join(sorted(missing))}; nothing was sent"
        )


def entries_named(indexes: Sequence[int], most: int = 5) -> str:
    """``models[1]``, ``models[1], models[4]``, ... (the first ``most``, and how many more)."""
    named = ", ".join(f"models[{i}]" for i in indexes[:most])
    return named + (f" and {len(indexes) - most} more" if len(indexes) > most else "")


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
    return ManifestPlan(changes, manifest)


class _Index:
    """The server's models by recorded source, hash, and name/type/base; each model is
    claimed by one entry at most. The hash and name indexes are built when first asked
    (an entry that matches by source never needs them)."""

    def __init__(self, models: Sequence[DnnModel]) -> None:
        self.claimed: set[str] = set()
        self._models = models
        self._by: dict[MatchedBy, dict[Any, list[DnnModel]]] = {"source": {}}
        for model in models:
            self._by["source"].setdefault(match_key(model.source), []).append(model)

    def match(self, entry: ManifestModel) -> tuple[DnnModel | None, MatchedBy | None]:
        """The first unclaimed model by the first rule that finds one; it is claimed."""
        wanted: list[tuple[MatchedBy, Any]] = [("source", entry.key)]
        if entry.hash:
            wanted.append(("hash", entry.hash))
        if entry.name and entry.type and entry.base:
            wanted.append(("name", (entry.name, entry.type, entry.base)))
        for rule, value in wanted:
            for model in self._rule(rule).get(value, ()):
                if model.key not in self.claimed:
                    self.claimed.add(model.key)
                    return model, rule
        return None, None

    def _rule(self, rule: MatchedBy) -> dict[Any, list[DnnModel]]:
        index = self._by.get(rule)
        if index is None:
            index = self._by[rule] = {}
            for model in self._models:
                value = model.hash if rule == "hash" else _named(model)
                index.setdefault(value, []).append(model)
        return index


def _named(model: DnnModel) -> tuple[str, str, str]:
    return (model.name, str(model.type), str(model.base))


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


def check_prune(prune: Any) -> None:
    """Refuse a ``prune`` that is not a bool (``"no"`` must not mean yes)."""
    if not isinstance(prune, bool):
        raise InvalidArgumentError(f"prune must be True or False, not {prune!r:.60}")
