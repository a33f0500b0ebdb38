"""Soak: many tiny installs through a faulty network, on two servers at once.

Usage (from the repo root; on demand, not part of .ci/run)::

    .venv/bin/python benchmarks/soak.py [--count 1000] [--seconds 3600] [--batch 25]
        [--url URL --url URL] [--versions 6.14.2 6.8.1] [--seed 16]
        [--reset 0.05] [--delay 0.10]

Without ``--url`` it starts one test-bed server per version (``testbed.server``) and
stops them at the end. In front of each server runs the test bed's fault proxy
(``testbed/fault_proxy.py``), seeded: ``--reset`` of the requests get a TCP reset (half
before the server sees them, half after it acted on them) and ``--delay`` of them wait
0.3 s first; the socket.io stream goes through it too. The installs are split between
the servers: the first is driven by an ``InvokeAIClient`` in a thread, the second by an
``AsyncInvokeAIClient`` on this thread's event loop. Each writes distinct tiny models
(``testbed.tiny_models``: SD1/SD2/SDXL embeddings, LoRAs, VAEs) and installs them by
path in place, ``--batch`` at a time, then waits for the batch (``wait_all``).

A failed install request (no answer) is never blindly sent again: the client first
asks the server's job list for the source, as docs/errors.md advises, and sends again
only if no job has it. After each batch a client that bypasses the proxy counts the
server's jobs per source (one each, else a duplicate) and prunes the finished jobs
(unless both ``--url`` name the same server: the small integration test does that).

Checks (exit 1 when one fails): every model installed exactly once (the server's
records by source, read directly), none lost, no duplicate job; after the clients
close, ``threading.enumerate()`` and ``asyncio.all_tasks()`` are what they were before,
and no ``ResourceWarning`` (or asyncio "Unclosed" error) was raised; this process's
resident memory (VmRSS) grew by less than 20 MB from the first 100 installs to the
last. ``--count`` and ``--seconds`` bound the run (installs not started by then are
left out and said so). Prints the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from _common import REPO_ROOT, log  # noqa: F401  (puts the repo root on sys.path)

from invokeai_py_client import (
    AsyncDnnModelRepository,
    AsyncInvokeAIClient,
    AsyncModelInstJobHandle,
    DnnModelRepository,
    InvokeAIClient,
    ModelInstJobHandle,
)
from invokeai_py_client.errors import APIConnectionError, ServerError
from testbed import tiny_models as tm
from testbed.fault_proxy import FaultProxy, Rule
from testbed.server import InvokeAIServer

WRITERS: list[Callable[[Path], Path]] = [
    tm.write_embedding_sd1,
    tm.write_embedding_sd2,
    tm.write_embedding_sdxl,
    tm.write_lora_sd1,
    tm.write_vae_sd1,
]
RSS_GROWTH_LIMIT = 20 * 2**20
SEND_TRIES = 8


def rss() -> int:
    """This process's resident memory in bytes (VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


@dataclass
class Tally:
    """What one worker did and saw."""

    name: str
    sources: list[str] = field(default_factory=list)
    failed_sends: int = 0  # install requests that got no answer
    adopted: int = 0  # ... whose job the server had anyway (it acted before the reset)
    resent: int = 0  # ... sent again because no job had the source
    wait_errors: int = 0  # wait_all calls ended by a connection error (then resumed)
    read_errors: int = 0  # job-list reads that ran out of retries (then read again)
    crashed: str | None = None  # the error that ended the worker early
    not_completed: list[str] = field(default_factory=list)
    duplicate_jobs: dict[str, int] = field(default_factory=dict)


class Run:
    """The shared state: the bound, the install counter and the memory samples."""

    def __init__(self, count: int, seconds: float, prune: bool) -> None:
        self.count, self.deadline = count, time.monotonic() + seconds
        self.prune = prune  # not when both workers share a server: one would prune the
        # other's finished jobs under its wait
        self.lock = threading.Lock()
        self.started = 0
        self.done = 0
        self.rss_at_100: int | None = None

    def claim(self, wanted: int) -> int:
        """How many installs the next batch may start (0: stop)."""
        with self.lock:
            if time.monotonic() >= self.deadline:
                return 0
            n = max(min(wanted, self.count - self.started), 0)
            self.started += n
            return n

    def finished(self, n: int) -> None:
        with self.lock:
            self.done += n
            crossed = self.rss_at_100 is None and self.done >= min(100, self.count)
        if crossed:
            gc.collect()
            self.rss_at_100 = rss()
            log(f"after {self.done} installs: RSS {self.rss_at_100 / 2**20:.1f} MiB")


def write_batch(folder: Path, n: int, offset: int) -> list[str]:
    folder.mkdir(exist_ok=True)
    return [str(WRITERS[(offset + i) % len(WRITERS)](folder)) for i in range(n)]


def count_jobs(
    jobs: list[ModelInstJobHandle] | list[AsyncModelInstJobHandle], sources: list[str], tally: Tally
) -> None:
    """The server's jobs (read directly) per source of a batch: one each."""
    per_source = Counter(job.info.source for job in jobs)
    tally.duplicate_jobs.update({s: per_source[s] for s in sources if per_source[s] != 1})


