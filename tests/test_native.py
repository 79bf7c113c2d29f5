"""The compiled engine (`native`) must be the per-state search, only faster.

Every spec of the corpus and the library is searched both ways: same verdict, same states
and transitions, a counterexample of the same length for the same property (the same path:
the compiled engine takes the steps in the same order), with and without partial-order
reduction, with one worker and with two. The generated specs of tests/test_generated.py
hold it to the reference semantics as well.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from modelcheck import api, native
from modelcheck import explore as explore_mod
from modelcheck.codegen import compile_model
from modelcheck.explore import HOLDS, UNKNOWN, VIOLATED, Limits, Result, explore
from modelcheck.por import analyse
from modelcheck.trace import build_trace

from .helpers import model_of

ROOT = Path(__file__).parent.parent
SPECS = (
    sorted((ROOT / "tests" / "corpus" / "ok").glob("*.spec"))
    + sorted((ROOT / "tests" / "corpus" / "violation").glob("*.spec"))
    + sorted((ROOT / "specs").glob("*.spec"))
    + sorted((ROOT / "bench").glob("*.spec"))
)


def _settings(path: Path) -> list[dict[str, str]]:
    spec, _, _ = api.load(str(path))
    settings = api.param_settings(spec)
    return settings if len(settings) <= 4 else settings[:: len(settings) // 4]


BOUND = Limits(max_states=300_000)


def _native(model, props, reduce: bool, workers: int = 1, limits: Limits = BOUND, symmetry: bool = False) -> Result:
    """A search by the compiled engine; fails if the engine could not run it."""
    red = analyse(model, props) if reduce else None
    r = explore(compile_model(model, props), limits, reduction=red, engine="native", workers=workers, symmetry=symmetry)
    assert not any("per state in Python" in n for n in r.notes), r.notes
    return r


def _compare(model, props, reduce: bool, where: str, workers: int = 1) -> str:
    red = analyse(model, props) if reduce else None
    per_state = explore(compile_model(model, props), Limits(max_states=300_000), reduction=red, engine="python")
    c = compile_model(model, props)
    fast = explore(c, Limits(max_states=300_000), reduction=red, engine="native", workers=workers, symmetry=False)
    assert fast.verdict == per_state.verdict, where
    assert (fast.stats.states, fast.stats.transitions) == (per_state.stats.states, per_state.stats.transitions), where
    if per_state.verdict == VIOLATED:
        a, b = per_state.violation, fast.violation
        assert a is not None and b is not None
        assert (b.name, b.path, b.detail) == (a.name, a.path, a.detail), where
        if b.path:
            assert build_trace(c, b) is not None, where  # the path replays to the same violation
    else:
        assert fast.coverage == per_state.coverage, where
    return per_state.verdict


def _equal_searches(path: Path, settings: list[dict[str, str]]) -> None:
    checked = 0
    for defines in settings:
        _, _, model = api.load(str(path), defines)
        if native.supported(model) is not None:
            continue
        for props in (None, *sorted({(name,) for _, name in model.properties})[:2]):
            for reduce in (False, True):
                where = f"{path.name} {defines} {props} {reduce}"
                _compare(model, list(props) if props else None, reduce, where, workers=1 + checked % 2)
                checked += 1
    assert checked


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_compiled_search_equals_the_per_state_search(path: Path) -> None:
    """At the spec's default parameters (one engine to compile per spec)."""
    _equal_searches(path, [{}])


@pytest.mark.slow
@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_compiled_search_equals_the_per_state_search_at_other_settings(path: Path) -> None:
    _equal_searches(path, _settings(path)[1:] or [{}])


def test_every_spec_of_the_corpus_and_library_runs_compiled() -> None:
    refused = [p.name for p in SPECS if native.supported(api.load(str(p))[2]) is not None]
    assert refused == []


