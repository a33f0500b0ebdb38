"""The Ansible collection on a fleet of two: requests of a no-op run, wall time of two
servers against one, and the module's time next to ``invokeai-models plan``.

Usage (from the repo root)::

    .venv/bin/python benchmarks/ansible_manifest.py [--rounds 7] [--check]

Starts InvokeAI 6.14.2 and 6.8.1 test-bed servers (and stops them at the end), builds the
collection and installs it from its tarball into a temporary collections path, writes the
tiny models of examples/ansible/models.yaml, and applies examples/ansible/apply.yml once
(with the example inventory; the servers' URLs in INVOKEAI_URL_A and INVOKEAI_URL_B), so
that the runs below have nothing to do. Then:

1. Requests: the same no-op playbook once more with each server behind a counting proxy
   (a thread here, on 127.0.0.1, that forwards each request and notes its method and
   path). Goal, per server: exactly one ``GET /api/v2/models/`` and no write (a request
   other than GET or HEAD); every request seen is printed.
2. Wall time: ``--rounds`` alternating rounds (the order rotates every round) of the
   no-op ``ansible-playbook apply.yml --forks 2`` on one server (``--limit invokeai-a``,
   then ``--limit invokeai-b``) and on both. Goal: the median of both <= 1.3 x the median
   of the slower single server.
3. Per host, the module's own time: the module's process as Ansible runs it (its
   AnsiballZ file, kept with ``ANSIBLE_KEEP_REMOTE_FILES`` from a run on that host, run
   again: unpacking, imports, the plan's one request, the no-op apply), next to the wall
   time of ``invokeai-models --url URL plan models.yaml`` (a process of the CLI doing the
   same plan), in ``--rounds`` alternating rounds; medians. Also printed: the task's time
   for that host in the two-server runs of step 2 as Ansible's junit callback records it
   (from the task's start to the host's result: Ansible's own per-task work included).

``--check`` exits 1 when a goal is missed or a run fails.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from _common import REPO_ROOT, log, rotated, run_child, verdict

from testbed import tiny_models
from testbed.server import InvokeAIServer

BIN = REPO_ROOT / ".venv" / "bin"
EXAMPLES = REPO_ROOT / "examples" / "ansible"
COLLECTION = REPO_ROOT / "ansible_collections" / "invokeai" / "models"
HOSTS = {"invokeai-a": "6.14.2", "invokeai-b": "6.8.1"}
URL_VARIABLES = {"invokeai-a": "INVOKEAI_URL_A", "invokeai-b": "INVOKEAI_URL_B"}
TASK = "Apply the manifest"
GOAL_RATIO = 1.3
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade"}


class CountingProxy:
    """Forwards every request to ``upstream`` and notes ``(method, path)``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.seen: list[tuple[str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def forward(self) -> None:
                proxy.seen.append((self.command, self.path.split("?", 1)[0]))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream = http.client.HTTPConnection(
                    proxy.upstream.hostname, proxy.upstream.port, timeout=60
                )
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    content = answer.read()
                finally:
                    upstream.close()
                self.send_response(answer.status, answer.reason)
                for key, value in answer.getheaders():
                    if key.lower() not in HOP_BY_HOP | {"content-length"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = forward

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def fleet() -> Iterator[dict[str, str]]:
    """Both test-bed servers (started from this thread: they die with the thread that
    started them); yields host -> URL."""
    servers = {host: InvokeAIServer(version) for host, version in HOSTS.items()}
    try:
        for host, server in servers.items():
            server.start()
            log(f"{host}: InvokeAI {server.server_version} at {server.url}")
        yield {host: server.url for host, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()


def install_collection(folder: Path) -> Path:
    galaxy = str(BIN / "ansible-galaxy")
    subprocess.run(
        [galaxy, "collection", "build", str(COLLECTION), "--output-path", str(folder)],
        check=True,
        capture_output=True,
    )
    (tarball,) = folder.glob("invokeai-models-*.tar.gz")
    installed = folder / "installed"
    subprocess.run(
        [galaxy, "collection", "install", "-p", str(installed), str(tarball)],
        check=True,
        capture_output=True,
    )
    return installed


def environment(urls: dict[str, str], collections: Path, junit: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOKEAI_", "ANSIBLE_"))}
    config = collections.parent / "ansible.cfg"
    config.write_text("[defaults]\n")
    env.update({URL_VARIABLES[host]: url for host, url in urls.items()})
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(collections),
        ANSIBLE_CONFIG=str(config),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.junit",
        JUNIT_OUTPUT_DIR=str(junit),
        JUNIT_HIDE_TASK_ARGUMENTS="true",
    )
    return env


def playbook(env: dict[str, str], models: Path, *args: str) -> float:
    """Run the no-op apply.yml; its wall seconds (exits on a failure)."""
    command = [
        str(BIN / "ansible-playbook"),
        "-i",
        str(EXAMPLES / "inventory.yml"),
        str(EXAMPLES / "apply.yml"),
        "-e",
        f"invokeai_models_dir={models}",
        *args,
    ]
    run = run_child(command, env=env, timeout=300)
    if run.returncode != 0 or "changed=1" in run.stdout:
        sys.exit(f"ansible-playbook {' '.join(args)} failed or changed:\n{run.stdout}{run.stderr}")
    return run.wall


def kept_module(env: dict[str, str], models: Path, host: str, remote: Path) -> Path:
    """The module as Ansible ran it for ``host`` (its AnsiballZ file, arguments inside),
    kept by ``ANSIBLE_KEEP_REMOTE_FILES``: running it again is the module's own process."""
    kept = {**env, "ANSIBLE_KEEP_REMOTE_FILES": "1", "ANSIBLE_REMOTE_TMP": str(remote)}
    playbook(kept, models, "--limit", host)
    (found,) = remote.rglob("AnsiballZ_manifest.py")
    return found


def task_times(junit: Path) -> dict[str, float]:
    """Per host, the seconds of the manifest task in the junit reports there (then
    removes them)."""
    times: dict[str, float] = {}
    for report in junit.glob("*.xml"):
        for case in ET.parse(report).iter("testcase"):
            name = case.get("name", "")
            if name.endswith(f": {TASK}"):
                times[name[1 : name.index("]")]] = float(case.get("time", "nan"))
        report.unlink()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    ok = True
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-ansible-")))
        models = folder / "models"
        models.mkdir()
        tiny_models.write_lora_sd1(models, "tiny-lora-sd1.safetensors")
        tiny_models.write_embedding_sd1(models, "tiny-embedding-sd1.safetensors")
        tiny_models.write_vae_sd1(models, "tiny-vae-sd1.safetensors")
        collections = install_collection(folder / "collection")
        junit = folder / "junit"
        junit.mkdir()
        urls = stack.enter_context(fleet())
        env = environment(urls, collections, junit)
        first = run_child(
            [
                str(BIN / "ansible-playbook"),
                "-i",
                str(EXAMPLES / "inventory.yml"),
                str(EXAMPLES / "apply.yml"),
                "-e",
                f"invokeai_models_dir={models}",
            ],
            env=env,
        )
        if first.returncode != 0:
            sys.exit(f"the first apply failed:\n{first.stdout}{first.stderr}")
        task_times(junit)

        print("1. requests of a no-op run (counting proxy per server)")
        proxies = {host: CountingProxy(url) for host, url in urls.items()}
        playbook(environment({h: p.url for h, p in proxies.items()}, collections, junit), models)
        task_times(junit)
        for host, proxy in proxies.items():
            proxy.close()
            lists = proxy.seen.count(("GET", "/api/v2/models/"))
            writes = [s for s in proxy.seen if s[0] not in ("GET", "HEAD")]
            met = lists == 1 and not writes
            ok &= met
            seen = ", ".join(f"{m} {p}" for m, p in proxy.seen)
            print(
                f"   {host} ({HOSTS[host]}): {len(proxy.seen)} request(s): {seen}; "
                f"list requests {lists}, writes {len(writes)}: goal 1 and 0 {verdict(met)}"
            )

        print(f"2. wall time of the no-op apply.yml, --forks 2, median of {args.rounds} rounds")
        cases = {
            "invokeai-a": ["--limit", "invokeai-a"],
            "invokeai-b": ["--limit", "invokeai-b"],
            "both": [],
        }
        walls: dict[str, list[float]] = {name: [] for name in cases}
        module: dict[str, list[float]] = {host: [] for host in HOSTS}
        for index in range(args.rounds):
            for name in rotated(list(cases), index):
                walls[name].append(playbook(env, models, "--forks", "2", *cases[name]))
                times = task_times(junit)
                if name == "both":
                    for host in HOSTS:
                        module[host].append(times[host])
        median = {name: statistics.median(values) for name, values in walls.items()}
        for name, value in median.items():
            print(f"   {name:<11} {value * 1000:7.0f} ms")
        slower = max(median["invokeai-a"], median["invokeai-b"])
        ratio = median["both"] / slower
        ok &= ratio <= GOAL_RATIO
        print(
            f"   both / slower single server: {ratio:.2f} (goal <= {GOAL_RATIO}: "
            f"{verdict(ratio <= GOAL_RATIO)}); both / invokeai-a: "
            f"{median['both'] / median['invokeai-a']:.2f}"
        )

        print(f"3. per host, median of {args.rounds}: the module's process vs invokeai-models plan")
        cli_env = {**os.environ, "INVOKEAI_MODELS": str(models)}
        for host, url in urls.items():
            module_file = kept_module(env, models, host, folder / f"remote-{host}")
            cases = {
                "module": [str(BIN / "python"), str(module_file)],
                "plan": [
                    str(BIN / "invokeai-models"),
                    "--url",
                    url,
                    "plan",
                    str(EXAMPLES / "models.yaml"),
                ],
            }
            seconds: dict[str, list[float]] = {name: [] for name in cases}
            for index in range(args.rounds):
                for name in rotated(list(cases), index):
                    run = run_child(cases[name], env=cli_env)
                    ok &= run.returncode == 0 and '"changed": true' not in run.stdout
                    seconds[name].append(run.wall)
            print(
                f"   {host} ({HOSTS[host]}): the module's process "
                f"{statistics.median(seconds['module']) * 1000:.0f} ms, invokeai-models plan "
                f"{statistics.median(seconds['plan']) * 1000:.0f} ms; the task as Ansible "
                f"times it (junit, two-server runs) {statistics.median(module[host]) * 1000:.0f} ms"
            )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"(load average at the end: {load}; {os.cpu_count()} cores)")
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
