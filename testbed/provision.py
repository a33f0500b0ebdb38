"""Install InvokeAI into a cached virtual environment, once per version.

Layout: ``<cache>/invokeai-<version>/`` is a venv made with ``python3.11 -m venv``
and ``pip install invokeai==<version>``. A venv counts as complete when it holds the
marker file ``.testbed-complete`` (or, for a venv built by hand, when
``invokeai-web --version`` prints the version; the marker is then written).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULT_VERSION = "6.14.2"
DEFAULT_CACHE = Path("~/.cache/invokeai-py-client")
MARKER = ".testbed-complete"
BUILDING = ".testbed-building"  # present while our build runs: such a venv is never adopted
PYTHON_CANDIDATES = ("python3.11", "python3.12")
VERSION_CHECK_TIMEOUT = 120.0


class ProvisionError(RuntimeError):
    """InvokeAI could not be installed."""


def configured_version(version: str | None = None) -> str:
    """The InvokeAI version to use: argument, else ``INVOKEAI_TESTBED_VERSION``, else default."""
    return version or os.environ.get("INVOKEAI_TESTBED_VERSION") or DEFAULT_VERSION


def cache_dir() -> Path:
    """The cache directory: ``INVOKEAI_TESTBED_CACHE`` or ``~/.cache/invokeai-py-client``."""
    raw = os.environ.get("INVOKEAI_TESTBED_CACHE")
    return Path(raw).expanduser() if raw else DEFAULT_CACHE.expanduser()


def venv_dir(version: str | None = None) -> Path:
    """Where the venv for ``version`` lives."""
    return cache_dir() / f"invokeai-{configured_version(version)}"


def _log(msg: str) -> None:
    print(f"[testbed] {msg}", file=sys.stderr, flush=True)


def _probe_python(exe: str) -> tuple[tuple[int, int], str] | None:
    """((major, minor), real executable) of a python, or None when it does not run."""
    code = "import sys; print(sys.version_info[0], sys.version_info[1], sys.executable)"
    try:
        out = subprocess.run(
            [exe, "-c", code], capture_output=True, text=True, timeout=30, check=True
        ).stdout.split(maxsplit=2)
        return (int(out[0]), int(out[1])), out[2].strip()
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def find_python() -> str:
    """A Python 3.11/3.12 to build the venv with (``INVOKEAI_TESTBED_PYTHON`` wins)."""
    explicit = os.environ.get("INVOKEAI_TESTBED_PYTHON")
    if explicit:
        probe = _probe_python(explicit)
        if probe is None:
            raise ProvisionError(f"INVOKEAI_TESTBED_PYTHON={explicit!r} does not run")
        return probe[1]
    for name in PYTHON_CANDIDATES:
        exe = shutil.which(name)
        # pyenv shims exist for versions that are not selected: actually run them.
        probe = _probe_python(exe) if exe else None
        if probe and probe[0] in ((3, 11), (3, 12)):
            return probe[1]
    raise ProvisionError(
        "InvokeAI needs Python 3.11 or 3.12: none of "
        f"{', '.join(PYTHON_CANDIDATES)} runs on PATH; set INVOKEAI_TESTBED_PYTHON"
    )


def _check_version(exe: Path, version: str) -> bool:
    """True when ``invokeai-web --version`` runs and prints ``version``."""
    if not exe.is_file():
        return False
    try:
        proc = subprocess.run(
            [str(exe), "--version"],
            capture_output=True,
            text=True,
            timeout=VERSION_CHECK_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0 and version in (proc.stdout + proc.stderr).split()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive fcntl lock on ``path`` (waits for other builders)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _log(f"waiting for another process to finish with {path.name} ...")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        tail = path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(line[:500] for line in tail)
    except OSError:
        return "(no log)"


def _run_logged(cmd: list[str], log_path: Path, *, every: float = 10.0) -> None:
    """Run ``cmd`` appending its output to ``log_path``, saying every ``every`` seconds
    what it is doing (the log's last line); raise with the log tail on failure."""
    started = time.monotonic()
    with open(log_path, "a") as log:
        log.write(f"\n$ {' '.join(cmd)}\n")
        log.flush()
        with subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        ) as proc:
            try:
                while True:
                    try:
                        returncode = proc.wait(timeout=every)
                        break
                    except subprocess.TimeoutExpired:
                        _log(f"... {time.monotonic() - started:.0f} s: {_tail(log_path, 1)[:150]}")
            except BaseException:  # Ctrl-C, SIGTERM: leave no pip behind
                proc.kill()
                raise
    if returncode != 0:
        raise ProvisionError(
            f"command failed (exit {returncode}): {' '.join(cmd)}\n"
            f"--- last lines of {log_path} ---\n{_tail(log_path)}"
        )


def _build(venv: Path, version: str) -> None:
    """Build the venv at its final path; the marker is written only on success."""
    python = find_python()
    log_path = venv.parent / f"invokeai-{version}.pip.log"
    log_path.write_text(f"provisioning InvokeAI {version} with {python}\n")
    _log(
        f"provisioning InvokeAI {version} into {venv} (several minutes, ~7 GB); pip log: {log_path}"
    )
    started = time.monotonic()
    _run_logged([python, "-m", "venv", str(venv)], log_path)
    (venv / BUILDING).write_text(f"{os.getpid()}\n")
    # pip, not uv: pip finds torch in the machine's local wheel store.
    _run_logged(
        [str(venv / "bin" / "python"), "-m", "pip", "install", f"invokeai=={version}"], log_path
    )
    exe = venv / "bin" / "invokeai-web"
    if not _check_version(exe, version):
        raise ProvisionError(
            f"{exe} --version does not print {version} after install\n"
            f"--- last lines of {log_path} ---\n{_tail(log_path)}"
        )
    (venv / MARKER).write_text(version + "\n")
    (venv / BUILDING).unlink()
    _log(f"InvokeAI {version} provisioned in {time.monotonic() - started:.0f} s")


def ensure_invokeai(version: str | None = None) -> Path:
    """Return the path of ``invokeai-web`` for ``version``, installing it first if needed."""
    version = configured_version(version)
    venv = venv_dir(version)
    exe = venv / "bin" / "invokeai-web"
    with _locked(venv.parent / f"invokeai-{version}.lock"):
        if venv.exists():
            if not (venv / BUILDING).exists() and _check_version(exe, version):
                if not (venv / MARKER).exists():
                    (venv / MARKER).write_text(version + "\n")  # built by hand: adopt it
                return exe
            _log(f"cached venv {venv} is incomplete or broken: rebuilding it")
            shutil.rmtree(venv, ignore_errors=True)
            if venv.exists():
                raise ProvisionError(f"cannot remove broken venv {venv}")
        try:
            _build(venv, version)
        except BaseException:
            # Leave no half venv; the marker was never written anyway.
            shutil.rmtree(venv, ignore_errors=True)
            raise
    return exe
