"""list_models() of both clients against raw httpx GET + json() of the same model list.

Usage (from the repo root)::

    .venv/bin/python benchmarks/list_models.py [--models 1000] [--rounds 40] [--check]

Uses the server in INVOKE_AI_ENDPOINT, or starts a test-bed server (and stops it at
the end). Installs tiny embeddings in place until the server holds ``--models``
records, then times, in one run:

- sync:  ``InvokeAIClient.dnn_model_repo.list_models()`` against ``httpx.Client``
  GET ``/api/v2/models/`` + ``.json()``;
- async: ``AsyncInvokeAIClient.dnn_model_repo.list_models()`` against
  ``httpx.AsyncClient`` GET + ``.json()``.

Each pair runs in alternating rounds (the order flips every round) over one
connection each, after one warm-up call. Prints medians and the ratio library/raw
of the medians (goal: at most 1.1 for each); ``--check`` exits 1 when a ratio is
over the goal. Also prints the median of the round-by-round ratios and the client's
own CPU time per call (``time.process_time``, the server left out).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys

import httpx
from _common import Timings, alternate, alternate_async, median_ms, server_with_models, verdict

from invokeai_py_client import AsyncInvokeAIClient, InvokeAIClient

GOAL = 1.1


def measure_sync(url: str, rounds: int) -> tuple[Timings, int]:
    with httpx.Client() as raw, InvokeAIClient.from_url(url) as client:
        repo = client.dnn_model_repo
        list_url = client.base_url + "/api/v2/models/"
        count = len(raw.get(list_url).json()["models"])  # also the warm-up
        if len(repo.list_models()) != count:
            raise SystemExit("list_models() and the raw GET disagree on the count")
        times = alternate(
            rounds,
            {"raw": lambda: raw.get(list_url).json(), "lib": repo.list_models},
        )
    return times, count


async def measure_async(url: str, rounds: int) -> tuple[Timings, int]:
    async with httpx.AsyncClient() as raw, AsyncInvokeAIClient.from_url(url) as client:
        repo = client.dnn_model_repo
        list_url = client.base_url + "/api/v2/models/"

        async def raw_list() -> object:
            return (await raw.get(list_url)).json()

        count = len((await raw.get(list_url)).json()["models"])
        if len(await repo.list_models()) != count:
            raise SystemExit("async list_models() and the raw GET disagree on the count")
        times = await alternate_async(rounds, {"raw": raw_list, "lib": repo.list_models})
    return times, count


def report(title: str, times: Timings, rounds: int) -> float:
    raw_ms, lib_ms = median_ms(times.wall["raw"]), median_ms(times.wall["lib"])
    ratio = lib_ms / raw_ms
    paired = statistics.median(times.paired_ratios("lib", "raw"))
    raw_cpu, lib_cpu = median_ms(times.cpu["raw"]), median_ms(times.cpu["lib"])
    print(title)
    print(f"  raw httpx GET + json() median: {raw_ms:8.2f} ms  ({rounds} rounds)")
    print(f"  list_models() median:          {lib_ms:8.2f} ms")
    goal = f"(goal <= {GOAL}: {verdict(ratio <= GOAL)})"
    print(f"  ratio list_models / raw:       {ratio:8.3f}  {goal}")
    print(f"    median of round-by-round:    {paired:8.3f}")
    print(
        f"    client CPU raw / library:    {raw_cpu:8.2f} / {lib_cpu:.2f} ms"
        f"  (library x{lib_cpu / raw_cpu:.2f})"
    )
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--check", action="store_true", help="exit 1 if a ratio is over the goal")
    args = parser.parse_args()

    with server_with_models(args.models) as url:
        sync_times, count = measure_sync(url, args.rounds)
        async_times, async_count = asyncio.run(measure_async(url, args.rounds))

    print(f"models listed: {count} (sync), {async_count} (async)")
    ratios = [
        report("sync  InvokeAIClient", sync_times, args.rounds),
        report("async AsyncInvokeAIClient", async_times, args.rounds),
    ]
    missed = any(ratio > GOAL for ratio in ratios)
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
