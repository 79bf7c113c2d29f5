"""Every engine held to the reference semantics (modelcheck/reference.py) on the spec
library and the corpus: the per-state explorer without reduction finds the same states,
transitions and shortest counterexamples; with partial-order reduction (through
`api.explicit_search`, which re-searches the shortest) the same verdict and length; per property
as well as for all properties. Generated specs are compared in tests/test_generated.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelcheck import api
from modelcheck.check import check
from modelcheck.codegen import compile_model
from modelcheck.explore import Limits, Result, explore
from modelcheck.lower import lower
from modelcheck.parse import read_spec
from modelcheck.reference import RefResult, Semantics, reference_check

from .helpers import model_of

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted(
    str(p.relative_to(ROOT))
    for pattern in ("specs/*.spec", "tests/corpus/ok/*.spec", "tests/corpus/violation/*.spec", "bench/*.spec")
    for p in ROOT.glob(pattern)
)


def agrees(result: Result, ref: RefResult, exact_counts: bool) -> str:
    """An empty string when an engine's result agrees with the reference, else why not."""
    assert ref.complete
    first = ref.first()
    if result.verdict == "HOLDS":
        if first is not None:
            return f"HOLDS, but the reference finds {ref.shortest}"
        if exact_counts and (result.stats.states, result.stats.transitions) != (len(ref.states), ref.transitions):
            return (
                f"{result.stats.states} states and {result.stats.transitions} transitions, "
                f"the reference {len(ref.states)} and {ref.transitions}"
            )
        return ""
    if result.verdict != "VIOLATED" or result.violation is None:
        return f"{result.verdict}: {result.reason}"
    v = result.violation
    if first is None:
        return f"VIOLATED {v.name} ({v.message}), but the reference finds nothing"
    names, length = first
    if v.name not in names or len(v.path) != length:
        return f"VIOLATED {v.name} in {len(v.path)} steps; the reference's shortest: {ref.shortest}"
    return ""


def _settings(path: str) -> list[dict[str, str]]:
    return api.param_settings(read_spec(str(ROOT / path)))[:4]


def _compare(path: str, per_property: bool) -> None:
    spec = read_spec(str(ROOT / path))
    for setting in _settings(path):
        model = lower(check(spec, setting))
        selections = [[name] for _, name in model.properties] if per_property else [None]
        for props in selections:
            ref = reference_check(model, props, max_states=50_000)
            if not ref.complete:
                continue
            compiled = compile_model(model, props)
            plain = explore(compiled, Limits(), engine="python")
            assert not agrees(plain, ref, exact_counts=True), (setting, props, agrees(plain, ref, True))
            reduced = api.explicit_search(model, compiled, props, Limits(), None, True)
            assert not agrees(reduced, ref, exact_counts=False), (setting, props, agrees(reduced, ref, False))


@pytest.mark.parametrize("path", FILES)
def test_explicit_engine_matches_the_reference(path: str) -> None:
    _compare(path, per_property=False)


@pytest.mark.slow
@pytest.mark.parametrize("path", FILES)
def test_explicit_engine_matches_the_reference_per_property(path: str) -> None:
    _compare(path, per_property=True)


def test_reference_counts_the_published_ticket_lock() -> None:
    model = model_of(
        (ROOT / "bench" / "ticketlock.spec").read_text(encoding="utf-8"),
        {"N": "3", "ITER": "1"},
    )
    ref = reference_check(model)
    assert ref.verdict == "HOLDS"
    plain = explore(compile_model(model), Limits(), engine="python")
    assert (len(ref.states), ref.transitions) == (plain.stats.states, plain.stats.transitions)


def test_reference_semantics_of_a_step() -> None:
    model = model_of(
        """
shared x: int[-8..8]
lock l: spinlock
thread t {
    spin_lock(l)
    atomic { x = (x - 5) / 2 }
    spin_unlock(l)
}
thread u {
    spin_unlock(l)
}
"""
    )
    sem = Semantics(model, ["invariant"])
    t = model.threads[0]
    s0 = model.initial_state()
    (take,) = sem.step(t, s0)
    assert take.state is not None and take.edges == ()
    (div,) = sem.step(t, take.state)
    assert div.state is not None and div.state[model.slots.index(next(s for s in model.slots if s.name == "x"))] == -2
    # with lock misuse not selected, another thread's unlock releases the lock
    (steal,) = sem.step(model.threads[1], take.state)
    assert steal.state is not None
    lock = model.locks[0].addr
    assert take.state[lock] == 1 and steal.state[lock] == 0
    # with it selected, the same unlock is the violation
    (misuse,) = Semantics(model, ["lock_misuse"]).step(model.threads[1], take.state)
    assert misuse.error is not None and model.errors[misuse.error].kind == "lock_misuse"


def test_reference_reports_every_violated_property_with_its_shortest_length() -> None:
    model = model_of(
        """
shared x: int[0..3]
thread t {
    x = 1
    x = 2
    assert late: x != 2
}
invariant one: x != 1
invariant two: x != 2
"""
    )
    ref = reference_check(model)
    assert ref.shortest == {"one": 1, "two": 2, "late": 3}  # the search goes on past violating states
    assert ref.first() == (frozenset({"one"}), 1)
    only_assert = reference_check(model, ["late"])
    assert only_assert.shortest == {"late": 3}


def test_an_unselected_assert_still_reads_its_condition() -> None:
    """`-p` does not change what threads do: the assert's read of a freed object is a use
    after free whether or not the assert itself is selected (every engine, as the reference)."""
    from modelcheck.smt import bmc

    model = model_of(
        """
struct o_t { v: int[0..1] }
pool os: o_t[1]
thread t { free(os[0]) }
thread u { assert a: os[0].v == 0 }
"""
    )
    props = ["use_after_free"]
    assert reference_check(model, props).shortest == {"use_after_free": 2}
    compiled = compile_model(model, props)
    plain = explore(compiled, Limits(), engine="python")
    native = explore(compile_model(model, props), Limits(), engine="native")
    assert not any("per state in Python" in n for n in native.notes), native.notes
    reduced = api.explicit_search(model, compile_model(model, props), props, Limits(), None, True)
    symbolic = bmc(compile_model(model, props), 3)
    for result in (plain, native, reduced, symbolic):
        assert result.verdict == "VIOLATED" and result.violation is not None
        assert (result.violation.kind, len(result.violation.path)) == ("use_after_free", 2)
