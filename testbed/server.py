"""Run a real ``invokeai-web`` on loopback with a fresh, throw-away root.

Everything a server writes lives in its own state directory (``base_dir``): the root,
the log, and its temporary files (``TMPDIR`` points into it: torch and InvokeAI make
``tmpXXXX`` folders there), so ``stop()`` removes them all with it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from testbed.provision import configured_version, ensure_invokeai

SCHEMA_VERSION = "4.0.2"  # 6.8 reads it as is; 6.14 migrates it (and rewrites the file)
# InvokeAI refuses downloads from loopback and private addresses from 6.13.8 (and 6.14) on,
# unless ``allow_private_download_urls`` is set; the tests serve their files on loopback.
PRIVATE_URLS_REFUSED_SINCE = (6, 13, 8)
STOP_GRACE_SECONDS = 20.0
_PREFIX = "invokeai-testbed-"
_OWNER_FILE = "owner.pid"
_RUNNING_ON = re.compile(r"Invoke running on (https?://[^\s/]+:\d+)")


class ServerStartError(RuntimeError):
    """The server exited or did not answer in time."""


def version_tuple(version: str) -> tuple[int, ...]:
    """``"6.14.2"`` -> ``(6, 14, 2)``; a suffix such as ``rc1`` is ignored."""
    parts: list[int] = []
    for piece in version.split("."):
        m = re.match(r"\d+", piece)
        if not m:
            break
        parts.append(int(m.group()))
    return tuple(parts)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """preexec_fn: on Linux, get SIGTERM when the parent dies (even by SIGKILL)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def _yaml_scalar(value: Any) -> str:
    """JSON is valid YAML for scalars, lists and flat maps."""
    return json.dumps(value)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_roots() -> None:
    """Remove temp dirs left by test-bed owners that died without cleaning up (SIGKILL)."""
    for base in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*"):
        try:
            owner = int((base / _OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # not ours, or still being created
        if not _pid_alive(owner):
            shutil.rmtree(base, ignore_errors=True)


def _child_env(temp_dir: Path) -> dict[str, str]:
    """The environment minus ``INVOKEAI_*`` (they would override invokeai.yaml), with
    ``TMPDIR`` set to ``temp_dir``."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("INVOKEAI_")}
    env["TMPDIR"] = str(temp_dir)
    return env


class InvokeAIServer:
    """An ``invokeai-web`` process with its own temporary root; use as a context manager."""

    def __init__(
        self,
        version: str | None = None,
        *,
        multiuser: bool = False,
        extra_config: dict[str, Any] | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        start_timeout: float = 180.0,
    ) -> None:
        self.version = configured_version(version)
        self.multiuser = multiuser
        self.extra_config: dict[str, Any] = dict(extra_config or {})
        self.host = host
        self.start_timeout = start_timeout
        self.requested_port = port
        self.port = 0
        self.url = ""
        self.base_dir: Path | None = None
        self.root = Path()
        self.temp_dir = Path()  # the server's TMPDIR, inside base_dir
        self.log_path = Path()
        self.ready_seconds: float | None = None
        self.provision_seconds: float | None = None
        self.server_version: str | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._exe = Path()
        self._stopped = False
        if multiuser and version_tuple(self.version) < (6, 12):
            raise ValueError(f"multiuser needs InvokeAI 6.12+, not {self.version}")

    @property
    def models_dir(self) -> Path:
        """The server's models directory (default ``<root>/models``)."""
        return self.root / str(self.extra_config.get("models_dir", "models"))

    def config(self) -> dict[str, Any]:
        """The settings written to ``invokeai.yaml``; everything else stays default."""
        cfg: dict[str, Any] = {"host": self.host, "port": self.port, "device": "cpu"}
        if version_tuple(self.version) >= PRIVATE_URLS_REFUSED_SINCE:
            # Older versions have no such key, and an unknown key is a validation error.
            cfg["allow_private_download_urls"] = True
        if self.multiuser:
            cfg["multiuser"] = True
        cfg.update(self.extra_config)
        return cfg

    def _write_config(self) -> None:
        lines = [f"schema_version: {SCHEMA_VERSION}"]
        lines += [f"{key}: {_yaml_scalar(value)}" for key, value in self.config().items()]
        (self.root / "invokeai.yaml").write_text("\n".join(lines) + "\n")

    def log_tail(self, lines: int = 60) -> str:
        """The last ``lines`` lines of the server log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _probe(self) -> str | None:
        """The version reported by ``GET /api/v1/app/version``, or None when not ready."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(f"{self.url}/api/v1/app/version", timeout=2) as resp:
                if resp.status != 200:
                    return None
                body = json.loads(resp.read())
        except (OSError, ValueError, urllib.error.URLError):
            return None
        version = body.get("version") if isinstance(body, dict) else None
        return str(version) if version else None

    def start(self) -> InvokeAIServer:
        """Provision if needed, launch, and wait until the API answers."""
        if self.process is not None:
            if self._stopped:
                raise RuntimeError("a stopped InvokeAIServer cannot be restarted")
            return self
        t0 = time.monotonic()
        self._exe = ensure_invokeai(self.version)
        started = time.monotonic()
        self.provision_seconds = started - t0
        remove_stale_roots()
        self.base_dir = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{self.version}-"))
        (self.base_dir / _OWNER_FILE).write_text(f"{os.getpid()}\n")
        self.root = self.base_dir / "root"
        self.root.mkdir()
        self.temp_dir = self.base_dir / "tmp"
        self.temp_dir.mkdir()
        self.log_path = self.base_dir / "invokeai-web.log"
        self.port = self.requested_port or free_port(self.host)
        self.url = f"http://{self.host}:{self.port}"
        self._write_config()
        self._stopped = False
        atexit.register(self.stop)
        self._launch(started)
        return self

    def _launch(self, started: float) -> None:
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the fd
            self.process = subprocess.Popen(
                [str(self._exe), "--root", str(self.root)],
                cwd=self.base_dir,
                env=_child_env(self.temp_dir),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        try:
            self._wait_ready(started)
        except BaseException:
            self.stop()
            raise
        self.ready_seconds = time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL the server (a crash): the root and its database stay for ``restart``."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            self._signal_group(proc, signal.SIGKILL)
            proc.wait(10)

    def restart(self) -> InvokeAIServer:
        """Start the server again on the same root and port, after ``kill``. Jobs are
        gone (they live in memory); model records stay. ``ServerStartError`` if the port
        was taken meanwhile."""
        if self._stopped or self.process is None:
            raise RuntimeError("only a started, not stopped, server can be restarted")
        self.kill()
        url = self.url
        self._launch(time.monotonic())
        if self.url != url:
            self.stop()
            raise ServerStartError(f"the server came back at {self.url}, not {url}")
        return self

    def _wait_ready(self, started: float) -> None:
        assert self.process is not None
        deadline = started + self.start_timeout
        while True:
            found: list[str] = []
            with contextlib.suppress(OSError):  # the last start's line (see ``restart``)
                found = _RUNNING_ON.findall(self.log_path.read_text(errors="replace"))
            if found and found[-1] != self.url:
                self.url = found[-1]  # the port was taken: the server moved on
                self.port = int(self.url.rsplit(":", 1)[1])
            version = self._probe()
            if version:
                self.server_version = version
                return
            if self.process.poll() is not None:
                raise ServerStartError(
                    f"invokeai-web {self.version} exited with {self.process.returncode} "
                    f"before answering; log {self.log_path}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"invokeai-web {self.version} not ready after {self.start_timeout:.0f} s "
                    f"at {self.url}; log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.25)

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL after a grace period, remove the root,
        the log and the server's temporary files (its ``base_dir``)."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        proc = self.process
        if proc is not None and proc.poll() is None:
            self._signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self._signal_group(proc, signal.SIGKILL)
                proc.wait(10)
        if proc is not None:
            # Stray children of the group (if any) go too.
            self._signal_group(proc, signal.SIGKILL)
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    @staticmethod
    def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

    def __enter__(self) -> InvokeAIServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"InvokeAIServer(version={self.version!r}, url={self.url!r}, root={self.root})"


def start_server(
    version: str | None = None,
    *,
    multiuser: bool = False,
    extra_config: dict[str, Any] | None = None,
) -> InvokeAIServer:
    """Provision and start a server; the caller must ``stop()`` it (or use ``with``)."""
    return InvokeAIServer(version, multiuser=multiuser, extra_config=extra_config).start()
