"""Install InvokeAI into a cached virtual environment, once per version.

Layout: ``<cache>/invokeai-<version>/`` is a venv made with ``python3.11 -m venv``
and ``pip install invokeai==<version>``. A venv counts as complete when it holds the
marker file ``.testbed-complete`` (or, for a venv built by hand, when
``invokeai-web --version`` prints the version; the marker is then written).

While pip works, one line at a time says which step runs and how far it got
(``PipProgress`` reads pip's output); pip's own output goes only to the log.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

DEFAULT_VERSION = "6.14.2"
DEFAULT_CACHE = Path("~/.cache/invokeai-py-client")
MARKER = ".testbed-complete"
BUILDING = ".testbed-building"  # present while our build runs: such a venv is never adopted
PYTHON_CANDIDATES = ("python3.11", "python3.12")
VERSION_CHECK_TIMEOUT = 120.0
HEARTBEAT_SECONDS = 60.0  # an unchanged progress line is repeated this often (with the time)


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


def is_provisioned(version: str | None = None) -> bool:
    """True when the venv for ``version`` was built to the end (no build running in it)."""
    venv = venv_dir(version)
    return (venv / MARKER).is_file() and not (venv / BUILDING).exists()


def status_line(version: str | None = None) -> str:
    """One sentence: is InvokeAI ``version`` installed, and where (the real cache path)."""
    version = configured_version(version)
    venv = venv_dir(version)
    if is_provisioned(version):
        return f"InvokeAI {version} is installed in {venv}"
    return (
        f"InvokeAI {version} is not installed yet: installing it into {venv} "
        "(once: several minutes, ~7 GB; INVOKEAI_TESTBED_CACHE picks another place)"
    )


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


class Progress(Protocol):
    """Reads a command's output line by line and says in a few words how far it got."""

    step: str  # a change of step is reported at once

    def feed(self, line: str) -> None: ...

    def describe(self) -> str: ...


class LastLine:
    """The progress of a command we know nothing about: its last line of output."""

    step = "running"

    def __init__(self) -> None:
        self._last = ""

    def feed(self, line: str) -> None:
        if line.strip():
            self._last = line.strip()[:150]

    def describe(self) -> str:
        return self._last


_PIP_COLLECTING = re.compile(r"^(Collecting|Processing)\s+(\S+)")
_PIP_SIZE = re.compile(r"^\s*Downloading\s+\S+\s+\((\d+(?:\.\d+)?)\s*(bytes|kB|MB|GB)\)")
_PIP_BACKTRACKING = re.compile(r"^INFO: pip is (?:still )?looking at multiple versions of (\S+)")
_PIP_INSTALLING = re.compile(r"^Installing collected packages:(.*)")
_PIP_DONE = re.compile(r"^Successfully installed(.*)")
_UNITS = {"bytes": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}


def format_bytes(count: float) -> str:
    """``1234567`` -> ``"1.2 MB"``."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count:.0f} B"


def _package_name(what: str, line_kind: str) -> str:
    """``diffusers[torch]==0.33.0`` or ``/x/gguf-0.19.0-py3-none-any.whl`` -> its name."""
    if line_kind == "Processing":
        what = Path(what).name.split("-", 1)[0]
    name = re.split(r"[\[<>=!~;@ ]", what, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


class PipProgress:
    """How far ``pip install`` got, from its output lines (no I/O of its own).

    Steps: ``starting``, ``resolving`` (``Collecting``/``Processing``/``Downloading``
    lines: packages found, bytes downloaded), ``installing`` (N of M when
    ``count_installed`` counts the installed distributions), ``done``. Warnings and
    everything else pip says are ignored: they stay in the log.
    """

    def __init__(self, count_installed: Callable[[], int] | None = None) -> None:
        self.step = "starting"
        self.packages: set[str] = set()
        self.downloaded_bytes = 0.0
        self.to_install = 0
        self.backtracking: str | None = None
        self._count_installed = count_installed
        self._installed_before = 0

    def feed(self, line: str) -> None:
        """Take one line of pip's output."""
        if m := _PIP_COLLECTING.match(line):
            name = _package_name(m.group(2), m.group(1))
            if name not in self.packages:
                self.packages.add(name)
                self.backtracking = None
            self.step = "resolving"
        elif m := _PIP_SIZE.match(line):
            self.downloaded_bytes += float(m.group(1)) * _UNITS[m.group(2)]
            self.step = "resolving"
        elif m := _PIP_BACKTRACKING.match(line):
            self.backtracking = m.group(1)
        elif m := _PIP_INSTALLING.match(line):
            self.to_install = len([p for p in m.group(1).split(",") if p.strip()])
            self.step = "installing"
            self._installed_before = self._count_installed() if self._count_installed else 0
        elif m := _PIP_DONE.match(line):
            self.to_install = len(m.group(1).split()) or self.to_install
            self.step = "done"

    @property
    def installed(self) -> int | None:
        """Packages installed so far in the ``installing`` step, when that can be counted."""
        if self._count_installed is None or self.step != "installing":
            return None
        done = self._count_installed() - self._installed_before
        return max(0, min(self.to_install, done))

    def describe(self) -> str:
        """A few words on the step and how much of it is done."""
        downloaded = format_bytes(self.downloaded_bytes)
        if self.step == "starting":
            return "pip is starting"
        if self.step == "resolving":
            text = f"finding packages: {len(self.packages)} found, {downloaded} downloaded"
            if self.backtracking:
                text += f" (pip is comparing versions of {self.backtracking})"
            return text
        if self.step == "installing":
            installed = self.installed
            done = "" if installed is None else f"{installed} of "
            return f"installing packages: {done}{self.to_install} ({downloaded} downloaded)"
        return f"{self.to_install} packages installed ({downloaded} downloaded)"


