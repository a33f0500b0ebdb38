"""Bad option values of the invokeai.models modules: each fails the task with a message
naming the option, and nothing is sent (counted at the transport, respx).

The options are found by introspection (each module's ``argument_spec()``, nested
``options`` too); ``OPTIONS`` gives each a kind, or ``test_the_table_names_every_option``
fails. An option is tried with every value ``STANDARD`` lists for its Ansible type,
except those its kind ``accepts`` (each with the reason, and checked to be accepted),
and with its kind's ``also``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import respx

from ansible_collections.invokeai.models.plugins.modules import manifest, model, model_info
from tests.unit.test_ansible_model import LORA, FakeServer, RunModule, record
from tests.unit.test_ansible_model import run_module as run_module  # the fixture

MODULES = {"model": model, "manifest": manifest, "model_info": model_info}
NAN = float("nan")
INF = float("inf")
LONG = "k" * 10_000
NEW = "/srv/models/new-lora.safetensors"  # not on the fake server: an install

# Ansible type -> the values an option of that type is tried with
# fmt: off
STANDARD: dict[str, list[Any]] = {
    "str": ["", "   ", "..", "/", "a/../b", LONG, {"x": 1}, ["x"]],
    "path": ["", "   ", "..", "/", "a/../b", LONG, {"x": 1}, ["x"]],
    "bool": ["", "   ", "maybe", "5", LONG, {"x": 1}, ["x"], -1, 2, NAN],
    "int": ["", "   ", "five", "5", LONG, {"x": 1}, ["x"], -1, 0, 1.5, NAN, "nan", True],
    "float": ["", "   ", "five", "5", LONG, {"x": 1}, ["x"], -1, -0.5, 0, NAN, "nan", INF],
    "dict": ["", "   ", "..", LONG, ["x"], 5, -1, NAN, {}],
    "list": [
        "", "   ", "..", "/", LONG, {"x": 1}, [], [""], ["   "], [".."], ["/"], [LONG],
        [{"x": 1}],
    ],
}
# fmt: on

OPAQUE = "opaque: the server judges a token (a JWT holds dots, base64 slashes)"
DISPLAY = "a name is display text, stored by the server, never a path"
FILTER = "a filter value, sent as a query value: the server answers (no match)"
WORD = (
    "a word of the server's vocabulary, which the library does not list (servers add "
    "types and bases); with a source it is only compared, never sent"
)
AS_NUMBER = "Ansible's type conversion reads '5' as the number 5"
NO_LIMIT = "no limit (the library's timeout=inf)"
# kind -> "accepts" (value label -> why it is not bad), "also" (more bad values),
# "says" (what the message holds; the option's name)
KINDS: dict[str, dict[str, Any]] = {
    "url": {"also": [None, "ftp://h/m", "h:9090", "http://"]},
    "token": {
        "accepts": {
            "''": "empty is no token (an empty INVOKEAI_TOKEN in CI)",
            "'..'": OPAQUE,
            "'/'": OPAQUE,
            "'a/../b'": OPAQUE,
        },
        "also": ["a b", "tok\nen"],
    },
    "seconds": {"accepts": {"'5'": AS_NUMBER, "inf": NO_LIMIT}},
    "wait_seconds": {"accepts": {"'5'": AS_NUMBER, "inf": NO_LIMIT}},
    "flag": {},
    "state": {"also": ["Present"]},
    "key": {},
    "source": {
        "also": [None, "./x.safetensors", "../x.safetensors", "x.safetensors"],
        "says": ("source", "neither an absolute path"),
    },
    "name": {"accepts": {"'..'": DISPLAY, "'/'": DISPLAY, "'a/../b'": DISPLAY}},
    "match": {"accepts": {"'..'": WORD, "'/'": WORD, "'a/../b'": WORD}},
    "access_token": {"accepts": {"'..'": OPAQUE, "'/'": OPAQUE, "'a/../b'": OPAQUE}},
    "config": {
        "accepts": {"{}": "no settings: nothing to change"},
        "also": [
            {"nmae": "x"},
            {"name": "x"},
            {"hash": "blake3:x"},
            {"trigger_phrases": "x"},
            {"default_settings": 5},
        ],
    },
    "hash": {},
    "src": {"also": [None, "/no/such/models.yaml"], "says": ("src", "cannot read")},
    "content": {
        "also": [
            None,
            {"models": "x"},
            {"version": 2, "models": []},
            {"models": [{"source": ".."}]},
            {"models": [{"source": "/"}]},
            {"models": [{"source": LORA, "nmae": "x"}]},
            {"models": [{"source": LORA, "access_token": "   "}]},
        ],
    },
    "concurrency": {"accepts": {"'5'": AS_NUMBER}},
    "filter": {"accepts": {"'..'": FILTER, "'/'": FILTER, "'a/../b'": FILTER}},
    "bases": {
        "accepts": {
            "'..'": FILTER,
            "'/'": FILTER,
            "['..']": FILTER,
            "['/']": FILTER,
            "[]": "no filter (the library's base=[])",
        },
        "also": [[None], [["x"]]],
    },
}

COMMON = {"url": "url", "token": "token", "timeout": "seconds", "validate_certs": "flag"}
# module -> option -> kind
OPTIONS: dict[str, dict[str, str]] = {
    "model": {
        **COMMON,
        "state": "state",
        "name": "name",
        "type": "match",
        "base": "match",
        "key": "key",
        "source": "source",
        "access_token": "access_token",
        "inplace": "flag",
        "config": "config",
        "hash": "hash",
        "wait": "flag",
        "wait_timeout": "wait_seconds",
    },
    "manifest": {
        **COMMON,
        "src": "src",
        "content": "content",
        "prune": "flag",
        "concurrency": "concurrency",
        "wait_timeout": "wait_seconds",
    },
    "model_info": {
        **COMMON,
        "name": "filter",
        "type": "filter",
        "base": "bases",
        "format": "filter",
    },
}

# the other arguments of a case: valid, and enough to send requests
BASE: dict[str, dict[str, Any]] = {
    "model": {"source": NEW},
    "manifest": {"content": {"version": 1, "models": [{"source": NEW}]}},
    "model_info": {},
}
BASE_FOR: dict[tuple[str, str], dict[str, Any]] = {("manifest", "src"): {}}


def label(value: Any) -> str:
    """``repr(value)``, with a long run of one letter shortened (``'k*10000'``)."""
    return re.sub(r"(\w)\1{49,}", lambda m: f"{m[1]}*{len(m[0])}", repr(value))


def options(spec: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every option of an argument spec, nested ``options`` too (as ``parent.child``)."""
    for name, rules in spec.items():
        yield prefix + name, rules
        yield from options(rules.get("options") or {}, f"{prefix}{name}.")


