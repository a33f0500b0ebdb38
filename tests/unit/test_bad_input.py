"""Bad input never escapes as a raw TypeError or AttributeError, and is refused unsent."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from invokeai_py_client import AsyncInvokeAIClient, InvokeAIClient, InvokeAIError
from invokeai_py_client.dnn_model import DnnModelRepository, ModelInstJobInfo
from invokeai_py_client.errors import InvalidArgumentError
from tests.unit.conftest import BASE_URL, api_calls, body, replay

BAD_VALUES: list[Any] = [
    None,
    0,
    -1,
    3.5,
    True,
    b"bytes",
    object(),
    [],
    {},
    "",
    "   ",
    ".",
    "1" * 5000,
    float("nan"),
    ["a", None],
    [1, 2],
    {"nmae": "x"},
]

# A valid call of every repository method; each argument is then replaced by bad values.
VALID: dict[str, dict[str, Any]] = {
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
    "list_missing_models": {},
    "get_models_dir": {},
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
    "list_install_jobs": {},
    "get_install_job": {"id": 1},
    "get_install_job_info": {"id": 1},
    "cancel_install_job": {"id": 1},
    "pause_install_job": {"id": 1},
    "resume_install_job": {"id": 1},
    "restart_failed_install_job": {"id": 1},
    "restart_install_file": {"id": 1, "file_url": "https://host.test/m.safetensors"},
    "prune_install_jobs": {},
    "update_model": {"key": "k", "changes": {"name": "x"}},
    "delete_model": {"key": "k"},
    "delete_all_models": {},
    "convert_model": {"key": "k"},
    "reidentify_model": {"key": "k"},
    "bulk_delete_models": {"keys": ["k"]},
    "bulk_reidentify_models": {"keys": ["k"]},
    "scan_folder": {"scan_path": "/m"},
    "empty_model_cache": {},
    "get_stats": {},
    "hf_status": {},
    "hf_login": {"token": "t"},
    "hf_logout": {},
    "list_huggingface_files": {"repo_id": "o/r"},
    "list_starter_models": {},
    "install_starter_model": {
        "model": {"source": "o/r", "name": "n", "base": "sd-1", "type": "lora"},
        "skip_installed": True,
    },
    "install_starter_bundle": {"bundle": "sd-1", "skip_installed": True},
    "list_orphaned_models": {},
    "delete_orphaned_models": {"paths": ["p"]},
    "get_model_image": {"key": "k"},
    "set_model_image": {"key": "k", "image": b"\x89PNG\r\n\x1a\n...."},
    "delete_model_image": {"key": "k"},
    "wait_all": {"jobs": [], "timeout": 1, "poll_interval": 0.01, "on_progress": None},
    "as_completed": {"jobs": [], "timeout": 1, "poll_interval": 0.01, "on_progress": None},
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

# Calls the library must refuse before sending anything: (method, argument, value).
REFUSED = [
    ("bulk_delete_models", "keys", None),
    ("bulk_delete_models", "keys", 5),
    ("bulk_reidentify_models", "keys", None),
    ("bulk_reidentify_models", "keys", 3.5),
    ("bulk_delete_models", "keys", "one-string"),
    ("bulk_delete_models", "keys", [None]),
    ("install_starter_model", "model", {"not": "a starter"}),
    ("install_starter_model", "model", "o/r"),
    ("set_model_image", "image", None),
    ("set_model_image", "image", 5),
    ("install_model", "inplace", "yes"),
    ("install_model", "inplace", 1),
    ("install_model", "access_token", 123),
    ("install_model", "config", {"nmae": "x"}),
    ("install_model", "config", {"name": 5}),
    ("install_model", "config", ["name"]),
    ("install_model", "source", "."),
    ("install_model", "source", Path("")),
    ("install_model", "source", None),
    ("hf_login", "token", 123),
    ("hf_login", "token", None),
    ("get_model_by_attrs", "type", None),
    ("get_model_by_attrs", "base", None),
    ("get_model_by_attrs", "name", None),
    ("get_install_job", "id", "1" * 5000),
    ("cancel_install_job", "id", -1),
    ("get_install_job", "id", True),
    ("get_install_job", "id", 2**64),
    ("get_model_by_key", "model_key", None),
    ("get_model_by_key", "model_key", "a/b"),
    ("get_model_by_key", "model_key", 5),
    ("update_model", "changes", {}),
    ("update_model", "changes", None),
    ("delete_orphaned_models", "paths", None),
    ("delete_orphaned_models", "paths", "p"),
    ("scan_folder", "scan_path", None),
    ("install_starter_bundle", "skip_installed", "no"),
    ("list_models", "base", 5),
    ("list_models", "type", 5),
    ("plan_manifest", "manifest", 5),
    ("plan_manifest", "manifest", {"models": [{"source": ""}]}),
    ("plan_manifest", "manifest", {"models": [{"source": "o/r", "access_token": "hf_x"}]}),
    ("plan_manifest", "manifest", "/no/such/manifest.yaml"),
    ("apply_manifest", "concurrency", 0),
    ("apply_manifest", "concurrency", True),
    ("apply_manifest", "timeout", -1),
    ("apply_manifest", "on_progress", 42),
    ("apply_manifest", "prune", "no"),
    ("plan_manifest", "prune", "no"),
    ("apply_manifest", "manifest", {"version": 1}),
]


@pytest.fixture
def mocked() -> Any:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        replay(router, "version")
        router.route().mock(return_value=httpx.Response(418, json={"detail": "teapot"}))
        yield router


def test_every_method_has_a_valid_call() -> None:
    public = {n for n in dir(DnnModelRepository) if not n.startswith("_")}
    assert public == set(VALID)


def _cases() -> list[tuple[str, str, Any]]:
    return [
        (method, arg, bad) for method, args in VALID.items() for arg in args for bad in BAD_VALUES
    ]


def test_bad_values_raise_only_our_errors_sync(mocked: respx.MockRouter) -> None:
    raw = []
    with InvokeAIClient(BASE_URL, max_retries=0, events=False) as client:
        repo = client.dnn_model_repo
        for method, arg, bad in _cases():
            try:
                result = getattr(repo, method)(**{**VALID[method], arg: bad})
                if inspect.isgenerator(result):
                    list(result)
            except InvokeAIError:
                pass
            except Exception as err:
                raw.append(f"{method}({arg}={bad!r:.30}): {type(err).__name__}: {err}")
    assert not raw, "\n".join(raw)
    assert len(_cases()) > 300


def test_bad_values_raise_only_our_errors_async(mocked: respx.MockRouter) -> None:
    async def run() -> list[str]:
        raw = []
        async with AsyncInvokeAIClient(BASE_URL, max_retries=0, events=False) as client:
            repo = client.dnn_model_repo
            for method, arg, bad in _cases():
                try:
                    call = getattr(repo, method)(**{**VALID[method], arg: bad})
                    if inspect.isasyncgen(call):
                        async for _ in call:
                            pass
                    else:
                        await call
                except InvokeAIError:
                    pass
                except Exception as err:
                    raw.append(f"{method}({arg}={bad!r:.30}): {type(err).__name__}: {err}")
        return raw

    raw = asyncio.run(run())
    assert not raw, "\n".join(raw)


@pytest.mark.parametrize(("method", "arg", "value"), REFUSED, ids=lambda v: f"{v!r:.20}")
def test_refused_before_sending(
    mocked: respx.MockRouter, method: str, arg: str, value: Any
) -> None:
    client = InvokeAIClient(BASE_URL, max_retries=0, events=False)
    with client, pytest.raises(InvalidArgumentError):
        getattr(client.dnn_model_repo, method)(**{**VALID[method], arg: value})
    assert api_calls(mocked) == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": "2"},
        {"max_retries": -1},
        {"max_retries": 1.5},
        {"timeout": "30"},
        {"timeout": -1},
        {"timeout": 0},
        {"timeout": float("nan")},
        {"token": 123},
        {"verify": 3},
        {"verify": "/no/such/ca-bundle.pem"},
        {"http_client": "x"},
    ],
    ids=repr,
)
def test_bad_client_settings(kwargs: dict[str, Any]) -> None:
    for cls in (InvokeAIClient, AsyncInvokeAIClient):
        with pytest.raises(InvalidArgumentError):
            cls(BASE_URL, **kwargs)
    for cls in (InvokeAIClient, AsyncInvokeAIClient):
        if set(kwargs) <= {"timeout", "max_retries"}:
            with pytest.raises(InvalidArgumentError):
                cls(BASE_URL).with_options(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout": "30"},
        {"timeout": -1},
        {"timeout": float("nan")},
        {"poll_interval": 0},
        {"poll_interval": "1"},
        {"poll_interval": float("nan")},
    ],
    ids=repr,
)
def test_bad_wait_arguments(mocked: respx.MockRouter, kwargs: dict[str, Any]) -> None:

    with InvokeAIClient(BASE_URL, max_retries=0, events=False) as client:
        info = ModelInstJobInfo.model_validate(body("install_201_inplace"))
        with pytest.raises(InvalidArgumentError):
            client.dnn_model_repo._handle(info).wait(**kwargs)
    assert api_calls(mocked) == []


def test_valid_table_matches_signatures() -> None:
    for method, args in VALID.items():
        params = set(inspect.signature(getattr(DnnModelRepository, method)).parameters) - {"self"}
        assert set(args) == params, method
