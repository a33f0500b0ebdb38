"""``python -m testbed up|provision``: run or install a test-bed InvokeAI by hand."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from types import FrameType

from testbed.provision import ProvisionError, configured_version, ensure_invokeai
from testbed.server import InvokeAIServer, ServerStartError


def _sigterm_to_interrupt(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the stop
    raise KeyboardInterrupt


def _up(version: str, multiuser: bool) -> int:
    server = InvokeAIServer(version, multiuser=multiuser)
    signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
    try:
        server.start()
        print(
            f"InvokeAI {server.server_version} running at {server.url} "
            f"(root: {server.root}, log: {server.log_path}, ready in {server.ready_seconds:.1f} s)",
            flush=True,
        )
        print("Ctrl-C or SIGTERM stops it.", file=sys.stderr, flush=True)
        assert server.process is not None
        while server.process.poll() is None:
            time.sleep(0.5)
        print(
            f"invokeai-web exited with {server.process.returncode}:\n{server.log_tail()}",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("stopping ...", file=sys.stderr, flush=True)
        return 0
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m testbed", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="provision, start a server, wait for Ctrl-C/SIGTERM")
    up.add_argument("--version", help="InvokeAI version (default: $INVOKEAI_TESTBED_VERSION)")
    up.add_argument("--multiuser", action="store_true", help="multi-user mode (6.12+)")
    prov = sub.add_parser("provision", help="install InvokeAI and print invokeai-web's path")
    prov.add_argument("--version", help="InvokeAI version (default: $INVOKEAI_TESTBED_VERSION)")
    args = parser.parse_args(argv)
    version = configured_version(args.version)
    try:
        if args.command == "provision":
            print(ensure_invokeai(version), flush=True)
            return 0
        return _up(version, args.multiuser)
    except (ProvisionError, ServerStartError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
