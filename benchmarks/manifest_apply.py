"""apply_manifest() of 20 missing local models against a raw loop doing the same installs.

Usage (from the repo root)::

    .venv/bin/python benchmarks/manifest_apply.py [--models 20] [--rounds 5]
        [--existing 0] [--profile] [--check]

Uses the server in INVOKE_AI_ENDPOINT, or starts a test-bed server (and stops it at
the end). The server must read files of this machine. With ``--existing N``, tiny
embeddings are first installed in place until the server holds N other models (the
manifest's entries are then matched against them all). Writes ``--models`` tiny model
files (``testbed.tiny_models``: LoRAs and SD1 embeddings in turn, each with its own
random content, so every hash differs) into a temporary directory, and a manifest
listing them (``inplace: true``, nothing else). Each round installs all of them with
each way below, the order rotating every round; after each way the installed models
are deleted (``bulk_delete_models``, outside the timing; in-place files stay) and the
finished jobs pruned, so the next way installs them again:

- raw: ``httpx.Client`` POST ``/api/v2/models/install?source=PATH&inplace=true`` with
  body ``{}`` for each file, one after the other, then wait for every job's
  ``model_install_complete`` (or ``_error``) on a bare python-socketio client
  (websocket transport, connected beforehand: ``Listener`` of wait_latency.py);
- lib: ``client.dnn_model_repo.apply_manifest(manifest)`` on one ``InvokeAIClient``
  (default concurrency; its event stream connected beforehand);
- lib -j N: the same with ``concurrency=N`` (N = ``--models``: all at once, as raw);
- cli: the CLI as a process, ``.venv/bin/invokeai-models --url URL apply FILE``
  (default concurrency), for information (its start-up is in its time).

Each way must leave every model installed (checked on the server's list). Prints the
median wall clock of each and its ratio to raw's median, the median of the
round-by-round ratios, the client's CPU time (this process's ``time.process_time``;
for the CLI, the child's user + system), and the HTTP requests each way sent per
round (counted in ``httpx.HTTPTransport.handle_request``; the CLI's are not seen).
Goal: both library ways <= 1.3 x raw (ratio of the medians). ``--check`` exits 1 when
a goal is missed or an install failed.

``--profile`` runs one more ``apply_manifest`` (default concurrency) under cProfile
after the rounds and prints the functions with the most cumulative time.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _common import REPO_ROOT, log, rotated, run_child, server_with_models, verdict
from wait_latency import IDENTITY, V2, Listener

from invokeai_py_client import InvokeAIClient
from invokeai_py_client.dnn_model import ManifestModel, ModelManifest
from testbed import tiny_models

GOAL = 1.3
SCRIPT = str(REPO_ROOT / ".venv" / "bin" / "invokeai-models")
JOB_TIMEOUT = 300.0
DEFAULT_CONCURRENCY = 4  # apply_manifest's and the CLI's default


# -- counting requests ---------------------------------------------------------------


class RequestCounter:
    """Every request any ``httpx.Client`` of this process sends, by method and route."""

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()
        original = httpx.HTTPTransport.handle_request
        sent = self.sent

        def handle_request(transport: Any, request: httpx.Request) -> httpx.Response:
            sent[f"{request.method} {route(request.url.path)}"] += 1
            return original(transport, request)

        httpx.HTTPTransport.handle_request = handle_request  # type: ignore[method-assign]

    @contextlib.contextmanager
    def counting(self) -> Iterator[Counter[str]]:
        """The requests sent inside the block."""
        before = Counter(self.sent)
        found: Counter[str] = Counter()
        try:
            yield found
        finally:
            found.update(self.sent)
            found.subtract(before)
            for key in [k for k, v in found.items() if v <= 0]:
                del found[key]


def route(path: str) -> str:
    """The path with job ids and model keys as placeholders."""
    parts = path.split("/")
    if path.startswith(f"{V2}/install/") and len(parts) > 5:
        parts[5] = "{id}"
    if path.startswith(f"{V2}/i/") and len(parts) > 5:
        parts[5] = "{key}"
    return "/".join(parts)


# -- the ways ---------------------------------------------------------------------------


@dataclass
class Results:
    seconds: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)
    requests: dict[str, list[Counter[str]]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def add(self, way: str, seconds: float, cpu: float, requests: Counter[str]) -> None:
        self.seconds.setdefault(way, []).append(seconds)
        self.cpu.setdefault(way, []).append(cpu)
        self.requests.setdefault(way, []).append(requests)


def write_models(folder: Path, count: int) -> list[Path]:
    """``count`` tiny models, LoRAs and embeddings in turn, every one distinct."""
    writers = (tiny_models.write_lora_sd1, tiny_models.write_embedding_sd1)
    return [writers[i % 2](folder) for i in range(count)]


def installed(repo: Any, sources: set[str]) -> list[str]:
    """The keys of the models installed from ``sources``."""
    return [m.key for m in repo.list_models() if m.source in sources]


def measure(url: str, paths: list[Path], file: Path, rounds: int) -> Results:
    results = Results()
    manifest = ModelManifest.load(file)
    sources = {str(p) for p in paths}
    counter = RequestCounter()
    with contextlib.ExitStack() as stack:
        raw = stack.enter_context(httpx.Client(base_url=url, timeout=60))
        listener = Listener(url)
        stack.callback(listener.close)
        client = stack.enter_context(InvokeAIClient(url))
        cleanup = stack.enter_context(InvokeAIClient(url, events=False)).dnn_model_repo
        repo = client.dnn_model_repo
        client.events.connect()  # warm: the stream is up before any timing
        repo.list_models()

        def raw_way() -> None:
            ids = []
            for path in paths:
                params = {"source": str(path), "inplace": "true"}
                answer = raw.post(f"{V2}/install", params=params, json={}, headers=IDENTITY)
                answer.raise_for_status()
                ids.append(int(answer.json()["id"]))
            deadline = time.monotonic() + JOB_TIMEOUT
            for job_id in ids:
                state = listener.wait(job_id, max(0.0, deadline - time.monotonic()))
                if state != "completed":
                    results.failures.append(f"raw: job {job_id} {state}")

        def lib_way(concurrency: int) -> Callable[[], None]:
            def run() -> None:
                report = repo.apply_manifest(manifest, concurrency=concurrency)
                counts = report.counts()
                if counts["done"] != len(paths) or not report.ok:
                    results.failures.append(f"lib -j {concurrency}: {counts}")

            return run

        def cli_way() -> float:
            done = run_child([SCRIPT, "--url", url, "apply", str(file)], timeout=JOB_TIMEOUT)
            if done.returncode != 0:
                results.failures.append(f"cli: exit {done.returncode}: {done.stderr[-300:]}")
            return done.cpu

        ways: dict[str, Callable[[], float | None]] = {
            "raw": raw_way,
            "lib": lib_way(DEFAULT_CONCURRENCY),
            f"lib -j {len(paths)}": lib_way(len(paths)),
            "cli": cli_way,
        }
        leftovers = installed(cleanup, sources)
        if leftovers:
            cleanup.bulk_delete_models(leftovers)
        for index in range(rounds):
            for name in rotated(list(ways), index):
                with counter.counting() as sent:
                    cpu, started = time.process_time(), time.perf_counter()
                    child_cpu = ways[name]()
                    seconds = time.perf_counter() - started
                    cpu = time.process_time() - cpu if child_cpu is None else child_cpu
                results.add(name, seconds, cpu, sent)
                keys = installed(cleanup, sources)
                if len(keys) != len(paths):
                    results.failures.append(f"{name}: {len(keys)} of {len(paths)} installed")
                if keys:
                    cleanup.bulk_delete_models(keys)
                cleanup.prune_install_jobs()
                missing = [p for p in paths if not p.exists()]
                if missing:
                    raise SystemExit(f"the delete removed in-place files: {missing[:3]}")
            log(
                f"round {index + 1}/{rounds}: "
                + ", ".join(f"{n} {results.seconds[n][-1]:.2f} s" for n in ways)
            )
    return results


def profile(url: str, file: Path, sources: set[str]) -> str:
    """One more default apply under cProfile; the top of its cumulative times."""
    with (
        InvokeAIClient(url) as client,
        InvokeAIClient(url, events=False) as other,
    ):
        client.events.connect()
        repo = client.dnn_model_repo
        manifest = ModelManifest.load(file)
        profiler = cProfile.Profile()
        profiler.enable()
        repo.apply_manifest(manifest)
        profiler.disable()
        keys = installed(other.dnn_model_repo, sources)
        if keys:
            other.dnn_model_repo.bulk_delete_models(keys)
        other.dnn_model_repo.prune_install_jobs()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(30)
    return text.getvalue()


# -- report ---------------------------------------------------------------------------


def report(results: Results, count: int, rounds: int) -> bool:
    ok = not results.failures
    raw = statistics.median(results.seconds["raw"])
    print(f"{count} local installs (in place) per way, {rounds} rounds, order rotating")
    print("  way          median    x raw  round by round  client CPU  requests per round")
    for way, seconds in results.seconds.items():
        median = statistics.median(seconds)
        ratio = median / raw
        paired = statistics.median(
            a / b for a, b in zip(seconds, results.seconds["raw"], strict=True)
        )
        cpu = statistics.median(results.cpu[way]) * 1000
        sent = results.requests[way]
        total = statistics.median(sum(c.values()) for c in sent)
        shown = "    -" if way == "cli" else f"{total:5.0f}"
        line = f"  {way:<10}{median:7.2f} s {ratio:7.2f}  {paired:14.2f}  {cpu:7.0f} ms  {shown}"
        if way.startswith("lib"):
            met = ratio <= GOAL
            ok &= met
            line += f"   goal <= {GOAL}: {verdict(met)}"
        print(line)
        if way != "cli":
            kinds = Counter[str]()
            for c in sent:
                kinds.update(c)
            print("      " + ", ".join(f"{k} {v / len(sent):g}" for k, v in sorted(kinds.items())))
    for failure in results.failures[:10]:
        print(f"  FAILED: {failure}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--existing", type=int, default=0, help="models already there")
    parser.add_argument("--profile", action="store_true", help="cProfile one more apply")
    parser.add_argument("--check", action="store_true", help="exit 1 if a goal is missed")
    args = parser.parse_args()
    if args.rounds < 1 or args.models < 1:
        parser.error("--rounds and --models must be 1 or more")

    with (
        server_with_models(args.existing) as url,
        tempfile.TemporaryDirectory(prefix="bench-apply-") as folder,
    ):
        paths = write_models(Path(folder) / "models", args.models)
        manifest = ModelManifest(models=[ManifestModel(source=str(p), inplace=True) for p in paths])
        file = Path(folder) / "manifest.yaml"
        file.write_text(manifest.dumps(), encoding="utf-8")
        with InvokeAIClient(url, events=False) as probe:
            version = probe.server_version()
            existing = len(probe.dnn_model_repo.list_models())
        log(f"{args.models} tiny models, {args.rounds} rounds on InvokeAI {version}")
        results = measure(url, paths, file, args.rounds)
        profiled = profile(url, file, {str(p) for p in paths}) if args.profile else None
    print(f"InvokeAI {version}, {existing} models on the server before the rounds")
    ok = report(results, args.models, args.rounds)
    if profiled:
        print(f"cProfile of one apply_manifest (concurrency {DEFAULT_CONCURRENCY}):")
        print(profiled)
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