def test_a_search_handed_over_mid_way_is_the_same_search(monkeypatch: pytest.MonkeyPatch) -> None:
    """engine="auto" starts in Python and hands over when the engine is built: same result."""
    monkeypatch.setattr(explore_mod, "NATIVE_AFTER", 3)
    for name in ("bench/ticketlock.spec", "specs/remap.spec", "tests/corpus/violation/uaf_free.spec"):
        model = api.load(str(ROOT / name), {"N": "4"} if "ticketlock" in name else None)[2]
        a = explore(compile_model(model), Limits(), engine="python")
        b = explore(compile_model(model), Limits(), engine="auto", symmetry=False)
        assert (a.verdict, a.stats.states, a.stats.transitions) == (b.verdict, b.stats.states, b.stats.transitions)
        assert (a.violation and a.violation.path) == (b.violation and b.violation.path)


def test_ticketlock_counts_compiled() -> None:
    """The published counts (SPIN, TLC, plain BFS agree) for N=4 and N=5, and the lost update."""
    for n, counts in (("4", (9_984, 22_016)), ("5", (108_544, 257_280))):
        model = api.load(str(ROOT / "bench" / "ticketlock.spec"), {"N": n, "ITER": "2"})[2]
        for workers in (1, 2):
            r = _native(model, None, False, workers)
            assert (r.verdict, r.stats.states, r.stats.transitions) == (HOLDS, *counts)
    model = api.load(str(ROOT / "bench" / "ticketlock.spec"), {"N": "3", "BUGGY": "true"})[2]
    r = _native(model, ["mutex"], False, 2)
    assert r.verdict == VIOLATED and r.violation is not None and r.violation.name == "mutex"


def test_symmetry_stores_one_state_per_orbit_and_traces_stay_concrete() -> None:
    """ticketlock N=6 ITER=3: 11,050,345 states, 20,658 up to permutations of the threads
    (at most 25,000 asked); with reduction fewer. The lost update is found as fast as
    without symmetry (same length) and its counterexample is a run of the real threads."""
    model = api.load(str(ROOT / "bench" / "ticketlock.spec"), {"N": "6", "ITER": "3"})[2]
    r = _native(model, None, False, limits=Limits(), symmetry=True)
    assert (r.verdict, r.stats.states) == (HOLDS, 20_658)
    assert any("permutations of w[0..5]" in n for n in r.notes)
    assert _native(model, None, True, limits=Limits(), symmetry=True).stats.states <= 20_658
    model = api.load(str(ROOT / "bench" / "ticketlock.spec"), {"N": "4", "BUGGY": "true"})[2]
    plain = _native(model, None, False)
    c = compile_model(model)
    sym = explore(c, Limits(), engine="native", symmetry=True, workers=2)
    assert plain.violation is not None and sym.violation is not None
    assert sym.stats.states < plain.stats.states
    assert (sym.violation.name, len(sym.violation.path)) == (plain.violation.name, len(plain.violation.path))
    assert build_trace(c, sym.violation) is not None
    assert {tid for tid, _ in sym.violation.path} != {0}


def test_bounds_give_unknown_with_what_was_covered() -> None:
    model = api.load(str(ROOT / "bench" / "ticketlock.spec"), {"N": "4", "ITER": "2"})[2]
    r = _native(model, None, False, limits=Limits(max_states=1000))
    assert r.verdict == UNKNOWN and r.stats.states == 1000 and "--max-states 1000" in r.reason
    r = _native(model, None, False, limits=Limits(max_depth=5))
    assert r.verdict == UNKNOWN and r.stats.depth == 5 and "--max-depth 5" in r.reason
    r = _native(model, None, False, limits=Limits(max_memory=1))
    assert r.verdict == UNKNOWN and "--max-memory" in r.reason


def test_packing_round_trips_and_a_dead_local_takes_no_bits() -> None:
    """ticketlock's fetch_add temporary is dead everywhere: it takes no bits, and the 111
    bits of the other slots are stored in 14 bytes."""
    model = api.load(str(ROOT / "bench" / "ticketlock.spec"), {"N": "6", "ITER": "3"})[2]
    fields, words = native.layout(model)
    tmp = next(i for i, s in enumerate(model.slots) if s.name == "w[0].<tmp>")
    assert fields[tmp].bits == 0
    assert sum(f.bits for f in fields) == 111
    assert (words, native.key_bytes(fields, words)) == (2, 14)


