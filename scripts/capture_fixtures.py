"""Capture a real InvokeAI server's raw answers as JSON fixtures for the unit tests.

Usage (from the repository root)::

    PYTHONPATH=. .venv/bin/python scripts/capture_fixtures.py [--version V] [--out DIR]

Without ``INVOKE_AI_ENDPOINT``, a throw-away test-bed server of version ``V`` (default:
``INVOKEAI_TESTBED_VERSION`` or the test bed's default) is started, driven and stopped.
With ``INVOKE_AI_ENDPOINT`` set, that server is used instead (``INVOKE_AI_TOKEN`` is sent as
a bearer token if set) and only captures that neither need files on the server's disk nor
change its state are made.

The server is driven with plain ``httpx``, never with the library: a fixture is what the
server sent. Each fixture is ``tests/fixtures/<server-version>/<name>.json``::

    {"request": {"method", "path", "query", ["json"], ["headers"]},
     "status": int, "headers": {"content-type": ...}, "body": ...}

``body`` is the decoded JSON, or the text (HTML truncated to 2 KB, with ``"truncated": true``),
or base64 with ``"body_encoding": "base64"`` for binary answers. Access tokens (query, JSON
bodies, echoed job sources) are replaced by ``"***"``; everything else is kept as sent.
``_index.json`` lists the fixtures and the captures skipped, with why.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import http.server
import json
import os
import shutil
import socketserver
import struct
import sys
import tempfile
import threading
import time
import traceback
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the test bed lives at the repository's top level

from testbed import tiny_models as tm  # noqa: E402

ENDPOINT_ENV = "INVOKE_AI_ENDPOINT"
TOKEN_ENV = "INVOKE_AI_TOKEN"
V2 = "/api/v2/models"
TERMINAL = {"completed", "error", "cancelled"}
HTML_LIMIT = 2048
# Fake secrets sent on purpose; every occurrence is masked in the fixtures.
URL_ACCESS_TOKEN = "capture-url-access-token-0123456789"
HF_BOGUS_TOKEN = "hf_captureBogusToken0123456789abcdefABCDEF"
UNKNOWN_KEY = "00000000-no-such-model-key"
UNKNOWN_JOB_ID = 987654


def vt(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts + [0] * (3 - len(parts)))


def log(message: str) -> None:
    print(f"[capture] {message}", file=sys.stderr, flush=True)


# -- a tiny PNG ----------------------------------------------------------------


def tiny_png(width: int = 4, height: int = 4) -> bytes:
    """A valid RGB PNG, built with zlib and struct only."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 60 % 256, y * 60 % 256, 128)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


# -- a local HTTP server for URL installs ----------------------------------------


class FileServer:
    """Serves files on 127.0.0.1; ``/slow/...`` sends a head start, then trickles.

    A request for a slow file (from any ``Range`` offset) gets ``fast_bytes`` at once, so
    the server's 100 000-byte read returns and the job shows progress, then ``trickle``
    bytes every ``interval`` seconds until the client goes away or ``stop()`` is called.
    """

    def __init__(self, fast_bytes: int = 110_000, trickle: int = 512, interval: float = 0.25):
        self.files: dict[str, bytes] = {}
        self.fast_bytes = fast_bytes
        self.trickle = trickle
        self.interval = interval
        self.stopping = threading.Event()
        self.requests: list[tuple[str, str, str | None]] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                self._serve(head=True)

            def do_GET(self) -> None:
                self._serve(head=False)

            def _serve(self, head: bool) -> None:
                path = self.path.split("?", 1)[0]
                owner.requests.append((self.command, path, self.headers.get("Range")))
                data = owner.files.get(path)
                if data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes=") and rng.endswith("-"):
                    with contextlib.suppress(ValueError):
                        start = int(rng[len("bytes=") : -1])
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206 if start else 200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("ETag", f'"{zlib.crc32(data):08x}"')
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if head:
                    return
                body = data[start:]
                try:
                    if not path.startswith("/slow/"):
                        self.wfile.write(body)
                        return
                    head_start = body[: owner.fast_bytes]
                    self.wfile.write(head_start)
                    self.wfile.flush()
                    pos = len(head_start)
                    while pos < len(body) and not owner.stopping.is_set():
                        time.sleep(owner.interval)
                        self.wfile.write(body[pos : pos + owner.trickle])
                        self.wfile.flush()
                        pos += owner.trickle
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> FileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


