"""The test bed's first-hour behaviour, offline: provisioning progress, status, demo hints.

Nothing here installs InvokeAI: the venv and pip steps are swapped for tiny fakes.
"""

from __future__ import annotations

import re
import signal
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from testbed import __main__ as testbed_main
from testbed import provision
from testbed.provision import PipProgress, ProvisionError, report_due
from testbed.server import InvokeAIServer, _child_env

ROOT = Path(__file__).resolve().parents[2]

# Lines as pip 24 writes them to a file (captured from a real `pip install invokeai==6.8.1`).
IGNORED = "is ignored: it is neither a file nor a directory."
PIP_OUTPUT = "\n".join(
    [
        "Looking in indexes: https://pypi.org/simple, file:///opt/pypi/simple",
        f"WARNING: Location 'file:///opt/pypi/simple/invokeai/' {IGNORED}",
        "Collecting invokeai==6.8.1",
        "  Downloading invokeai-6.8.1-py3-none-any.whl (9.3 MB)",
        "     ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 9.3/9.3 MB 38.5 MB/s eta 0:00:00",
        f"WARNING: Location 'file:///opt/pypi-more/simple/accelerate/' {IGNORED}",
        "Collecting accelerate (from invokeai==6.8.1)",
        "  Downloading accelerate-1.16.0-py3-none-any.whl (389 kB)",
        "Collecting diffusers[torch]==0.33.0 (from invokeai==6.8.1)",
        "  Downloading diffusers-0.33.0-py3-none-any.whl (1.2 GB)",
        "Processing /opt/pypi/files/gguf-0.19.0-py3-none-any.whl (from invokeai==6.8.1)",
        "INFO: pip is looking at multiple versions of jax to determine which version is "
        "compatible with other requirements. This could take a while.",
        "Collecting Diffusers==0.33.0 (from invokeai==6.8.1)",
        "Requirement already satisfied: setuptools>=40.8.0 in /venv/lib/python3.11 (65.5.0)",
        "",
    ]
)
INSTALLING = "Installing collected packages: gguf, accelerate, diffusers, invokeai"
DONE = "Successfully installed accelerate-1.16.0 diffusers-0.33.0 gguf-0.19.0 invokeai-6.8.1"


def _fed(text: str, progress: PipProgress | None = None) -> PipProgress:
    progress = progress or PipProgress()
    for line in text.splitlines():
        progress.feed(line)
    return progress


# -- progress lines from pip's output ----------------------------------------------------


def test_pip_progress_counts_packages_and_bytes_while_resolving() -> None:
    progress = _fed(PIP_OUTPUT)
    assert progress.step == "resolving"
    # invokeai, accelerate, diffusers (twice, any spelling), gguf
    assert progress.packages == {"invokeai", "accelerate", "diffusers", "gguf"}
    assert progress.downloaded_bytes == pytest.approx(9.3e6 + 389e3 + 1.2e9)
    assert progress.describe() == (
        "finding packages: 4 found, 1.2 GB downloaded (pip is comparing versions of jax)"
    )


def test_pip_progress_says_n_of_m_while_installing_and_the_total_at_the_end() -> None:
    installed = [7]  # distributions already in the venv (pip, setuptools, ...)
    progress = _fed(PIP_OUTPUT + INSTALLING, PipProgress(lambda: installed[0]))
    assert progress.step == "installing"
    assert progress.describe() == "installing packages: 0 of 4 (1.2 GB downloaded)"
    installed[0] += 3
    assert progress.describe() == "installing packages: 3 of 4 (1.2 GB downloaded)"
    progress.feed(DONE)
    assert progress.step == "done"
    assert progress.describe() == "4 packages installed (1.2 GB downloaded)"


def test_pip_warnings_and_chatter_are_never_shown() -> None:
    progress = PipProgress()
    seen = set()
    for line in PIP_OUTPUT.splitlines():
        progress.feed(line)
        seen.add(progress.describe())
    assert not [s for s in seen if re.search(r"WARNING|Location|Looking in|━|Requirement", s)]
    only_warnings = _fed("WARNING: Location 'x' is ignored\nWARNING: Retrying (Retry(total=4))")
    assert only_warnings.step == "starting"
    assert only_warnings.describe() == "pip is starting"


def test_a_line_is_printed_on_a_new_step_or_a_change_and_repeated_only_as_a_heartbeat() -> None:
    def due(**kwargs: Any) -> bool:
        values = {"changed": False, "new_step": False, "since_said": 1.0, "every": 10.0}
        return report_due(**{**values, **kwargs}, heartbeat=60.0)

    assert due(new_step=True)
    assert not due(changed=True, since_said=3.0)  # changes are rate-limited
    assert due(changed=True, since_said=10.0)
    assert not due(since_said=59.0)  # the same line again: not every 10 s
    assert due(since_said=60.0)