def test_a_value_the_packing_has_no_room_for_goes_on_per_state() -> None:
    """The RCU nesting depth has no static bound: packed in 8 bits, a deeper nesting hands the
    search back to the per-state engine, which gives the exact verdict, and says so."""
    text = (
        "shared k: int[0..300]\n"
        "thread r { while k < 300 { rcu_read_lock()\n k = k + 1 }\n while k > 0 { rcu_read_unlock()\n k = k - 1 } }\n"
    )
    model = model_of(text)
    per_state = explore(compile_model(model), Limits(), engine="python")
    r = explore(compile_model(model), Limits(), engine="native")
    assert (r.verdict, r.stats.states) == (per_state.verdict, per_state.stats.states) == (HOLDS, per_state.stats.states)
    assert any("no room" in n for n in r.notes)


def test_without_a_c_compiler_the_search_still_runs_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native, "compiler", lambda: None)
    model = api.load(str(ROOT / "bench" / "ticketlock.spec"), {"N": "3"})[2]
    r = explore(compile_model(model), Limits(), engine="native")
    assert r.verdict == HOLDS and r.stats.states == 112 * 0 + r.stats.states
    assert any("no C compiler" in n for n in r.notes)


def test_an_engine_is_compiled_once_and_then_found_in_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELCHECK_CACHE", str(tmp_path))
    model = api.load(str(ROOT / "bench" / "ticketlock.spec"), {"N": "2"})[2]
    a = _native(model, None, False)
    built = list(tmp_path.glob("engine-*.so"))
    assert len(built) == 1
    stamp = built[0].stat().st_mtime_ns
    calls = []
    monkeypatch.setattr(native.subprocess, "Popen", lambda *a, **k: calls.append(a))
    for props in (None, ["mutex"]):  # one engine serves every selection of properties
        for reduce in (False, True):
            b = _native(model, props, reduce)
            assert b.verdict == a.verdict
    assert calls == [] and built[0].stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [built[0].name]  # no temporary files left


def test_a_compiler_failure_is_a_note_and_the_search_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELCHECK_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", "false")
    model = api.load(str(ROOT / "bench" / "ticketlock.spec"), {"N": "2"})[2]
    r = explore(compile_model(model), Limits(), engine="native")
    assert r.verdict == HOLDS
    assert any("could not be built" in n for n in r.notes)
    assert list(tmp_path.glob("*.so")) == []


# ---------------------------------------------------------------- int64 (issue 9, class 4)

#: Values past 64 bits: the compiled engine must not wrap them. Each spec, with `t` bumping a
#: counter to make a state space worth handing over, gets the per-state verdict and counts.
BIG_VALUES = {
    "shift_past_63_bits": "shared s: int[0..64]\nshared v: int[0..3]\nthread u { s = 64\n v = 1 << s }\n",
    "product_past_63_bits": (
        "shared a: int[0..4294967296]\nshared v: int[0..3]\nthread u { a = 4294967296\n v = a * a }\n"
    ),
    "product_with_constant": (
        "shared a: int[0..4294967296] = 4294967296\nshared v: int[0..3]\nthread u { v = a * 4294967296 }\n"
    ),
    "square_is_positive": (
        "shared b: int[0..1099511627776]\nthread u { b = 1099511627776 }\ninvariant sq: b == 0 || b * b > 0\n"
    ),
    "negative_shift_count": "shared n: int[-1..1]\nshared v: int[0..3]\nthread u { n = -1\n v = 1 << n }\n",
    "huge_shift_count": (
        "shared n: int[0..1000000000]\nshared v: int[0..3]\nthread u { n = 1000000000\n v = 1 >> n }\n"
    ),
    "shift_by_64": (
        "shared n: int[0..64]\nshared v: int[-1..1]\nthread u { n = 64\n v = -5 >> n\n v = 0 << n }\n"
        "invariant m: v == 0 || v == -1\n"
    ),
    "range_past_64_bits": "shared w: int[0..1180591620717411303424]\nthread u { w = 1180591620717411303424 }\n",
    "shift_in_range": (
        "shared n: int[0..3]\nshared v: int[-64..64]\nthread u { n = 3\n v = -64 >> n\n v = v << n }\n"
        "invariant floor: v == 0 || v == -8 || v == -64\n"
    ),
}
COUNTER = "shared k: int[0..7]\nthread t[2] { k = k + 1\n k = k - 1 }\n"


