"""Run the integration suite against the latest patch of every InvokeAI 6.x minor.

Usage (from the repo root, on demand; not part of ``.ci/run``)::

    .venv/bin/python scripts/every_version.py                 # every minor not measured yet
    .venv/bin/python scripts/every_version.py 6.0.2 6.10.0    # these (measured again)
    .venv/bin/python scripts/every_version.py --list          # the versions, nothing run
    .venv/bin/python scripts/every_version.py --table         # the table so far, as Markdown

One version at a time: its wheels are downloaded into ``<test-bed cache>/wheels`` (``pip
download``, which skips the files already there, so that later versions reuse them), the
test bed installs it from there alone (``testbed.provision`` with ``PIP_NO_INDEX``),
``pytest tests/integration tests/testbed`` runs against it, and its environment (about
7 GB) is removed afterwards, except for the versions CI keeps (6.8.1, 6.14.2). Each result goes to
``docs/every-version.tsv`` as it ends, so a run can stop and go on later: versions
already there are skipped unless named. The versions come from the package registry's
JSON API (the newest non-pre-release patch of each 6.x minor); ``--versions-from FILE``
reads them from a file instead (one per line), for a machine without the registry. Two
runs may go side by side in one checkout (each names its versions): rows are added to the
table under a lock.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from testbed import provision  # noqa: E402

TABLE = ROOT / "docs" / "every-version.tsv"
REPORTS = ROOT / ".every-version"  # JUnit reports and logs, one per version
COLUMNS = ("version", "passed", "failed", "skipped", "errors", "minutes", "date", "note")
KEEP = frozenset({"6.8.1", "6.14.2"})  # CI's versions: their environments stay
REGISTRY = "https://pypi.org/pypi/invokeai/json"
SUITE = ("tests/integration", "tests/testbed")


def latest_patches(releases: dict[str, list[object]]) -> list[str]:
    """The newest final release of each 6.x minor, oldest minor first."""
    best: dict[int, tuple[int, int, int]] = {}
    for text, files in releases.items():
        match = re.fullmatch(r"6\.(\d+)\.(\d+)", text)
        if match and files:
            version = (6, int(match[1]), int(match[2]))
            best[version[1]] = max(best.get(version[1], version), version)
    return [".".join(map(str, best[minor])) for minor in sorted(best)]


def registry_versions() -> list[str]:
    with urllib.request.urlopen(REGISTRY, timeout=60) as answer:
        return latest_patches(json.load(answer)["releases"])


def read_table() -> dict[str, dict[str, str]]:
    if not TABLE.exists():
        return {}
    with TABLE.open(newline="") as f:
        return {row["version"]: row for row in csv.DictReader(f, delimiter="\t")}


def write_table(rows: dict[str, dict[str, str]]) -> None:
    ordered = sorted(rows.values(), key=lambda r: provision_key(r["version"]))
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    with TABLE.open("w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(ordered)


def record(row: dict[str, str]) -> dict[str, dict[str, str]]:
    """Add ``row`` to the table as it is on disk now, so that two runs side by side (say,
    old minors in one shell and new ones in another) keep each other's rows."""
    REPORTS.mkdir(exist_ok=True)
    with (REPORTS / "table.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rows = read_table()
        rows[row["version"]] = row
        write_table(rows)
    return rows


def provision_key(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version))


def junit_counts(path: Path) -> dict[str, int]:
    """passed, failed, skipped, errors of a pytest JUnit XML report."""
    suite = ET.parse(path).getroot()
    if suite.tag != "testsuite":
        suite = next(iter(suite.iter("testsuite")))
    keys = ("tests", "failures", "skipped", "errors")
    total, failed, skipped, errors = (int(suite.get(k, "0")) for k in keys)
    passed = total - failed - skipped - errors
    return {"passed": passed, "failed": failed, "skipped": skipped, "errors": errors}


@contextlib.contextmanager
def local_wheels(version: str) -> Iterator[None]:
    """Download what InvokeAI ``version`` needs into the shared wheel folder (files already
    there are not fetched again), then let pip install from that folder alone."""
    wheels = provision.cache_dir() / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    if not provision.is_provisioned(version):
        print(f"every_version: {version}: downloading what pip lacks into {wheels}", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", f"invokeai=={version}",
             "-d", str(wheels)],
            check=True,
        )  # fmt: skip
    saved = {k: os.environ.get(k) for k in ("PIP_NO_INDEX", "PIP_FIND_LINKS")}
    links = " ".join(filter(None, [os.environ.get("PIP_FIND_LINKS"), str(wheels)]))
    os.environ.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=links)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def measure(version: str) -> dict[str, str]:
    """Install ``version``, run the suite against it, remove it; its table row."""
    started = time.monotonic()
    env = {**os.environ, "INVOKEAI_TESTBED_VERSION": version}
    env.pop("INVOKE_AI_ENDPOINT", None)
    report = REPORTS / f"junit-{version}.xml"
    REPORTS.mkdir(exist_ok=True)
    note = ""
    try:
        with local_wheels(version):
            provision.ensure_invokeai(version)
    except (provision.ProvisionError, subprocess.CalledProcessError) as exc:
        note = f"not installable: {str(exc).splitlines()[0]}"
    if not note:
        log = report.with_suffix(".log")
        print(f"every_version: {version}: running the suite (log: {log})", flush=True)
        with log.open("w") as out:
            subprocess.run(
                [sys.executable, "-m", "pytest", *SUITE, "-q", "-p", "no:cacheprovider",
                 f"--junitxml={report}"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, check=False,
            )  # fmt: skip
    counts = junit_counts(report) if not note and report.exists() else {}
    if not note and not counts:
        note = "the suite did not report (see the log)"
    if version not in KEEP:
        shutil.rmtree(provision.venv_dir(version), ignore_errors=True)
    minutes = (time.monotonic() - started) / 60
    return {
        "version": version,
        **{k: str(counts.get(k, "")) for k in ("passed", "failed", "skipped", "errors")},
        "minutes": f"{minutes:.1f}",
        "date": time.strftime("%Y-%m-%d"),
        "note": note,
    }


def markdown(rows: dict[str, dict[str, str]]) -> str:
    head = ["version", "passed", "failed", "skipped", "minutes", "note"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in sorted(rows.values(), key=lambda r: provision_key(r["version"])):
        failed = int(row["failed"] or 0) + int(row["errors"] or 0)
        cells = [row["version"], row["passed"], str(failed) if row["passed"] else "",
                 row["skipped"], row["minutes"], row["note"]]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("versions", nargs="*", help="measure these (again); default: the rest")
    parser.add_argument("--list", action="store_true", help="print the versions and stop")
    parser.add_argument("--table", action="store_true", help="print the table as Markdown")
    parser.add_argument("--versions-from", type=Path, help="a file of versions, one per line")
    args = parser.parse_args()
    rows = read_table()
    if args.table:
        print(markdown(rows))
        return 0
    if args.versions:
        todo = args.versions
    else:
        known = (
            args.versions_from.read_text().split() if args.versions_from else registry_versions()
        )
        if args.list:
            print("\n".join(f"{v}\t{'measured' if v in rows else 'to do'}" for v in known))
            return 0
        todo = [v for v in known if v not in rows]
    for version in todo:
        print(f"every_version: {version}: installing (if needed) and testing", flush=True)
        row = measure(version)
        rows = record(row)
        print(f"every_version: {version}: {row}", flush=True)
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