# -- recording -------------------------------------------------------------------


def _mask(value: Any, secrets: list[str]) -> Any:
    """``value`` with every secret string, and every ``access_token`` value, masked."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in {"access_token", "token"} and isinstance(item, str) and item:
                out[key] = "***"
            else:
                out[key] = _mask(item, secrets)
        return out
    if isinstance(value, list):
        return [_mask(item, secrets) for item in value]
    if isinstance(value, str):
        for secret in secrets:
            if secret and secret in value:
                value = value.replace(secret, "***")
        return value
    return value


class Recorder:
    """Sends requests with httpx and writes each answer as a fixture."""

    def __init__(self, base_url: str, out_dir: Path, token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._headers = headers
        self.http = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(300.0, connect=10.0),
            trust_env=False,
            headers=headers,
        )
        self.out_dir = out_dir
        self.secrets = [URL_ACCESS_TOKEN, HF_BOGUS_TOKEN] + ([token] if token else [])
        self.index: dict[str, Any] = {}
        self.skipped: dict[str, str] = {}
        self.failures: dict[str, str] = {}

    def close(self) -> None:
        self.http.close()

    def send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        send_json: bool = False,
        files: dict[str, Any] | None = None,
        identity: bool = False,
    ) -> httpx.Response:
        headers = {"Accept-Encoding": "identity"} if identity else {}
        kwargs: dict[str, Any] = {"params": params, "headers": headers, "files": files}
        if json_body is not None or send_json:
            kwargs["content"] = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 500:
            # After an unhandled exception the server drops the kept-alive connection a moment
            # after its 500; the next request on it would be reset. Start a fresh pool.
            self._reconnect()
        return response

    def _reconnect(self) -> None:
        old = self.http
        self.http = httpx.Client(
            base_url=old.base_url, timeout=old.timeout, trust_env=False, headers=self._headers
        )
        old.close()

    def capture(
        self,
        name: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        send_json: bool = False,
        files: dict[str, Any] | None = None,
        identity: bool = False,
        note: str | None = None,
    ) -> httpx.Response:
        """Send a request and write its answer as fixture ``name``."""
        response = self.send(
            method,
            path,
            params=params,
            json_body=json_body,
            send_json=send_json,
            files=files,
            identity=identity,
        )
        self.record(
            name,
            response,
            params=params,
            json_body=json_body,
            send_json=send_json,
            files=files,
            identity=identity,
            note=note,
        )
        return response

    def record(
        self,
        name: str,
        response: httpx.Response,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        send_json: bool = False,
        files: dict[str, Any] | None = None,
        identity: bool = False,
        note: str | None = None,
    ) -> None:
        raw_path = response.request.url.raw_path.decode("ascii").split("?", 1)[0]
        query: dict[str, Any] = {}
        for key, value in (params or {}).items():
            if value is None:
                continue
            if isinstance(value, (list, tuple)):
                query[key] = [_query_text(v) for v in value]
            else:
                query[key] = _query_text(value)
        request: dict[str, Any] = {
            "method": response.request.method,
            "path": raw_path,
            "query": query,
        }
        if json_body is not None or send_json:
            request["json"] = json_body
        if files:
            request["multipart"] = {
                field: {"filename": spec[0], "content_type": spec[2], "size": len(spec[1])}
                for field, spec in files.items()
            }
        if identity:
            request["headers"] = {"accept-encoding": "identity"}
        content_type = response.headers.get("content-type")
        fixture: dict[str, Any] = {
            "request": request,
            "status": response.status_code,
            "headers": {"content-type": content_type},
        }
        content = response.content
        ctype = (content_type or "").lower()
        if not content:
            fixture["body"] = None
        elif "json" in ctype:
            fixture["body"] = json.loads(content)
        elif ctype.startswith(("image/", "application/octet-stream")):
            fixture["body"] = base64.b64encode(content).decode("ascii")
            fixture["body_encoding"] = "base64"
        else:
            text = response.text
            if "html" in ctype and len(text) > HTML_LIMIT:
                fixture["body"] = text[:HTML_LIMIT]
                fixture["truncated"] = True
                fixture["body_length"] = len(text)
            else:
                fixture["body"] = text
        if note:
            fixture["note"] = note
        fixture = _mask(fixture, self.secrets)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        target = self.out_dir / f"{name}.json"
        text = json.dumps(fixture, indent=1, ensure_ascii=False)
        for secret in self.secrets:  # belt and braces
            if secret and secret in text:
                raise RuntimeError(f"secret left in fixture {name}")
        target.write_text(text + "\n")
        self.index[name] = {
            "method": request["method"],
            "path": raw_path,
            "status": response.status_code,
        }
        log(f"{name}: {request['method']} {raw_path} -> {response.status_code}")

    def skip(self, name: str, why: str) -> None:
        self.skipped[name] = why
        log(f"skipped {name}: {why}")

    def step(self, name: str, fn: Callable[[], None]) -> None:
        """Run one capture step; a failure is reported and the others go on."""
        try:
            fn()
        except Exception as err:
            self.failures[name] = f"{type(err).__name__}: {err}"
            log(f"FAILED step {name}: {err}\n{traceback.format_exc()}")


def _query_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- the flows -------------------------------------------------------------------


class Flows:
    def __init__(self, rec: Recorder, version: str, models_dir: Path | None) -> None:
        self.rec = rec
        self.version = version
        self.v = vt(version)
        self.models_dir = models_dir  # None: no access to the server's disk
        self.keys: dict[str, str] = {}
        self.records: dict[str, dict[str, Any]] = {}
        self.statuses_seen: set[str] = set()
        self.work = Path(tempfile.mkdtemp(prefix="capture-fixtures-"))

    def at_least(self, minimum: tuple[int, ...], name: str) -> bool:
        if self.v >= minimum:
            return True
        self.rec.skip(name, f"needs InvokeAI {'.'.join(map(str, minimum))}+")
        return False

    # -- helpers ------------------------------------------------------------

    def install(
        self,
        source: str,
        *,
        name: str | None,
        inplace: bool | None = None,
        access_token: str | None = None,
        config: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"source": source}
        if inplace is not None:
            params["inplace"] = inplace
        if access_token is not None:
            params["access_token"] = access_token
        body = config if config is not None else {}
        if name:
            response = self.rec.capture(
                name, "POST", f"{V2}/install", params=params, json_body=body
            )
        else:
            response = self.rec.send("POST", f"{V2}/install", params=params, json_body=body)
        if response.status_code != 201:
            raise RuntimeError(f"install {source}: {response.status_code} {response.text[:300]}")
        return dict(response.json())

    def poll(
        self,
        job_id: int,
        *,
        until: Callable[[dict[str, Any]], bool] | None = None,
        capture_prefix: str | None = "install_job",
        timeout: float = 120.0,
    ) -> dict[str, Any]:
        """Poll a job until ``until`` (default: terminal); capture each status first seen."""
        done = until or (lambda job: job["status"] in TERMINAL)
        deadline = time.monotonic() + timeout
        while True:
            response = self.rec.send("GET", f"{V2}/install/{job_id}")
            response.raise_for_status()
            job = response.json()
            status = job["status"]
            if (
                capture_prefix
                and status not in TERMINAL
                and status not in self.statuses_seen
                and status != "downloading"  # captured with progress, below
            ):
                self.statuses_seen.add(status)
                self.rec.record(f"{capture_prefix}_{status}", response)
            if done(job):
                return dict(job)
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {status} after {timeout} s")
            time.sleep(0.02)

    def install_and_wait(self, kind: str, source: str, **kw: Any) -> dict[str, Any]:
        job = self.install(source, name=None, **kw)
        final = self.poll(job["id"])
        if final["status"] != "completed":
            raise RuntimeError(f"{kind}: job ended {final['status']}: {final.get('error')}")
        key = final["config_out"]["key"]
        self.keys[kind] = key
        return final

    # -- captures without server-side files ---------------------------------

    def basics(self) -> None:
        rec = self.rec
        rec.capture("version", "GET", "/api/v1/app/version")
        rec.capture("runtime_config", "GET", "/api/v1/app/runtime_config")
        rec.capture("models_list_empty", "GET", f"{V2}/")
        rec.capture("stats_null", "GET", f"{V2}/stats")
        rec.capture("starter_models", "GET", f"{V2}/starter_models")
        rec.capture("hf_login_status", "GET", f"{V2}/hf_login")
        rec.capture(
            "html_bad_key",
            "GET",
            f"{V2}/i/..%2Finstall",
            note="a key holding an encoded slash reaches the web UI's catch-all route",
        )
        rec.capture("model_get_404", "GET", f"{V2}/i/{UNKNOWN_KEY}")
        rec.capture(
            "models_list_422_bad_filters",
            "GET",
            f"{V2}/",
            params={"model_type": "loar", "base_models": "sdxx"},
            note="a filter value the server does not know: the 422 lists the valid ones",
        )
        rec.capture(
            "model_get_by_attrs_404",
            "GET",
            f"{V2}/get_by_attrs",
            params={"name": "no-such-model", "type": "embedding", "base": "sd-1"},
        )
        if self.at_least((6, 12), "model_get_by_hash_404"):
            rec.capture(
                "model_get_by_hash_404",
                "GET",
                f"{V2}/get_by_hash",
                params={"hash": "blake3:" + "0" * 64},
            )
        if self.at_least((6, 12), "models_missing_empty"):
            rec.capture("models_missing_empty", "GET", f"{V2}/missing")
        if self.at_least((6, 12), "orphaned_list_empty"):
            rec.capture("orphaned_list_empty", "GET", f"{V2}/sync/orphaned")
        rec.capture(
            "install_409_nonexistent_path",
            "POST",
            f"{V2}/install",
            params={"source": "/nonexistent/capture/model.safetensors"},
            json_body={},
        )
        rec.capture(
            "install_422_no_body",
            "POST",
            f"{V2}/install",
            params={"source": "/nonexistent/capture/model.safetensors"},
        )
        rec.capture("install_job_404", "GET", f"{V2}/install/{UNKNOWN_JOB_ID}")
        rec.capture("install_cancel_415", "DELETE", f"{V2}/install/{UNKNOWN_JOB_ID}")
        if self.at_least((6, 12), "install_pause_415"):
            rec.capture("install_pause_415", "POST", f"{V2}/install/{UNKNOWN_JOB_ID}/pause")
            rec.capture("install_resume_415", "POST", f"{V2}/install/{UNKNOWN_JOB_ID}/resume")
        rec.capture("install_jobs_empty", "GET", f"{V2}/install")
        rec.capture("model_delete_404", "DELETE", f"{V2}/i/{UNKNOWN_KEY}", identity=True)
        rec.capture(
            "model_update_404", "PATCH", f"{V2}/i/{UNKNOWN_KEY}", json_body={"description": "nope"}
        )
        rec.capture("convert_unknown_key_424", "PUT", f"{V2}/convert/{UNKNOWN_KEY}")
        rec.capture(
            "scan_folder_400",
            "GET",
            f"{V2}/scan_folder",
            params={"scan_path": "/nonexistent/capture/folder"},
        )
        rec.capture(
            "hugging_face_offline_500",
            "GET",
            f"{V2}/hugging_face",
            params={"hugging_face_repo": "stabilityai/sd-vae-ft-mse"},
        )

    def mutating_basics(self) -> None:
        """State changes that need no files (skipped on a user's server)."""
        rec = self.rec
        rec.capture("empty_model_cache", "POST", f"{V2}/empty_model_cache")
        rec.capture(
            "hf_login_bogus_token", "POST", f"{V2}/hf_login", json_body={"token": HF_BOGUS_TOKEN}
        )
        rec.capture("hf_logout", "DELETE", f"{V2}/hf_login")
        rec.capture(
            "install_hf_offline_500",
            "POST",
            f"{V2}/install",
            params={"source": "stabilityai/sd-vae-ft-mse:fp16", "access_token": HF_BOGUS_TOKEN},
            json_body={},
            note="a Hugging Face repo id while the hub is unreachable",
        )

    # -- installs of local files ---------------------------------------------

    def installs(self) -> None:
        rec = self.rec
        src = self.work / "src"
        writers = {
            "embedding_sd1": (tm.write_embedding_sd1, True),
            "embedding_sdxl": (tm.write_embedding_sdxl, True),
            "lora_sd1": (tm.write_lora_sd1, False),
            "vae_sd1": (tm.write_vae_sd1, False),
            "main_checkpoint_sd1": (tm.write_main_checkpoint_sd1, True),
        }
        if self.v >= (6, 9):
            writers["unknown"] = (tm.write_unknown, True)
        else:
            rec.skip("model_get_unknown", "InvokeAI < 6.9 rejects unidentifiable models")
        self.paths: dict[str, Path] = {}
        for kind, (writer, inplace) in writers.items():
            path = writer(src, f"capture-{kind.replace('_', '-')}.safetensors")
            self.paths[kind] = path
            if kind == "embedding_sd1":
                job = self.install(str(path), name="install_201_inplace", inplace=True)
                final = self.poll(job["id"])
                rec.record(
                    "install_job_completed_inplace", rec.send("GET", f"{V2}/install/{job['id']}")
                )
                self.keys[kind] = final["config_out"]["key"]
            elif kind == "lora_sd1":
                job = self.install(str(path), name="install_201_move", inplace=False)
                final = self.poll(job["id"])
                rec.record(
                    "install_job_completed_move", rec.send("GET", f"{V2}/install/{job['id']}")
                )
                self.keys[kind] = final["config_out"]["key"]
            else:
                self.install_and_wait(kind, str(path), inplace=inplace)

        rec.capture("models_list", "GET", f"{V2}/")
        rec.capture(
            "models_list_filtered",
            "GET",
            f"{V2}/",
            params={"base_models": ["sd-1", "sdxl"], "model_type": "embedding"},
        )
        for kind, key in self.keys.items():
            response = rec.capture(f"model_get_{kind}", "GET", f"{V2}/i/{key}")
            self.records[kind] = response.json()
        emb = self.records["embedding_sd1"]
        rec.capture(
            "model_get_by_attrs",
            "GET",
            f"{V2}/get_by_attrs",
            params={"name": emb["name"], "type": emb["type"], "base": emb["base"]},
        )
        if self.at_least((6, 12), "model_get_by_hash"):
            lora = self.records["lora_sd1"]
            rec.capture(
                "model_get_by_hash", "GET", f"{V2}/get_by_hash", params={"hash": lora["hash"]}
            )
        rec.capture("scan_folder", "GET", f"{V2}/scan_folder", params={"scan_path": str(src)})
        models_dir = rec.send("GET", "/api/v1/app/runtime_config").json()["config"]["models_dir"]
        rec.capture(
            "scan_folder_config_models_dir",
            "GET",
            f"{V2}/scan_folder",
            params={"scan_path": models_dir},
            note="scan_path = config.models_dir from runtime_config, as the config names it "
            "(relative to the root; the server's working directory is not the root)",
        )

    def updates(self) -> None:
        rec = self.rec
        rec.capture(
            "model_update",
            "PATCH",
            f"{V2}/i/{self.keys['vae_sd1']}",
            json_body={"name": "capture-vae-renamed", "description": "a renamed VAE"},
        )
        extra = tm.write_embedding_sd1(self.work / "extra", "capture-extra-embedding.safetensors")
        self.install_and_wait("embedding_sd1_extra", str(extra), inplace=True)
        clash = rec.capture(
            "model_update_name_clash",
            "PATCH",
            f"{V2}/i/{self.keys['embedding_sd1_extra']}",
            json_body={"name": self.records["embedding_sd1"]["name"]},
            note="renamed to the name of another sd-1 embedding",
        )
        if clash.status_code != 409:
            rec.capture(
                "model_update_409",
                "PATCH",
                f"{V2}/i/{self.keys['embedding_sd1_extra']}",
                json_body={"format": "diffusers"},
                note="a format the record's class does not allow (a name clash is no conflict "
                "on this version)",
            )
        # The extra embedding was installed in place: remove its file to make it "missing".
        extra.unlink()
        if self.at_least((6, 12), "models_missing"):
            rec.capture("models_missing", "GET", f"{V2}/missing")
        if self.at_least((6, 9), "model_reidentify"):
            rec.capture("model_reidentify", "POST", f"{V2}/i/{self.keys['lora_sd1']}/reidentify")
        if self.at_least((6, 13), "models_bulk_reidentify"):
            rec.capture(
                "models_bulk_reidentify",
                "POST",
                f"{V2}/i/bulk_reidentify",
                json_body={
                    "keys": [self.keys["embedding_sd1"], self.keys["lora_sd1"], UNKNOWN_KEY]
                },
            )
        if self.at_least((6, 10), "models_bulk_delete"):
            doomed = tm.write_vae_sd1(self.work / "src", "capture-doomed-vae.safetensors")
            self.install_and_wait("doomed", str(doomed), inplace=False)
            rec.capture(
                "models_bulk_delete",
                "POST",
                f"{V2}/i/bulk_delete",
                json_body={"keys": [self.keys["doomed"], UNKNOWN_KEY]},
            )

    def failing_installs(self) -> None:
        rec = self.rec
        job = self.install(
            str(self.paths["embedding_sd1"]), name="install_201_duplicate", inplace=True
        )
        self.poll(job["id"])
        rec.record("install_job_error_duplicate", rec.send("GET", f"{V2}/install/{job['id']}"))
        if self.v >= (6, 9):
            bad = self.work / "bad" / "capture-not-a-model.txt"
            bad.parent.mkdir(parents=True, exist_ok=True)
            bad.write_text("not a model\n")
            note = "a file without a model extension: the probe fails"
        else:
            bad = tm.write_unknown(self.work / "bad", "capture-unknown.safetensors")
            note = "an unidentifiable .safetensors file: the probe fails"
        job = self.install(str(bad), name="install_201_probe_fails", inplace=True)
        self.poll(job["id"])
        rec.record(
            "install_job_error_probe", rec.send("GET", f"{V2}/install/{job['id']}"), note=note
        )
        if self.at_least((6, 12), "install_restart_failed"):
            rec.capture(
                "install_restart_failed",
                "POST",
                f"{V2}/install/{job['id']}/restart_failed",
                note="a local install that failed: nothing to download again",
            )
            rec.capture(
                "install_restart_failed_415",
                "POST",
                f"{V2}/install/{UNKNOWN_JOB_ID}/restart_failed",
            )

    def url_installs(self, files: FileServer) -> None:
        rec = self.rec
        lora = tm.write_lora_sd1(self.work / "url", "capture-url-lora.safetensors")
        files.files["/files/capture-url-lora.safetensors"] = lora.read_bytes()
        big = tm.write_safetensors(
            self.work / "url" / "capture-slow.safetensors",
            {"emb_params": [1, 768], "padding": [100, 1000]},
        )
        files.files["/slow/capture-slow.safetensors"] = big.read_bytes()

        # A URL install that completes, with an access token (echoed back by the server).
        job = self.install(
            files.url("/files/capture-url-lora.safetensors"),
            name="install_201_url",
            access_token=URL_ACCESS_TOKEN,
        )
        self.poll(job["id"])
        rec.record("install_job_completed_url", rec.send("GET", f"{V2}/install/{job['id']}"))
        rec.capture(
            "install_cancel_completed_job",
            "DELETE",
            f"{V2}/install/{job['id']}",
            note="cancel of a job that had completed",
        )
        rec.record(
            "install_job_after_cancel_of_completed", rec.send("GET", f"{V2}/install/{job['id']}")
        )

        # A slow download: downloading, (paused, resumed), cancelled.
        slow_url = files.url("/slow/capture-slow.safetensors")
        job = self.install(slow_url, name="install_201_url_slow", access_token=URL_ACCESS_TOKEN)
        job_id = job["id"]

        def downloading(j: dict[str, Any]) -> bool:
            return j["status"] == "downloading" and j.get("bytes", 0) > 0

        self.poll(job_id, until=downloading, timeout=60)
        rec.record("install_job_downloading", rec.send("GET", f"{V2}/install/{job_id}"))
        again = self.install(
            slow_url, name="install_201_same_source_active", access_token=URL_ACCESS_TOKEN
        )
        if again["id"] != job_id:
            log(f"NOTE: a second install of an active source made job {again['id']}")
        if self.at_least((6, 12), "install_pause"):
            rec.capture("install_pause", "POST", f"{V2}/install/{job_id}/pause")
            self.poll(
                job_id, until=lambda j: j["status"] == "paused", capture_prefix=None, timeout=30
            )
            rec.record("install_job_paused", rec.send("GET", f"{V2}/install/{job_id}"))
            rec.capture("install_resume", "POST", f"{V2}/install/{job_id}/resume")
            self.poll(job_id, until=downloading, capture_prefix=None, timeout=60)
            rec.record("install_job_downloading_resumed", rec.send("GET", f"{V2}/install/{job_id}"))
        else:
            rec.skip("install_resume", "needs InvokeAI 6.12+")
            rec.skip("install_job_paused", "needs InvokeAI 6.12+")
        rec.capture("install_cancel", "DELETE", f"{V2}/install/{job_id}")
        self.poll(job_id, capture_prefix=None, timeout=60)
        rec.record("install_job_cancelled", rec.send("GET", f"{V2}/install/{job_id}"))
        if not any(r[2] for r in files.requests):
            log("NOTE: the server never sent a Range request")

    def images(self) -> None:
        rec = self.rec
        key = self.keys["embedding_sd1"]
        png = tiny_png()
        files = {"image": ("cover.png", png, "image/png")}
        rec.capture("model_image_patch", "PATCH", f"{V2}/i/{key}/image", files=files)
        rec.capture("model_get_with_image", "GET", f"{V2}/i/{key}")
        rec.capture("model_image_get", "GET", f"{V2}/i/{key}/image")
        rec.capture("model_image_delete", "DELETE", f"{V2}/i/{key}/image", identity=True)
        rec.capture(
            "model_image_get_missing_500",
            "GET",
            f"{V2}/i/{key}/image",
            note="GET of a model's image when it has none",
        )
        rec.capture(
            "model_image_delete_missing",
            "DELETE",
            f"{V2}/i/{key}/image",
            identity=True,
            note="DELETE of a model's image when it has none",
        )
        rec.capture("model_image_get_unknown_model", "GET", f"{V2}/i/{UNKNOWN_KEY}/image")
        rec.send("PATCH", f"{V2}/i/{key}/image", files=files).raise_for_status()
        rec.capture(
            "model_image_delete_gzip",
            "DELETE",
            f"{V2}/i/{key}/image",
            note="sent with httpx's default Accept-Encoding (gzip)",
        )
        rec.capture("model_get_after_image_delete_gzip", "GET", f"{V2}/i/{key}")

    def converts(self) -> None:
        rec = self.rec
        rec.capture(
            "convert_400_not_checkpoint", "PUT", f"{V2}/convert/{self.keys['embedding_sd1']}"
        )
        started = time.monotonic()
        rec.capture(
            "convert_checkpoint_offline",
            "PUT",
            f"{V2}/convert/{self.keys['main_checkpoint_sd1']}",
            note="converting needs the Hugging Face hub; this machine is offline",
        )
        log(f"convert of the checkpoint took {time.monotonic() - started:.1f} s")

    def orphans(self) -> None:
        if not self.at_least((6, 12), "orphaned_list"):
            self.rec.skip("orphaned_delete", "needs InvokeAI 6.12+")
            return
        assert self.models_dir is not None
        folder = self.models_dir / "capture-orphan"
        tm.write_embedding_sd1(folder, "capture-orphan.safetensors")
        response = self.rec.capture("orphaned_list", "GET", f"{V2}/sync/orphaned")
        paths = [item["path"] for item in response.json()]
        self.rec.capture(
            "orphaned_delete",
            "DELETE",
            f"{V2}/sync/orphaned",
            json_body={"paths": [*paths, "capture-no-such-orphan"]},
        )

    def stats(self) -> None:
        """Run a one-node graph: the cache's stats object exists from then on."""
        graph = {
            "id": "capture-stats-graph",
            "nodes": {"n1": {"id": "n1", "type": "integer", "value": 7}},
            "edges": [],
        }
        response = self.rec.send(
            "POST",
            "/api/v1/queue/default/enqueue_batch",
            json_body={"batch": {"graph": graph, "runs": 1}, "prepend": False},
        )
        if response.status_code >= 400:
            self.rec.skip("stats", f"enqueue failed: {response.status_code} {response.text[:200]}")
            return
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            answer = self.rec.send("GET", f"{V2}/stats")
            if answer.status_code == 200 and answer.json() is not None:
                self.rec.record(
                    "stats",
                    answer,
                    note="after a one-node graph ran: no model was loaded (tiny models "
                    "cannot be loaded)",
                )
                return
            time.sleep(0.2)
        self.rec.skip("stats", "the stats stayed null")

    def deletes(self) -> None:
        rec = self.rec
        rec.capture("model_delete", "DELETE", f"{V2}/i/{self.keys['vae_sd1']}", identity=True)
        rec.capture(
            "model_delete_gzip",
            "DELETE",
            f"{V2}/i/{self.keys['embedding_sdxl']}",
            note="sent with httpx's default Accept-Encoding (gzip)",
        )
        rec.capture("model_get_after_delete_gzip", "GET", f"{V2}/i/{self.keys['embedding_sdxl']}")

    def jobs_and_prune(self) -> None:
        rec = self.rec
        rec.capture("install_jobs", "GET", f"{V2}/install")
        rec.capture(
            "install_prune_gzip",
            "DELETE",
            f"{V2}/install",
            note="sent with httpx's default Accept-Encoding (gzip)",
        )
        rec.capture("install_jobs_after_prune_gzip", "GET", f"{V2}/install")
        rec.capture("install_prune", "DELETE", f"{V2}/install", identity=True)

    def cleanup(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


# -- main ------------------------------------------------------------------------


@contextlib.contextmanager
def server_under_test(version: str | None) -> Iterator[tuple[str, Path | None, str | None]]:
    endpoint = os.environ.get(ENDPOINT_ENV)
    if endpoint:
        yield endpoint.rstrip("/"), None, os.environ.get(TOKEN_ENV)
        return
    from testbed.server import start_server

    server = start_server(version)
    try:
        log(f"test-bed server {server.server_version} at {server.url} (root {server.root})")
        yield server.url, server.models_dir, None
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", help="test-bed InvokeAI version to start")
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "tests" / "fixtures",
        help="fixtures root (a folder per server version goes inside)",
    )
    args = parser.parse_args(argv)

    with server_under_test(args.version) as (url, models_dir, token):
        probe = httpx.get(f"{url}/api/v1/app/version", timeout=30, trust_env=False)
        probe.raise_for_status()
        version = probe.json()["version"]
        out_dir = args.out / version
        if out_dir.exists():
            for old in out_dir.glob("*.json"):
                old.unlink()
        rec = Recorder(url, out_dir, token)
        flows = Flows(rec, version, models_dir)
        try:
            rec.step("basics", flows.basics)
            if models_dir is None:
                for name in (
                    "mutating_basics",
                    "installs",
                    "updates",
                    "failing_installs",
                    "url_installs",
                    "images",
                    "converts",
                    "orphans",
                    "stats",
                    "deletes",
                    "jobs_and_prune",
                ):
                    rec.skip(
                        name,
                        f"{ENDPOINT_ENV} is set: no files on, or changes to, "
                        "a server that is not ours",
                    )
            else:
                rec.step("mutating_basics", flows.mutating_basics)
                rec.step("installs", flows.installs)
                rec.step("updates", flows.updates)
                rec.step("failing_installs", flows.failing_installs)
                with FileServer() as files:
                    rec.step("url_installs", lambda: flows.url_installs(files))
                rec.step("images", flows.images)
                rec.step("converts", flows.converts)
                rec.step("orphans", flows.orphans)
                rec.step("stats", flows.stats)
                rec.step("deletes", flows.deletes)
                rec.step("jobs_and_prune", flows.jobs_and_prune)
        finally:
            rec.close()
            flows.cleanup()
        index = {
            "server_version": version,
            "captured_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "external_server": models_dir is None,
            "fixtures": dict(sorted(rec.index.items())),
            "skipped": rec.skipped,
            "failed_steps": rec.failures,
        }
        (out_dir / "_index.json").write_text(json.dumps(index, indent=1) + "\n")
        log(
            f"{len(rec.index)} fixtures in {out_dir}; {len(rec.skipped)} skipped; "
            f"{len(rec.failures)} failed steps"
        )
        return 1 if rec.failures else 0


if __name__ == "__main__":
    sys.exit(main())