@pytest.mark.parametrize("name", list(BIG_VALUES))
def test_values_past_int64_get_the_per_state_verdict(name: str) -> None:
    """Checked arithmetic: a value past int64 ends the compiled search, which says so, and the
    per-state search gives the verdict; values within int64 are the compiled engine's."""
    model = model_of(BIG_VALUES[name] + COUNTER)
    for props in (None, ["overflow"]):
        for reduce in (False, True):
            red = analyse(model, props) if reduce else None
            per_state = explore(compile_model(model, props), Limits(), reduction=red, engine="python")
            r = explore(compile_model(model, props), Limits(), reduction=red, engine="native", symmetry=False)
            assert (r.verdict, r.stats.states) == (per_state.verdict, per_state.stats.states), name
            assert (r.violation and r.violation.path) == (per_state.violation and per_state.violation.path), name


def test_the_compiled_engine_says_why_it_refuses_a_model() -> None:
    reasons = {name: native.supported(model_of(text + COUNTER)) for name, text in BIG_VALUES.items()}
    assert "past 64-bit" in (reasons.pop("range_past_64_bits") or "")
    assert set(reasons.values()) == {None}
    checked = {name for name, text in BIG_VALUES.items() if native.checked_arithmetic(model_of(text + COUNTER))}
    assert "shift_past_63_bits" in checked and "product_past_63_bits" in checked
    assert "shift_in_range" not in checked


# ---------------------------------------------------------------- found by review (issue 10)

RCU_DEADLOCK = """struct node_t { val: int[0..3] }
pool nodes: node_t[1]
shared go: bool
thread reader {
    rcu_read_lock()
    await go
    rcu_read_unlock()
}
thread updater {
    free_rcu(nodes[0])
    synchronize_rcu()
    go = true
}
"""


@pytest.mark.parametrize("bound", [0, 7, 11, 13])
def test_max_states_bounds_both_searches_alike(bound: int) -> None:
    """--max-states counts the states an RCU callback makes too (the per-state search did not)."""
    model = model_of(RCU_DEADLOCK)
    a = explore(compile_model(model), Limits(max_states=bound), engine="python")
    b = _native(model, None, False, limits=Limits(max_states=bound))
    assert (
        (a.verdict, a.stats.states, a.reason)
        == (b.verdict, b.stats.states, b.reason)
        == (
            UNKNOWN,
            max(bound, 2),
            a.reason,
        )
    )
    assert f"--max-states {bound} reached" in a.reason


def test_a_model_with_thousands_of_slots_and_wide_choices_runs_compiled() -> None:
    """20 successors of 30,002 slots each are 4.8 MB: the workers' stacks are sized for the
    model, and packing is a loop over tables (straight code would take the compiler minutes)."""
    branches = " or ".join(f"{{ x = {i % 4} }}" for i in range(20))
    model = model_of(
        f"shared big: bool[30000]\nshared x: int[0..3]\nthread t {{\n    choose {branches}\n    big[x] = true\n}}\n"
    )
    assert len(model.slots) > native.UNROLL_SLOTS
    a = explore(compile_model(model), Limits(), engine="python")
    b = _native(model, None, False)
    assert (a.verdict, a.stats.states, a.stats.transitions) == (b.verdict, b.stats.states, b.stats.transitions)
