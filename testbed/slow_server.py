"""A throttled HTTP file server on 127.0.0.1, for URL installs that take a while.

``SlowFileServer`` serves registered bytes at ``/<name>`` at about ``rate`` bytes/s (per
file if given), honours ``Range: bytes=N-`` (a resumed download asks for the rest),
closes each connection after its answer (InvokeAI 6.8's downloader reuses a pooled
connection the server has closed), and logs ``(method, name, Range)`` in ``requests``.
Use it as a context manager.
"""

from __future__ import annotations

import contextlib
import http.server
import socketserver
import threading
import time
from pathlib import Path
from typing import Any, TypeVar

from testbed import tiny_models

_Self = TypeVar("_Self", bound="SlowFileServer")

__all__ = ["SlowFileServer"]

RATE = 1_000_000  # bytes per second
CHUNK = 50_000  # bytes per write


class SlowFileServer:
    """Serves registered bytes slowly; ``add`` / ``add_file`` / ``add_model`` give URLs."""

    def __init__(self, rate: int = RATE, chunk: int = CHUNK) -> None:
        self.rate = rate
        self.chunk = chunk
        self.files: dict[str, tuple[bytes, int]] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self.stopping = threading.Event()
        self.httpd = _Server(("127.0.0.1", 0), _handler(self))
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def add(self, name: str, data: bytes, rate: int | None = None) -> str:
        """Serve ``data`` at ``/<name>`` (at ``rate`` bytes/s, else the server's)."""
        self.files[name] = (data, rate or self.rate)
        return f"{self.base_url}/{name}"

    def add_file(self, path: Path, rate: int | None = None) -> str:
        return self.add(path.name, path.read_bytes(), rate)

    def add_model(self, directory: Path, rows: int = 1000, rate: int | None = None) -> str:
        """A new SD1 embedding of about ``rows * 3 KB`` (a float32 ``padding`` tensor the
        server ignores), distinct bytes each time; its URL."""
        name = f"slow-embedding-{len(self.files)}-{time.monotonic_ns()}.safetensors"
        path = tiny_models.write_safetensors(
            directory / name, {"emb_params": [1, 768], "padding": [768, rows]}
        )
        return self.add_file(path, rate)

    def size(self, url: str) -> int:
        return len(self.files[url.rsplit("/", 1)[-1]][0])

    def __enter__(self: _Self) -> _Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a downloader that went away mid-answer (cancel, pause)


def _handler(owner: SlowFileServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def do_GET(self) -> None:
            self._serve(head=False)

        def _serve(self, head: bool) -> None:
            name = self.path.split("?", 1)[0].lstrip("/")
            rng = self.headers.get("Range")
            owner.requests.append((self.command, name, rng))
            self.close_connection = True
            if name not in owner.files:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.end_headers()
                return
            data, rate = owner.files[name]
            start = 0
            if rng and rng.startswith("bytes=") and rng.endswith("-"):
                with contextlib.suppress(ValueError):
                    start = min(int(rng[len("bytes=") : -1]), len(data))
            self.send_response(206 if start else 200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data) - start))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Connection", "close")
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if head:
                return
            with contextlib.suppress(OSError):  # the client went away (cancel, pause)
                pos = start
                while pos < len(data) and not owner.stopping.is_set():
                    self.wfile.write(data[pos : pos + owner.chunk])
                    self.wfile.flush()
                    pos += owner.chunk
                    time.sleep(owner.chunk / rate)

    return Handler
