"""Stage 5: exhaustive search, exact counts, shortest counterexamples, bounds, the checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelcheck import api
from modelcheck.codegen import compile_model
from modelcheck.explore import Limits, explore

from .conftest import ROOT
from .helpers import model_of, run

TICKET = str(ROOT / "bench" / "ticketlock.spec")


def reference_ticketlock(n: int, iters: int) -> tuple[int, int]:
    """An independent plain BFS of bench/promela/ticketlock.pml, one state per d_step."""
    init = (0, 0, 0, 0, 0) + (0, 0, 0, 0) * n
    seen = {init}
    frontier = [init]
    trans = 0
    while frontier:
        nxt = []
        for s in frontier:
            for i in range(n):
                b = 5 + 4 * i
                pc, my, tmp, it = s[b : b + 4]
                t = list(s)
                if pc == 0 and it < iters:
                    t[b + 1], t[0], t[b] = s[0], s[0] + 1, 1
                elif pc == 0:
                    t[3], t[b] = s[3] + 1, 5
                elif pc == 1 and s[1] == my:
                    t[4], t[b] = s[4] + 1, 2
                elif pc == 2:
                    t[b + 2], t[b] = s[2], 3
                elif pc == 3:
                    t[2], t[b + 2], t[b] = tmp + 1, 0, 4
                elif pc == 4:
                    t[1], t[b + 1], t[b + 3], t[4], t[b] = s[1] + 1, 0, it + 1, s[4] - 1, 0
                else:
                    continue
                trans += 1
                tt = tuple(t)
                if tt not in seen:
                    seen.add(tt)
                    nxt.append(tt)
        frontier = nxt
    return len(seen), trans


@pytest.mark.parametrize(("n", "iters"), [(2, 1), (3, 1), (2, 2), (3, 2)])
def test_ticketlock_counts_match_an_independent_search(n: int, iters: int) -> None:
    """Without reduction every state is stored: the counts must equal a plain BFS's."""
    r = api.run_check(TICKET, {"N": str(n), "ITER": str(iters)}, reduce=False).result
    assert r.verdict == "HOLDS"
    assert (r.stats.states, r.stats.transitions) == reference_ticketlock(n, iters)
    reduced = api.run_check(TICKET, {"N": str(n), "ITER": str(iters)}).result
    assert reduced.verdict == "HOLDS" and reduced.stats.states <= r.stats.states


@pytest.mark.slow
def test_ticketlock_matches_the_published_spin_and_tlc_counts() -> None:
    r = api.run_check(TICKET, {"N": "5", "ITER": "2"}, reduce=False, symmetry=False).result
    assert (r.stats.states, r.stats.transitions) == (108_544, 257_280)


def test_lost_update_is_found_at_the_shortest_depth() -> None:
    r = api.run_check(TICKET, {"N": "2", "BUGGY": "true"}, ["mutex"]).result
    assert r.verdict == "VIOLATED" and r.violation is not None and r.violation.name == "mutex"
    # both threads read next (2), write it (2), pass await (2), and one asserts: 7 steps
    assert len(r.violation.path) == 7


def test_bounds_give_unknown_never_holds() -> None:
    text = "shared x: int[0..9]\nthread a {\n while true {\n  x = (x + 1) % 10\n }\n}\n"
    assert run(text).verdict == "HOLDS"
    r = run(text, limits=Limits(max_states=5))
    assert r.verdict == "UNKNOWN" and "--max-states 5" in r.reason
    r = run(text, limits=Limits(max_depth=3))
    assert r.verdict == "UNKNOWN" and "--max-depth 3" in r.reason


def test_deadlock_names_who_waits_for_whom() -> None:
    text = """
lock a: mutex
lock b: mutex
thread one {
    mutex_lock(a)
    mutex_lock(b)
    mutex_unlock(b)
    mutex_unlock(a)
}
thread two {
    mutex_lock(b)
    mutex_lock(a)
    mutex_unlock(a)
    mutex_unlock(b)
}
"""
    r = run(text, props=["deadlock"])
    assert r.verdict == "VIOLATED" and r.violation is not None and r.violation.kind == "deadlock"
    detail = "\n".join(r.violation.detail)
    assert "one waits for b (held by two)" in detail and "two waits for a (held by one)" in detail


