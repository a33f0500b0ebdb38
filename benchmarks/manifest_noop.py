"""A no-op ``plan`` and ``apply`` of the CLI against ``list --json``, on 1,000 models.

Usage (from the repo root)::

    .venv/bin/python benchmarks/manifest_noop.py [--models 1000] [--rounds 9] [--check]

Uses the server in INVOKE_AI_ENDPOINT, or starts a test-bed server (and stops it at
the end). Installs tiny embeddings in place until the server holds ``--models``
records, exports the server's manifest with the library (``export_manifest()``, then
``dumps()``, YAML) to a temporary file, checks that ``plan --json`` of it finds no
drift and that ``apply --json`` of it does nothing (``done`` and ``failed`` both 0),
then:

1. Time: ``--rounds`` alternating rounds (the order rotates every round) of three
   processes of the real CLI (``.venv/bin/invokeai-models --url URL ...``):
   ``--json list`` (the baseline: the same list request, printed), ``plan FILE`` and
   ``apply FILE``, after one warm-up each. Prints the median wall clock and the
   median CPU of each child (user + system, ``os.wait4``), and the ratio of each to
   the baseline: of the medians, and the median of the round-by-round ratios.
   Goal: ``plan`` and ``apply`` each < 1.5 x ``list --json`` (ratio of the medians).
2. Requests: in this process, a no-op ``plan_manifest(FILE)`` and
   ``apply_manifest(FILE)`` on a fresh ``InvokeAIClient`` and on a fresh
   ``AsyncInvokeAIClient``, each given an ``http_client`` with a request event hook
   that notes every request sent. Goal: exactly one list request
   (``GET /api/v2/models/``), no write and no other request; the app version request
   (``GET /api/v1/app/version``) is left out of the goal but printed, and so are the
   event-stream connects (``socketio`` ``connect`` calls).
3. For reading the figures: the in-process cost of the steps (median of 5):
   ``ModelManifest.load(FILE)``, ``list_models()``, and the matching
   (``plan_changes``) of the loaded manifest against the listed models; the matching
   again with the manifest's entries in reverse order (median of 3), as a manifest
   not written in the server's order would be (the export happens to list the
   models in the order the server does).

``--check`` exits 1 when a goal is missed or a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import socketio
from _common import (
    REPO_ROOT,
    ChildRun,
    log,
    rotated,
    run_child,
    server_with_models,
    verdict,
)

from invokeai_py_client import AsyncInvokeAIClient, InvokeAIClient
from invokeai_py_client._core.manifest_plan import plan_changes
from invokeai_py_client.dnn_model import ModelManifest

GOAL = 1.5
SCRIPT = str(REPO_ROOT / ".venv" / "bin" / "invokeai-models")
LIST_PATH = "/api/v2/models/"
VERSION_PATH = "/api/v1/app/version"
READS = {"GET", "HEAD", "OPTIONS"}
TIMEOUT = 120.0

BASELINE = "list --json"
CASES = [BASELINE, "plan FILE", "apply FILE"]


# -- 1. the CLI as processes ------------------------------------------------------


def argv_of(url: str, case: str, file: Path) -> list[str]:
    args = {
        BASELINE: ["--json", "list"],
        "plan FILE": ["plan", str(file)],
        "apply FILE": ["apply", str(file)],
    }[case]
    return [SCRIPT, "--url", url, *args]


def cli(argv: list[str]) -> ChildRun:
    done = run_child(argv, timeout=TIMEOUT)
    if done.returncode != 0:
        shown = " ".join(argv[1:])
        raise SystemExit(f"`{shown}` exited {done.returncode}: {done.stderr[-500:]}")
    return done


def verify_noop(url: str, file: Path, count: int) -> list[str]:
    """``plan --json`` finds no drift, ``apply --json`` does nothing; the failures."""
    failures = []
    plan = json.loads(cli([SCRIPT, "--url", url, "--json", "plan", str(file)]).stdout)
    if plan.get("drift") is not False or plan["counts"]["keep"] != count:
        failures.append(f"plan --json: drift {plan.get('drift')}, counts {plan.get('counts')}")
    report = json.loads(cli([SCRIPT, "--url", url, "--json", "apply", str(file)]).stdout)
    counts = report.get("counts", {})
    if counts.get("done") != 0 or counts.get("failed") != 0:
        failures.append(f"apply --json: counts {counts}")
    log(f"no-op checked: plan keeps {plan['counts']['keep']}, apply counts {counts}")
    return failures


def time_cli(url: str, file: Path, rounds: int) -> dict[str, list[ChildRun]]:
    runs: dict[str, list[ChildRun]] = {case: [] for case in CASES}
    for case in CASES:  # warm-up
        cli(argv_of(url, case, file))
    for index in range(rounds):
        for case in rotated(CASES, index):
            runs[case].append(cli(argv_of(url, case, file)))
        log(f"round {index + 1}/{rounds}")
    return runs


# -- 2. requests of a no-op plan and apply ------------------------------------------


class Requests:
    """The requests an ``http_client`` sends (a request event hook), by kind."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def note(self, request: httpx.Request) -> None:
        self.sent.append((request.method, request.url.path))

    async def anote(self, request: httpx.Request) -> None:
        self.note(request)

    def sync_client(self) -> httpx.Client:
        return httpx.Client(timeout=TIMEOUT, event_hooks={"request": [self.note]})

    def async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=TIMEOUT, event_hooks={"request": [self.anote]})

    def kinds(self) -> dict[str, int]:
        found = Counter[str]()
        for method, path in self.sent:
            if (method, path) == ("GET", LIST_PATH):
                found["list"] += 1
            elif (method, path) == ("GET", VERSION_PATH):
                found["version"] += 1
            elif method not in READS:
                found["write"] += 1
            else:
                found["other"] += 1
        return {k: found[k] for k in ("list", "write", "other", "version")}

    def others(self) -> list[str]:
        known = {("GET", LIST_PATH), ("GET", VERSION_PATH)}
        return [f"{m} {p}" for m, p in self.sent if (m, p) not in known]


