"""Models as code: a manifest lists the models a server should have.

A manifest is YAML (JSON accepted)::

    version: 1
    servers: [http://127.0.0.1:9090]        # optional; --url on the CLI wins
    models:
      - source: /srv/models/detail-lora.safetensors   # a path on the server
        name: Detail LoRA
        trigger_phrases: [detailed]
        default_settings: {weight: 0.75}
        inplace: true
      - source: stabilityai/sd-vae-ft-mse            # a Hugging Face repo id
        variant: fp16
        access_token: ${HF_TOKEN}                   # tokens only as ${ENV_VAR}
      - source: https://example.com/model.safetensors
        hash: blake3:...                            # pinned (export --lock)

A source starting with ``./`` or ``../`` is a path relative to the manifest file; a
``${VAR}`` in a source is replaced by the variable's value.
How an entry is matched to a model on a server is described in ``manifest_plan``; how the
text is read, and the lines errors name, in ``manifest_text``.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .._redact import scrub
from ..errors import ManifestError
from . import model_sources
from ._base import MAX_ARGUMENT_CHARS
from .dnn_model_types import DnnModel
from .manifest_sources import (
    source_facts,
    source_problem,
    static_source_facts,
    static_source_problem,
)
from .manifest_text import Origin, parse, yaml_module
from .model_sources import (
    MODEL_SUFFIXES,
    SourceKind,
    env_reference,
    expand_env,
    is_absolute,
    source_key,
    source_kind,
    split_repo_source,
)

__all__ = [
    "MODEL_SUFFIXES",
    "ManifestModel",
    "ManifestServer",
    "ModelManifest",
    "expand_env",
    "source_key",
]

_SETTINGS = ("name", "description", "trigger_phrases", "default_settings")
_MAX_PROBLEMS = 10
_HASH = r"^[A-Za-z0-9_]+:[^\s/\\]+$"  # algorithm:digest, as records give it


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, str_max_length=MAX_ARGUMENT_CHARS
    )


class ManifestServer(_Strict):
    """A server the manifest applies to: its URL, and a token as ``${ENV_VAR}``."""

    url: str
    token: str | None = None

    @field_validator("token")
    @classmethod
    def _token_is_reference(cls, value: str | None) -> str | None:
        return env_reference(value, "a server token")

    def resolved_token(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The token from the environment (``ManifestError`` if unset)."""
        return expand_env(self.token, environ) if self.token else None


class ManifestModel(_Strict):
    """One model a server should have.

    ``source`` is a path on the server, a URL or a Hugging Face repo id
    (``variant`` and ``subfolder`` apply to repo ids only). The settings are
    applied at install and kept in sync; unset ones are left alone. ``type`` and
    ``base`` help matching and are not sent. ``hash`` pins the model's content.
    """

    source: str
    variant: str | None = None
    subfolder: str | None = None
    access_token: str | None = None
    name: str | None = None
    description: str | None = None
    trigger_phrases: list[str] | None = None
    default_settings: dict[str, Any] | None = None
    inplace: bool | None = None
    type: str | None = Field(default=None, min_length=1)
    base: str | None = Field(default=None, min_length=1)
    hash: str | None = Field(default=None, pattern=_HASH)

    @field_validator("access_token")
    @classmethod
    def _token_is_reference(cls, value: str | None) -> str | None:
        return env_reference(value, "access_token")

    @field_validator("name")
    @classmethod
    def _name_is_not_empty(cls, value: str | None) -> str | None:
        if value == "":  # whitespace is stripped first
            raise ValueError("a model's name must not be empty")
        return value

    @model_validator(mode="after")
    def _source_makes_sense(self) -> ManifestModel:
        check = source_problem if "${" in self.source else static_source_problem
        problem = check(self.source, self.variant, self.subfolder, self.inplace is not None)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def kind(self) -> SourceKind | None:
        """``path``, ``url``, ``hf`` or ``external`` (None while a variable is unset)."""
        return self._facts()[0]

    @property
    def install_source(self) -> str:
        """The source string to install from (``${VAR}`` not yet expanded)."""
        return self._facts()[1]

    @property
    def key(self) -> str:
        """What matching compares with a record's ``source`` (see ``source_key``)."""
        return self._facts()[2]

    def _facts(self) -> tuple[SourceKind | None, str, str]:
        # a source without ${VAR} is a constant: its facts are worked out once
        facts = source_facts if "${" in self.source else static_source_facts
        return facts(self.source, self.variant, self.subfolder)

    def settings(self) -> dict[str, Any]:
        """The settings this entry states (name, description, trigger phrases, ...)."""
        return {f: getattr(self, f) for f in _SETTINGS if getattr(self, f) is not None}

    def env_names(self) -> list[str]:
        """The environment variables an install of this entry needs."""
        return model_sources.env_names(self.install_source) + model_sources.env_names(
            self.access_token
        )


