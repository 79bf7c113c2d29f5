"""SPIN as an independent oracle: run a model's Promela export through spin, gcc and pan.

`spin_check(model, props)` translates the model (`modelcheck.promela`), verifies it with
SPIN's partial-order reduction off and returns what SPIN found, in modelcheck's terms: the
violated properties, and the number of modelcheck states (pan's stored states less the
state before `init` and the one absorbing error state per violated check). Tests that need
SPIN call `require_spin()`, which skips them when it is not installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelcheck import ir
from modelcheck.promela import NotTranslatable, translate

DEPTHS = (100_000, 3_000_000)  # pan -m: the DFS stack; the second try when the first is too small


@dataclass(frozen=True)
class SpinResult:
    """What one pan run found."""

    violated: frozenset[str]  # property names: ErrorSite.name, or "deadlock"
    errors: frozenset[int]  # error ids (len(model.errors) for a deadlock)
    states: int  # modelcheck states: pan's stored states less the extra ones
    pan_states: int
    pan_transitions: int
    exact: bool  # the search was complete (not cut by the depth bound)
    unchecked: tuple[str, ...]  # selected properties SPIN did not check
    seconds_build: float  # spin -a and gcc


def spin_available() -> bool:
    """Whether spin and gcc are on the PATH."""
    return shutil.which("spin") is not None and shutil.which("gcc") is not None


def require_spin() -> None:
    """Skip the calling test when SPIN or gcc is missing."""
    if not spin_available():
        pytest.skip("spin (Debian package `spin`) or gcc is not installed")


def _run(cmd: list[str], cwd: str) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)  # noqa: S603 - fixed tools
    if proc.returncode != 0 and "d_step sequence too long" in proc.stdout + proc.stderr:
        # SPIN bounds the jumps inside one d_step (MAXDSTEP): such a step has no exact translation
        raise NotTranslatable("a step with more branches than SPIN allows in one d_step")
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def spin_check(model: ir.Model, props: Collection[str] | None = None) -> SpinResult:
    """Verify `model` with SPIN (no reduction) for the properties `props` (None: all).

    Raises promela.NotTranslatable when the model cannot be exported exactly."""
    import time

    pm = translate(model, props)
    with tempfile.TemporaryDirectory(prefix="mc-spin-") as tmp:
        Path(tmp, "model.pml").write_text(pm.text)
        t0 = time.monotonic()
        _run(["spin", "-a", "model.pml"], tmp)
        _run(["gcc", "-O0", "-w", "-DNOREDUCE", "-DSAFETY", "-o", "pan", "pan.c"], tmp)
        build = time.monotonic() - t0
        out = ""
        exact = False
        for depth in DEPTHS:
            out = _run(["./pan", "-E", f"-m{depth}", "-w20"], tmp)
            if "max search depth too small" not in out:
                exact = True
                break
    m = re.search(r"errors: (\d+)", out)
    if m is None or m.group(1) != "0":
        raise AssertionError(f"pan reported its own errors (a translation bug):\n{out}")
    codes = frozenset(int(x) for x in re.findall(r"^MCERR (-?\d+)$", out, re.M))
    names = frozenset("deadlock" if c == pm.deadlock_code else model.errors[c].name for c in codes)
    stored = int(_field(r"(\d+) states, stored", out))
    transitions = int(_field(r"(\d+) transitions", out))
    return SpinResult(names, codes, stored - 1 - len(codes), stored, transitions, exact, pm.unchecked, build)


def _field(pattern: str, text: str) -> str:
    m = re.search(pattern, text)
    if m is None:
        raise AssertionError(f"no /{pattern}/ in pan's output:\n{text}")
    return m.group(1)
