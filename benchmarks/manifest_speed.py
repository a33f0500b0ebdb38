"""The CLI's ``plan`` and ``apply`` of a large manifest, against ``list`` and a raw install loop.

Usage (from the repo root; the server must read this machine's files)::

    .venv/bin/python -m testbed up --version 6.14.2 --port 19500 &
    .venv/bin/python benchmarks/manifest_speed.py --url http://127.0.0.1:19500 \
        [--models 1000] [--rounds 5] [--install-rounds 1] [--no-installs] [--src DIR] [--check]

Starts nothing: ``--url``, else ``INVOKE_AI_ENDPOINT``, else ``INVOKEAI_URL``.
Writes ``--models`` N tiny model files (``testbed.tiny_models``: LoRAs and SD1
embeddings in turn, every hash distinct) and installs them in place (the raw loop
below), then exports their manifest (``ModelManifest.from_models``: source, name,
description, type, base, ``inplace``; YAML) and checks that ``plan`` finds no drift
and ``apply`` does nothing. Then:

1. No-op: ``--rounds`` rounds (the order rotating) of three processes of the real CLI,
   ``invokeai-models --url URL --json list`` (the baseline), ``plan FILE`` and
   ``apply FILE``, after one warm-up each. Prints the median wall clock and child CPU
   of each and its ratio to the baseline (of the medians). Goal: <= 1.2 each.
2. Installs: N more tiny files and a manifest listing them (``inplace: true``); with
   the N first ones still on the server, ``--install-rounds`` rounds of
   - raw: 4 threads POST ``/api/v2/models/install?source=PATH&inplace=true`` (body
     ``{}``) for every file, then GET ``/api/v2/models/install`` every 0.5 s until
     none of those jobs is pending;
   - apply: ``invokeai-models --url URL apply FILE`` (default concurrency), a process.
   After each, the new models are deleted and the finished jobs pruned (outside the
   timing), so both start from the same state. Prints the medians and the ratio
   apply/raw. Goal: <= 1.1.

``--src DIR`` runs the CLI processes from another source tree (``DIR`` first on
``PYTHONPATH``; e.g. ``git archive HEAD src | tar -x -C /tmp/head`` and ``--src
/tmp/head/src``), to measure the code before a change. ``--no-installs`` skips part 2.
The CLI processes run as an installed CLI does, from byte-compiled modules:
``PYTHONDONTWRITEBYTECODE`` is dropped for them and their ``.pyc`` files go to a
temporary ``PYTHONPYCACHEPREFIX`` (the warm-up writes them). At the end every model
this script installed is deleted again. ``--check`` exits 1 when a goal is missed or a
check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from _common import REPO_ROOT, ChildRun, log, rotated, run_child, verdict

from invokeai_py_client import InvokeAIClient
from invokeai_py_client.dnn_model import ManifestModel, ModelManifest
from invokeai_py_client.errors import InvokeAIError
from testbed import tiny_models

SCRIPT = str(REPO_ROOT / ".venv" / "bin" / "invokeai-models")
V2 = "/api/v2/models"
IDENTITY = {"Accept-Encoding": "identity"}  # 6.14's gzip middleware breaks empty answers
NOOP_GOAL = 1.2
INSTALL_GOAL = 1.1
RAW_THREADS = 4
RAW_POLL = 0.5
TIMEOUT = 3600.0
ENDED = {"completed", "error", "cancelled"}
BASELINE = "list --json"
NOOP_CASES = [BASELINE, "plan FILE", "apply FILE"]


def write_models(folder: Path, count: int) -> list[Path]:
    """``count`` tiny models, LoRAs and embeddings in turn, every one distinct."""
    folder.mkdir(parents=True, exist_ok=True)
    writers = (tiny_models.write_lora_sd1, tiny_models.write_embedding_sd1)
    return [writers[i % 2](folder) for i in range(count)]


def raw_install(http: httpx.Client, paths: list[Path]) -> list[str]:
    """POST every install (4 threads), then poll the job list until none is pending;
    the failures."""

    def post(path: Path) -> int:
        params = {"source": str(path), "inplace": "true"}
        answer = http.post(f"{V2}/install", params=params, json={}, headers=IDENTITY)
        answer.raise_for_status()
        return int(answer.json()["id"])

    with ThreadPoolExecutor(RAW_THREADS) as pool:
        pending = set(pool.map(post, paths))
    failures: list[str] = []
    deadline = time.monotonic() + TIMEOUT
    while pending and time.monotonic() < deadline:
        time.sleep(RAW_POLL)
        for job in http.get(f"{V2}/install", headers=IDENTITY).json():
            if job["id"] in pending and job["status"] in ENDED:
                pending.discard(job["id"])
                if job["status"] != "completed":
                    failures.append(f"job {job['id']}: {job['status']} {job.get('error')}")
    return failures + [f"job {j}: not done in time" for j in pending]


def delete_installed(client: InvokeAIClient, sources: set[str]) -> int:
    """Delete the models installed from ``sources``, prune finished jobs; how many."""
    repo = client.dnn_model_repo
    keys = [m.key for m in repo.list_models() if m.source in sources]
    if keys:
        try:
            repo.bulk_delete_models(keys)
        except InvokeAIError:  # older than 6.10: one by one
            for key in keys:
                repo.delete_model(key)
    repo.prune_install_jobs()
    return len(keys)


def child_env(folder: Path, src: str | None) -> dict[str, str]:
    """The environment of the CLI processes: byte-compiled modules, kept in ``folder``;
    with ``src``, the package is imported from there."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
    if src:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    return env


