"""``python -m testbed up|provision|status``: run, install or look for a test-bed InvokeAI."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from types import FrameType

from testbed import tiny_models
from testbed.provision import ProvisionError, configured_version, ensure_invokeai, status_line
from testbed.server import InvokeAIServer, ServerStartError
from testbed.slow_server import SlowFileServer


def _sigterm_to_interrupt(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the stop
    raise KeyboardInterrupt


def _write_demo_models(folder: Path) -> list[Path]:
    """Tiny models for the README's example, under fixed names (rewritten each start)."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.safetensors"):
        old.unlink()
    return [
        tiny_models.write_lora_sd1(folder, "tiny-lora-sd1.safetensors"),
        tiny_models.write_embedding_sd1(folder, "tiny-embedding-sd1.safetensors"),
        tiny_models.write_vae_sd1(folder, "tiny-vae-sd1.safetensors"),
    ]


def _serve_demo_download(folder: Path, stack: ExitStack) -> str:
    """Serve a ~3 MB model from ``folder/served`` at ~1 MB/s (a download worth watching)."""
    files = stack.enter_context(SlowFileServer())
    served = folder / "served"
    served.mkdir(parents=True, exist_ok=True)
    path = tiny_models.write_safetensors(
        served / "demo-download-sd1.safetensors", {"emb_params": [1, 768], "padding": [768, 1000]}
    )
    files.add_file(path)
    return files.base_url


def demo_instructions(url: str, files_url: str, repo: Path, bin_dir: Path) -> str:
    """What to paste in another shell to run the CLI on examples/models.yaml against ``url``
    (the manifest downloads from ``${DEMO_FILES}``, the demo's file server)."""
    tools = os.path.relpath(bin_dir, repo) if bin_dir.is_relative_to(repo) else str(bin_dir)
    cli = shlex.quote(os.path.join(tools, "invokeai-models"))
    return "\n".join(
        [
            "To use it, paste into another shell:",
            f"    cd {shlex.quote(str(repo))}",
            f"    export INVOKEAI_URL={url} DEMO_FILES={files_url}",
            f"    {cli} plan examples/models.yaml",
            f"    {cli} apply examples/models.yaml",
            f"    {cli} list",
        ]
    )


def _up(version: str, multiuser: bool, port: int | None, demo_models: Path | None) -> int:
    server = InvokeAIServer(version, multiuser=multiuser, port=port)
    signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
    stack = ExitStack()
    try:
        server.start()
        print(
            f"InvokeAI {server.server_version} running at {server.url} "
            f"(root: {server.root}, log: {server.log_path}, ready in {server.ready_seconds:.1f} s)",
            flush=True,
        )
        if demo_models is not None:
            for path in _write_demo_models(demo_models.resolve()):
                print(f"tiny model for the examples: {path}", flush=True)
            url = _serve_demo_download(demo_models.resolve(), stack)
            print(f"files for URL installs (~1 MB/s): {url}", flush=True)
            repo, bin_dir = Path(__file__).resolve().parents[1], Path(sys.executable).parent
            print(demo_instructions(server.url, url, repo, bin_dir), flush=True)
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
        stack.close()
        server.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m testbed", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="provision, start a server, wait for Ctrl-C/SIGTERM")
    up.add_argument("--version", help="InvokeAI version (default: $INVOKEAI_TESTBED_VERSION)")
    up.add_argument("--multiuser", action="store_true", help="multi-user mode (6.12+)")
    up.add_argument("--port", type=int, help="port to listen on (default: a free one)")
    up.add_argument("--demo-models", type=Path, help="write tiny example models here")
    prov = sub.add_parser("provision", help="install InvokeAI and print invokeai-web's path")
    prov.add_argument("--version", help="InvokeAI version (default: $INVOKEAI_TESTBED_VERSION)")
    stat = sub.add_parser("status", help="say whether InvokeAI is installed, and where")
    stat.add_argument("--version", help="InvokeAI version (default: $INVOKEAI_TESTBED_VERSION)")
    args = parser.parse_args(argv)
    version = configured_version(args.version)
    if args.command == "status":
        print(status_line(version), flush=True)
        return 0
    try:
        if args.command == "provision":
            print(ensure_invokeai(version), flush=True)
            return 0
        return _up(version, args.multiuser, args.port, args.demo_models)
    except (ProvisionError, ServerStartError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
