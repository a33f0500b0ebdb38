"""list_models() against a raw httpx GET + json() of the same 1,000-model list.

Usage (from the repo root)::

    .venv/bin/python benchmarks/list_models.py [--models 1000] [--rounds 40] [--check]

Uses the server in INVOKE_AI_ENDPOINT, or starts a test-bed server. Installs tiny
embeddings in place until the server holds ``--models`` records, then times both
ways in alternating rounds over one connection each, and prints medians and the
ratio (goal: at most 1.25). ``--check`` exits 1 when the ratio is over the goal.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from invokeai_py_client import InvokeAIClient
from testbed import tiny_models
from testbed.server import start_server

GOAL = 1.25


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
    print(f"installed {missing} tiny models in {time.monotonic() - started:.1f} s", file=sys.stderr)


def measure(url: str, rounds: int) -> tuple[list[float], list[float], int]:
    raw_times: list[float] = []
    lib_times: list[float] = []
    with httpx.Client() as raw, InvokeAIClient.from_url(url) as client:
        repo = client.dnn_model_repo
        list_url = client.base_url + "/api/v2/models/"
        count = len(raw.get(list_url).json()["models"])
        assert len(repo.list_models()) == count
        for _ in range(rounds):
            started = time.perf_counter()
            raw.get(list_url).json()
            raw_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            repo.list_models()
            lib_times.append(time.perf_counter() - started)
    return raw_times, lib_times, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--check", action="store_true", help="exit 1 if over the goal")
    args = parser.parse_args()

    endpoint = os.environ.get("INVOKE_AI_ENDPOINT")
    server = None if endpoint else start_server()
    url = endpoint or server.url  # type: ignore[union-attr]
    try:
        with tempfile.TemporaryDirectory() as folder, InvokeAIClient.from_url(url) as client:
            fill(client, args.models, Path(folder))
            raw_times, lib_times, count = measure(url, args.rounds)
    finally:
        if server is not None:
            server.stop()

    raw_ms = statistics.median(raw_times) * 1000
    lib_ms = statistics.median(lib_times) * 1000
    ratio = lib_ms / raw_ms
    print(f"models listed:                {count}")
    print(f"raw httpx GET + json() median: {raw_ms:7.2f} ms  ({args.rounds} rounds)")
    print(f"list_models() median:          {lib_ms:7.2f} ms")
    print(f"ratio list_models / raw:       {ratio:7.3f}  (goal <= {GOAL})")
    return 1 if args.check and ratio > GOAL else 0


if __name__ == "__main__":
    raise SystemExit(main())