class ModelManifest(_Strict):
    """The models one or more servers should have (``version: 1``).

    Load with ``ModelManifest.load(path)`` or ``loads(text)``; write with
    ``dumps()``. Invalid files raise ``ManifestError`` naming the entry and field.
    """

    version: Literal[1] = 1
    servers: list[ManifestServer] = []
    models: list[ManifestModel]

    @field_validator("servers", mode="before")
    @classmethod
    def _servers_may_be_urls(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"url": v} if isinstance(v, str) else v for v in value]
        return value

    _origin: Origin = PrivateAttr(default_factory=lambda: Origin("manifest"))

    @model_validator(mode="after")
    def _no_duplicates(self, info: ValidationInfo) -> ModelManifest:
        origin = (info.context or {}).get("origin")
        if isinstance(origin, Origin):  # read from a file: the loader names the lines
            self._origin = origin
            return self
        duplicate = _duplicate(self.models)
        if duplicate is not None:
            raise ValueError(_duplicate_message(self.models, *duplicate))
        return self

    def location(self, index: int, section: Literal["models", "servers"] = "models") -> str:
        """Where ``models[index]`` (or ``servers[index]``) is written: ``file:line``, or
        the file (or ``manifest``) when the line is unknown, as for a manifest built in
        code."""
        return self._origin.at((section, index))

    # -- reading -------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> ModelManifest:
        """Read a manifest file (``.json`` as JSON, anything else as YAML)."""
        if not isinstance(path, (str, Path)) or not str(path).strip():
            raise ManifestError(f"cannot read {path!r:.60}: not a file's path")
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ManifestError(f"cannot read {path}: {exc.strerror or exc}") from None
        fmt: Literal["json", "yaml"] = "json" if path.suffix.lower() == ".json" else "yaml"
        return cls.loads(text, format=fmt, base_dir=path.resolve().parent, origin=str(path))

    @classmethod
    def loads(
        cls,
        text: str,
        *,
        format: Literal["json", "yaml"] = "yaml",
        base_dir: str | Path | None = None,
        origin: str = "manifest",
    ) -> ModelManifest:
        """Parse a manifest; ``./`` sources are made absolute against ``base_dir``
        (the current directory when not given). Errors name ``origin`` and the line."""
        data = parse(text, format, origin)
        return cls._validated(data, base_dir, Origin(origin, text))

    @classmethod
    def from_dict(
        cls, data: Any, *, base_dir: str | Path | None = None, origin: str = "manifest"
    ) -> ModelManifest:
        """Validate a parsed manifest (a dict with ``models``); ``./`` sources are
        made absolute against ``base_dir`` (the current directory when not given)."""
        return cls._validated(data, base_dir, Origin(origin))

    @classmethod
    def _validated(cls, data: Any, base_dir: str | Path | None, origin: Origin) -> ModelManifest:
        if not isinstance(data, Mapping):
            raise ManifestError(f"{origin.name}: a manifest is a mapping with a 'models' list")
        data = dict(data)
        models = data.get("models")
        if isinstance(models, list):
            data["models"] = _resolve_relative(models, base_dir)
        try:  # the whole file in one validation; entries' checks are cached per source
            manifest = cls.model_validate(data, context={"origin": origin})
        except ValidationError as exc:
            raise ManifestError(_validation_message(exc, origin)) from None
        duplicate = _duplicate(manifest.models)
        if duplicate is not None:
            i, first = duplicate
            line = origin.line(("models", first))
            also = f" (line {line})" if line is not None else ""
            message = _duplicate_message(manifest.models, i, first)
            raise ManifestError(f"{origin.at(('models', i))}: {message}{also}")
        return manifest

    # -- writing -------------------------------------------------------------

    @classmethod
    def from_models(cls, models: Iterable[DnnModel], *, lock: bool = False) -> ModelManifest:
        """The manifest of these records: source, settings, type and base (and hash).

        Records without a source are left out. Secrets in a recorded URL are
        written as ``***``.
        """
        entries: list[ManifestModel] = []
        seen: set[str] = set()
        for model in sorted(models, key=lambda m: (str(m.type), str(m.base), m.name, m.key)):
            entry = _entry_of(model, lock=lock)
            if entry is not None and entry.key not in seen:
                seen.add(entry.key)
                entries.append(entry)
        return cls(models=entries)

    def to_dict(self) -> dict[str, Any]:
        """The manifest as plain data, unset fields left out."""
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=False)

    def dumps(self, format: Literal["json", "yaml"] = "yaml") -> str:
        """The manifest as YAML (PyYAML needed) or JSON text."""
        data = self.to_dict()
        if not data.get("servers"):
            data.pop("servers", None)
        if format == "json":
            return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        yaml = yaml_module()
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: 5x faster
        text: str = yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True, width=100)
        return text


