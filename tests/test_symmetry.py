"""Symmetry reduction (modelcheck/symmetry.py) against brute force and the reference semantics.

At small sizes the orbits of the reference's reachable states (each canonicalized by trying
every permutation) must be exactly as many as the distinct `canonical` values, and a
breadth-first search that canonicalizes every successor must reach exactly the
canonicalized reference states. Models whose instances are not interchangeable must be
refused with a reason. The generated C must agree with `canonical` state for state."""

from __future__ import annotations

import ctypes
import itertools
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from modelcheck import api, ir
from modelcheck import symmetry as S
from modelcheck.reference import Semantics, reference_check

ROOT = Path(__file__).resolve().parent.parent
TICKET = str(ROOT / "bench" / "ticketlock.spec")
LOCKS = str(ROOT / "tests" / "symmetry" / "locks.spec")
RCU = str(ROOT / "tests" / "symmetry" / "rcu.spec")
TWO = str(ROOT / "tests" / "symmetry" / "two_groups.spec")

RING = """\
param N: int[2..3] = 2
lock l: spinlock[N]
thread cpu[N] {
    spin_lock(l[self])
    spin_lock(l[(self + 1) % N])
    spin_unlock(l[(self + 1) % N])
    spin_unlock(l[self])
}
"""

# ownership and reader bits that the holder's pc and locals do not show
CHOICE = """\
shared x: int[0..3]
lock l: spinlock
lock rw: rwsem
thread cpu[3] {
    choose {
        spin_lock(l)
    } or {
        down_read(rw)
    } or {
        x = 1
    }
    x = 2
}
"""

# (file or inline spec, defines, the declarations found with their permuted arrays)
SYMMETRIC = [
    (TICKET, {"N": "2", "ITER": "1"}, [("w", ())]),
    (TICKET, {"N": "3", "ITER": "2"}, [("w", ())]),
    (TICKET, {"N": "4", "ITER": "1"}, [("w", ())]),
    (TICKET, {"N": "2", "ITER": "2", "BUGGY": "true"}, [("w", ())]),
    (LOCKS, {"N": "2"}, [("cpu", ("flag", "pcp"))]),
    (LOCKS, {"N": "3"}, [("cpu", ("flag", "pcp"))]),
    (RCU, {"N": "2"}, [("cpu", ())]),
    (RCU, {"N": "3"}, [("cpu", ())]),
    (TWO, {}, [("reader", ()), ("writer", ("wslot",))]),
    (RING, {"N": "2"}, [("cpu", ("l",))]),
    (CHOICE, {}, [("cpu", ())]),
]
IDS = [
    (("ring" if "spin_lock(l[self])" in spec else "choice") if "\n" in spec else Path(spec).stem)
    + "".join(f"-{k}={v}" for k, v in sorted(d.items()))
    for spec, d, _ in SYMMETRIC
]


def load(spec: str, defines: dict[str, str], tmp_path: Path) -> ir.Model:
    """The model of a spec file, or of an inline spec written to a file."""
    if "\n" in spec:
        path = tmp_path / "inline.spec"
        path.write_text(spec)
        spec = str(path)
    return api.load(spec, defines)[2]


def all_perms(sym: S.Symmetry) -> list[S.Perm]:
    """Every permutation of every group's instances."""
    per_group = [list(itertools.permutations(range(len(g.threads)))) for g in sym.groups]
    return list(itertools.product(*per_group))


def symmetry_of(model: ir.Model) -> S.Symmetry:
    found = S.symmetry_or_reason(model)
    assert isinstance(found, S.Symmetry), found
    return found


def canonical_search(model: ir.Model, sym: S.Symmetry) -> set[tuple[int, ...]]:
    """The canonical states reachable when every successor is canonicalized."""
    sem = Semantics(model)
    init = S.canonical(sym, model.initial_state())
    seen = {init}
    todo = [init]
    while todo:
        s = todo.pop()
        for mv in sem.moves(s):
            if mv.state is not None:
                c = S.canonical(sym, mv.state)
                if c not in seen:
                    seen.add(c)
                    todo.append(c)
    return seen


@pytest.mark.parametrize(("spec", "defines", "groups"), SYMMETRIC, ids=IDS)
def test_canonical_states_are_the_orbits(
    spec: str, defines: dict[str, str], groups: list[tuple[str, tuple[str, ...]]], tmp_path: Path
) -> None:
    model = load(spec, defines, tmp_path)
    sym = symmetry_of(model)
    assert [(g.decl, g.arrays) for g in sym.groups] == groups
    ref = reference_check(model)
    assert ref.complete
    perms = all_perms(sym)
    orbits = {min(S.apply(sym, p, s) for p in perms) for s in ref.states}
    canon = {S.canonical(sym, s) for s in ref.states}
    assert len(canon) == len(orbits) < len(ref.states)
    # every permutation is an automorphism: it maps reachable states to reachable states
    rng = random.Random(0)
    for s in sorted(ref.states)[:500]:
        assert S.apply(sym, rng.choice(perms), s) in ref.states
    assert canonical_search(model, sym) == canon


