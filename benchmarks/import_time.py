"""Import cost of the library, from ``python -X importtime`` (goal: under 150 ms).

Usage (from the repo root)::

    .venv/bin/python benchmarks/import_time.py [--runs 7]

Prints the median cumulative time of ``import invokeai_py_client`` (names load
lazily), of importing every module (client and the dnn_model package), and of the baseline
``import httpx, pydantic`` measured in the same run, with ratios against it.
Also lists the package's run-time dependencies.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from importlib.metadata import requires

GOAL_MS = 150.0
CASES = {
    "import invokeai_py_client": ("import invokeai_py_client", "invokeai_py_client"),
    "every module (client, dnn_model)": (
        "from invokeai_py_client import InvokeAIClient\nimport invokeai_py_client.dnn_model",
        None,
    ),
    "baseline: import httpx, pydantic": ("import httpx, pydantic", None),
}


def cumulative_ms(code: str, module: str | None) -> float:
    """Cumulative import time of ``module`` (or of every top-level import) in ms."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    total = 0
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if not match:
            continue
        micros, indent, name = int(match.group(1)), match.group(2), match.group(3)
        if module is not None and name == module:
            return micros / 1000
        if module is None and len(indent) == 1:
            total += micros
    return total / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    medians = {
        label: statistics.median(cumulative_ms(code, module) for _ in range(args.runs))
        for label, (code, module) in CASES.items()
    }
    baseline = medians["baseline: import httpx, pydantic"]
    for label, ms in medians.items():
        print(f"{label:36s} {ms:7.1f} ms   x{ms / baseline:5.2f} of baseline")
    print(f"goal for 'import invokeai_py_client': < {GOAL_MS:.0f} ms")
    deps = [r for r in requires("invokeai-py-client") or [] if "extra ==" not in r]
    print("run-time dependencies:", ", ".join(deps))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
