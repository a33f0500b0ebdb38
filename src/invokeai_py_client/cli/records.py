"""Maintenance of model records: ``update``, ``convert`` and ``reidentify``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .context import State, connect, refuse_bad, report, state_of
from .job_ui import build_config
from .models import print_record
from .output import EXIT_USAGE

KEYS_HINT = "`invokeai-models list` shows the keys"


# -- helpers ---------------------------------------------------------------------------------


def _is_unsupported(exc: BaseException) -> bool:
    from invokeai_py_client.errors import UnsupportedByServerError

    return isinstance(exc, UnsupportedByServerError)


# -- update ----------------------------------------------------------------------------------


def update(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The model's key.")],
    name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="A new description.")
    ] = None,
    trigger_phrase: Annotated[
        list[str] | None,
        typer.Option(
            "--trigger-phrase",
            help="A trigger phrase (repeatable); the phrases given replace the model's.",
        ),
    ] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="Other fields as a JSON object, e.g. '{\"default_settings\": {...}}' "
            "or '{\"trigger_phrases\": []}' to clear them; the options above win.",
        ),
    ] = None,
) -> None:
    """Change a model's settings (name, description, trigger phrases, ...); print the record."""
    state = state_of(ctx)
    out = state.out
    more: dict[str, Any] = {"trigger_phrases": trigger_phrase} if trigger_phrase else {}
    changes = build_config(name, description, config, state, more=more)
    if not changes.to_record_changes():
        out.fail(
            "nothing to change",
            hint="give --name, --description, --trigger-phrase or --config",
            code=EXIT_USAGE,
        )
    with connect(state) as client:
        model = client.dnn_model_repo.update_model(key, changes)
    print_record(out, model)


# -- convert, reidentify ---------------------------------------------------------------------


def _convert_hint(exc: BaseException, state: State) -> str | None:
    from invokeai_py_client.errors import FailedDependencyError, NotFoundError, ServerError

    if isinstance(exc, (NotFoundError, FailedDependencyError)):  # 424 for an unknown key
        return KEYS_HINT
    if isinstance(exc, ServerError):
        return (
            "converting needs the server to reach huggingface.co (for the pipeline's "
            "config); the server's log tells the cause"
        )
    return None


def convert(
    ctx: typer.Context,
    keys: Annotated[list[str], typer.Argument(help="Keys of checkpoint models to convert.")],
) -> None:
    """Convert checkpoint models to diffusers (each gets a new key); one line per model."""
    from invokeai_py_client._core.arguments import model_key

    state = state_of(ctx)
    out = state.out
    refuse_bad(state, keys, model_key)
    results: list[dict[str, Any]] = []
    code = 0
    with connect(state) as client:
        repo = client.dnn_model_repo
        for key in keys:
            try:
                model = repo.convert_model(key)
            except Exception as exc:
                code = max(code, report(state, exc, hint=_convert_hint(exc, state)))
                results.append({"key": key, "ok": False, "new_key": None, "error": str(exc)})
                continue
            results.append(
                {
                    "key": key,
                    "ok": True,
                    "new_key": model.key,
                    "name": model.name,
                    "format": str(model.format),
                    "error": None,
                }
            )
            if out.quiet:
                out.essential(model.key)
            else:
                out.line(f"✓ converted {model.name}: {key} -> {model.key} ({model.format})")
    if out.json_mode:
        out.json(results)
    if code:
        raise typer.Exit(code)


def reidentify(
    ctx: typer.Context,
    keys: Annotated[list[str], typer.Argument(help="Keys of the models to re-identify.")],
) -> None:
    """Probe models' files again and rewrite their records (InvokeAI 6.9+).

    Names, descriptions, trigger phrases and cover images are kept.
    """
    from invokeai_py_client._core.arguments import model_key

    state = state_of(ctx)
    out = state.out
    refuse_bad(state, keys, model_key)
    results: list[dict[str, Any]] = []
    code = 0
    with connect(state) as client:
        repo = client.dnn_model_repo
        for key in keys:
            try:
                model = repo.reidentify_model(key)
            except Exception as exc:
                if _is_unsupported(exc):  # the same for every key: say it once
                    raise typer.Exit(report(state, exc)) from None
                hint = KEYS_HINT if getattr(exc, "status_code", None) == 404 else None
                code = max(code, report(state, exc, hint=hint))
                results.append({"key": key, "ok": False, "error": str(exc)})
                continue
            results.append(
                {
                    "key": key,
                    "ok": True,
                    "name": model.name,
                    "base": str(model.base),
                    "type": str(model.type),
                    "format": str(model.format),
                    "error": None,
                }
            )
            if out.quiet:
                out.essential(key)
            else:
                out.line(
                    f"✓ re-identified {model.name} ({key}): "
                    f"{model.base} / {model.type} / {model.format}"
                )
    if out.json_mode:
        out.json(results)
    if code:
        raise typer.Exit(code)
