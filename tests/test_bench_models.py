"""The classic models of bench/models/: each .spec and its .pml are the same model step for
step, so modelcheck without reduction and SPIN -DNOREDUCE store exactly as many states
(pan counts one more transition: the initial one) and agree on the verdict. Skipped when
spin or gcc is missing; the larger sizes are `slow`."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from modelcheck import api
from tests.spin_oracle import require_spin

MODELS = Path(__file__).resolve().parent.parent / "bench" / "models"

SMALL = [
    ("peterson", {"ITER": 3}),
    ("dekker", {"ITER": 4}),
    ("filter", {"N": 3, "ITER": 1}),
    ("lamport_fast", {"N": 3, "ITER": 1}),
    ("szymanski", {"N": 3, "ITER": 1}),
    ("mcs", {"N": 3, "ITER": 1}),
    ("seqlock", {"NW": 2, "NR": 2}),
    ("seqlock", {"NW": 1, "NR": 2, "BUGGY": 1}),
]
LARGER = [
    ("peterson", {"ITER": 20}),
    ("dekker", {"ITER": 20}),
    ("filter", {"N": 4, "ITER": 1}),
    ("lamport_fast", {"N": 3, "ITER": 2}),
    ("szymanski", {"N": 4, "ITER": 1}),
    ("mcs", {"N": 3, "ITER": 2}),
    ("seqlock", {"NW": 2, "NR": 2, "WITER": 2, "RITER": 2}),
]


def spin_nr(pml: Path, params: dict[str, int]) -> tuple[int, int, int]:
    """(stored states, transitions, errors) of pan -DNOREDUCE on `pml` with the params as defines."""
    with tempfile.TemporaryDirectory(prefix="bench-models-") as tmp:
        Path(tmp, "model.pml").write_text(pml.read_text())

        def run(cmd: list[str]) -> str:
            proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, check=False)  # noqa: S603
            assert proc.returncode == 0, f"{cmd}: {proc.stdout}{proc.stderr}"
            return proc.stdout

        run(["spin", *(f"-D{k}={v}" for k, v in params.items()), "-a", "model.pml"])
        run(["gcc", "-O0", "-w", "-DSAFETY", "-DNOREDUCE", "-o", "pan", "pan.c"])
        out = run(["./pan", "-n", "-m10000000", "-w20"])
    assert "max search depth too small" not in out
    stored = re.search(r"(\d+) states, stored", out)
    total = re.search(r"(\d+) transitions \(= stored\+matched\)", out)
    errors = re.search(r"errors: (\d+)", out)
    assert stored and total and errors, out
    return int(stored.group(1)), int(total.group(1)), int(errors.group(1))


def check_same(name: str, params: dict[str, int]) -> None:
    require_spin()
    defines = {k: str(v) for k, v in params.items()}
    run = api.run_check(str(MODELS / f"{name}.spec"), defines, reduce=False, symmetry=False)
    states, transitions, errors = spin_nr(MODELS / f"{name}.pml", params)
    buggy = bool(params.get("BUGGY"))
    assert run.result.verdict == ("VIOLATED" if buggy else "HOLDS")
    assert errors == (1 if buggy else 0)
    if not buggy:  # a search that stops at the first violation depends on the search order
        assert (run.result.stats.states, run.result.stats.transitions + 1) == (states, transitions)


@pytest.mark.parametrize(("name", "params"), SMALL, ids=lambda p: str(p))
def test_small_models_count_like_spin(name: str, params: dict[str, int]) -> None:
    check_same(name, params)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "params"), LARGER, ids=lambda p: str(p))
def test_larger_models_count_like_spin(name: str, params: dict[str, int]) -> None:
    check_same(name, params)


def test_every_model_has_both_versions() -> None:
    specs = {p.stem for p in MODELS.glob("*.spec")}
    pmls = {p.stem for p in MODELS.glob("*.pml")}
    assert specs == pmls
    assert specs == {name for name, _ in SMALL}
