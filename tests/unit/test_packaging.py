"""What the package ships and what importing it costs in modules."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import requires
from pathlib import Path

import invokeai_py_client


def test_runtime_dependencies_are_httpx_and_pydantic_only() -> None:
    runtime = [r.split("<")[0].split(">")[0] for r in requires("invokeai-py-client") or []
               if "extra ==" not in r]  # fmt: skip
    assert sorted(runtime) == ["httpx", "pydantic"]


def test_ships_py_typed() -> None:
    assert (Path(invokeai_py_client.__file__).parent / "py.typed").is_file()


def test_package_import_is_lazy_and_names_resolve() -> None:
    code = (
        "import sys, invokeai_py_client as p\n"
        "assert 'httpx' not in sys.modules and 'pydantic' not in sys.modules\n"
        "assert p.InvokeAIClient.__name__ == 'InvokeAIClient'\n"
        "assert p.ModelInstJobHandle.__module__.endswith('install_job')\n"
        "assert sorted(p.__all__) == sorted(set(p.__all__))\n"
        "[getattr(p, name) for name in p.__all__]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_attribute_raises_attribute_error() -> None:
    try:
        invokeai_py_client.NoSuchThing  # noqa: B018
    except AttributeError as err:
        assert "NoSuchThing" in str(err)
    else:
        raise AssertionError("expected AttributeError")