def _entry_of(model: DnnModel, *, lock: bool) -> ManifestModel | None:
    source = str(scrub((model.source or "").strip()))
    entry: dict[str, Any] = {"source": source, "name": model.name.strip() or None}
    if source_kind(source) == "hf":
        entry["source"], variant, subfolder = split_repo_source(source)
        entry.update({"variant": variant, "subfolder": subfolder})
    if model.description is not None:
        entry["description"] = model.description
    if model.trigger_phrases:
        entry["trigger_phrases"] = sorted(model.trigger_phrases)
    defaults = {k: v for k, v in (model.default_settings or {}).items() if v is not None}
    if defaults:
        entry["default_settings"] = defaults
    if source_kind(source) == "path" and is_absolute(model.path):
        entry["inplace"] = True
    entry["type"] = str(model.type)
    entry["base"] = str(model.base)
    if lock and model.hash:
        entry["hash"] = model.hash
    try:
        return ManifestModel.model_validate(entry)
    except ValidationError:  # no source, or one a manifest cannot hold
        return None


def _resolve_relative(models: list[Any], base_dir: str | Path | None) -> list[Any]:
    """``models`` with each ``./`` or ``../`` source made absolute against ``base_dir``."""
    resolved = models
    for i, entry in enumerate(models):
        source = entry.get("source") if isinstance(entry, Mapping) else None
        if isinstance(source, str) and source.lstrip().startswith(("./", "../")):
            if resolved is models:  # copied once, and only when a source changes
                resolved = list(models)
            base = Path.cwd() if base_dir is None else Path(base_dir)
            resolved[i] = {**entry, "source": (base / source.strip()).resolve().as_posix()}
    return resolved


def _duplicate(models: Sequence[ManifestModel]) -> tuple[int, int] | None:
    """``(i, first)``: the first entry whose source an earlier one (``first``) has."""
    seen: dict[str, int] = {}
    for i, entry in enumerate(models):
        first = seen.setdefault(entry.key, i)
        if first != i:
            return i, first
    return None


def _duplicate_message(models: Sequence[ManifestModel], i: int, first: int) -> str:
    source = models[i].install_source
    return f"models[{i}] and models[{first}] have the same source {source!r}"


_FIELDS = {
    "": set(ModelManifest.model_fields),
    "models": set(ManifestModel.model_fields),
    "servers": set(ManifestServer.model_fields),
}


def _validation_message(err: ValidationError, origin: Origin) -> str:
    """``file:line: models[3].name: problem`` per problem (the first ten)."""
    parts = []
    problems = err.errors(include_url=False)
    for problem in problems[:_MAX_PROBLEMS]:
        loc = problem.get("loc", ())
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        message = str(problem["msg"]).removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden" and loc:
            section = str(loc[0]) if len(loc) > 1 else ""
            known = _FIELDS.get(section, set())
            close = difflib.get_close_matches(str(loc[-1]), sorted(known), n=1, cutoff=0.6)
            message = "unknown field" + (f" (did you mean {close[0]!r}?)" if close else "")
        parts.append(f"{origin.at(loc)}: {where or 'manifest'}: {message}")
    if len(problems) > _MAX_PROBLEMS:
        parts.append(f"and {len(problems) - _MAX_PROBLEMS} more")
    return "; ".join(parts)
