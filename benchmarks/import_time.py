"""Import cost of the library, and what the sync and the async client each load.

Usage (from the repo root)::

    .venv/bin/python benchmarks/import_time.py [--runs 9] [--detail] [--check]

Needs no server. Every figure comes from fresh subprocesses of this interpreter.

1. Time: the wall-clock time of each import statement, timed inside the child
   (interpreter start-up left out), median of ``--runs`` children per case, the
   cases interleaved run by run. The baseline ``import httpx, pydantic`` (what the
   library cannot do without) is measured in the same run, and every case is also
   printed as a multiple of it. Goal: ``import invokeai_py_client`` under 150 ms.
2. Module sets: ``sys.modules`` after ``from invokeai_py_client import InvokeAIClient``
   and after ``from invokeai_py_client import AsyncInvokeAIClient`` (and again after
   also building a client and touching ``client.dnn_model_repo``, no network). Prints
   the modules each loads that the other does not. Goals: the sync side loads no
   ``asyncio`` and none of ``invokeai_py_client.async_client``,
   ``invokeai_py_client._async_transport``, ``invokeai_py_client.dnn_model.async_*``;
   the async side loads none of ``invokeai_py_client.client``,
   ``invokeai_py_client.dnn_model.dnn_model_repo``,
   ``invokeai_py_client.dnn_model.install_job`` (``_transport`` is shared).

``--detail`` adds the heaviest modules by self time (``python -X importtime``) of each
client import. ``--check`` exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import pkgutil
import statistics
import subprocess
import sys
from collections import Counter
from importlib.metadata import requires

from _common import heaviest_self_times

import invokeai_py_client

GOAL_MS = 150.0
PACKAGE = "invokeai_py_client"
SYNC_IMPORT = f"from {PACKAGE} import InvokeAIClient"
ASYNC_IMPORT = f"from {PACKAGE} import AsyncInvokeAIClient"
# building a client and its repository sends nothing (port 9 is never asked)
SYNC_IN_USE = SYNC_IMPORT + "\nInvokeAIClient.from_url('http://127.0.0.1:9').dnn_model_repo"
ASYNC_IN_USE = ASYNC_IMPORT + "\nAsyncInvokeAIClient.from_url('http://127.0.0.1:9').dnn_model_repo"

SYNC_FORBIDDEN = (
    "asyncio",
    f"{PACKAGE}.async_client",
    f"{PACKAGE}._async_transport",
    f"{PACKAGE}.dnn_model.async_*",
)
ASYNC_FORBIDDEN = (
    f"{PACKAGE}.client",
    f"{PACKAGE}.dnn_model.dnn_model_repo",
    f"{PACKAGE}.dnn_model.install_job",
)

BASELINE = "baseline: import httpx; from pydantic import BaseModel"


def every_module() -> str:
    names = [
        info.name for info in pkgutil.walk_packages(invokeai_py_client.__path__, PACKAGE + ".")
    ]
    return "\n".join(f"import {name}" for name in sorted(names))


TIMED = {
    BASELINE: "import httpx\nfrom pydantic import BaseModel",
    f"import {PACKAGE}": f"import {PACKAGE}",
    SYNC_IMPORT: SYNC_IMPORT,
    ASYNC_IMPORT: ASYNC_IMPORT,
    "sync import + a client + its dnn_model_repo": SYNC_IN_USE,
    "async import + a client + its dnn_model_repo": ASYNC_IN_USE,
    "every module of the package": every_module(),
}

TIMER = """\
import time
_started = time.perf_counter()
exec(compile({code!r}, "<timed>", "exec"))
print(time.perf_counter() - _started)
"""

SNAPSHOT = """\
{code}
import sys
print("\\n".join(sorted(sys.modules)))
"""


def child(code: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *flags, "-c", code], capture_output=True, text=True, check=True
    )


def time_imports(runs: int) -> dict[str, float]:
    """Median milliseconds of each case; the cases interleave run by run."""
    samples: dict[str, list[float]] = {label: [] for label in TIMED}
    for _ in range(runs):
        for label, code in TIMED.items():
            seconds = float(child(TIMER.format(code=code)).stdout.split()[-1])
            samples[label].append(seconds * 1000)
    return {label: statistics.median(values) for label, values in samples.items()}


def modules_after(code: str) -> set[str]:
    return set(child(SNAPSHOT.format(code=code)).stdout.split())


def matches(module: str, pattern: str) -> bool:
    """``pattern`` names a module and its submodules; a trailing ``*`` is a prefix."""
    if pattern.endswith("*"):
        return module.startswith(pattern[:-1])
    return module == pattern or module.startswith(pattern + ".")


def offenders(modules: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(matches(m, p) for p in forbidden))


def summarize(modules: set[str]) -> str:
    """Our modules one by one; others as top-level package (+N submodules)."""
    ours = sorted(m for m in modules if m.split(".")[0] == PACKAGE)
    others = Counter(m.split(".")[0] for m in modules if m.split(".")[0] != PACKAGE)
    parts = ours + [
        f"{top} (+{count - 1} submodules)" if count > 1 else top
        for top, count in sorted(others.items())
    ]
    return ", ".join(parts) if parts else "(none)"


def check_modules(label: str, sync_code: str, async_code: str) -> bool:
    sync_mods, async_mods = modules_after(sync_code), modules_after(async_code)
    sync_bad = offenders(sync_mods, SYNC_FORBIDDEN)
    async_bad = offenders(async_mods, ASYNC_FORBIDDEN)
    print(f"module sets, {label}: sync {len(sync_mods)}, async {len(async_mods)} modules")
    print(f"  only the sync side loads ({len(sync_mods - async_mods)}):")
    print(f"    {summarize(sync_mods - async_mods)}")
    print(f"  only the async side loads ({len(async_mods - sync_mods)}):")
    print(f"    {summarize(async_mods - sync_mods)}")
    for side, bad in (("sync", sync_bad), ("async", async_bad)):
        if bad:
            print(f"  {side} side loads forbidden modules: {', '.join(bad)}  (goal MISSED)")
        else:
            print(f"  {side} side loads no forbidden module  (goal met)")
    return not sync_bad and not async_bad


def heaviest(code: str, count: int = 10, runs: int = 5) -> list[tuple[float, str]]:
    """The ``count`` modules with the most self time under ``-X importtime``.

    A module's figure is its median over ``runs`` children.
    """
    outputs = (child(code, "-X", "importtime").stderr for _ in range(runs))
    return heaviest_self_times(outputs, count)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--detail", action="store_true", help="heaviest modules by self time")
    parser.add_argument("--check", action="store_true", help="exit 1 if a goal is missed")
    args = parser.parse_args()

    medians = time_imports(args.runs)
    baseline = medians[BASELINE]
    print(f"import times (wall clock in a fresh interpreter, median of {args.runs} runs)")
    for label, ms in medians.items():
        print(f"  {label:50s} {ms:7.1f} ms   x{ms / baseline:5.2f} of baseline")
    package_ms = medians[f"import {PACKAGE}"]
    time_ok = package_ms < GOAL_MS
    print(f"  goal 'import {PACKAGE}' < {GOAL_MS:.0f} ms: {'met' if time_ok else 'MISSED'}")
    if args.detail:
        for code in (SYNC_IMPORT, ASYNC_IMPORT, SYNC_IN_USE):
            shown = code.replace("\n", "; ")
            print(f"  heaviest self times (-X importtime, median of 5) under '{shown}':")
            for ms, name in heaviest(code):
                print(f"    {ms:6.1f} ms  {name}")

    sets_ok = check_modules("after the import", SYNC_IMPORT, ASYNC_IMPORT)
    sets_ok &= check_modules(
        "after the import + a client + its dnn_model_repo", SYNC_IN_USE, ASYNC_IN_USE
    )

    deps = [r for r in requires("invokeai-py-client") or [] if "extra ==" not in r]
    print("run-time dependencies:", ", ".join(deps))
    return 1 if args.check and not (time_ok and sets_ok) else 0


if __name__ == "__main__":
    sys.exit(main())
