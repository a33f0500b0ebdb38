"""How ``plan`` and ``apply`` read on a terminal: one line per step, in the same words."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .output import Output

if TYPE_CHECKING:
    from invokeai_py_client.dnn_model import ApplyReport, ManifestPlan, PlannedChange

SYMBOL = {"install": "+", "update": "~", "keep": "=", "delete": "-", "hash_mismatch": "!"}


def describe(change: PlannedChange) -> str:
    model, entry = change.model, change.entry
    where = f"{model.name} ({model.key})" if model is not None else shown_source(change)
    if change.action.value == "update":
        return f"{where}: " + ", ".join(_differences(change))
    if change.action.value == "hash_mismatch" and model is not None and entry is not None:
        return f"{where}: pinned {entry.hash}, found {model.hash}"
    if change.action.value == "install":
        return shown_source(change)
    return where


def shown_source(change: PlannedChange) -> str:
    """The entry's source with the ``${VAR}`` that are set expanded, and secrets hidden."""
    from invokeai_py_client._redact import redact_url
    from invokeai_py_client.dnn_model.model_sources import expand_set

    return redact_url(expand_set(change.label)) if change.entry is not None else change.label


def _differences(change: PlannedChange) -> list[str]:
    """``name: 'a' -> 'b'``, and ``default_settings.weight: None -> 0.75`` per key."""
    lines = []
    for name, wanted in change.changes.items():
        have = getattr(change.model, name, None)
        if name == "default_settings":
            have = have or {}
            lines += [
                f"{name}.{k}: {have.get(k)!r} -> {v!r}"
                for k, v in wanted.items()
                if have.get(k) != v
            ]
        else:
            lines.append(f"{name}: {have!r} -> {wanted!r}")
    return lines


def print_plan(out: Output, url: str, plan: ManifestPlan) -> None:
    counts = plan.counts()
    head = ", ".join(
        f"{n} {label}"
        for label, n in [
            ("to install", counts["install"]),
            ("to update", counts["update"]),
            ("to delete", counts["delete"]),
            ("hash mismatch", counts["hash_mismatch"]),
            ("already there", counts["keep"]),
        ]
        if n
    )
    out.line(f"{url}: {head or 'nothing listed'}")
    for change in plan.changes:
        action = change.action.value
        if action == "keep" and out.quiet:
            continue
        out.line(f"  {SYMBOL[action]} {action:<13} {describe(change)}")


VERBS = {"install": "installed", "update": "updated", "delete": "deleted"}


def _report_head(report: ApplyReport) -> str:
    """``2 installed, 1 updated, 3 already there, 1 failed``: the words ``plan`` uses."""
    counts: dict[str, int] = {}
    for result in report.results:
        action = result.change.action.value
        if result.outcome == "done":
            what = VERBS.get(action, action)
        elif result.outcome == "failed":
            what = "failed"
        else:
            what = "already there" if action == "keep" else "skipped"
        counts[what] = counts.get(what, 0) + 1
    order = [*VERBS.values(), "already there", "skipped", "failed"]
    return ", ".join(f"{counts[w]} {w}" for w in order if w in counts) or "nothing listed"


def print_report(out: Output, url: str, report: ApplyReport) -> None:
    out.line(f"{url}: {_report_head(report)}")
    for result in report.results:
        change = result.change
        action = change.action.value
        if result.outcome == "failed":
            error, label = str(result.error), shown_source(change)
            named = label in error or change.label in error
            out.error(f"{url}: {error}" if named else f"{url}: {label}: {error}")
        elif result.outcome == "done":
            model = result.model or change.model
            name = f"{model.name} ({model.key})" if model is not None else shown_source(change)
            source = f" from {shown_source(change)}" if action == "install" else ""
            out.line(f"  ✓ {VERBS.get(action, action)} {name}{source}")
