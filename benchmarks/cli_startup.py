"""Start-up cost of the CLI: ``invokeai-models --version`` and ``--help`` as processes.

Usage (from the repo root)::

    .venv/bin/python benchmarks/cli_startup.py [--runs 15] [--detail] [--check]

Needs no server. Runs ``.venv/bin/invokeai-models --version`` and
``.venv/bin/invokeai-models --help`` (the console script, as a user types it) as
fresh processes, ``--runs`` times each, the cases interleaved run by run (the order
rotates every run), with the baseline ``python -c pass`` of the same interpreter
measured in the same run. For each case it prints the median wall clock (spawn to
exit) and the median CPU time of the child itself (user + system, ``os.wait4``: the
noise of other processes on the machine does not count), and each as a multiple of
the baseline's.

Goal (absolute): ``--version`` and ``--help`` each under 300 ms of process time, wall
clock and CPU alike (medians). ``--check`` exits 1 when a goal is missed or a command
fails.

``--detail`` adds the heaviest modules by self time (``python -X importtime``, median
of 5 children) under each command.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

from _common import REPO_ROOT, ChildRun, heaviest_self_times, rotated, run_child, verdict

GOAL_MS = 300.0
SCRIPT = REPO_ROOT / ".venv" / "bin" / "invokeai-models"
BASELINE = "baseline: python -c pass"
CASES = {
    BASELINE: [sys.executable, "-c", "pass"],
    "invokeai-models --version": [str(SCRIPT), "--version"],
    "invokeai-models --help": [str(SCRIPT), "--help"],
}
EXPECTED = {  # a piece of the output each command must print
    "invokeai-models --version": "invokeai-models ",
    "invokeai-models --help": "Usage: invokeai-models",
}


def child_env() -> dict[str, str]:
    """This environment without the CLI's own variables, and a fixed terminal width."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKEAI_")}
    env["COLUMNS"] = "100"
    return env


def measure(runs: int) -> tuple[dict[str, list[ChildRun]], list[str]]:
    """Every run of every case, and the failures seen."""
    env = child_env()
    results: dict[str, list[ChildRun]] = {name: [] for name in CASES}
    failures: list[str] = []
    for argv in CASES.values():  # one warm-up each: the page cache, .pyc files
        run_child(argv, env=env)
    for index in range(runs):
        for name in rotated(list(CASES), index):
            done = run_child(CASES[name], env=env)
            results[name].append(done)
            wanted = EXPECTED.get(name)
            if done.returncode != 0 or (wanted and wanted not in done.stdout):
                failures.append(
                    f"{name}: exit {done.returncode}, output {done.stdout[:80]!r}"
                    f" {done.stderr[-200:]!r}"
                )
    return results, failures


def heaviest(argv: list[str], count: int = 8, runs: int = 5) -> list[tuple[float, str]]:
    """The ``count`` modules with the most self time under ``-X importtime``."""
    env = child_env()
    env["PYTHONPROFILEIMPORTTIME"] = "1"
    return heaviest_self_times((run_child(argv, env=env).stderr for _ in range(runs)), count)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--detail", action="store_true", help="heaviest modules by self time")
    parser.add_argument("--check", action="store_true", help="exit 1 if a goal is missed")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be 1 or more")
    if not SCRIPT.exists():
        raise SystemExit(f"{SCRIPT} is missing: run scripts/bootstrap.sh first")

    results, failures = measure(args.runs)
    wall = {n: statistics.median(r.wall for r in runs) * 1000 for n, runs in results.items()}
    cpu = {n: statistics.median(r.cpu for r in runs) * 1000 for n, runs in results.items()}
    base_wall, base_cpu = wall[BASELINE], cpu[BASELINE]
    print(
        f"process times (median of {args.runs} runs; CPU = user + system of the child)\n"
        f"  {'command':<28} {'wall':>9} {'x base':>7}   {'CPU':>9} {'x base':>7}"
    )
    ok = not failures
    for name in CASES:
        line = (
            f"  {name:<28} {wall[name]:6.1f} ms {wall[name] / base_wall:6.2f}x"
            f"   {cpu[name]:6.1f} ms {cpu[name] / base_cpu:6.2f}x"
        )
        if name != BASELINE:
            met = wall[name] < GOAL_MS and cpu[name] < GOAL_MS
            ok &= met
            line += f"   goal < {GOAL_MS:.0f} ms: {verdict(met)}"
        print(line)
    print(f"  interpreter: {sys.executable}; script: {Path(SCRIPT).relative_to(REPO_ROOT)}")
    for failure in failures[:5]:
        print(f"  FAILED: {failure}")
    if args.detail:
        for name, argv in CASES.items():
            if name == BASELINE:
                continue
            print(f"  heaviest self times (-X importtime, median of 5) under '{name}':")
            for ms, module in heaviest(argv):
                print(f"    {ms:6.1f} ms  {module}")
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
