"""``starter list``/``starter install``: the server's curated starter models.

Starter models have no id of their own, and names repeat across bases (``Depth Map`` is
an SD1 and an SDXL ControlNet, a FLUX control LoRA, ...): a starter is named here by its
name when that is unique, by its id ``base/type/name``, or by its source.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Annotated, Any

import typer

from invokeai_py_client._core.defaults import CLI_WAIT_TIMEOUT

from .context import State, connect, hint_for, refuse_bad, report, state_of
from .job_ui import Started, print_summary, wait_for_jobs
from .options import BaseFilter, NoWait, TypeFilter, WaitTimeout
from .output import EXIT_USAGE

if TYPE_CHECKING:
    from invokeai_py_client.dnn_model import StarterModel

LIST_HINT = "`invokeai-models starter list` shows them"

starter_app = typer.Typer(
    help="The server's curated starter models (they download from the internet).",
    no_args_is_help=True,
)


def starter_id(model: StarterModel) -> str:
    """``base/type/name``: unique among a server's starter models."""
    return f"{model.base}/{model.type}/{model.name}"


def starter_json(model: StarterModel) -> dict[str, Any]:
    return {"id": starter_id(model), **model.model_dump(mode="json")}


def _find(state: State, models: list[StarterModel], wanted: str) -> StarterModel:
    """The starter named ``wanted`` (source, id, name or former name); exit 2 otherwise."""
    text = wanted.strip()
    for model in models:
        if model.source == text:
            return model
    folded = text.casefold()
    by_id = [m for m in models if starter_id(m).casefold() == folded]
    if by_id:
        return by_id[0]
    by_name = [
        m
        for m in models
        if m.name.casefold() == folded or folded in {p.casefold() for p in m.previous_names}
    ]
    if len(by_name) == 1:
        return by_name[0]
    if by_name:
        ids = ", ".join(repr(starter_id(m)) for m in by_name)
        state.out.fail(
            f"{wanted!r} names {len(by_name)} starter models: {ids}",
            hint="give one by its id (base/type/name) or by its source",
            code=EXIT_USAGE,
        )
    names = {m.name.casefold(): m.name for m in models}
    names.update({starter_id(m).casefold(): starter_id(m) for m in models})
    close = difflib.get_close_matches(folded, list(names), n=3, cutoff=0.6)
    suggestion = " or ".join(repr(names[c]) for c in close)
    state.out.fail(
        f"no starter model {wanted!r} on {state.url}"
        + (f"; did you mean {suggestion}?" if suggestion else ""),
        hint=LIST_HINT,
        code=EXIT_USAGE,
    )


@starter_app.command("list")
def list_starters(
    ctx: typer.Context,
    base: BaseFilter = None,
    type_: TypeFilter = None,
) -> None:
    """List the starter models: name, type, base, installed or not, source.

    A starter's id is base/type/name; --json gives it as "id".
    """
    from invokeai_py_client._core.arguments import text

    state = state_of(ctx)
    out = state.out
    refuse_bad(state, base or [], lambda value: text(value, "--base"))
    refuse_bad(state, [] if type_ is None else [type_], lambda value: text(value, "--type"))
    with connect(state) as client:
        catalog = client.dnn_model_repo.list_starter_models()
    found = [
        m
        for m in catalog.starter_models
        if (not base or str(m.base) in base) and (type_ is None or str(m.type) == type_)
    ]
    out.listing(
        [starter_json(m) for m in found],
        [starter_id(m) for m in found],
        ["name", "type", "base", "installed", "source"],
        [(m.name, m.type, m.base, "yes" if m.is_installed else "no", m.source) for m in found],
        summary=f"{len(found)} starter model(s); install one by name, by base/type/name, "
        "or by source",
    )


@starter_app.command("install")
def install_starter(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="The starter's name, its id (base/type/name), or its source.")
    ],
    no_wait: NoWait = False,
    timeout: WaitTimeout = CLI_WAIT_TIMEOUT,
) -> None:
    """Install a starter model and the dependencies it lacks; wait like `install`.

    With --json: one JSON array, one object per job.
    """
    from invokeai_py_client._core.arguments import text

    state = state_of(ctx)
    out = state.out
    refuse_bad(state, [name], lambda value: text(value, "the starter's name"))
    with connect(state, events=not no_wait) as client:
        repo = client.dnn_model_repo
        model = _find(state, repo.list_starter_models().starter_models, name)
        try:
            handles = repo.install_starter_model(model)
        except Exception as exc:
            hint = hint_for(exc, state)
            if hint is None and model.dependencies:
                hint = "installs started before the failure go on: `invokeai-models jobs`"
            raise typer.Exit(report(state, exc, hint=hint)) from None
        if not handles:
            out.line(f"{starter_id(model)} is already installed")
            return
        started = [Started(h.info.source or model.source, job=h) for h in handles]
        if not no_wait:
            wait_for_jobs(state, client, started, timeout)
    print_summary(state, started, waited=not no_wait)
