"""Throughput of concurrent get_model_by_key() on one AsyncInvokeAIClient vs raw httpx.

Usage (from the repo root)::

    .venv/bin/python benchmarks/async_throughput.py [--models 200] [--calls 200]
        [--rounds 20] [--check]

Uses the server in INVOKE_AI_ENDPOINT, or starts a test-bed server (and stops it at
the end). Installs tiny embeddings in place until the server holds ``--models``
records, then, in one event loop, times rounds of ``asyncio.gather`` of ``--calls``
lookups (the same keys, cycled if there are fewer models than calls):

- lib: ``await client.dnn_model_repo.get_model_by_key(key)`` on ONE
  ``AsyncInvokeAIClient``;
- raw: ``await raw.get(url_of(key))`` + ``.json()`` on ONE ``httpx.AsyncClient``
  (same timeout and default pool limits as the library's, so the same concurrency).

One warm-up round each, then ``--rounds`` rounds each, alternating (the order flips
every round). Prints the median throughput in calls/s of each and the ratio
library/raw of the medians (goal: at least 0.9); ``--check`` exits 1 when that
ratio is under the goal. For reading the noise it also prints the median of the
round-by-round ratios (slow drift cancelled) and the client's own CPU time per call
(``time.process_time``: leaves the server out, so it shows the library's overhead
even when the server's noise swamps the wall clock).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from itertools import cycle, islice
from urllib.parse import quote

import httpx
from _common import Timings, alternate_async, server_with_models, verdict

from invokeai_py_client import AsyncInvokeAIClient

GOAL = 0.9
TIMEOUT = 60.0  # the library's default whole-call timeout


async def measure(url: str, calls: int, rounds: int) -> tuple[Timings, int]:
    async with (
        httpx.AsyncClient(timeout=TIMEOUT) as raw,
        AsyncInvokeAIClient.from_url(url, timeout=TIMEOUT) as client,
    ):
        repo = client.dnn_model_repo
        listed = (await raw.get(client.base_url + "/api/v2/models/")).json()["models"]
        keys = [model["key"] for model in listed]
        if not keys:
            raise SystemExit("the server holds no models")
        keys = list(islice(cycle(keys), calls))
        urls = [f"{client.base_url}/api/v2/models/i/{quote(key, safe='')}" for key in keys]

        async def raw_one(model_url: str) -> object:
            response = await raw.get(model_url)
            response.raise_for_status()
            return response.json()

        async def raw_round() -> list[object]:
            return await asyncio.gather(*(raw_one(u) for u in urls))

        async def lib_round() -> list[object]:
            return await asyncio.gather(*(repo.get_model_by_key(k) for k in keys))

        # warm-up: opens the pools, and checks both ways get the same records
        raw_answers, lib_answers = await raw_round(), await lib_round()
        if [a["key"] for a in raw_answers] != [m.key for m in lib_answers]:  # type: ignore[index,union-attr]
            raise SystemExit("the library and the raw GETs returned different records")
        times = await alternate_async(rounds, {"raw": raw_round, "lib": lib_round})
    return times, len(set(keys))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--check", action="store_true", help="exit 1 if under the goal")
    args = parser.parse_args()

    with server_with_models(args.models) as url:
        times, distinct = asyncio.run(measure(url, args.calls, args.rounds))

    raw_rate = args.calls / statistics.median(times.wall["raw"])
    lib_rate = args.calls / statistics.median(times.wall["lib"])
    ratio = lib_rate / raw_rate
    paired = 1 / statistics.median(times.paired_ratios("lib", "raw"))
    raw_cpu = statistics.median(times.cpu["raw"]) / args.calls * 1e6
    lib_cpu = statistics.median(times.cpu["lib"]) / args.calls * 1e6
    print(
        f"{args.calls} concurrent lookups per round ({distinct} distinct keys), "
        f"{args.rounds} rounds each, alternating"
    )
    print(f"raw httpx.AsyncClient GET + json() median:    {raw_rate:8.1f} calls/s")
    print(f"AsyncInvokeAIClient get_model_by_key median:  {lib_rate:8.1f} calls/s")
    print(
        f"ratio library / raw throughput (of medians):  {ratio:8.3f}  "
        f"(goal >= {GOAL}: {verdict(ratio >= GOAL)})"
    )
    print(f"  same, median of round-by-round ratios:      {paired:8.3f}  (drift cancelled)")
    print(
        f"  client CPU per call, raw / library:         {raw_cpu:6.0f} / {lib_cpu:.0f} us"
        f"  (library x{lib_cpu / raw_cpu:.2f})"
    )
    return 1 if args.check and ratio < GOAL else 0


if __name__ == "__main__":
    sys.exit(main())
