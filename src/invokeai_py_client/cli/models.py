"""Commands on model records: ``list``, ``show``, ``server``, ``delete``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from .context import (
    confirm_delete,
    connect,
    refuse_bad,
    refuse_without_yes,
    report,
    state_of,
)
from .options import BaseFilter, TypeFilter, Yes
from .output import EXIT_FAILED, Output, human_size

if TYPE_CHECKING:
    from invokeai_py_client import DnnModel


def model_json(model: DnnModel) -> dict[str, Any]:
    """A record as JSON (the server's fields, unknown ones included)."""
    return model.model_dump(mode="json")


def list_models(
    ctx: typer.Context,
    base: BaseFilter = None,
    type_: TypeFilter = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Exact model name.")] = None,
    format_: Annotated[
        str | None, typer.Option("--format", "-f", help="Format, e.g. checkpoint, diffusers.")
    ] = None,
) -> None:
    """List the installed models: key, name, base, type, format, size."""
    state = state_of(ctx)
    out = state.out
    with connect(state) as client:
        found = client.dnn_model_repo.list_models(
            base=base or None, type=type_, name=name, format=format_
        )
    out.listing(
        [model_json(m) for m in found],
        [m.key for m in found],
        ["key", "name", "base", "type", "format", "size"],
        [(m.key, m.name, m.base, m.type, m.format, human_size(m.file_size)) for m in found],
        summary=f"{len(found)} model(s)",
    )


def show(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The model's key.")],
) -> None:
    """Show one model's record."""
    state = state_of(ctx)
    out = state.out
    with connect(state) as client:
        model = client.dnn_model_repo.get_model_by_key(key)
    if model is None:
        out.fail(
            f"no model with key {key!r} on {state.url}",
            hint="`invokeai-models list` shows the keys",
        )
    print_record(out, model)


def print_record(out: Output, model: DnnModel) -> None:
    """A record: JSON with --json, its key with --quiet, else a field/value table."""
    data = model_json(model)
    if out.json_mode:
        out.json(data)
    elif out.quiet:
        out.essential(model.key)
    else:
        out.table(
            ["field", "value"],
            [
                (k, human_size(v) if k == "file_size" else v)
                for k, v in data.items()
                if v is not None
            ],
            title=f"{model.name} ({model.key})",
        )


def server(ctx: typer.Context) -> None:
    """Show the server: version, models directory, multi-user or not."""
    from invokeai_py_client.errors import APIError

    state = state_of(ctx)
    out = state.out
    with connect(state) as client:
        version = client.server_version()
        multiuser = client.is_multiuser()
        try:
            models_dir: str | None = client.dnn_model_repo.get_models_dir()
        except APIError:  # admin only on a multi-user server
            models_dir = None
    info = {
        "url": client.base_url,
        "version": version,
        "models_dir": models_dir,
        "multiuser": multiuser,
    }
    if out.json_mode:
        out.json(info)
        return
    if out.quiet:
        out.essential(version)
        return
    out.line(f"url:        {client.base_url}")
    out.line(f"version:    InvokeAI {version}")
    out.line(f"models dir: {_models_dir_line(models_dir)}")
    out.line(f"mode:       {'multi-user' if multiuser else 'single-user'}")


def _models_dir_line(models_dir: str | None) -> str:
    if models_dir is None:
        return "unknown (admin only)"
    if models_dir.startswith(("/", "\\")) or models_dir[1:3] in (":/", ":\\"):
        return models_dir
    return f"{models_dir} (relative to the server's root directory, its INVOKEAI_ROOT)"


def delete(
    ctx: typer.Context,
    keys: Annotated[list[str], typer.Argument(help="Keys of the models to delete.")],
    yes: Yes = False,
) -> None:
    """Delete models (their records, and their files under the models directory)."""
    from invokeai_py_client._core.arguments import model_key

    state = state_of(ctx)
    out = state.out
    refuse_bad(state, keys, model_key)
    refuse_without_yes(state, yes, f"{len(keys)} model(s)")
    results: list[dict[str, Any]] = []
    code = 0
    with connect(state) as client:
        repo = client.dnn_model_repo
        if not yes:
            names = []
            for key in keys:
                model = repo.get_model_by_key(key)
                names.append(f"{model.name} ({key})" if model else f"{key} (not found)")
            confirm_delete(state, names, f"Delete {len(keys)} model(s)?")
        for key in keys:
            try:
                deleted = repo.delete_model(key)
            except Exception as exc:
                code = max(code, report(state, exc))
                results.append({"key": key, "deleted": False, "error": str(exc)})
                continue
            if deleted:
                results.append({"key": key, "deleted": True, "error": None})
                out.line(f"deleted {key}")
            else:
                results.append({"key": key, "deleted": False, "error": "no such model"})
                out.error(f"no model with key {key!r} on {state.url}")
                code = max(code, EXIT_FAILED)
    if out.json_mode:
        out.json(results)
    if code:
        raise typer.Exit(code)
