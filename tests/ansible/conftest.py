"""Fixtures for the Ansible collection's integration tests: real ``ansible-playbook`` runs
of the example files (examples/ansible/) against two test-bed servers at once,
InvokeAI 6.14.2 (inventory host ``invokeai-a``) and 6.8.1 (``invokeai-b``).

- ``fleet`` (session): the two servers, started side by side, stopped at the end.
- ``collections_path`` (session): the collection built with ``ansible-galaxy collection
  build`` and installed from the tarball into a temporary collections path, as
  docs/ansible.md tells a newcomer to do.
- ``models_dir``: a fresh folder with the tiny models ``models.yaml`` names (new bytes
  each test, so each test's models are new to both servers).
- ``playbook``: ``playbook("apply.yml", "--check", ...)`` runs an example playbook with
  the example inventory, pointed at the fleet by ``INVOKEAI_URL_A``/``INVOKEAI_URL_B``
  (``urls={"invokeai-a": ...}`` points a host elsewhere) and at ``models_dir`` by
  ``-e invokeai_models_dir=...``.
- ``vault_args(folder, **variables)``: the variables in an Ansible Vault file, as the
  ``ansible-playbook`` arguments that read it.
- ``clean_fleet`` (autouse): the models a test added are deleted after it (6.8.1 refuses
  a second model with the same name, type and base).
- ``server_state``: ``server_state()`` snapshots, per host, the records and the install
  jobs each server has (what a write would change).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from invokeai_py_client import InvokeAIClient
from testbed import tiny_models
from testbed.provision import ensure_invokeai
from testbed.server import InvokeAIServer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "ansible"
COLLECTION = ROOT / "ansible_collections" / "invokeai" / "models"
BIN = Path(sys.executable).parent
VERSIONS = {"invokeai-a": "6.14.2", "invokeai-b": "6.8.1"}
URL_VARIABLES = {"invokeai-a": "INVOKEAI_URL_A", "invokeai-b": "INVOKEAI_URL_B"}
RECAP = re.compile(
    r"^(?P<host>\S+)\s+: ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=\d+\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)
PLAYBOOK_TIMEOUT = 300


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Provision both InvokeAI versions before any test runs (not in a test's timeout)."""
    here = Path(__file__).parent
    if session.config.option.collectonly:
        return
    if any(here in Path(str(item.path)).parents for item in session.items):
        for version in VERSIONS.values():
            ensure_invokeai(version)


@pytest.fixture(scope="session")
def fleet() -> Iterator[dict[str, InvokeAIServer]]:
    """Both servers, started side by side. Each is started by a thread that lives until
    the server is stopped: a test-bed server dies with the thread that started it."""
    servers = {host: InvokeAIServer(version) for host, version in VERSIONS.items()}
    errors: list[BaseException] = []
    done = threading.Event()

    def keep(server: InvokeAIServer, ready: threading.Event) -> None:
        try:
            server.start()
        except BaseException as exc:  # raised below, in the test's thread
            errors.append(exc)
        finally:
            ready.set()
        done.wait()

    started = []
    for server in servers.values():
        ready = threading.Event()
        thread = threading.Thread(target=keep, args=(server, ready), daemon=True)
        thread.start()
        started.append((thread, ready))
    try:
        for _, ready in started:
            ready.wait()
        if errors:
            raise errors[0]
        yield servers
    finally:
        for server in servers.values():
            server.stop()
        done.set()
        for thread, _ in started:
            thread.join(10)


@pytest.fixture(scope="session")
def collections_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    built = tmp_path_factory.mktemp("collection")
    galaxy = str(BIN / "ansible-galaxy")

    def run(*args: str) -> None:
        subprocess.run([galaxy, "collection", *args], check=True, capture_output=True, timeout=120)

    run("build", str(COLLECTION), "--output-path", str(built))
    (tarball,) = built.glob("invokeai-models-*.tar.gz")
    installed = built / "installed"
    run("install", "-p", str(installed), str(tarball))
    assert (installed / "ansible_collections" / "invokeai" / "models" / "MANIFEST.json").is_file()
    return installed


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    """The three tiny models of models.yaml (and an unknown one), new bytes each test."""
    folder = (tmp_path / "models").resolve()
    folder.mkdir()
    tiny_models.write_lora_sd1(folder, "tiny-lora-sd1.safetensors")
    tiny_models.write_embedding_sd1(folder, "tiny-embedding-sd1.safetensors")
    tiny_models.write_vae_sd1(folder, "tiny-vae-sd1.safetensors")
    tiny_models.write_unknown(folder, "tiny-unknown.safetensors")
    return folder