def sync_worker(
    run: Run, tally: Tally, url: str, direct_url: str, folder: Path, batch: int
) -> None:
    with InvokeAIClient(url) as client, InvokeAIClient(direct_url, events=False) as direct:
        repo = client.dnn_model_repo
        while n := run.claim(batch):
            sources = write_batch(folder, n, len(tally.sources))
            tally.sources += sources
            handles = [send_sync(repo, source, tally) for source in sources]
            while True:
                try:
                    finals = repo.wait_all(handles, timeout=600, poll_interval=1.0)
                    break
                except APIConnectionError:
                    tally.wait_errors += 1
            tally.not_completed += [f.describe() for f in finals if not f.is_success]
            count_jobs(direct.dnn_model_repo.list_install_jobs(), sources, tally)
            if run.prune:
                direct.dnn_model_repo.prune_install_jobs()
            run.finished(n)


def send_sync(repo: DnnModelRepository, source: str, tally: Tally) -> ModelInstJobHandle:
    """Start an install; after a send without an answer, ask the server before again."""
    for _ in range(SEND_TRIES):
        try:
            return repo.install_model(source, inplace=True)
        except (APIConnectionError, ServerError):
            tally.failed_sends += 1
        for _ in range(SEND_TRIES):  # a read's retries can run out, 5 % reset each
            try:
                jobs = repo.list_install_jobs()
                break
            except APIConnectionError:
                tally.read_errors += 1
        found = [h for h in jobs if h.info.source == source]
        if found:
            tally.adopted += 1
            return found[0]
        tally.resent += 1
    raise RuntimeError(f"could not start an install of {source} in {SEND_TRIES} tries")


async def async_worker(
    run: Run, tally: Tally, url: str, direct_url: str, folder: Path, batch: int
) -> set[asyncio.Task[object]]:
    """Returns the tasks left after the clients closed (none expected)."""
    before = asyncio.all_tasks()
    try:
        await _async_installs(run, tally, url, direct_url, folder, batch)
    except Exception as exc:
        tally.crashed = repr(exc)
    await asyncio.sleep(0.5)  # let what the clients cancelled unwind
    return asyncio.all_tasks() - before


async def _async_installs(
    run: Run, tally: Tally, url: str, direct_url: str, folder: Path, batch: int
) -> None:
    async with (
        AsyncInvokeAIClient(url) as client,
        AsyncInvokeAIClient(direct_url, events=False) as direct,
    ):
        repo = client.dnn_model_repo
        while n := run.claim(batch):
            sources = write_batch(folder, n, len(tally.sources))
            tally.sources += sources
            handles = [await send_async(repo, source, tally) for source in sources]
            while True:
                try:
                    finals = await repo.wait_all(handles, timeout=600, poll_interval=1.0)
                    break
                except APIConnectionError:
                    tally.wait_errors += 1
            tally.not_completed += [f.describe() for f in finals if not f.is_success]
            count_jobs(await direct.dnn_model_repo.list_install_jobs(), sources, tally)
            if run.prune:
                await direct.dnn_model_repo.prune_install_jobs()
            run.finished(n)


async def send_async(
    repo: AsyncDnnModelRepository, source: str, tally: Tally
) -> AsyncModelInstJobHandle:
    """``send_sync`` for the async client."""
    for _ in range(SEND_TRIES):
        try:
            return await repo.install_model(source, inplace=True)
        except (APIConnectionError, ServerError):
            tally.failed_sends += 1
        for _ in range(SEND_TRIES):
            try:
                jobs = await repo.list_install_jobs()
                break
            except APIConnectionError:
                tally.read_errors += 1
        found = [h for h in jobs if h.info.source == source]
        if found:
            tally.adopted += 1
            return found[0]
        tally.resent += 1
    raise RuntimeError(f"could not start an install of {source} in {SEND_TRIES} tries")


def records_once(url: str, tally: Tally) -> tuple[int, list[str], dict[str, int]]:
    """(installed, missing sources, sources with more than one record), read directly."""
    with InvokeAIClient(url, events=False) as direct:
        per_source = Counter(m.source for m in direct.dnn_model_repo.list_models())
    missing = [s for s in tally.sources if per_source[s] == 0]
    twice = {s: per_source[s] for s in tally.sources if per_source[s] > 1}
    return sum(1 for s in tally.sources if per_source[s] == 1), missing, twice