class Connects:
    """``connect`` calls of python-socketio's clients (sync and async), in all."""

    def __init__(self) -> None:
        self.count = 0
        sync_connect, async_connect = socketio.Client.connect, socketio.AsyncClient.connect

        def connect(sio: Any, *args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return sync_connect(sio, *args, **kwargs)

        async def aconnect(sio: Any, *args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return await async_connect(sio, *args, **kwargs)

        socketio.Client.connect = connect
        socketio.AsyncClient.connect = aconnect


def check_sync(url: str, file: Path, operation: str, connects: Connects) -> tuple[Any, ...]:
    requests, before = Requests(), connects.count
    with InvokeAIClient(url, http_client=requests.sync_client()) as client:
        repo = client.dnn_model_repo
        if operation == "plan":
            drift = repo.plan_manifest(file).has_drift
        else:
            counts = repo.apply_manifest(file).counts()
            drift = counts["done"] + counts["failed"] > 0
    return requests, connects.count - before, drift


async def check_async(url: str, file: Path, operation: str, connects: Connects) -> tuple[Any, ...]:
    requests, before = Requests(), connects.count
    async with AsyncInvokeAIClient(url, http_client=requests.async_client()) as client:
        repo = client.dnn_model_repo
        if operation == "plan":
            drift = (await repo.plan_manifest(file)).has_drift
        else:
            counts = (await repo.apply_manifest(file)).counts()
            drift = counts["done"] + counts["failed"] > 0
    return requests, connects.count - before, drift


def count_requests(url: str, file: Path) -> bool:
    """Print the requests of each no-op; True when every one met the goal."""
    connects = Connects()
    ok = True
    print("requests of a no-op (fresh client each; goal: 1 list, 0 writes, 0 other)")
    print("  client  operation        list  write  other | app version  socket.io connects")
    for side in ("sync", "async"):
        for operation in ("plan", "apply"):
            if side == "sync":
                requests, sockets, drift = check_sync(url, file, operation, connects)
            else:
                requests, sockets, drift = asyncio.run(check_async(url, file, operation, connects))
            kinds = requests.kinds()
            met = (kinds["list"], kinds["write"], kinds["other"]) == (1, 0, 0) and not drift
            ok &= met
            print(
                f"  {side:<7} {operation + '_manifest':<16}{kinds['list']:5d} {kinds['write']:6d}"
                f" {kinds['other']:6d} | {kinds['version']:11d} {sockets:18d}   {verdict(met)}"
            )
            if requests.others():
                print(f"    other requests: {', '.join(requests.others()[:10])}")
            if drift:
                print("    FAILED: the library found something to do")
    return ok


# -- 3. in-process breakdown ----------------------------------------------------------


def median_of(call: Callable[[], object], times: int) -> float:
    seconds = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def breakdown(url: str, file: Path) -> None:
    with InvokeAIClient(url) as client:
        repo = client.dnn_model_repo
        manifest = ModelManifest.load(file)
        backwards = ModelManifest(models=manifest.models[::-1])
        models = repo.list_models()
        steps = {
            "ModelManifest.load(FILE)": (lambda: ModelManifest.load(file), 5),
            "list_models()": (repo.list_models, 5),
            "plan_changes(manifest, models)": (lambda: plan_changes(manifest, models), 5),
            "the same, entries reversed": (lambda: plan_changes(backwards, models), 3),
        }
        print(f"in-process steps ({len(manifest.models)} entries, {len(models)} models)")
        for label, (call, times) in steps.items():
            print(f"  {label:<32}{median_of(call, times) * 1000:8.1f} ms  (median of {times})")


# -- report -------------------------------------------------------------------------------


def report(runs: dict[str, list[ChildRun]], rounds: int) -> bool:
    base = runs[BASELINE]
    base_wall = statistics.median(r.wall for r in base)
    base_cpu = statistics.median(r.cpu for r in base)
    ok = True
    print(f"CLI processes (median of {rounds} rounds; CPU = user + system of the child)")
    print("  command        wall      CPU  x list (medians)  x list (round by round)")
    for case in CASES:
        wall = statistics.median(r.wall for r in runs[case])
        cpu = statistics.median(r.cpu for r in runs[case])
        ratio = wall / base_wall
        paired = statistics.median(a.wall / b.wall for a, b in zip(runs[case], base, strict=True))
        line = (
            f"  {case:<12}{wall * 1000:7.0f} ms {cpu * 1000:5.0f} ms"
            f"  {ratio:6.2f} (CPU {cpu / base_cpu:4.2f})  {paired:6.2f}"
        )
        if case != BASELINE:
            ok &= ratio < GOAL
            line += f"   goal < {GOAL}: {verdict(ratio < GOAL)}"
        print(line)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--check", action="store_true", help="exit 1 if a goal is missed")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be 1 or more")

    with (
        server_with_models(args.models) as url,
        tempfile.TemporaryDirectory(prefix="bench-manifest-") as folder,
    ):
        file = Path(folder) / "manifest.yaml"
        with InvokeAIClient(url) as client:
            count = len(client.dnn_model_repo.list_models())
            manifest = client.dnn_model_repo.export_manifest()
        file.write_text(manifest.dumps(), encoding="utf-8")
        log(f"exported {len(manifest.models)} of {count} models to {file}")
        failures = verify_noop(url, file, len(manifest.models))
        runs = time_cli(url, file, args.rounds)
        print(f"server: {count} models, manifest: {len(manifest.models)} entries (YAML)")
        ok = report(runs, args.rounds)
        ok &= count_requests(url, file)
        breakdown(url, file)
    for failure in failures:
        print(f"  FAILED: {failure}")
    ok &= not failures
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
