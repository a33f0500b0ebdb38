"""Capture the socket.io events a real InvokeAI server sends during model installs.

Usage (from the repository root)::

    PYTHONPATH=. .venv/bin/python scripts/capture_events.py [--version V] [--out DIR]
                                                            [--no-client-check]

A throw-away test-bed server of version ``V`` (default: ``INVOKEAI_TESTBED_VERSION`` or the
test bed's default) is started; a python-socketio client connects to it (path
``/ws/socket.io``, websocket transport only) and records every event with a catch-all
handler. In single-user mode every socket is in the ``admin`` room and gets the model
events without subscribing. Each scenario sends one install request and records the
ordered events from the request until the job ends (+0.5 s; +1 s for a cancel):

- ``local_inplace``: a tiny local embedding installed in place.
- ``url_download``: a ~3 MB model served over 127.0.0.1 at about 1 MB/s.
- ``url_cancel``: the same slow download, cancelled mid-download (``DELETE``).
- ``probe_error``: a file the server cannot identify; the job ends ``error`` (6.9+ installs
  an unidentifiable ``.safetensors`` as ``unknown``, so there a ``.txt`` file is used and
  ``probe_unknown`` records the ``.safetensors`` install).
- ``url_pause_resume`` (6.12+): paused mid-download, resumed 1.5 s later, until completed.

Each scenario goes to ``<out>/<server-version>/events_<scenario>.json``::

    {"version", "scenario", "source", "actions": [{"action", "method", "path", "status",
     "t_sent", "t_answered"}], "events": [{"event", "data", "t"}], "final_job",
     ["trimmed": N]}

``t`` is seconds since the install request was sent. ``access_token`` values are replaced
by ``"***"``. When more than 40 progress events arrive, the first 15 and last 15 of each
progress event kind are kept and ``trimmed`` counts the dropped ones. Only
``events_*.json`` files are rewritten; the other fixtures in the folder are left alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import socketio

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the test bed lives at the repository's top level

from testbed import tiny_models as tm  # noqa: E402
from testbed.server import start_server, version_tuple  # noqa: E402
from testbed.slow_server import SlowFileServer  # noqa: E402

V2 = "/api/v2/models"
SOCKET_PATH = "/ws/socket.io"
TERMINAL = {"completed", "error", "cancelled"}
IDENTITY = {"Accept-Encoding": "identity"}  # gzip breaks 204 answers on 6.14.2
# ~3 MB of float32: emb_params makes it an SD1 embedding, "padding" only adds bytes.
BIG_SHAPES = {"emb_params": [1, 768], "padding": [768, 1000]}
RATE = 1_000_000  # bytes per second
CHUNK = 50_000
PROGRESS_LIMIT = 40
KEEP = 15
TAIL_SECONDS = 0.5


def log(message: str) -> None:
    print(f"[capture_events] {message}", file=sys.stderr, flush=True)


# -- a throttled local HTTP server ------------------------------------------------


# -- event recording --------------------------------------------------------------


class EventLog:
    """Every event the socket receives, with its monotonic arrival time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[tuple[float, str, Any]] = []

    def add(self, event: str, *args: Any) -> None:
        data: Any = args[0] if len(args) == 1 else list(args)
        with self.lock:
            self.items.append((time.monotonic(), event, data))

    def since(self, t0: float, until: float | None = None) -> list[tuple[float, str, Any]]:
        with self.lock:
            return [i for i in self.items if i[0] >= t0 and (until is None or i[0] <= until)]

    def wait_for(
        self, t0: float, pred: Callable[[str, Any], bool], timeout: float
    ) -> tuple[float, str, Any] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for item in self.since(t0):
                if pred(item[1], item[2]):
                    return item
            time.sleep(0.02)
        return None


def mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: ("***" if k == "access_token" and isinstance(v, str) and v else mask(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value


def trim(events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Keep the first and last ``KEEP`` of each progress kind when there are too many."""
    progress = [e for e in events if "progress" in e["event"]]
    if len(progress) <= PROGRESS_LIMIT:
        return events, 0
    by_kind: dict[str, list[int]] = {}
    for i, e in enumerate(events):
        if "progress" in e["event"]:
            by_kind.setdefault(e["event"], []).append(i)
    drop: set[int] = set()
    for idx in by_kind.values():
        if len(idx) > 2 * KEEP:
            drop.update(idx[KEEP:-KEEP])
    return [e for i, e in enumerate(events) if i not in drop], len(drop)


# -- scenarios --------------------------------------------------------------------


class Capture:
    def __init__(self, url: str, version: str, out_dir: Path, work: Path) -> None:
        self.url = url
        self.version = version
        self.v = version_tuple(version)
        self.out_dir = out_dir
        self.work = work
        self.http = httpx.Client(
            base_url=url, timeout=httpx.Timeout(60.0, connect=10.0), trust_env=False
        )
        self.events = EventLog()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("*", self.events.add)
        self.written: list[Path] = []
        self.actions: list[dict[str, Any]] = []

    def connect(self) -> float:
        t0 = time.monotonic()
        self.sio.connect(self.url, socketio_path=SOCKET_PATH, transports=["websocket"])
        return time.monotonic() - t0

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.sio.disconnect()
        self.http.close()

    def job(self, job_id: int) -> dict[str, Any]:
        r = self.http.get(f"{V2}/install/{job_id}", headers=IDENTITY)
        r.raise_for_status()
        result: dict[str, Any] = r.json()
        return result

    def poll(
        self, job_id: int, until: Callable[[dict[str, Any]], bool], timeout: float = 60.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            j = self.job(job_id)
            if until(j):
                return j
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {j['status']} after {timeout} s")
            time.sleep(0.05)

    def install(self, source: str, *, inplace: bool | None = None) -> tuple[float, int]:
        """Send the install request; return (monotonic time it was sent, job id)."""
        params: dict[str, Any] = {"source": source}
        if inplace is not None:
            params["inplace"] = "true" if inplace else "false"
        self.quiet()
        self.actions = []
        t0 = time.monotonic()
        r = self.http.post(f"{V2}/install", params=params, json={}, headers=IDENTITY)
        if r.status_code != 201:
            raise RuntimeError(f"install {source}: {r.status_code} {r.text[:300]}")
        return t0, int(r.json()["id"])

    def quiet(self, gap: float = 0.3, timeout: float = 5.0) -> None:
        """Wait until no event arrived for ``gap`` seconds (leftovers of the last scenario)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.events.lock:
                last = self.events.items[-1][0] if self.events.items else 0.0
            if time.monotonic() - last >= gap:
                return
            time.sleep(0.05)

    def write(
        self, scenario: str, source: str, t0: float, job_id: int, tail: float = TAIL_SECONDS
    ) -> Path:
        time.sleep(tail)
        final = self.job(job_id)
        end = time.monotonic()
        events = [
            {"event": name, "data": mask(data), "t": round(t - t0, 3)}
            for t, name, data in self.events.since(t0, end)
        ]
        events, trimmed = trim(events)
        doc: dict[str, Any] = {
            "version": self.version,
            "scenario": scenario,
            "source": source,
            "actions": self.actions,
            "events": events,
            "final_job": mask(final),
        }
        if trimmed:
            doc["trimmed"] = trimmed
        path = self.out_dir / f"events_{scenario}.json"
        path.write_text(json.dumps(doc, indent=1) + "\n")
        self.written.append(path)
        names = [e["event"] for e in events]
        log(
            f"{scenario}: job {job_id} {final['status']}; {len(events)} events "
            f"(+{trimmed} trimmed): {summarize(names)}"
        )
        for e in events:
            if "progress" not in e["event"]:
                log(f"  t={e['t']:.3f} {e['event']}")
        return path

    def act(self, action: str, method: str, path: str, t0: float) -> None:
        """Send a job action; note when it was sent and answered (``actions`` in the file)."""
        sent = time.monotonic()
        r = self.http.request(method, path, headers=IDENTITY)
        done = time.monotonic()
        self.actions.append(
            {
                "action": action,
                "method": method,
                "path": path,
                "status": r.status_code,
                "t_sent": round(sent - t0, 3),
                "t_answered": round(done - t0, 3),
            }
        )
        log(
            f"{action}: {method} -> {r.status_code}, sent t={sent - t0:.3f}, "
            f"answered t={done - t0:.3f}"
        )

    def terminal(self, job_id: int, timeout: float = 60.0) -> dict[str, Any]:
        return self.poll(job_id, lambda j: j["status"] in TERMINAL, timeout)

    def mid_download(self, t0: float, job_id: int, min_bytes: int = 600_000) -> None:
        """Wait until the job reports ``min_bytes`` downloaded (by event or by poll)."""

        def far(name: str, data: Any) -> bool:
            return (
                name in {"download_progress", "model_install_download_progress"}
                and isinstance(data, dict)
                and int(data.get("bytes") or data.get("current_bytes") or 0) >= min_bytes
            )

        if self.events.wait_for(t0, far, timeout=30) is None:
            log("no progress event with enough bytes; falling back to polling")
            self.poll(job_id, lambda j: j.get("bytes", 0) >= min_bytes, timeout=30)

    # the scenarios

    def local_inplace(self) -> None:
        path = tm.write_embedding_sd1(self.work / "local")
        t0, job_id = self.install(str(path), inplace=True)
        self.terminal(job_id)
        self.write("local_inplace", str(path), t0, job_id)

    def big_file(self, name: str) -> Path:
        (self.work / "url").mkdir(parents=True, exist_ok=True)
        return tm.write_safetensors(self.work / "url" / name, BIG_SHAPES)

    def url_download(self, files: SlowFileServer) -> None:
        path = self.big_file("events-download.safetensors")
        url = files.add_file(path)
        t0, job_id = self.install(url)
        self.terminal(job_id)
        self.write("url_download", url, t0, job_id)

    def url_cancel(self, files: SlowFileServer) -> None:
        path = self.big_file("events-cancel.safetensors")
        url = files.add_file(path)
        t0, job_id = self.install(url)
        self.mid_download(t0, job_id)
        self.act("cancel", "DELETE", f"{V2}/install/{job_id}", t0)
        self.terminal(job_id)
        self.write("url_cancel", url, t0, job_id, tail=1.0)

    def url_pause_resume(self, files: SlowFileServer) -> None:
        path = self.big_file("events-pause.safetensors")
        url = files.add_file(path)
        t0, job_id = self.install(url)
        self.mid_download(t0, job_id)
        self.act("pause", "POST", f"{V2}/install/{job_id}/pause", t0)
        time.sleep(1.5)
        log(f"url_pause_resume: job is {self.job(job_id)['status']} after 1.5 s")
        self.act("resume", "POST", f"{V2}/install/{job_id}/resume", t0)
        self.terminal(job_id)
        self.write("url_pause_resume", url, t0, job_id)

    def probe_error(self) -> None:
        if self.v >= (6, 9):
            # 6.9+ installs an unidentifiable .safetensors as "unknown": record that too.
            unknown = tm.write_unknown(self.work / "bad")
            t0, job_id = self.install(str(unknown), inplace=True)
            self.terminal(job_id)
            self.write("probe_unknown", str(unknown), t0, job_id)
            bad = self.work / "bad" / "events-not-a-model.txt"
            bad.write_text("not a model\n")
        else:
            bad = tm.write_unknown(self.work / "bad")
        t0, job_id = self.install(str(bad), inplace=True)
        self.terminal(job_id)
        self.write("probe_error", str(bad), t0, job_id)


def summarize(names: list[str]) -> str:
    """``name xN`` for each event kind, in order of first arrival."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{n} x{c}" for n, c in counts.items())


# -- client check -----------------------------------------------------------------


def client_check(url: str) -> dict[str, Any]:
    """Connect once with the sync Client and once with the AsyncClient; time both."""
    result: dict[str, Any] = {}
    sync = socketio.Client(reconnection=False)
    t0 = time.monotonic()
    try:
        sync.connect(url, socketio_path=SOCKET_PATH, transports=["websocket"], wait_timeout=10)
        result["sync"] = {
            "ok": True,
            "seconds": round(time.monotonic() - t0, 3),
            "transport": sync.transport(),
        }
    except Exception as exc:
        result["sync"] = {"ok": False, "error": repr(exc)}
    finally:
        with contextlib.suppress(Exception):
            sync.disconnect()

    async def run_async() -> dict[str, Any]:
        client = socketio.AsyncClient(reconnection=False)
        t0 = time.monotonic()
        try:
            await client.connect(
                url, socketio_path=SOCKET_PATH, transports=["websocket"], wait_timeout=10
            )
            return {
                "ok": True,
                "seconds": round(time.monotonic() - t0, 3),
                "transport": client.transport(),
            }
        except Exception as exc:
            return {"ok": False, "error": repr(exc)}
        finally:
            with contextlib.suppress(Exception):
                await client.disconnect()

    result["async"] = asyncio.run(run_async())
    return result


# -- main -------------------------------------------------------------------------


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="capture-events-") as d:
        yield Path(d)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", help="test-bed InvokeAI version to start")
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "tests" / "fixtures",
        help="fixtures root (a folder per server version goes inside)",
    )
    parser.add_argument(
        "--no-client-check",
        action="store_true",
        help="skip timing a sync and an async socket.io connection",
    )
    args = parser.parse_args(argv)

    server = start_server(args.version)
    failures: list[str] = []
    try:
        version = server.server_version or server.version
        log(f"test-bed server {version} at {server.url} (ready in {server.ready_seconds:.1f} s)")
        if not args.no_client_check:
            log(f"client check: {json.dumps(client_check(server.url))}")
        out_dir = args.out / version
        out_dir.mkdir(parents=True, exist_ok=True)
        for old in out_dir.glob("events_*.json"):
            old.unlink()
        with workdir() as work, SlowFileServer(RATE, CHUNK) as files:
            cap = Capture(server.url, version, out_dir, work)
            try:
                log(f"socket connected in {cap.connect():.3f} s")
                steps: list[tuple[str, Callable[[], None]]] = [
                    ("local_inplace", cap.local_inplace),
                    ("url_download", lambda: cap.url_download(files)),
                    ("url_cancel", lambda: cap.url_cancel(files)),
                    ("probe_error", cap.probe_error),
                ]
                if cap.v >= (6, 12):
                    steps.append(("url_pause_resume", lambda: cap.url_pause_resume(files)))
                for name, fn in steps:
                    try:
                        fn()
                    except Exception as exc:
                        log(f"FAILED {name}: {exc!r}")
                        failures.append(name)
                ranges = [r for r in files.requests if r[2]]
                log(f"file server requests: {len(files.requests)}; with Range: {ranges}")
            finally:
                cap.close()
    finally:
        server.stop()
    log(f"done; failed: {failures or 'none'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
