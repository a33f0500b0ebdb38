"""A bad manifest file stops ``plan`` and ``apply`` with a ``ManifestError`` naming the
file and the line, before anything is sent: through both repositories and the CLI
(exit 2), counted at the transport. (What each message says, for many more files, is in
test_manifest.py; here every kind of error meets every way in.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import respx
import typer.testing

from invokeai_py_client import AsyncInvokeAIClient, InvokeAIClient, ManifestError
from invokeai_py_client.cli.app import app
from tests.unit.conftest import BASE_URL, replay

# (kind, file name, text, what the message says after "<file>:<line>: ")
LOAD_ERRORS = [
    ("malformed YAML", "m.yaml", "models:\n  - source: o/r\n  - [\n", "4: not valid YAML"),
    ("a tab in YAML", "m.yaml", "models:\n  - source: o/r\n\tname: x\n", "3: not valid YAML"),
    ("malformed JSON", "m.json", '{"models": [\n  {"source": "o/r"},\n', "3: not valid JSON"),
    (
        "unknown key",
        "m.yaml",
        "models:\n  - source: o/r\n  - source: o/s\n    nmae: x\n",
        "4: models[1].nmae: unknown field (did you mean 'name'?)",
    ),
    ("unknown top-level key", "m.yaml", "models: []\nserver: [h]\n", "2: server: unknown field"),
    (
        "a missing ${ENV} in a source",
        "m.yaml",
        "models:\n  - source: o/r\n  - source: ${NO_SUCH_VAR_16}/x.safetensors\n",
        "3: models[1].source: environment variable(s) not set: NO_SUCH_VAR_16",
    ),
    (
        "a duplicate entry",
        "m.yaml",
        "models:\n  - source: o/r\n  - source: /m/a.safetensors\n  - source: o/r\n",
        "4: models[2] and models[0] have the same source 'o/r' (line 2)",
    ),
    (
        "a duplicate entry, spelled two ways",
        "m.yaml",
        "models:\n  - source: o/r\n    variant: fp16\n  - source: o/r:fp16\n",
        "4: models[1] and models[0] have the same source",
    ),
    (
        "a source neither path, URL nor repo id",
        "m.yaml",
        "models:\n  - source: o/r\n  - source: just-a-name\n",
        "3: models[1]: 'just-a-name' is neither an absolute path, a URL nor a repo id",
    ),
    (
        "a relative path",
        "m.yaml",
        "models:\n  - source: loras/x.safetensors\n",
        "2: models[0]: 'loras/x.safetensors' looks like a relative path",
    ),
    ("a dot source", "m.yaml", "models:\n  - source: ..\n", "2: models[0]: source must be"),
    (
        "a literal token",
        "m.yaml",
        "models:\n  - source: https://h/x.safetensors?token=abc123\n",
        "2: models[0]: a token, key or password in a source must be an environment reference",
    ),
    ("a blank name", "m.yaml", "models:\n  - source: o/r\n    name: '  '\n", "3: models[0].name"),
    ("no models", "m.yaml", "version: 1\n", "1: models: Field required"),
]
UNSET_TOKEN = "models:\n  - source: o/r\n  - source: o/s\n    access_token: ${NO_TK_VAR_16}\n"


@pytest.fixture
def answering() -> Iterator[respx.MockRouter]:
    """A 6.14.2 server with no models, that would accept any write (to count it)."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        replay(router, "version")
        replay(router, "models_list_empty")
        router.route().respond(201, json={"detail": "would have been done"})
        yield router


def written(router: respx.MockRouter) -> list[str]:
    return [f"{c.request.method} {c.request.url.path}" for c in router.calls]


@pytest.mark.parametrize(
    ("kind", "name", "text", "says"), LOAD_ERRORS, ids=[e[0] for e in LOAD_ERRORS]
)
def test_plan_and_apply_refuse_before_anything_is_sent(
    answering: respx.MockRouter, tmp_path: Path, kind: str, name: str, text: str, says: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    expected = f"{path}:{says}"
    with InvokeAIClient(BASE_URL, max_retries=0, verify=False, events=False) as client:
        for call in (client.dnn_model_repo.plan_manifest, client.dnn_model_repo.apply_manifest):
            with pytest.raises(ManifestError) as caught:
                call(path)
            assert expected in str(caught.value), kind

    async def run_async() -> list[str]:
        messages = []
        async with AsyncInvokeAIClient(BASE_URL, max_retries=0, verify=False, events=False) as c:
            for call in (c.dnn_model_repo.plan_manifest, c.dnn_model_repo.apply_manifest):
                try:
                    await call(str(path))
                except ManifestError as err:
                    messages.append(str(err))
        return messages

    messages = asyncio.run(run_async())
    assert len(messages) == 2 and all(expected in m for m in messages), messages
    assert written(answering) == []  # nothing sent, not even the version check

    for command in ("plan", "apply"):
        result = cli(command, str(path))
        assert result.exit_code == 2, result.output
        assert expected in result.stderr and result.stderr.startswith("error: "), result.stderr
    assert written(answering) == []


def cli(*args: str) -> typer.testing.Result:
    return typer.testing.CliRunner().invoke(app, ["--url", BASE_URL, "--no-events", *args])


def test_an_install_needing_an_unset_token_writes_nothing(
    answering: respx.MockRouter, tmp_path: Path
) -> None:
    """Only an install needs the token: ``plan`` works; ``apply`` reads the model list,
    then refuses before its first write, naming the line."""
    path = tmp_path / "m.yaml"
    path.write_text(UNSET_TOKEN)
    expected = f"{path}:3: models[1]: the manifest's installs need: NO_TK_VAR_16"
    with InvokeAIClient(BASE_URL, max_retries=0, verify=False, events=False) as client:
        assert len(client.dnn_model_repo.plan_manifest(path).changes) == 2
        with pytest.raises(ManifestError, match="NO_TK_VAR_16") as caught:
            client.dnn_model_repo.apply_manifest(path)
    assert expected in str(caught.value)
    result = cli("apply", str(path))
    assert result.exit_code == 2 and expected in result.stderr, result.output
    assert {w.split()[0] for w in written(answering)} == {"GET"}  # reads only: no write


def test_a_server_token_naming_an_unset_variable_names_its_line(
    answering: respx.MockRouter, tmp_path: Path
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        f"servers:\n  - {BASE_URL}\n  - url: {BASE_URL}/b\n    token: ${{NO_SRV_VAR_16}}\n"
        "models: []\n"
    )
    for command in ("plan", "apply"):
        result = typer.testing.CliRunner().invoke(app, ["--no-events", command, str(path)])
        assert result.exit_code == 2, result.output
        assert f"{path}:3: servers[1].token: environment variable(s) not set: NO_SRV_VAR_16" in (
            result.stderr
        )
    assert written(answering) == []
