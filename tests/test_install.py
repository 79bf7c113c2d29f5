"""The built wheel carries the grammar: install it in a fresh environment and check a spec."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT


@pytest.mark.slow
def test_wheel_installs_and_checks_remap_spec(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), str(ROOT)], check=True
    )
    (wheel,) = wheels.glob("modelcheck-*.whl")
    # the compiled engine's common search ships with the package
    assert "modelcheck/search.c" in zipfile.ZipFile(wheel).namelist()
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", str(wheel)], check=True)
    spec = tmp_path / "remap.spec"
    spec.write_text((ROOT / "specs" / "remap.spec").read_text())
    done = subprocess.run(
        [str(env_dir / "bin" / "modelcheck"), str(spec)], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "HOLDS" in done.stdout