class Unclosed(logging.Handler):
    """Collects asyncio's "Unclosed ..." error records (aiohttp sessions, transports)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "nclosed" in record.getMessage():
            self.messages.append(record.getMessage())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    numbers = {"count": 1000, "seconds": 3600.0, "batch": 25, "seed": 16, "reset": 0.05}
    for name, default in {**numbers, "delay": 0.10}.items():
        parser.add_argument(f"--{name}", type=type(default), default=default)
    parser.add_argument("--url", action="append", default=[])
    parser.add_argument("--versions", nargs=2, default=["6.14.2", "6.8.1"])
    args = parser.parse_args(argv)
    if len(args.url) not in (0, 2):
        parser.error("give --url twice (two servers), or not at all")
    with ExitStack() as stack:
        # started here, on this thread: a test-bed server gets SIGTERM when the thread
        # that started it ends (PR_SET_PDEATHSIG follows the thread, not the process)
        urls = args.url or [stack.enter_context(InvokeAIServer(v)).url for v in args.versions]
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="soak-")))
        proxies = []
        for index, url in enumerate(urls):
            proxy = stack.enter_context(FaultProxy(url, seed=args.seed + index))
            half = args.reset / 2
            proxy.add(Rule("reset", probability=half))
            proxy.add(Rule("reset", after=True, probability=half / (1 - half)))
            proxy.add(Rule("delay", seconds=0.3, probability=args.delay / (1 - args.reset)))
            proxies.append(proxy)
        return soak(args, urls, proxies, folder)
    return 1  # pragma: no cover


def soak(
    args: argparse.Namespace, urls: list[str], proxies: list[FaultProxy], folder: Path
) -> int:
    run = Run(args.count, args.seconds, prune=urls[0] != urls[1])
    unclosed = Unclosed()
    logging.getLogger("asyncio").addHandler(unclosed)
    threads_before = set(threading.enumerate())
    started = time.monotonic()
    results = {"sync": Tally("sync"), "async": Tally("async")}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        def sync_side() -> None:
            tally = results["sync"]
            try:
                sync_worker(run, tally, proxies[0].url, urls[0], folder / "a", args.batch)
            except Exception as exc:
                tally.crashed = repr(exc)

        thread = threading.Thread(target=sync_side, name="soak-sync")
        thread.start()
        tasks_left = asyncio.run(
            async_worker(run, results["async"], proxies[1].url, urls[1], folder / "b", args.batch)
        )
        thread.join()
        gc.collect()
        rss_end = rss()
        time.sleep(0.5)
        gc.collect()
    took = time.monotonic() - started
    threads_left = [t.name for t in set(threading.enumerate()) - threads_before]
    resource = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    problems = report(args, urls, proxies, results, run, took, rss_end)
    print(f"threads left: {threads_left or 'none'}; tasks left: {len(tasks_left)}")
    print(f"ResourceWarnings: {len(resource)}; asyncio 'Unclosed' errors: {len(unclosed.messages)}")
    problems += [f"threads left: {threads_left}"] if threads_left else []
    problems += [f"tasks left: {tasks_left}"] if tasks_left else []
    problems += [f"ResourceWarning: {m}" for m in resource[:5]]
    problems += [f"asyncio: {m}" for m in unclosed.messages[:5]]
    for problem in problems:
        print(f"FAILED: {problem}")
    print("soak: ok" if not problems else f"soak: {len(problems)} check(s) failed")
    return 1 if problems else 0


def report(
    args: argparse.Namespace,
    urls: list[str],
    proxies: list[FaultProxy],
    results: dict[str, Tally],
    run: Run,
    took: float,
    rss_end: int,
) -> list[str]:
    problems: list[str] = []
    print(f"soak: {run.done} installs of {args.count} asked in {took:.0f} s, seed {args.seed}")
    if run.done < args.count:
        print(f"  stopped by --seconds {args.seconds:g}: {args.count - run.done} not started")
    for name, url, proxy in zip(("sync", "async"), urls, proxies, strict=True):
        tally = results[name]
        with InvokeAIClient(url, events=False) as direct:
            version = direct.server_version()
        installed, missing, twice = records_once(url, tally)
        stats = proxy.stats
        print(
            f"  {name} client -> InvokeAI {version}: {len(tally.sources)} sources, "
            f"{installed} installed exactly once, {len(missing)} missing, "
            f"{len(twice)} installed twice, {len(tally.duplicate_jobs)} with a duplicate job"
        )
        print(
            f"    proxy: {stats.count(sent=False)} requests, {stats.resets} resets, "
            f"{stats.faults['delay']} delayed; install POSTs without an answer "
            f"{tally.failed_sends} (job found {tally.adopted}, sent again {tally.resent}); "
            f"waits resumed after a connection error {tally.wait_errors}, "
            f"job-list reads repeated {tally.read_errors}"
        )
        problems += [f"{name}: stopped by {tally.crashed}"] if tally.crashed else []
        problems += [f"{name}: lost {s}" for s in missing[:5]]
        problems += [f"{name}: {n} records of {s}" for s, n in list(twice.items())[:5]]
        problems += [f"{name}: {n} jobs of {s}" for s, n in list(tally.duplicate_jobs.items())[:5]]
        problems += [f"{name}: not completed: {d}" for d in tally.not_completed[:5]]
    if run.rss_at_100 is not None:
        growth = rss_end - run.rss_at_100
        print(
            f"  RSS: {run.rss_at_100 / 2**20:.1f} MiB after the first {min(100, args.count)} "
            f"installs, "
            f"{rss_end / 2**20:.1f} MiB after the last: {growth / 2**20:+.1f} MiB"
        )
        if growth >= RSS_GROWTH_LIMIT:
            problems.append(f"RSS grew by {growth / 2**20:.1f} MiB (limit 20)")
    return problems


if __name__ == "__main__":
    sys.exit(main())