@dataclass
class Run:
    """One ``ansible-playbook`` run: exit code, output (stdout and stderr) and the recap."""

    returncode: int
    output: str
    recap: dict[str, dict[str, int]]

    def changed(self) -> dict[str, int]:
        return {host: counts["changed"] for host, counts in self.recap.items()}

    def failed(self) -> dict[str, int]:
        return {host: counts["failed"] for host, counts in self.recap.items()}


Playbook = Callable[..., Run]


def ansible_environment(fleet: dict[str, InvokeAIServer], collections: Path) -> dict[str, str]:
    """The environment of an ``ansible-playbook`` run: no INVOKEAI_* of the caller's, the
    fleet's URLs, the installed collection, no colour, no user configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOKEAI_", "ANSIBLE_"))}
    config = collections.parent / "ansible.cfg"  # empty: no ~/.ansible.cfg of the caller's
    config.write_text("[defaults]\n")
    env.update({URL_VARIABLES[host]: server.url for host, server in fleet.items()})
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(collections),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_CONFIG=str(config),
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


@pytest.fixture
def playbook(
    fleet: dict[str, InvokeAIServer], collections_path: Path, models_dir: Path
) -> Playbook:
    env = ansible_environment(fleet, collections_path)

    def run(
        name: str, *args: str, models: Path | None = None, urls: dict[str, str] | None = None
    ) -> Run:
        command = [
            str(BIN / "ansible-playbook"),
            "-i",
            "inventory.yml",
            name,
            "-e",
            f"invokeai_models_dir={models or models_dir}",
            *args,
        ]
        done = subprocess.run(
            command,
            cwd=EXAMPLES,
            env={**env, **{URL_VARIABLES[h]: url for h, url in (urls or {}).items()}},
            capture_output=True,
            text=True,
            timeout=PLAYBOOK_TIMEOUT,
            check=False,
        )
        output = done.stdout + done.stderr
        recap = {
            m["host"]: {k: int(m[k]) for k in ("ok", "changed", "failed")}
            for m in RECAP.finditer(done.stdout)
        }
        return Run(done.returncode, output, recap)

    return run


def vault_args(folder: Path, **variables: str) -> tuple[str, ...]:
    """``variables`` encrypted with ``ansible-vault`` into ``folder``; the arguments of
    ``ansible-playbook`` that read them."""
    password = folder / "vault-password"
    password.write_text("vault-password-for-the-test\n")
    secrets = folder / "vault.yml"
    secrets.write_text("".join(f"{name}: {value}\n" for name, value in variables.items()))
    subprocess.run(
        [
            str(BIN / "ansible-vault"),
            "encrypt",
            str(secrets),
            "--vault-password-file",
            str(password),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert not any(value in secrets.read_text() for value in variables.values())
    return "-e", f"@{secrets}", "--vault-password-file", str(password)


@dataclass(frozen=True)
class ServerState:
    """What one server has: its records (key -> name, description) and install jobs."""

    records: dict[str, tuple[str, str | None]]
    jobs: int


StateOf = Callable[[], dict[str, ServerState]]


@pytest.fixture
def server_state(fleet: dict[str, InvokeAIServer]) -> StateOf:
    def snapshot() -> dict[str, ServerState]:
        states = {}
        for host, server in fleet.items():
            with InvokeAIClient.from_url(server.url, events=False) as client:
                repo = client.dnn_model_repo
                records = {m.key: (m.name, m.description) for m in repo.list_models()}
                states[host] = ServerState(records, len(repo.list_install_jobs()))
        return states

    return snapshot


@pytest.fixture(autouse=True)
def clean_fleet(fleet: dict[str, InvokeAIServer]) -> Iterator[None]:
    def keys() -> dict[str, set[str]]:
        found = {}
        for host, server in fleet.items():
            with InvokeAIClient.from_url(server.url, events=False) as client:
                found[host] = {m.key for m in client.dnn_model_repo.list_models()}
        return found

    before = keys()
    yield
    for host, added in keys().items():
        with InvokeAIClient.from_url(fleet[host].url, events=False) as client:
            for key in added - before[host]:
                client.dnn_model_repo.delete_model(key)
