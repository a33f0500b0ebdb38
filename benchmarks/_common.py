"""Helpers shared by the benchmark scripts (not a benchmark itself).

- ``server_with_models(wanted)``: the server in ``INVOKE_AI_ENDPOINT``, or a test-bed
  server started here and stopped on exit, holding at least ``wanted`` model records
  (tiny embeddings installed in place).
- ``alternate`` / ``alternate_async``: time several cases in alternating rounds (the
  order rotates every round, so drift and warm-up hit every case alike).
- ``rotated``: the order of one round (what ``alternate`` uses), for scripts that time
  the cases themselves.
- ``median_ms``, ``percentile`` and ``verdict`` for printing.
- ``run_child``: run a command to its end; its wall-clock time, and its own CPU time
  (user + system, from ``os.wait4``), for scripts that time subprocesses.

The scripts run as ``.venv/bin/python benchmarks/NAME.py`` from the repo root; this
module puts the repo root on ``sys.path`` so that ``testbed`` imports.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from invokeai_py_client import InvokeAIClient  # noqa: E402
from testbed import tiny_models  # noqa: E402
from testbed.server import start_server  # noqa: E402

__all__ = [
    "ChildRun",
    "Timings",
    "alternate",
    "alternate_async",
    "fill",
    "log",
    "median_ms",
    "percentile",
    "rotated",
    "run_child",
    "server",
    "server_with_models",
    "verdict",
]


def log(message: str) -> None:
    """Progress notes go to stderr, so that stdout holds only the figures."""
    print(message, file=sys.stderr, flush=True)


@contextmanager
def server(version: str | None = None) -> Iterator[str]:
    """The base URL of ``INVOKE_AI_ENDPOINT``, or of a test-bed server run meanwhile
    (``version``, else ``INVOKEAI_TESTBED_VERSION``, else the test bed's default)."""
    endpoint = os.environ.get("INVOKE_AI_ENDPOINT")
    if endpoint:
        yield endpoint.rstrip("/")
        return
    started = time.monotonic()
    test_bed = start_server(version)
    log(f"test-bed server up at {test_bed.url} in {time.monotonic() - started:.1f} s")
    try:
        yield test_bed.url
    finally:
        test_bed.stop()


def fill(client: InvokeAIClient, wanted: int, folder: Path) -> None:
    """Install tiny embeddings in place until the server has ``wanted`` models."""
    repo = client.dnn_model_repo
    missing = wanted - len(repo.list_models())
    if missing <= 0:
        return
    started = time.monotonic()
    handles = [
        repo.install_model(tiny_models.write_embedding_sd1(folder), inplace=True)
        for _ in range(missing)
    ]
    for handle in handles:
        info = handle.wait(timeout=600, poll_interval=0.05)
        if not info.is_success:
            raise SystemExit(f"fill failed: {info.describe()}")
    repo.prune_install_jobs()
    log(f"installed {missing} tiny models in {time.monotonic() - started:.1f} s")


@contextmanager
def server_with_models(wanted: int) -> Iterator[str]:
    """``server()`` holding at least ``wanted`` models; yields its base URL."""
    with (
        server() as url,
        tempfile.TemporaryDirectory(prefix="bench-models-") as folder,
        InvokeAIClient.from_url(url) as client,
    ):
        fill(client, wanted, Path(folder))
        yield client.base_url


@dataclass
class Timings:
    """Per-round seconds of each case: wall clock, and this process's CPU time.

    The CPU time leaves out the server (another process), so it shows the client's
    own cost even when the server's noise swamps the wall clock.
    """

    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, wall: float, cpu: float) -> None:
        self.wall.setdefault(name, []).append(wall)
        self.cpu.setdefault(name, []).append(cpu)

    def paired_ratios(self, numerator: str, denominator: str) -> list[float]:
        """Wall-clock ratio of the two cases round by round (cancels slow drift)."""
        return [a / b for a, b in zip(self.wall[numerator], self.wall[denominator], strict=True)]


def rotated(names: list[str], index: int) -> list[str]:
    """The cases in the order of round ``index``: rotated by one each round."""
    shift = index % len(names)
    return names[shift:] + names[:shift]


def alternate(rounds: int, cases: dict[str, Callable[[], object]]) -> Timings:
    """Time each case once per round, ``rounds`` times, the order rotating each round."""
    timings = Timings()
    for index in range(rounds):
        for name in rotated(list(cases), index):
            cpu, wall = time.process_time(), time.perf_counter()
            cases[name]()
            timings.add(name, time.perf_counter() - wall, time.process_time() - cpu)
    return timings


async def alternate_async(
    rounds: int, cases: dict[str, Callable[[], Awaitable[object]]]
) -> Timings:
    """``alternate`` for coroutine functions (awaited one at a time)."""
    timings = Timings()
    for index in range(rounds):
        for name in rotated(list(cases), index):
            cpu, wall = time.process_time(), time.perf_counter()
            await cases[name]()
            timings.add(name, time.perf_counter() - wall, time.process_time() - cpu)
    return timings


def median_ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile (0-1) of ``values``, by linear interpolation."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


@dataclass(frozen=True)
class ChildRun:
    """A finished subprocess: its seconds of wall clock and of CPU, and its output."""

    wall: float
    cpu: float  # user + system of the child (and of the children it waited for)
    returncode: int
    stdout: str
    stderr: str


def heaviest_self_times(outputs: Iterable[str], count: int) -> list[tuple[float, str]]:
    """The ``count`` modules with the most self time in ``-X importtime`` outputs:
    (median ms over the outputs, module), heaviest first."""
    found: dict[str, list[float]] = {}
    for output in outputs:
        for match in re.finditer(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", output):
            found.setdefault(match.group(2), []).append(int(match.group(1)) / 1000)
    medians = [(statistics.median(ms), name) for name, ms in found.items()]
    return sorted(medians, reverse=True)[:count]


def run_child(
    argv: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 600.0
) -> ChildRun:
    """Run ``argv`` to its end (killed after ``timeout`` s), output to temporary files.

    The CPU time is the child's own (``os.wait4`` on its pid), so other children of
    this process (a test-bed server) never count. Wall clock: from just before the
    spawn to the reaping.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(list(argv), stdout=out, stderr=err, env=env)
        killer = threading.Timer(timeout, child.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait
        out.seek(0)
        err.seek(0)
        return ChildRun(
            wall,
            usage.ru_utime + usage.ru_stime,
            child.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
        )