def given(spec: dict[str, Any], option: str, value: Any) -> dict[str, Any]:
    """Module arguments giving ``value`` to ``option`` (a nested one inside its parent)."""
    head, _, rest = option.partition(".")
    if not rest:
        return {head: value}
    inner = given(spec[head]["options"], rest, value)
    return {head: [inner] if spec[head].get("type") == "list" else inner}


def tried(kind: dict[str, Any], rules: dict[str, Any], accepted: bool = False) -> list[Any]:
    """The bad values of an option of ``kind`` (``accepted``: the standard ones it accepts)."""
    standard = STANDARD[rules.get("type", "str")]
    accepts = kind.get("accepts", {})
    if accepted:
        return [v for v in standard if label(v) in accepts]
    also: list[Any] = kind.get("also", [])
    return [v for v in standard if label(v) not in accepts] + also


def cases(accepted: bool) -> list[Any]:
    found = []
    for module in MODULES:
        for option, rules in options(MODULES[module].argument_spec()):
            if option not in OPTIONS[module]:
                continue  # test_the_table_names_every_option fails
            kind = KINDS[OPTIONS[module][option]]
            for value in tried(kind, rules, accepted):
                name = f"{module}-{option}-{label(value)}"
                found.append(pytest.param(module, option, value, id=name))
    return found


@pytest.fixture(autouse=True)
def no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INVOKEAI_URL", raising=False)
    monkeypatch.delenv("INVOKEAI_TOKEN", raising=False)


def run_case(run_module: RunModule, module: str, option: str, value: Any) -> dict[str, Any]:
    spec = MODULES[module].argument_spec()
    args = {**BASE_FOR.get((module, option), BASE[module]), **given(spec, option, value)}
    return run_module(MODULES[module].main, **args)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_the_table_names_every_option(module: str) -> None:
    found = dict(options(MODULES[module].argument_spec()))
    assert sorted(OPTIONS[module]) == sorted(found), "an option has no kind in OPTIONS"
    for option, rules in found.items():
        kind = KINDS[OPTIONS[module][option]]
        standard = {label(v) for v in STANDARD[rules.get("type", "str")]}
        assert set(kind.get("accepts", {})) <= standard, f"{module} {option}: a stale reason"


def test_nested_options_are_walked_too() -> None:
    spec = {"config": {"type": "list", "options": {"variant": {"type": "str"}}}}
    assert [name for name, _ in options(spec)] == ["config", "config.variant"]
    assert given(spec, "config.variant", "..") == {"config": [{"variant": ".."}]}


@pytest.mark.parametrize(("module", "option", "value"), cases(accepted=False))
def test_a_bad_value_fails_and_sends_nothing(
    router: respx.MockRouter, run_module: RunModule, module: str, option: str, value: Any
) -> None:
    FakeServer(router, [record(LORA)])
    result = run_case(run_module, module, option, value)
    msg = str(result.get("msg"))
    assert result["rc"] == 1 and result["failed"] is True, msg
    says = KINDS[OPTIONS[module][option]].get("says", (option.rsplit(".", 1)[-1],))
    assert any(s in msg.lower() for s in says), msg
    assert "Traceback" not in json.dumps(result)
    assert router.calls.call_count == 0, [str(c.request.url) for c in router.calls]


@pytest.mark.parametrize(("module", "option", "value"), cases(accepted=True))
def test_a_value_left_out_is_accepted(
    router: respx.MockRouter, run_module: RunModule, module: str, option: str, value: Any
) -> None:
    FakeServer(router, [record(LORA)])
    result = run_case(run_module, module, option, value)
    assert result["rc"] == 0, result.get("msg")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_the_other_arguments_are_valid_and_send(
    router: respx.MockRouter, run_module: RunModule, module: str
) -> None:
    """So each refusal above is the bad value's."""
    FakeServer(router, [record(LORA)])
    result = run_module(MODULES[module].main, **BASE[module])
    assert result["rc"] == 0, result.get("msg")
    assert router.calls.call_count > 0
