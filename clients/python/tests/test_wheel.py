"""The package builds a wheel that carries its type information and needs httpx only."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.timeout(300)


def test_the_wheel_builds_typed_with_httpx_as_its_only_dependency(tmp_path):
    # Built from a copy: setuptools leaves build/ and *.egg-info next to the sources.
    source = tmp_path / "src-copy"
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("tests", "__pycache__", "*.egg-info", "build"))
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                        str(tmp_path), str(source)], capture_output=True, text=True, timeout=280)
    assert p.returncode == 0, p.stdout + p.stderr
    wheels = list(tmp_path.glob("recgw_client-*.whl"))
    assert len(wheels) == 1, list(tmp_path.iterdir())
    with zipfile.ZipFile(wheels[0]) as z:
        names = set(z.namelist())
        assert "recgw_client/py.typed" in names
        assert {"recgw_client/__init__.py", "recgw_client/_sync.py", "recgw_client/_async.py"} <= names
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        requires = [line for line in z.read(metadata).decode().splitlines() if line.startswith("Requires-Dist:")]
    assert len(requires) == 1 and requires[0].startswith("Requires-Dist: httpx"), requires