# -- provisioning with fake venv and pip steps --------------------------------------------

FAKE_PIP = r"""
import pathlib, sys, time
venv = pathlib.Path(sys.argv[1])
print(open(sys.argv[2]).read(), flush=True)
time.sleep(0.7)
print(sys.argv[3], flush=True)
site = venv / "lib" / "python3.11" / "site-packages"
for name in ("gguf", "accelerate", "diffusers", "invokeai"):
    (site / f"{name}-1.0.dist-info").mkdir(parents=True)
    time.sleep(0.1)
exe = venv / "bin" / "invokeai-web"
exe.write_text("#!/bin/sh\necho " + sys.argv[4] + "\n")
exe.chmod(0o755)
print(sys.argv[5], flush=True)
sys.exit(int(sys.argv[6]))
"""


@pytest.fixture
def fake_build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """Provisioning into a temporary cache, with a venv step that only makes directories
    and a pip step that prints ``PIP_OUTPUT`` and writes a fake ``invokeai-web``."""
    monkeypatch.setenv("INVOKEAI_TESTBED_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(provision, "find_python", lambda: sys.executable)
    monkeypatch.setattr(
        provision,
        "venv_command",
        lambda python, venv: [python, "-c", f"import os; os.makedirs({str(venv / 'bin')!r})"],
    )
    script = tmp_path / "fake_pip.py"
    script.write_text(FAKE_PIP)
    output = tmp_path / "pip_output.txt"
    output.write_text(PIP_OUTPUT)
    settings: dict[str, Any] = {"exit": 0, "last": DONE}

    def pip_command(venv: Path, version: str) -> list[str]:
        last, code = settings["last"], str(settings["exit"])
        return [
            sys.executable,
            str(script),
            str(venv),
            str(output),
            INSTALLING,
            version,
            last,
            code,
        ]

    monkeypatch.setattr(provision, "pip_command", pip_command)
    return settings


def test_provisioning_shows_steps_and_progress_and_keeps_pip_in_the_log(
    fake_build: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not provision.is_provisioned("9.9.9")
    exe = provision.ensure_invokeai("9.9.9")
    said = capsys.readouterr().err
    assert exe == tmp_path / "cache" / "invokeai-9.9.9" / "bin" / "invokeai-web"
    for step in ("step 1 of 3: creating", "step 2 of 3: pip install", "step 3 of 3: checking"):
        assert step in said
    assert "finding packages: 4 found, 1.2 GB downloaded" in said
    assert "4 packages installed (1.2 GB downloaded)" in said
    assert not re.search(r"WARNING|Location|Collecting|Downloading|━", said), said
    assert all(line.startswith("[testbed] ") for line in said.splitlines())
    log = (tmp_path / "cache" / "invokeai-9.9.9.pip.log").read_text()
    assert log.count("WARNING: Location") == 2 and DONE in log
    assert provision.is_provisioned("9.9.9")
    assert provision.status_line("9.9.9") == (
        f"InvokeAI 9.9.9 is installed in {tmp_path / 'cache' / 'invokeai-9.9.9'}"
    )


def test_a_failed_pip_prints_the_log_tail_and_its_path(
    fake_build: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_build.update(exit=1, last="ERROR: No matching distribution found for invokeai==9.9.9")
    with pytest.raises(ProvisionError) as failure:
        provision.ensure_invokeai("9.9.9")
    log_path = tmp_path / "cache" / "invokeai-9.9.9.pip.log"
    message = str(failure.value)
    assert f"--- last lines of {log_path} ---" in message
    assert "ERROR: No matching distribution found for invokeai==9.9.9" in message
    assert "ERROR" not in capsys.readouterr().err  # printed once, by whoever catches it
    assert not (tmp_path / "cache" / "invokeai-9.9.9").exists()
    assert not provision.is_provisioned("9.9.9")


def test_status_names_the_real_cache_and_says_first_run_only_when_not_installed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("INVOKEAI_TESTBED_CACHE", str(tmp_path))
    venv = tmp_path / "invokeai-1.2.3"
    line = provision.status_line("1.2.3")
    assert line.startswith(f"InvokeAI 1.2.3 is not installed yet: installing it into {venv} ")
    assert "INVOKEAI_TESTBED_CACHE" in line
    venv.mkdir()
    (venv / provision.BUILDING).touch()
    (venv / provision.MARKER).touch()
    assert not provision.is_provisioned("1.2.3")  # a build still runs (or was cut short)
    (venv / provision.BUILDING).unlink()
    assert provision.status_line("1.2.3") == f"InvokeAI 1.2.3 is installed in {venv}"
    assert "not installed" not in provision.status_line("1.2.3")


def test_demo_sh_asks_the_test_bed_what_to_say_about_the_install() -> None:
    demo = (ROOT / "scripts" / "demo.sh").read_text()
    assert 'echo "demo: $(.venv/bin/python -m testbed status)"' in demo
    code = [line for line in demo.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in code if "first run" in line or ".cache/" in line]


# -- demo --serve: what to paste --------------------------------------------------------


def _manifest_variables() -> set[str]:
    text = (ROOT / "examples" / "models.yaml").read_text()
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    return set(re.findall(r"\$\{(\w+)\}", code))


def test_serve_prints_commands_that_set_every_variable_the_example_manifest_uses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    class FakeServer:
        """Starts at once and exits at once: ``_up`` prints its lines and returns."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.url, self.server_version, self.ready_seconds = "http://127.0.0.1:9191", "6", 0.0
            self.root, self.log_path = tmp_path / "root", tmp_path / "log"
            self.process = SimpleNamespace(poll=lambda: 0, returncode=0)

        def start(self) -> None: ...
        def stop(self) -> None: ...
        def log_tail(self) -> str:
            return ""

    monkeypatch.setattr(testbed_main, "InvokeAIServer", FakeServer)
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        testbed_main._up("6.14.2", False, 9191, tmp_path / "models")
    finally:
        signal.signal(signal.SIGTERM, sigterm)
    out = capsys.readouterr().out
    files = re.search(r"^files for URL installs[^:]*: (\S+)$", out, re.M)
    assert files is not None, out
    cli = str(Path(sys.executable).parent / "invokeai-models")
    cli = str(Path(cli).relative_to(ROOT)) if Path(cli).is_relative_to(ROOT) else cli
    assert f"    cd {ROOT}\n" in out
    assert f"    export INVOKEAI_URL=http://127.0.0.1:9191 DEMO_FILES={files.group(1)}\n" in out
    assert f"    {cli} plan examples/models.yaml\n" in out
    exported = set(re.findall(r"(\w+)=", out.split("export ", 1)[1].splitlines()[0]))
    assert _manifest_variables() <= exported, "examples/models.yaml uses a variable not set"


def test_readme_quick_start_says_what_serve_needs_and_where_invokeai_goes() -> None:
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "INVOKEAI_TESTBED_CACHE" in quick_start
    serve = quick_start[quick_start.index("demo.sh --serve") :]
    for needed in ("DEMO_FILES", "INVOKEAI_URL", ".venv/bin/invokeai-models plan examples/"):
        assert needed in serve
    assert _manifest_variables() <= set(re.findall(r"\b([A-Z][A-Z_]+)=", serve))


# -- the server's temporary files -------------------------------------------------------


def test_the_server_gets_its_own_tmpdir_and_no_invokeai_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("INVOKEAI_URL", "http://elsewhere")
    monkeypatch.setenv("TMPDIR", "/tmp")
    env = _child_env(tmp_path / "tmp")
    assert env["TMPDIR"] == str(tmp_path / "tmp")
    assert not [name for name in env if name.upper().startswith("INVOKEAI_")]


def test_stop_removes_the_servers_temporary_files(tmp_path: Path) -> None:
    server = InvokeAIServer("6.14.2")
    server.base_dir = tmp_path / "state"
    server.temp_dir = server.base_dir / "tmp"
    (server.temp_dir / "tmpabc123").mkdir(parents=True)
    server.stop()
    assert not server.base_dir.exists()


# -- kill and restart (a fake invokeai-web: a tiny HTTP server on the configured port) ----

FAKE_SERVER = """#!{python}
import http.server, json, pathlib, sys
root = pathlib.Path(sys.argv[sys.argv.index("--root") + 1])
config = dict(line.split(": ", 1) for line in (root / "invokeai.yaml").read_text().splitlines())
port = int(config["port"])
class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass
    def do_GET(self):
        body = json.dumps({{"version": "6.14.2"}}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
server = http.server.HTTPServer(("127.0.0.1", port), Handler)
print(f"Invoke running on http://127.0.0.1:{{port}}", flush=True)
server.serve_forever()
"""


def test_kill_then_restart_comes_back_on_the_same_port_and_root(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from testbed import server as server_module

    fake = tmp_path / "invokeai-web"
    fake.write_text(FAKE_SERVER.format(python=sys.executable))
    fake.chmod(0o755)
    monkeypatch.setattr(server_module, "ensure_invokeai", lambda version=None: fake)
    server = InvokeAIServer("6.14.2", start_timeout=30)
    with pytest.raises(RuntimeError, match="restarted"):
        server.restart()  # not started yet
    with server:
        url, first = server.url, server.process
        (server.root / "kept").write_text("x")
        server.kill()
        assert first is not None and first.poll() is not None
        assert server._probe() is None
        server.restart()
        assert server.url == url and server.process is not first
        assert server._probe() == "6.14.2"
        assert (server.root / "kept").exists()
    assert server.base_dir is not None and not server.base_dir.exists()