def format_duration(seconds: float) -> str:
    """``75`` -> ``"1 min 15 s"``."""
    whole = int(seconds)
    return f"{whole} s" if whole < 60 else f"{whole // 60} min {whole % 60:02d} s"


def report_due(
    *, changed: bool, new_step: bool, since_said: float, every: float, heartbeat: float
) -> bool:
    """Whether to print the progress line now: a new step at once, a change at most every
    ``every`` seconds, the same line again only after ``heartbeat`` seconds."""
    return new_step or (changed and since_said >= every) or since_said >= heartbeat


def _run_logged(
    cmd: list[str],
    log_path: Path,
    *,
    every: float = 10.0,
    progress: Progress | None = None,
    heartbeat: float = HEARTBEAT_SECONDS,
) -> None:
    """Run ``cmd`` appending its output to ``log_path``; print ``progress``'s line when
    it changes (at most every ``every`` seconds); raise with the log tail on failure."""
    progress = progress if progress is not None else LastLine()
    started = time.monotonic()
    said, said_step, said_at = "", progress.step, started
    with open(log_path, "a") as log, open(log_path, "rb") as output:
        log.write(f"\n$ {' '.join(cmd)}\n")
        log.flush()
        output.seek(0, os.SEEK_END)  # read back only what the command writes
        pending = b""
        with subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        ) as proc:
            try:
                while True:
                    try:
                        returncode: int | None = proc.wait(timeout=min(every, 0.5))
                    except subprocess.TimeoutExpired:
                        returncode = None
                    *lines, pending = (pending + output.read()).split(b"\n")
                    for line in lines:
                        progress.feed(line.decode(errors="replace"))
                    if returncode is not None:
                        break
                    text, now = progress.describe(), time.monotonic()
                    if text and report_due(
                        changed=text != said,
                        new_step=progress.step != said_step,
                        since_said=now - said_at,
                        every=every,
                        heartbeat=heartbeat,
                    ):
                        _log(f"... {format_duration(now - started)}: {text}")
                        said, said_step, said_at = text, progress.step, now
            except BaseException:  # Ctrl-C, SIGTERM: leave no pip behind
                proc.kill()
                raise
            if pending:
                progress.feed(pending.decode(errors="replace"))
    if returncode != 0:
        raise ProvisionError(
            f"command failed (exit {returncode}): {' '.join(cmd)}\n"
            f"--- last lines of {log_path} ---\n{_tail(log_path)}\n"
            f"--- the whole output is in {log_path}"
        )
    text = progress.describe()
    if text and text != said:
        _log(f"... {format_duration(time.monotonic() - started)}: {text}")


def venv_command(python: str, venv: Path) -> list[str]:
    """Step 1: the command that creates the venv (tests swap it for a fake)."""
    return [python, "-m", "venv", str(venv)]


def pip_command(venv: Path, version: str) -> list[str]:
    """Step 2: the command that installs InvokeAI (tests swap it for a fake)."""
    # pip, not uv: pip finds torch in the machine's local wheel store.
    return [str(venv / "bin" / "python"), "-m", "pip", "install", f"invokeai=={version}"]


def _installed_count(venv: Path) -> Callable[[], int]:
    """Counts the distributions installed in ``venv`` (pip writes one .dist-info each)."""
    return lambda: sum(1 for _ in venv.glob("lib/python*/site-packages/*.dist-info"))


def _build(venv: Path, version: str) -> None:
    """Build the venv at its final path; the marker is written only on success."""
    python = find_python()
    log_path = venv.parent / f"invokeai-{version}.pip.log"
    log_path.write_text(f"provisioning InvokeAI {version} with {python}\n")
    _log(
        f"installing InvokeAI {version} into {venv} (several minutes, ~7 GB); "
        f"pip's output goes to {log_path}"
    )
    started = time.monotonic()
    _log(f"step 1 of 3: creating a virtual environment with {python}")
    _run_logged(venv_command(python, venv), log_path)
    (venv / BUILDING).write_text(f"{os.getpid()}\n")
    _log(f"step 2 of 3: pip install invokeai=={version} (find and download, then install)")
    _run_logged(pip_command(venv, version), log_path, progress=PipProgress(_installed_count(venv)))
    exe = venv / "bin" / "invokeai-web"
    _log(f"step 3 of 3: checking that {exe.name} --version says {version}")
    if not _check_version(exe, version):
        raise ProvisionError(
            f"{exe} --version does not print {version} after install\n"
            f"--- last lines of {log_path} ---\n{_tail(log_path)}"
        )
    (venv / MARKER).write_text(version + "\n")
    (venv / BUILDING).unlink()
    _log(f"InvokeAI {version} installed in {format_duration(time.monotonic() - started)}")


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
