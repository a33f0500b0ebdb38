"""The bad-input case table: what each public parameter must refuse before sending.

Every parameter of every public method of the repositories and the job handles (sync
and async share names and signatures) has a *kind*; each kind lists the values it must
refuse with ``InvalidArgumentError`` (``ManifestError`` for manifests), with nothing
sent. ``tests/unit/test_bad_input.py`` finds the methods by introspection and fails
for a method or a parameter this table does not name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

NAN = float("nan")
LONG = "k" * 10_000  # past what any argument sent in a URL may hold
LONG_DIGITS = "1" * 10_000

_WRONG_TYPES: list[Any] = [5, -1, 3.5, NAN, True, b"bytes", object(), ["x"], {"x": 1}]

# kind -> the values it must refuse
# fmt: off
REFUSED: dict[str, list[Any]] = {
    "text": [None, "", "   ", "\t\n", LONG, *_WRONG_TYPES],
    "optional_text": ["", "   ", LONG, *_WRONG_TYPES],
    "key": [None, "", "   ", ".", "..", "/", "a/b", "../install", "a\\b", LONG, *_WRONG_TYPES],
    "bases": ["", "   ", LONG, [""], [None], [5], ["sd-1", NAN], 5, -1, NAN, True, b"x"],
    "source": [
        None, "", "   ", ".", "..", "/", "//", "./", "../", "\\", Path(""), Path(".."),
        LONG, 5, -1, 3.5, NAN, True, b"/m/x.safetensors", ["/m/x"], {"path": "/m/x"},
    ],
    "repo_id": [
        None, "", "   ", "..", "/", "o/", "/r", "o/r/x", "o/r:fp16", LONG, *_WRONG_TYPES,
    ],
    "variant": ["", "   ", "..", "a/b", "fp16:x", LONG, *_WRONG_TYPES],
    "subfolder": ["", "   ", "..", "../x", "a/../../b", "/abs", "a\\b", "a:b", LONG, *_WRONG_TYPES],
    "url": [
        None, "", "   ", "ftp://h/m", "/m/x.safetensors", "http://", "https:///x",
        "http://h/" + LONG, *_WRONG_TYPES,
    ],
    "job_id": [
        None, "", "   ", "..", "a/b", "abc", -1, "-1", 3.5, NAN, True, 2**64, LONG_DIGITS,
        b"1", [1], {"id": 1},
    ],
    # ids no job can have are answered None, unsent (1.1's behaviour); others refused
    "job_lookup": [None, 3.5, NAN, True, 2**64, LONG_DIGITS, b"1", [1], {"id": 1}],
    "bool": [None, "yes", "", "no", 1, 0, -1, NAN, b"", [True]],
    "optional_bool": ["yes", "", "false", 1, 0, -1, NAN, b"", [True]],
    "config": [
        "", "name", 5, -1, NAN, True, b"{}", ["name"], {"nmae": "x"}, {"name": 5},
        {"name": ""}, {"name": "   "}, {1: "x"}, {"trigger_phrases": "x"}, {"name": LONG},
        {"description": LONG},
    ],
    "changes": [
        None, {}, "", "name", 5, -1, NAN, ["name"], {"nmae": "x"}, {"name": 5}, {"name": ""},
    ],
    "keys": [
        None, "", "k", 5, -1, NAN, True, b"k", [], [""], ["   "], [None], [5], ["a/b"],
        [".."], [LONG], {"k": 1},
    ],
    "paths": [
        None, "", "p", 5, -1, NAN, b"p", [], [""], [None], [5], ["."], [".."], ["/"],
        [LONG], {"p": 1},
    ],
    "starter": [None, "", "o/r", 5, -1, NAN, True, [], {"not": "a starter"}],
    "image": [
        None, b"", "", "   ", b"not an image", "/no/such/cover.png", LONG, 5, -1, NAN,
        True, [b"x"],
    ],
    "jobs": [None, "", "x", 5, -1, NAN, b"x", [None], ["x"], [5], {"a": 1}],
    "timeout": [-1, -0.5, NAN, "30", "", True, b"1", [1]],
    "apply_timeout": [0, -1, -0.5, NAN, "30", "", True, b"1", [1]],
    "poll_interval": [None, 0, -1, NAN, float("inf"), "1", True, b"1", [1]],
    "callback": [42, "print", b"", [print], NAN],
    "manifest": [
        None, 5, -1, NAN, True, b"models: []", [], "", "   ", "/no/such/manifest.yaml", {},
        {"models": [{"source": ""}]}, {"models": [{"source": ".."}]},
        {"models": [{"source": "o/r", "nmae": "x"}]}, {"models": [{"source": "/"}]},
        {"models": [{"source": "o/r", "type": "  "}]},
        {"models": [{"source": "o/r", "base": ""}]}, {"models": [{"source": "o/r", "base": LONG}]},
        {"models": [{"source": "o/r", "hash": ""}]}, {"models": [{"source": "o/r", "hash": ".."}]},
        {"models": [{"source": "o/r", "hash": "blake3:a/../b"}]},
        {"models": [{"source": "o/r", "description": LONG}]},
    ],
    "concurrency": [None, 0, -1, 1.5, NAN, "2", True, b"2"],
    "job_info": [5, "", NAN, True, {"id": 1}, [], b"{}"],
    "client": [None, 5, "http://invokeai.test:9090", object(), NAN],
}
# fmt: on

# kind -> values answered None without a request (documented: no job can have these ids)
ANSWERED_NONE: dict[str, list[Any]] = {
    "job_lookup": ["", "   ", "..", "a/b", "abc", -1, "-1"],
}

# method -> parameter -> kind, for the repositories (both clients)
REPOSITORY: dict[str, dict[str, str]] = {
    "list_models": {
        "base": "bases",
        "type": "optional_text",
        "name": "optional_text",
        "format": "optional_text",
        "order_by": "optional_text",
        "direction": "optional_text",
    },
    "get_model_by_key": {"model_key": "key"},
    "get_model_by_attrs": {"name": "text", "type": "text", "base": "text"},
    "get_model_by_hash": {"hash": "text"},
    "list_missing_models": {},
    "get_models_dir": {},
    "install_model": {
        "source": "source",
        "config": "config",
        "inplace": "optional_bool",
        "access_token": "optional_text",
    },
    "install_huggingface": {
        "repo_id": "repo_id",
        "config": "config",
        "access_token": "optional_text",
        "variant": "variant",
        "subfolder": "subfolder",
    },
    "list_install_jobs": {},
    "get_install_job": {"id": "job_lookup"},
    "get_install_job_info": {"id": "job_lookup"},
    "cancel_install_job": {"id": "job_id"},
    "pause_install_job": {"id": "job_id"},
    "resume_install_job": {"id": "job_id"},
    "restart_failed_install_job": {"id": "job_id"},
    "restart_install_file": {"id": "job_id", "file_url": "url"},
    "prune_install_jobs": {},
    "update_model": {"key": "key", "changes": "changes"},
    "delete_model": {"key": "key"},
    "delete_all_models": {},
    "convert_model": {"key": "key"},
    "reidentify_model": {"key": "key"},
    "bulk_delete_models": {"keys": "keys"},
    "bulk_reidentify_models": {"keys": "keys"},
    "scan_folder": {"scan_path": "source"},
    "empty_model_cache": {},
    "get_stats": {},
    "hf_status": {},
    "hf_login": {"token": "text"},
    "hf_logout": {},
    "list_huggingface_files": {"repo_id": "repo_id"},
    "list_starter_models": {},
    "install_starter_model": {"model": "starter", "skip_installed": "bool"},
    "install_starter_bundle": {"bundle": "text", "skip_installed": "bool"},
    "list_orphaned_models": {},
    "delete_orphaned_models": {"paths": "paths"},
    "get_model_image": {"key": "key"},
    "set_model_image": {"key": "key", "image": "image"},
    "delete_model_image": {"key": "key"},
    "wait_all": {
        "jobs": "jobs",
        "timeout": "timeout",
        "poll_interval": "poll_interval",
        "on_progress": "callback",
    },
    "as_completed": {
        "jobs": "jobs",
        "timeout": "timeout",
        "poll_interval": "poll_interval",
        "on_progress": "callback",
    },
    "install_and_wait": {
        "source": "source",
        "config": "config",
        "inplace": "optional_bool",
        "access_token": "optional_text",
        "timeout": "timeout",
        "on_progress": "callback",
    },
    "plan_manifest": {"manifest": "manifest", "prune": "bool"},
    "apply_manifest": {
        "manifest": "manifest",
        "prune": "bool",
        "concurrency": "concurrency",
        "timeout": "apply_timeout",
        "on_progress": "callback",
    },
    "export_manifest": {"lock": "bool"},
}

# method -> parameter -> kind, for the install-job handles (both clients)
HANDLE: dict[str, dict[str, str]] = {
    "refresh": {},
    "status": {},
    "progress": {},
    "is_done": {},
    "is_failed": {},
    "cancel": {},
    "pause": {},
    "resume": {},
    "restart_failed": {},
    "restart_file": {"file_url": "url"},
    "restart_install_file": {"file_url": "url"},
    "wait": {"timeout": "timeout", "poll_interval": "poll_interval", "on_progress": "callback"},
    "wait_until": {"timeout": "timeout", "poll_interval": "poll_interval"},
    "raise_if_failed": {},
    "raise_for_status": {},
    "observe": {"info": "job_info"},
    "from_client_and_id": {"client": "client", "job_id": "job_id"},
}

CLIENT = object()  # stands for the client under test in VALID_HANDLE
JOB = object()  # stands for a handle of that client in VALID_REPOSITORY
INFO = object()  # stands for a job info
PNG = b"\x89PNG\r\n\x1a\n...."

# one valid call of each method: each argument is then replaced by its kind's bad values
VALID_REPOSITORY: dict[str, dict[str, Any]] = {
    "list_models": {
        "base": "sd-1",
        "type": "lora",
        "name": "n",
        "format": "lycoris",
        "order_by": "name",
        "direction": "ASC",
    },
    "get_model_by_key": {"model_key": "k"},
    "get_model_by_attrs": {"name": "n", "type": "lora", "base": "sd-1"},
    "get_model_by_hash": {"hash": "blake3:00"},
    "install_model": {
        "source": "/m/x.safetensors",
        "config": {"name": "x"},
        "inplace": True,
        "access_token": "t",
    },
    "install_huggingface": {
        "repo_id": "o/r",
        "config": None,
        "access_token": None,
        "variant": "fp16",
        "subfolder": "vae",
    },
    "get_install_job": {"id": 1},
    "get_install_job_info": {"id": 1},
    "cancel_install_job": {"id": 1},
    "pause_install_job": {"id": 1},
    "resume_install_job": {"id": 1},
    "restart_failed_install_job": {"id": 1},
    "restart_install_file": {"id": 1, "file_url": "https://host.test/m.safetensors"},
    "update_model": {"key": "k", "changes": {"name": "x"}},
    "delete_model": {"key": "k"},
    "convert_model": {"key": "k"},
    "reidentify_model": {"key": "k"},
    "bulk_delete_models": {"keys": ["k"]},
    "bulk_reidentify_models": {"keys": ["k"]},
    "scan_folder": {"scan_path": "/m"},
    "hf_login": {"token": "t"},
    "list_huggingface_files": {"repo_id": "o/r"},
    "install_starter_model": {
        "model": {"source": "o/r", "name": "n", "base": "sd-1", "type": "lora"},
        "skip_installed": True,
    },
    "install_starter_bundle": {"bundle": "sd-1", "skip_installed": True},
    "delete_orphaned_models": {"paths": ["p"]},
    "get_model_image": {"key": "k"},
    "set_model_image": {"key": "k", "image": PNG},
    "delete_model_image": {"key": "k"},
    "wait_all": {"jobs": [JOB], "timeout": 1, "poll_interval": 0.01, "on_progress": None},
    "as_completed": {"jobs": [JOB], "timeout": 1, "poll_interval": 0.01, "on_progress": None},
    "install_and_wait": {
        "source": "/m/x.safetensors",
        "config": None,
        "inplace": True,
        "access_token": None,
        "timeout": 1,
        "on_progress": None,
    },
    "plan_manifest": {"manifest": {"models": [{"source": "o/r"}]}, "prune": True},
    "apply_manifest": {
        "manifest": {"models": [{"source": "o/r"}]},
        "prune": False,
        "concurrency": 2,
        "timeout": 1,
        "on_progress": None,
    },
    "export_manifest": {"lock": True},
}
VALID_HANDLE: dict[str, dict[str, Any]] = {
    "restart_file": {"file_url": "https://host.test/m.safetensors"},
    "restart_install_file": {"file_url": "https://host.test/m.safetensors"},
    "wait": {"timeout": 1, "poll_interval": 0.01, "on_progress": None},
    "wait_until": {"timeout": 1, "poll_interval": 0.01},
    "observe": {"info": INFO},
    "from_client_and_id": {"client": CLIENT, "job_id": 1},
}