def cli(env: dict[str, str], url: str, *args: str) -> ChildRun:
    done = run_child([SCRIPT, "--url", url, *args], env=env, timeout=TIMEOUT)
    if done.returncode != 0:
        raise SystemExit(
            f"`invokeai-models {' '.join(args)}` exited {done.returncode}: {done.stderr[-800:]}"
        )
    return done


# -- 1. no-op plan and apply -------------------------------------------------------------


def one_server(stdout: str) -> dict[str, Any]:
    """The JSON document of the one server (an array of one, or the object itself)."""
    doc = json.loads(stdout)
    return dict(doc[0] if isinstance(doc, list) else doc)


def check_noop(env: dict[str, str], url: str, file: Path, count: int) -> list[str]:
    failures = []
    plan = one_server(cli(env, url, "--json", "plan", str(file)).stdout)
    if plan.get("drift") is not False or plan["counts"]["keep"] != count:
        failures.append(f"plan --json: drift {plan.get('drift')}, counts {plan.get('counts')}")
    counts = one_server(cli(env, url, "--json", "apply", str(file)).stdout).get("counts", {})
    if counts.get("done") != 0 or counts.get("failed") != 0:
        failures.append(f"apply --json: counts {counts}")
    return failures


def time_noop(env: dict[str, str], url: str, file: Path, rounds: int) -> dict[str, list[ChildRun]]:
    argv = {
        BASELINE: ["--json", "list"],
        "plan FILE": ["plan", str(file)],
        "apply FILE": ["apply", str(file)],
    }
    runs: dict[str, list[ChildRun]] = {case: [] for case in NOOP_CASES}
    for case in NOOP_CASES:  # warm-up
        cli(env, url, *argv[case])
    for index in range(rounds):
        for case in rotated(NOOP_CASES, index):
            runs[case].append(cli(env, url, *argv[case]))
        log(
            f"no-op round {index + 1}/{rounds}: "
            + ", ".join(f"{c} {runs[c][-1].wall:.2f} s" for c in NOOP_CASES)
        )
    return runs


def report_noop(runs: dict[str, list[ChildRun]]) -> bool:
    ok = True
    base = statistics.median(r.wall for r in runs[BASELINE])
    print("  case          median wall  child CPU   x list")
    for case in NOOP_CASES:
        wall = statistics.median(r.wall for r in runs[case])
        cpu = statistics.median(r.cpu for r in runs[case])
        line = f"  {case:<12}{wall * 1000:9.0f} ms {cpu * 1000:7.0f} ms  {wall / base:6.2f}"
        if case != BASELINE:
            met = wall / base <= NOOP_GOAL
            ok &= met
            line += f"   goal <= {NOOP_GOAL}: {verdict(met)}"
        print(line)
    return ok


# -- 2. installs onto a server holding N -------------------------------------------------