def test_lock_order_cycle_is_found_without_a_deadlock() -> None:
    text = """
lock a: spinlock
lock b: spinlock
shared first_done: bool
thread one {
    spin_lock(a)
    spin_lock(b)
    spin_unlock(b)
    spin_unlock(a)
    first_done = true
}
thread two {
    await first_done
    spin_lock(b)
    spin_lock(a)
    spin_unlock(a)
    spin_unlock(b)
}
"""
    assert run(text, props=["deadlock"]).verdict == "HOLDS"
    r = run(text)
    assert r.verdict == "VIOLATED" and r.violation is not None and r.violation.kind == "lock_order"
    assert "a -> b -> a" in r.violation.message


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("spin_unlock(s)", "does not hold"),
        ("spin_lock(s)\n spin_lock(s)", "already holds"),
        ("spin_lock(s)\n mutex_lock(m)", "may sleep"),
        ("rcu_read_lock()\n mutex_lock(m)", "may sleep"),
        ("spin_lock(s)\n synchronize_rcu()", "synchronize_rcu() may sleep"),
        ("spin_lock(s)", "ends holding s"),
        ("rcu_read_lock()", "ends inside an RCU read section"),
    ],
)
def test_lock_misuse(body: str, fragment: str) -> None:
    text = f"lock s: spinlock\nlock m: mutex\nthread t {{\n {body}\n}}\n"
    r = run(text)
    assert r.verdict == "VIOLATED" and r.violation is not None and r.violation.kind == "lock_misuse"
    assert fragment in r.violation.message


RCU = """
struct node { v: int[0..3] }
pool nodes: node[1]
shared head: ref nodes = nodes[0]
param GRACE: bool = true
thread reader {
    rcu_read_lock()
    var n = READ_ONCE(head)
    if n != null {
        var x: int[0..3] = n.v
    }
    rcu_read_unlock()
}
thread updater {
    var old = head
    head = null
    if GRACE {
        free_rcu(old)
    } else {
        free(old)
    }
}
"""


def test_rcu_grace_period_protects_readers() -> None:
    assert run(RCU).verdict == "HOLDS"
    r = run(RCU, {"GRACE": "false"})
    assert r.verdict == "VIOLATED" and r.violation is not None and r.violation.kind == "use_after_free"


def test_the_first_violation_is_reported_and_others_can_be_selected() -> None:
    remap = str(ROOT / "specs" / "remap.spec")
    first = api.run_check(remap, {"RECHECK_PMD": "false"})
    assert first.result.violation is not None and first.result.violation.name == "BUG_ON"
    lost = api.run_check(remap, {"RECHECK_PMD": "false"}, ["no_pte_lost"])
    assert lost.result.violation is not None and lost.result.violation.name == "no_pte_lost"
    assert lost.trace is not None and lost.trace.steps[-1].thread == "mover"


def test_specs_library_expectations(tmp_path: Path) -> None:
    outcomes = api.test_spec(str(ROOT / "specs" / "remap.spec"))
    assert len(outcomes) == 8 and all(o.passed for o in outcomes)


_GRID = """
shared a: int[0..40]
shared b: int[0..40]
thread t { while a < 40 { a = a + 1 } }
thread u { while b < 40 { b = b + 1 } }
"""


@pytest.mark.parametrize("engine", ["python", "native"])
def test_max_memory_stops_either_search_with_unknown(engine: str) -> None:
    c = compile_model(model_of(_GRID))
    full = explore(c, Limits(), engine="python")
    assert full.verdict == "HOLDS" and full.stats.states == 14884
    # a cap below what the process already uses trips at the first check: every 1024
    # expansions in the per-state search, before the compiled engine's first batch
    stopped = explore(c, Limits(max_memory=1), engine=engine)
    assert not any("per state in Python" in n for n in stopped.notes), stopped.notes
    assert stopped.verdict == "UNKNOWN" and stopped.reason.startswith("--max-memory 1B reached")
    assert "complete to depth" in stopped.reason and stopped.stats.states < full.stats.states


@pytest.mark.parametrize("engine", ["explicit", "bmc"])
def test_timeout_counts_from_the_start_of_the_run(engine: str) -> None:
    # a run that began (by its Limits) 1,000 s ago is past --timeout 1 before its search:
    # no clock race, the stages before the search count
    import time

    spec = str(ROOT / "specs" / "remap.spec")
    limits = Limits(timeout=1.0, started=time.monotonic() - 1000)
    run_ = api.run_check(spec, limits=limits, engine=engine)
    assert run_.result.verdict == "UNKNOWN" and run_.result.stats.states == 0
    assert run_.result.reason == "--timeout 1s reached while the spec was compiled; no state was explored"