@pytest.mark.parametrize(("spec", "defines", "groups"), SYMMETRIC, ids=IDS)
def test_canonical_is_idempotent_and_constant_on_orbits(
    spec: str, defines: dict[str, str], groups: list[tuple[str, tuple[str, ...]]], tmp_path: Path
) -> None:
    model = load(spec, defines, tmp_path)
    sym = symmetry_of(model)
    perms = all_perms(sym)
    rng = random.Random(1)
    states = sorted(reference_check(model).states)
    for s in rng.sample(states, min(300, len(states))):
        c = S.canonical(sym, s)
        assert S.canonical(sym, c) == c
        assert S.apply(sym, S.permutation_to(sym, s), s) == c
        for p in rng.sample(perms, min(4, len(perms))):
            assert S.canonical(sym, S.apply(sym, p, s)) == c


def test_ticketlock_six_threads_three_iterations_has_the_orbit_count() -> None:
    model = api.load(TICKET, {"N": "6", "ITER": "3"})[2]
    states = canonical_search(model, symmetry_of(model))
    # 11,050,345 states; 20,658 up to permutation of the threads
    assert len(states) == 20_658 <= 25_000


REFUSED = [
    ("shared pte: int[0..2]\nthread cpu[2] {\n    pte = self + 1\n}\n", "does not behave as"),
    ("shared turn: int[0..1]\nthread cpu[2] {\n    await turn == self\n    turn = 1 - turn\n}\n", "does not behave as"),
    ("shared x: int[0..2]\nthread cpu[2] {\n    if self < 1 {\n        x = x + 1\n    }\n}\n", "cpu[2]: "),
    (
        "shared x: int[0..4]\nshared y: int[0..4]\nthread cpu[2] {\n    if self == 0 {\n        x = x + 1\n"
        "    } else {\n        y = y + 1\n    }\n}\n",
        "cpu[2]: ",
    ),
    (
        "shared flag: bool[2]\nshared k: int[0..1]\nthread cpu[2] {\n    var i: int[0..1]\n"
        "    flag[self] = true\n    i = k\n    flag[i] = false\n}\n",
        "a dynamic index may reach a permuted slot",
    ),
    (
        "shared x: int[0..2]\nthread cpu[2] {\n    var mine: int[0..2]\n    mine = x\n    x = 1\n}\n"
        "invariant first: cpu[0].mine <= 1\n",
        "invariant first is not symmetric",
    ),
    (
        "shared flag: bool[2]\ninit {\n    flag[0] = true\n}\nthread cpu[2] {\n    flag[self] = false\n}\n",
        "the initial state is not symmetric",
    ),
    (
        "shared flag: bool[2]\nthread cpu[2] {\n    flag[self] = true\n}\nthread watcher {\n    await flag[0]\n}\n",
        "watcher does not behave as watcher renamed",
    ),
    (RING.replace("= 2", "= 3"), "does not behave as"),  # a ring is only cyclically symmetric
    ("shared x: int[0..2]\nthread a {\n    x = 1\n}\nthread b {\n    x = 2\n}\n", "no thread declaration"),
]


@pytest.mark.parametrize(("spec", "reason"), REFUSED, ids=[f"refused{i}" for i in range(len(REFUSED))])
def test_asymmetric_models_are_refused_with_a_reason(spec: str, reason: str, tmp_path: Path) -> None:
    model = load(spec, {}, tmp_path)
    found = S.symmetry_or_reason(model)
    assert isinstance(found, str)
    assert reason in found
    assert S.find_symmetry(model) is None


def test_a_refused_group_leaves_the_others(tmp_path: Path) -> None:
    spec = (
        "shared turn: int[0..1]\nshared x: int[0..4]\n"
        "thread a[2] {\n    await turn == self\n}\nthread b[2] {\n    x = x + 1\n}\n"
    )
    model = load(spec, {}, tmp_path)
    sym = S.find_symmetry(model)
    assert sym is not None and [g.decl for g in sym.groups] == ["b"]


def compiled_canon(model: ir.Model, sym: S.Symmetry, tmp_path: Path) -> ctypes.CDLL:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    src = tmp_path / "canon.c"
    lib = tmp_path / "canon.so"
    src.write_text(
        "#include <stdint.h>\n#include <string.h>\n"
        + S.c_canon(sym, model)
        + "\nvoid canon(int64_t *v) { mc_canon(v); }\n"
    )
    flags = ["-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-pedantic", "-shared", "-fPIC"]
    subprocess.run([cc, *flags, "-o", str(lib), str(src)], check=True, capture_output=True)
    return ctypes.CDLL(str(lib))


@pytest.mark.parametrize(
    ("spec", "defines", "groups"),
    [SYMMETRIC[i] for i in (1, 5, 7, 8, 9, 10)],
    ids=[IDS[i] for i in (1, 5, 7, 8, 9, 10)],
)
def test_generated_c_agrees_with_canonical(
    spec: str, defines: dict[str, str], groups: list[tuple[str, tuple[str, ...]]], tmp_path: Path
) -> None:
    model = load(spec, defines, tmp_path)
    sym = symmetry_of(model)
    lib = compiled_canon(model, sym, tmp_path)
    vec = ctypes.c_int64 * len(model.slots)
    perms = all_perms(sym)
    rng = random.Random(2)
    states = sorted(reference_check(model).states)
    for s in rng.sample(states, min(4000, len(states))):
        for state in (s, S.apply(sym, rng.choice(perms), s)):
            v = vec(*state)
            lib.canon(v)
            assert tuple(v) == S.canonical(sym, state)
