"""The release artefacts: `python -m build` makes a wheel and an sdist that `twine check`
accepts, and the wheel, installed with the `cli` extra into a clean venv, runs
`invokeai-models --version` and imports every public name.

Slow (a build and a pip install, about a minute); pip may reach the package index.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "invokeai_py_client"
UPSTREAM_LAST = "1.1.1"  # the release of the same distribution name this one replaces

pytestmark = pytest.mark.slow


def _source_version() -> str:
    """``__version__`` as written in ``__init__.py`` (the one place it is written)."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["__version__"]
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    raise AssertionError("no __version__ = '...' in __init__.py")


def _clean_env() -> dict[str, str]:
    """The environment without this venv or the source tree on the path."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}}  # fmt: skip
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(args: list[str | Path], cwd: Path) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=_clean_env(), capture_output=True, text=True
    )
    assert done.returncode == 0, (
        f"{args} exited {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )
    return done.stdout


def test_the_version_is_written_once_and_sorts_above_the_release_it_replaces() -> None:
    from packaging.version import Version

    version = _source_version()
    assert Version(version) > Version(UPSTREAM_LAST)
    assert str(Version(version)) == version  # normalised, as the wheel's name will spell it
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'dynamic = ["version"]' in pyproject
    assert "\nversion = " not in pyproject


@pytest.mark.timeout(900)
def test_built_wheel_installs_into_a_clean_venv_and_works(tmp_path: Path) -> None:
    pytest.importorskip("build", reason="needs the dev extra's `build`")
    pytest.importorskip("twine", reason="needs the dev extra's `twine`")
    version = _source_version()
    dist = tmp_path / "dist"

    _run([sys.executable, "-m", "build", "--outdir", dist, ROOT], cwd=tmp_path)
    wheels = sorted(dist.glob("*.whl"))
    sdists = sorted(dist.glob("*.tar.gz"))
    assert [w.name for w in wheels] == [f"invokeai_py_client-{version}-py3-none-any.whl"]
    assert [s.name for s in sdists] == [f"invokeai_py_client-{version}.tar.gz"]
    _run([sys.executable, "-m", "twine", "check", "--strict", *wheels, *sdists], cwd=tmp_path)

    # The sdist carries what is needed to build and test, and no local junk.
    with tarfile.open(sdists[0]) as sdist:
        names = [n.split("/", 1)[1] for n in sdist.getnames() if "/" in n]
    package = "src/invokeai_py_client"
    for needed in ("LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml",
                   f"{package}/__init__.py", f"{package}/py.typed"):  # fmt: skip
        assert needed in names, f"sdist lacks {needed}"
    junk = [n for n in names
            if any(part in {".venv", ".demo", "dist", "build", "__pycache__", ".pytest_cache",
                            ".mypy_cache", ".ruff_cache", ".git"} or part.endswith(".pyc")
                   for part in n.split("/"))]  # fmt: skip
    assert not junk, f"sdist carries {junk[:10]}"

    with zipfile.ZipFile(wheels[0]) as wheel:
        metadata = wheel.read(f"invokeai_py_client-{version}.dist-info/METADATA").decode()
        assert not [n for n in wheel.namelist() if "__pycache__" in n or n.endswith(".pyc")]
    assert f"\nVersion: {version}\n" in metadata
    assert "\nLicense-Expression: MIT\n" in metadata
    assert "\nClassifier: Typing :: Typed\n" in metadata

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=tmp_path)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    _run([python, "-m", "pip", "install", "-q", f"{wheels[0]}[cli]"], cwd=tmp_path)

    out = _run([bindir / "invokeai-models", "--version"], cwd=tmp_path)
    assert out.strip() == f"invokeai-models {version} (invokeai-py-client)"

    check = (
        "import importlib, importlib.metadata as md, sys\n"
        "import invokeai_py_client as p\n"
        f"assert p.__file__.startswith({str(venv)!r}), p.__file__\n"
        f"assert p.__version__ == md.version('invokeai-py-client') == {version!r}\n"
        "count = 0\n"
        "for name in ('invokeai_py_client', 'invokeai_py_client.dnn_model',\n"
        "             'invokeai_py_client.errors'):\n"
        "    module = importlib.import_module(name)\n"
        "    for attr in getattr(module, '__all__', ()):\n"
        "        getattr(module, attr)\n"
        "        count += 1\n"
        "namespace = {}\n"
        "exec('from invokeai_py_client import *', namespace)\n"
        "assert set(p.__all__) <= set(namespace), set(p.__all__) - set(namespace)\n"
        "print(count)\n"
    )
    imported = int(_run([python, "-c", check], cwd=tmp_path))
    assert imported > 40  # the three __all__ lists were read, not empty