def time_installs(
    env: dict[str, str],
    url: str,
    http: httpx.Client,
    client: InvokeAIClient,
    paths: list[Path],
    file: Path,
    rounds: int,
) -> tuple[dict[str, list[float]], list[str]]:
    sources = {str(p) for p in paths}
    failures: list[str] = []

    def raw() -> None:
        failures.extend(f"raw: {f}" for f in raw_install(http, paths))

    def apply() -> None:
        done = run_child([SCRIPT, "--url", url, "apply", str(file)], env=env, timeout=TIMEOUT)
        if done.returncode != 0:
            failures.append(f"apply: exit {done.returncode}: {done.stderr[-500:]}")

    ways: dict[str, Callable[[], None]] = {"raw": raw, "apply": apply}
    seconds: dict[str, list[float]] = {way: [] for way in ways}
    delete_installed(client, sources)
    for index in range(rounds):
        for way in rotated(list(ways), index):
            started = time.perf_counter()
            ways[way]()
            seconds[way].append(time.perf_counter() - started)
            removed = delete_installed(client, sources)
            if removed != len(paths):
                failures.append(f"{way}: {removed} of {len(paths)} installed")
        log(
            f"install round {index + 1}/{rounds}: "
            + ", ".join(f"{w} {seconds[w][-1]:.1f} s" for w in ways)
        )
    return seconds, failures


def report_installs(seconds: dict[str, list[float]]) -> bool:
    raw = statistics.median(seconds["raw"])
    apply = statistics.median(seconds["apply"])
    met = apply / raw <= INSTALL_GOAL
    print(f"  raw    {raw:8.1f} s")
    print(
        f"  apply  {apply:8.1f} s  {apply / raw:6.2f} x raw   goal <= {INSTALL_GOAL}: "
        f"{verdict(met)}"
    )
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url", default=os.environ.get("INVOKE_AI_ENDPOINT") or os.environ.get("INVOKEAI_URL")
    )
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5, help="no-op rounds")
    parser.add_argument("--install-rounds", type=int, default=1)
    parser.add_argument("--no-installs", action="store_true", help="skip part 2")
    parser.add_argument("--src", help="run the CLI from this source tree (PYTHONPATH)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a goal is missed")
    args = parser.parse_args()
    if not args.url:
        parser.error("give --url (or set INVOKE_AI_ENDPOINT or INVOKEAI_URL)")
    if min(args.models, args.rounds, args.install_rounds) < 1:
        parser.error("--models, --rounds and --install-rounds must be 1 or more")
    url = args.url.rstrip("/")
    ok = True
    with (
        tempfile.TemporaryDirectory(prefix="bench-speed-") as folder,
        httpx.Client(base_url=url, timeout=120) as http,
        InvokeAIClient(url, events=False) as client,
    ):
        env = child_env(Path(folder), args.src)
        held = write_models(Path(folder) / "held", args.models)
        new = write_models(Path(folder) / "new", args.models)
        held_sources = {str(p) for p in held}
        failures: list[str] = []
        try:
            started = time.monotonic()
            failures += raw_install(http, held)
            log(f"installed {args.models} models in {time.monotonic() - started:.1f} s")
            records = [m for m in client.dnn_model_repo.list_models() if m.source in held_sources]
            noop = Path(folder) / "held.yaml"
            noop.write_text(ModelManifest.from_models(records).dumps(), encoding="utf-8")
            fresh = Path(folder) / "new.yaml"
            entries = [ManifestModel(source=str(p), inplace=True) for p in new]
            fresh.write_text(ModelManifest(models=entries).dumps(), encoding="utf-8")
            failures += check_noop(env, url, noop, len(records))
            version = client.server_version()
            total = len(client.dnn_model_repo.list_models())
            print(f"InvokeAI {version} at {url}, {total} models; manifest of {len(records)}")
            print(f"1. no-op, median of {args.rounds} rounds (CLI processes):")
            ok &= report_noop(time_noop(env, url, noop, args.rounds))
            if not args.no_installs:
                seconds, more = time_installs(
                    env, url, http, client, new, fresh, args.install_rounds
                )
                failures += more
                print(
                    f"2. {args.models} new models onto {total}, median of "
                    f"{args.install_rounds} round(s):"
                )
                ok &= report_installs(seconds)
        finally:
            delete_installed(client, held_sources | {str(p) for p in new})
    for failure in failures[:10]:
        print(f"  FAILED: {failure}")
    ok &= not failures
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
