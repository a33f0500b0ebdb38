"""Bad values on the command line: exit 2, a clear message, and nothing sent.

The commands and their parameters are found by walking the Typer app's command tree;
``CASES`` must hold at least one bad value for every command and every parameter that
takes a value (``test_the_table_names_every_command``). Each case runs against a
respx router that would answer anything, and must send no request at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
import typer.core
import typer.main
import typer.testing

from invokeai_py_client.cli.app import app
from tests.unit.conftest import BASE_URL, replay

LONG = "k" * 10_000
HUGE_ID = "9" * 25
FILE = "{manifest}"  # a valid manifest file (written by the test)
SRC = "/m/a.safetensors"

Case = tuple[list[str], str | None]  # argv after the global options, stdin


def c(*argv: str, stdin: str | None = None) -> Case:
    return list(argv), stdin


def _ids(*prefix: str) -> list[Case]:
    return [c(*prefix, v) for v in ("abc", "1.5", "-1", "nan", HUGE_ID, "")]


# command -> parameter ("" for the command as a whole) -> bad cases
CASES: dict[tuple[str, ...], dict[str, list[Case]]] = {
    (): {
        "url": [c("--url", v, "list") for v in ("", "   ", "ftp://h", "h:9090", "http://")],
        "token": [c("--token", v, "list") for v in (" ", "a b", "tok\nen")],
    },
    ("list",): {
        "base": [c("list", "--base", v) for v in ("", "   ", LONG)],
        "type_": [c("list", "--type", v) for v in ("", "   ", LONG)],
        "name": [c("list", "--name", v) for v in ("", "   ", LONG)],
        "format_": [c("list", "--format", v) for v in ("", "   ", LONG)],
    },
    ("show",): {"key": [c("show", v) for v in ("", "   ", ".", "..", "a/b", "a\\b", LONG)]},
    ("server",): {"": [c("server", "extra")]},
    ("delete",): {
        "keys": [c("delete", "--yes", *v) for v in ([".."], ["k1", "a/b"], [""], ["k1", LONG])],
        "": [c("delete", "k1"), c("delete")],  # no --yes off a terminal; no key
    },
    ("install",): {
        "sources": [
            *(c("install", v) for v in ("", "   ", ".", "..", "/", "./", LONG)),
            c("install", SRC, ".."),  # one bad source: not even the good one is sent
        ],
        "name": [c("install", SRC, "--name", v) for v in ("", "   ")],
        "description": [c("install", SRC, "/m/b.safetensors", "--description", "d")],
        "config": [
            c("install", SRC, "--config", v)
            for v in ("not json", "[1]", '"x"', '{"nmae": "x"}', '{"name": 5}', '{"name": ""}')
        ],
        "timeout": [c("install", SRC, "--timeout", v) for v in ("-1", "nan", "abc", "")],
    },
    ("update",): {
        "key": [c("update", v, "--name", "x") for v in ("", "..", "a/b", LONG)],
        "name": [c("update", "k", "--name", v) for v in ("", "   ")],
        "config": [c("update", "k", "--config", v) for v in ("x", "[]", '{"name": 5}')],
        "trigger_phrase": [c("update", "..", "--trigger-phrase", "t")],
        "description": [c("update", "a/b", "--description", "d")],
        "": [c("update", "k")],  # nothing to change
    },
    ("convert",): {"keys": [c("convert", *v) for v in ([".."], ["k", "a/b"], [""], [LONG])]},
    ("reidentify",): {"keys": [c("reidentify", *v) for v in ([".."], ["k", "a/b"], [""])]},
    ("scan",): {
        "path": [c("scan", v) for v in ("", "   ", ".", "..", "/", LONG)],
        "timeout": [c("scan", "/m", "--install", "--timeout", v) for v in ("nan", "-1", "x")],
        "": [c("scan", "/m", "--no-wait")],  # --no-wait without --install
    },
    ("missing",): {"": [c("missing", "--delete"), c("missing", "extra")]},
    ("orphaned",): {"": [c("orphaned", "--delete"), c("orphaned", "extra")]},
    ("plan",): {"file": [c("plan", v) for v in ("/no/such/manifest.yaml", "", "{tmp}")]},
    ("apply",): {
        "file": [c("apply", v) for v in ("/no/such/manifest.yaml", "", "{tmp}")],
        "concurrency": [c("apply", FILE, "-j", v) for v in ("0", "-1", "x", "1.5")],
        "timeout": [c("apply", FILE, "--timeout", v) for v in ("nan", "-1", "x")],
    },
    ("export",): {"output": [c("export", "-o", v) for v in ("/no/such/dir/m.yaml", "{dir}")]},
    ("login",): {
        "email": [c("login", "--email", v, "--password-stdin", stdin="pw\n") for v in ("", " ")],
        "": [
            c("login", "pass-w0rd"),
            c("login", "--email", "a@b.c", "--password-stdin", stdin=""),
            c("login", "--password-stdin", stdin="pw\n"),
        ],
    },
    ("logout",): {"": [c("logout", "extra")]},
    ("jobs",): {"": [c("jobs", "nope")]},
    ("jobs", "show"): {"job_id": _ids("jobs", "show")},
    ("jobs", "cancel"): {"job_ids": [*_ids("jobs", "cancel"), c("jobs", "cancel", "1", HUGE_ID)]},
    ("jobs", "pause"): {"job_id": _ids("jobs", "pause")},
    ("jobs", "resume"): {"job_id": _ids("jobs", "resume")},
    ("jobs", "prune"): {"": [c("jobs", "prune", "extra")]},
    ("cache", "stats"): {"": [c("cache", "stats", "extra")]},
    ("cache", "empty"): {"": [c("cache", "empty", "extra")]},
    ("hf", "status"): {"": [c("hf", "status", "extra")]},
    ("hf", "login"): {
        "": [c("hf", "login", "hf_token_as_argument"), c("hf", "login", stdin="\n")],
    },
    ("hf", "logout"): {"": [c("hf", "logout", "extra")]},
    ("starter", "list"): {
        "base": [c("starter", "list", "--base", v) for v in ("", "   ", LONG)],
        "type_": [c("starter", "list", "--type", v) for v in ("", "   ")],
    },
    ("starter", "install"): {
        "name": [c("starter", "install", v) for v in ("", "   ", LONG)],
        "timeout": [c("starter", "install", "x", "--timeout", v) for v in ("nan", "-1")],
    },
}


def commands() -> dict[tuple[str, ...], list[str]]:
    """Every command of the app (a group that runs by itself too) and the parameters
    that take a value (flags take none), found by walking the command tree."""
    found: dict[tuple[str, ...], list[str]] = {}

    def walk(command: Any, path: tuple[str, ...]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands is None or getattr(command, "invoke_without_command", False) or not path:
            params = [p.name for p in command.params if not getattr(p, "is_flag", False)]
            found[path] = [p for p in params if p != "version"]
        for name, sub in (subcommands or {}).items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


def test_the_table_names_every_command() -> None:
    found = commands()
    assert sorted(found) == sorted(CASES), "a command has no bad-input cases"
    for path, params in found.items():
        missing = set(params) - set(CASES[path])
        assert not missing, f"{' '.join(path)}: no bad value for {sorted(missing)}"
        assert all(CASES[path].values()), path


def all_cases() -> list[tuple[str, Case]]:
    return [
        (f"{' '.join(path) or 'global'}:{param or '*'}:{i}", case)
        for path, params in CASES.items()
        for param, cases in params.items()
        for i, case in enumerate(cases)
    ]


BAD_MANIFEST = "models:\n  - source: o/r\n  - source: o/r\n"  # a duplicate entry


COMMAND = typer.main.get_command(app)  # built once: CliRunner builds it per invoke (0.2 s)


@pytest.fixture
def answering() -> Iterator[respx.MockRouter]:
    """A server that would answer every request (so that a sent one is counted)."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        replay(router, "version")
        router.route().mock(return_value=httpx.Response(418, json={"detail": "teapot"}))
        yield router


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What the placeholders of the cases stand for."""
    folder = tmp_path_factory.mktemp("manifests")
    (folder / "ok.yaml").write_text("models:\n  - source: o/r\n")
    (folder / "bad.yaml").write_text(BAD_MANIFEST)
    return {FILE: str(folder / "ok.yaml"), "{tmp}": str(folder / "bad.yaml"), "{dir}": str(folder)}


@pytest.mark.parametrize(("case_id", "case"), all_cases(), ids=[i for i, _ in all_cases()])
def test_bad_value_exits_2_unsent(
    answering: respx.MockRouter,
    files: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    case_id: str,
    case: Case,
) -> None:
    monkeypatch.delenv("INVOKEAI_TOKEN", raising=False)  # the token store is the test's own
    monkeypatch.setattr(typer.testing, "_get_command", lambda _app: COMMAND)
    monkeypatch.setattr(typer.core, "HAS_RICH", False)  # plain usage errors: 50x faster
    argv, stdin = case
    argv = [files.get(a, a) for a in argv]
    if argv[0] == "--url":
        full = ["--no-events", *argv]
    else:
        full = ["--url", BASE_URL, "--no-events", *argv]
    result = typer.testing.CliRunner().invoke(app, full, input=stdin)
    shown = (result.stderr + result.stdout)[:300]
    assert result.exit_code == 2, f"{case_id}: exit {result.exit_code}: {shown}"
    assert "Traceback" not in result.output, shown
    assert result.exception is None or isinstance(result.exception, SystemExit), shown
    assert "error" in result.stderr.lower(), f"{case_id}: no clear message: {shown}"
    assert answering.calls.call_count == 0, f"{case_id}: sent {answering.calls[0].request.url}"
