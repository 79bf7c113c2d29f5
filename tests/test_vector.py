"""The bulk (numpy) search must be the per-state search, only faster.

Every spec of the corpus and the library that the bulk engine supports is searched
both ways from the first level on: same verdict, same states and transitions, a
counterexample of the same length for the same property, with and without
partial-order reduction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelcheck import api, vector
from modelcheck.codegen import compile_model
from modelcheck.explore import HOLDS, VIOLATED, Limits, explore
from modelcheck.por import analyse
from modelcheck.trace import build_trace
from modelcheck.vector import Packing, Store, supported

from .helpers import model_of

ROOT = Path(__file__).parent.parent
ALL_SPECS = (
    sorted((ROOT / "tests" / "corpus" / "ok").glob("*.spec"))
    + sorted((ROOT / "tests" / "corpus" / "violation").glob("*.spec"))
    + sorted((ROOT / "specs").glob("*.spec"))
    + sorted((ROOT / "bench").glob("*.spec"))
)
#: the specs the bulk engine runs (no pools, no RCU); the others stay per state
SPECS = [p for p in ALL_SPECS if supported(api.load(str(p))[2]) is None]


def _settings(path: Path) -> list[dict[str, str]]:
    spec, _, _ = api.load(str(path))
    settings = api.param_settings(spec)
    return settings if len(settings) <= 4 else settings[:: len(settings) // 4]


def _compare(model, props, reduce: bool, where: str, bulk_after: int = 0) -> str:
    red = analyse(model, props) if reduce else None
    per_state = explore(compile_model(model, props), Limits(max_states=300_000), reduction=red, bulk_after=None)
    c = compile_model(model, props)
    bulk = explore(c, Limits(max_states=300_000), reduction=red, bulk_after=bulk_after)
    assert bulk.verdict == per_state.verdict, where
    if per_state.verdict == HOLDS:
        assert (bulk.stats.states, bulk.stats.transitions) == (per_state.stats.states, per_state.stats.transitions), (
            where
        )
    if per_state.verdict == VIOLATED:
        a, b = per_state.violation, bulk.violation
        assert a is not None and b is not None
        assert b.kind == a.kind, where
        # with reduction the bulk engine sees the failing steps of every thread before it
        # prunes, so it may report one sooner
        assert len(b.path) == len(a.path) if not reduce else len(b.path) <= len(a.path), where
        if b.path:
            trace = build_trace(c, b)  # the path replays to the same violation
            assert trace is not None, where
    return per_state.verdict


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_bulk_search_equals_the_per_state_search(path: Path) -> None:
    checked = 0
    for defines in _settings(path):
        _, _, model = api.load(str(path), defines)
        if supported(model) is not None:
            continue
        for props in (None, *sorted({(name,) for _, name in model.properties})[:1]):
            for reduce in (False, True):
                _compare(model, list(props) if props else None, reduce, f"{path.name} {defines} {props} {reduce}")
                checked += 1
    assert checked


VIOLATION_SPECS = [p for p in SPECS if p.parent.name == "violation"]


@pytest.mark.parametrize("path", VIOLATION_SPECS, ids=[p.stem for p in VIOLATION_SPECS])
def test_a_trace_through_states_handed_over_mid_search_replays(path: Path) -> None:
    """The bulk search takes over after a few levels: a counterexample's first steps are
    between states the per-state search stored, and each is found again by expansion."""
    model = api.load(str(path))[2]
    for reduce in (False, True):
        _compare(model, None, reduce, f"{path.name} handed over at 3 states", bulk_after=3)


def test_most_of_the_corpus_runs_in_bulk() -> None:
    assert len(SPECS) >= 40 and len(ALL_SPECS) - len(SPECS) <= 40


def test_ticketlock_counts_in_bulk() -> None:
    """The published counts (SPIN, TLC, plain BFS agree) for N=4, ITER=2, and the lost update."""
    model = api.load(str(ROOT / "bench" / "ticketlock.spec"), {"N": "4", "ITER": "2"})[2]
    r = explore(compile_model(model), bulk_after=0)
    assert (r.verdict, r.stats.states, r.stats.transitions) == (HOLDS, 9_984, 22_016)
    model = api.load(str(ROOT / "bench" / "ticketlock.spec"), {"N": "3", "BUGGY": "true"})[2]
    r = explore(compile_model(model, ["mutex"]), bulk_after=0)
    assert r.verdict == VIOLATED and r.violation is not None and r.violation.name == "mutex"


def test_packing_round_trips_and_rejects_out_of_range() -> None:
    model = model_of("shared a: int[-3..5]\nshared b: bool\nshared c: int[0..1000]\nthread t { a = 1 }\n")
    pk = Packing.of(model)
    v = np.array([[-3, 5, 0], [0, 1, 1], [0, 1000, 999], [0, 1, 1]])
    assert (pk.unpack(pk.pack(v)) == v).all()
    with pytest.raises(Exception, match="outside its range"):
        pk.pack(np.array([[6], [0], [0], [0]]))


def test_a_local_dead_at_every_pc_takes_no_bits() -> None:
    """ticketlock's fetch_add temporary is dead everywhere: 2 words, not 3; a state where it
    is not 0 (a broken reset) is refused rather than stored wrongly."""
    model = api.load(str(ROOT / "bench" / "ticketlock.spec"), {"N": "6", "ITER": "3"})[2]
    pk = Packing.of(model)
    assert pk.words == 2
    tmp = next(i for i, s in enumerate(model.slots) if s.name == "w[0].<tmp>")
    assert pk.mask[tmp] == 0
    v = np.array(model.initial_state())[:, None]
    assert (pk.unpack(pk.pack(v)) == v).all()
    v[tmp] = 1
    with pytest.raises(Exception, match="outside its range"):
        pk.pack(v)


def test_store_deduplicates_at_high_load() -> None:
    """Growing through every index size up to load 0.7, with duplicates in and across batches."""
    rng = np.random.default_rng(11)
    store = Store(1, 1 << 17)
    seen: set[int] = set()
    for _ in range(12):
        keys = rng.integers(0, 100_000, size=(1, 20_000)).astype(np.uint64)
        ids, new = store.insert(keys, np.zeros(20_000, np.uint32))
        fresh = set(keys[0].tolist()) - seen
        assert int(new.sum()) == len(fresh) and set(keys[0, new].tolist()) == fresh
        seen |= fresh
        assert (store.rows(ids) == keys).all()
    assert store.n == len(seen)


def test_store_deduplicates_exactly() -> None:
    """Keys that collide in the index, and duplicates inside one batch, are told apart exactly."""
    rng = np.random.default_rng(7)
    store = Store(2, 1 << 12)
    seen: set[tuple[int, int]] = set()
    for _ in range(20):
        keys = rng.integers(0, 40, size=(2, 500)).astype(np.uint64)
        ids, new = store.insert(keys, np.zeros(500, np.uint32))
        pairs = [tuple(int(x) for x in keys[:, i]) for i in range(500)]
        fresh = {p for p in pairs if p not in seen}
        # each key not stored before is added once: one of its copies is marked new
        assert sorted(pairs[i] for i in np.nonzero(new)[0]) == sorted(fresh)
        seen |= fresh
        assert (store.rows(ids) == keys).all()
        again, new_again = store.insert(keys, np.zeros(500, np.uint32))
        assert (again == ids).all() and not new_again.any()
    assert store.n == len(seen)


@pytest.mark.parametrize("fork", [True, False])
def test_levels_split_into_chunks_give_the_same_search(monkeypatch: pytest.MonkeyPatch, fork: bool) -> None:
    """Small chunks: levels are expanded piecewise, by the forked worker or in process."""
    monkeypatch.setattr(vector, "CHUNK", 64)
    monkeypatch.setattr(vector, "FORK", fork)
    for path, defines, props in [
        (ROOT / "bench" / "ticketlock.spec", {"N": "4", "ITER": "2"}, None),
        (ROOT / "bench" / "ticketlock.spec", {"N": "3", "BUGGY": "true"}, ["mutex"]),
        (ROOT / "bench" / "ticketlock_localwork.spec", {"N": "3"}, None),
        (ROOT / "tests" / "corpus" / "ok" / "nested_lock_order.spec", {}, None),
        (ROOT / "tests" / "corpus" / "violation" / "lock_order_sequential.spec", {}, None),
        (ROOT / "tests" / "corpus" / "violation" / "deadlock_abba.spec", {}, None),
        (ROOT / "tests" / "corpus" / "violation" / "invariant_lost_update.spec", {}, None),
    ]:
        model = api.load(str(path), defines)[2]
        for reduce in (False, True):
            _compare(model, props, reduce, f"{path.name} {defines} chunked")


ABBA = """
shared a: spinlock
shared b: spinlock
shared x: int[0..8]
thread t[4] {
    var n: int[0..2]
  again:
    if self % 2 == 0 {
        spin_lock(a)
        spin_lock(b)
    } else {
        spin_lock(b)
        spin_lock(a)
    }
    x = x + 1
    spin_unlock(b)
    spin_unlock(a)
    if n < 1 {
        atomic { n = n + 1 }
        goto again
    }
}
"""


@pytest.mark.parametrize("fork", [True, False])
def test_lock_order_edges_seen_by_the_worker_count(monkeypatch: pytest.MonkeyPatch, fork: bool) -> None:
    """The lock-order graph is built from edges found in whichever process expanded them."""
    monkeypatch.setattr(vector, "CHUNK", 32)
    monkeypatch.setattr(vector, "FORK", fork)
    model = model_of(ABBA)
    c = compile_model(model, ["lock_order"])
    r = explore(c, bulk_after=0)
    assert r.verdict == VIOLATED and r.violation is not None and r.violation.kind == "lock_order"
    assert r.stats.states > 32 * 4  # levels really were split into chunks


def test_the_worker_reports_the_lock_order_edges_it_sees() -> None:
    model = model_of(
        "shared a: spinlock\nshared b: spinlock\nthread t {\n    spin_lock(a)\n    spin_lock(b)\n"
        "    spin_unlock(b)\n    spin_unlock(a)\n}\n"
    )
    c = compile_model(model)
    init = model.initial_state()
    pc_slot, table = c.tables[0]
    s1 = table[init[pc_slot]](init)  # t holds a
    handover = vector.Handover([init, s1], [-1, 0], [(0, 0), (0, 0)], [1], 1, 1, 0.0)
    search = vector._Search(c, handover, Limits(), None, None)
    worker = vector._Worker(search)
    try:
        worker.submit(1, 2)
        x = worker.result()
    finally:
        worker.close()
    assert [edge for edge, _ in x.edges] == [("a", "b")]
    assert c.lock_edges == {}  # seen in the worker: the search learns it from the result


# ---------------------------------------------------------------- int64 (issue 9, class 4)

#: Values past 64 bits: the bulk engine must not wrap them. Each spec, with `t` bumping a
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
    model = model_of(BIG_VALUES[name] + COUNTER)
    for props in (None, ["overflow"]):
        for reduce in (False, True):
            for bulk_after in (0, 3):
                _compare(model, props, reduce, f"{name} {props} {reduce}", bulk_after)


def test_the_bulk_engine_says_why_it_refuses_a_model() -> None:
    reasons = {name: supported(model_of(text + COUNTER)) for name, text in BIG_VALUES.items()}
    assert reasons["shift_in_range"] is None
    assert "1 << " in (reasons["shift_past_63_bits"] or "") and "64-bit" in (reasons["shift_past_63_bits"] or "")
    assert "past 64-bit" in (reasons["range_past_64_bits"] or "")
    # a reader mask past 63 bits cannot arise: check refuses more than 63 thread instances
