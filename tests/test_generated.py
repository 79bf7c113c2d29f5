"""The differential harness: every engine held to the reference semantics on generated specs.

`assert_engines_agree(text)` checks one spec: the explicit search without reduction (same
reachable states and transitions, same verdict, same shortest length), with partial-order
reduction (the same verdict; `api.search` gives the same shortest counterexample), the
compiled engine (`modelcheck.native`) from the first state: the same states, transitions,
verdict and shortest length with one worker and, on every other spec, with two; the same
verdict with reduction; with symmetry reduction, where `modelcheck.symmetry` finds a group
of identical thread instances, one state per orbit (as many as the reference's reachable
states have distinct canonical forms), the shortest length, and a concrete counterexample;
BMC at the depth of the shortest counterexample (same verdict and length; one step past the
search depth when nothing is violated) and k-induction (never PROVED when the reference
finds a violation). Every counterexample must replay. Properties named
`oracle...` hold in every spec the generator writes (tests/specgen.py): their violation
is a bug of every engine at once (lowering), which no comparison between engines sees.

The reference is `modelcheck.reference.reference_check`: it lists the shortest length of
every violated property, so an engine's property name is checked too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

import pytest

from modelcheck import api, native
from modelcheck.check import check
from modelcheck.codegen import Compiled, compile_model
from modelcheck.explore import RCU_THREAD, Limits, Result, Violation, explore
from modelcheck.ir import Model
from modelcheck.lower import lower
from modelcheck.parse import parse
from modelcheck.por import analyse
from modelcheck.reference import reference_check
from modelcheck.smt import bmc, prove
from modelcheck.symmetry import Symmetry, canonical, find_symmetry
from modelcheck.trace import build_trace
from tests.specgen import generate

MAX_STATES = 50_000  # the generator aims at a few thousand; bigger specs are skipped, counted
Z3_TIMEOUT: float | None = (
    None  # z3 is bounded by its deterministic rlimit (smt.RLIMIT); its UNKNOWN is never agreement nor a bug
)
Z3_RLIMIT = 50_000_000  # per query: a few seconds; past it z3's UNKNOWN is counted inconclusive
BMC_MAX_DEPTH = 10  # BMC "finds nothing" up to the search depth + 1, at most this deep

ENGINES = ("explicit", "reduction", "native", "bmc", "prove", "oracle")


@dataclass(frozen=True)
class Ref:
    """What the reference says about one spec and property selection."""

    states: int
    transitions: int
    shortest: dict[str, int]
    complete: bool
    first: tuple[frozenset[str], int] | None  # what a shortest-first search may report (RefResult.first)
    reached: frozenset[tuple[int, ...]] = frozenset()  # the reachable states


def reference(model: Model, props: Collection[str] | None) -> Ref:
    """The reference semantics' verdicts (modelcheck.reference)."""
    rr = reference_check(model, props, max_states=MAX_STATES)
    return Ref(len(rr.states), rr.transitions, dict(rr.shortest), rr.complete, rr.first(), rr.states)


class Disagreement(AssertionError):
    """An engine disagrees with the reference on a spec."""


@dataclass
class Tally:
    """How many comparisons each engine made (for the figures of a long run)."""

    specs: int = 0
    skipped: int = 0
    compared: dict[str, int] = dataclasses.field(default_factory=lambda: {e: 0 for e in ENGINES})
    inconclusive: dict[str, int] = dataclasses.field(default_factory=lambda: {e: 0 for e in ENGINES})
    symmetric: int = 0  # specs the compiled engine searched with symmetry reduction too
    orbits: int = 0  # of which a complete search (nothing violated) gave the number of orbits


def replays(c: Compiled, v: Violation) -> str | None:
    """None if the counterexample re-executes to its violation with the generated code, else why not."""
    if v.kind == "lock_order":
        return None if not v.path else "a lock-order violation has no path"
    build_trace(c, v)  # must not raise
    s = c.model.initial_state()
    for k, (tid, branch) in enumerate(v.path):
        last = k == len(v.path) - 1
        if tid == RCU_THREAD:
            options = dict(c.rcu_steps(s)) if c.rcu_steps is not None else {}
            if branch not in options:
                return f"step {k + 1}: RCU callback {branch} is not enabled"
            s = options[branch]
            continue
        pcslot, table = c.tables[tid]
        r = table[s[pcslot]](s)
        if isinstance(r, list):
            r = r[branch] if branch < len(r) else None
        if r is None:
            return f"step {k + 1}: thread {tid} cannot move"
        if isinstance(r, int):
            if last and v.failing_step and c.errors[r].name == v.name:
                return None
            return f"step {k + 1} fails with {c.errors[r].name}, expected {v.name if last else 'no failure'}"
        s = r
    if v.failing_step:
        return "the path ends without its failing step"
    bad = c.invariant(s)
    if v.kind == "deadlock":
        stuck = all(table[s[pc]](s) is None for pc, table in c.tables) and not c.done(s)
        stuck = stuck and not (c.rcu_steps is not None and list(c.rcu_steps(s)))
        return None if stuck else "the path does not end in a deadlock"
    if bad is not None and c.errors[bad].name == v.name:
        return None
    return f"the path ends without violating {v.name}"


def _fail(engine: str, text: str, props: Collection[str] | None, why: str) -> Disagreement:
    sel = f" (props={list(props)})" if props is not None else ""
    return Disagreement(f"{engine}{sel}: {why}\n--- spec ---\n{text}")


def _check_result(
    engine: str, text: str, props: Collection[str] | None, ref: Ref, c: Compiled, r: Result, exact_length: bool = True
) -> None:
    """Verdict, property and length of one engine's result against the reference; replay."""
    if r.verdict not in ("HOLDS", "VIOLATED"):
        raise _fail(engine, text, props, f"{r.verdict} ({r.reason}) where the reference completed")
    if not ref.shortest:
        if r.verdict != "HOLDS":
            v = r.violation
            assert v is not None
            raise _fail(engine, text, props, f"VIOLATED {v.name} in {len(v.path)} steps; the reference: HOLDS")
        return
    assert ref.first is not None
    names, best = ref.first  # a lock-order cycle (no path) is reported only when nothing else is violated
    if r.verdict != "VIOLATED" or r.violation is None:
        raise _fail(engine, text, props, f"HOLDS; the reference: violated {ref.shortest}")
    v = r.violation
    n = len(v.path)
    if exact_length and n != best:
        raise _fail(engine, text, props, f"{v.name} in {n} steps; the reference's shortest: {ref.shortest}")
    if not exact_length and n < best:
        raise _fail(engine, text, props, f"{v.name} in {n} steps, shorter than the reference's {ref.shortest}")
    if exact_length and v.name not in names:
        raise _fail(engine, text, props, f"{v.name} in {n} steps, not one of the reference's {ref.shortest}")
    why = replays(c, v)
    if why is not None:
        raise _fail(engine, text, props, f"the counterexample ({v.name}, {n} steps) does not replay: {why}")


def assert_engines_agree(
    text: str,
    props: Collection[str] | None = None,
    engines: Collection[str] = ENGINES,
    tally: Tally | None = None,
) -> None:
    """Check every selected engine against the reference on one spec; raise Disagreement if one differs.

    A traceback in any stage or engine is a disagreement too (the reference has a verdict)."""
    tally = tally if tally is not None else Tally()
    tally.specs += 1
    try:
        _agree(text, props, engines, tally)
    except Disagreement:
        raise
    except Exception as exc:
        raise _fail("traceback", text, props, f"{type(exc).__name__}: {exc}") from exc


def _agree(text: str, props: Collection[str] | None, engines: Collection[str], tally: Tally) -> None:
    model = lower(check(parse(text, "gen.spec")))
    ref = reference(model, props)
    if not ref.complete:
        tally.skipped += 1
        return
    c = compile_model(model, props)
    limits = Limits(max_states=MAX_STATES)
    plist = list(props) if props is not None else None
    if "oracle" in engines:
        tally.compared["oracle"] += 1
        broken = sorted(n for n in ref.shortest if n.startswith("oracle"))
        if broken:
            raise _fail("oracle", text, props, f"{broken} violated: these hold in every run of every generated spec")
        for _, name in model.properties:
            if name.startswith("oracle") and props is None:
                one = reference(model, [name])
                if one.complete and one.shortest.get(name) is not None:
                    raise _fail(
                        "oracle", text, [name], f"{name} violated in {one.shortest[name]} steps: it holds in every run"
                    )
    full: Result | None = None
    if "explicit" in engines:
        tally.compared["explicit"] += 1
        full = explore(c, limits, engine="python")
        _check_result("explicit", text, props, ref, c, full)
        if not ref.shortest and (full.stats.states, full.stats.transitions) != (ref.states, ref.transitions):
            raise _fail(
                "explicit",
                text,
                props,
                f"{full.stats} but the reference has {ref.states} states, {ref.transitions} transitions",
            )
    if "reduction" in engines:
        tally.compared["reduction"] += 1
        reduced = explore(c, limits, reduction=analyse(model, plist), engine="python")
        _check_result("reduction (raw)", text, props, ref, c, reduced, exact_length=False)
        shortest = api.search(model, c, plist, limits, engine="explicit", reduce=True)
        _check_result("reduction (api.search)", text, props, ref, c, shortest)
    if "native" in engines:
        _agree_native(text, props, model, c, ref, tally)
    stepwise = {n: k for n, k in ref.shortest.items() if n != "lock_order"}  # BMC and k-induction do not encode it
    if "bmc" in engines:
        if stepwise:
            best = min(stepwise.values())
            r = bmc(c, best, timeout=Z3_TIMEOUT, rlimit=Z3_RLIMIT)
            if r.verdict == "UNKNOWN" and "no violation within" not in r.reason:
                tally.inconclusive["bmc"] += 1
            else:
                tally.compared["bmc"] += 1
                sub = dataclasses.replace(ref, shortest=stepwise)
                _check_result("bmc", text, props, sub, c, r)
        elif not ref.shortest or ref.shortest == {"lock_order": 0}:
            depth = full.stats.depth if full is not None else explore(c, limits, engine="python").stats.depth
            r = bmc(c, min(depth + 1, BMC_MAX_DEPTH), timeout=Z3_TIMEOUT, rlimit=Z3_RLIMIT)
            if r.verdict == "VIOLATED":
                v = r.violation
                assert v is not None
                raise _fail(
                    "bmc",
                    text,
                    props,
                    f"VIOLATED {v.name} in {len(v.path)} steps; the reference: {ref.shortest or 'HOLDS'}",
                )
            if "no violation within" in r.reason:
                tally.compared["bmc"] += 1
            else:
                tally.inconclusive["bmc"] += 1
    if "prove" in engines:
        r = prove(c, 2, timeout=Z3_TIMEOUT, rlimit=Z3_RLIMIT)
        if r.verdict == "PROVED" and ref.shortest:
            raise _fail("prove", text, props, f"PROVED ({r.reason}) but the reference finds {ref.shortest}")
        if r.verdict == "VIOLATED":
            if not stepwise:
                raise _fail("prove", text, props, f"VIOLATED but the reference finds {ref.shortest or 'HOLDS'}")
            v = r.violation
            assert v is not None
            why = replays(c, v)
            if why is not None:
                raise _fail("prove", text, props, f"the counterexample does not replay: {why}")
        tally.compared["prove"] += 1


SYMMETRY_NOTE = "symmetry: states counted up to permutations of"


def _agree_native(text: str, props: Collection[str] | None, model: Model, c: Compiled, ref: Ref, tally: Tally) -> None:
    """The compiled engine against the reference: without symmetry (exact states and
    transitions), with reduction, and with symmetry where `find_symmetry` accepts the model."""
    if native.supported(model) is not None or native.compiler() is None:
        return
    limits = Limits(max_states=MAX_STATES)
    plist = list(props) if props is not None else None
    red = analyse(model, plist)
    sym = find_symmetry(model)  # the engine is built for every property: its symmetry is the model's
    runs = [(1, False, None), (1, False, red)]
    if tally.specs % 2:
        runs += [(2, False, None), (2, False, red)]
    if sym is not None:
        runs += [(1 + tally.specs % 2, True, None), (1 + tally.specs % 2, True, red)]
        tally.symmetric += 1
    tally.compared["native"] += 1
    for workers, symmetric, reduction in runs:
        what = f"native (workers={workers}{', symmetry' if symmetric else ''}{', reduction' if reduction else ''})"
        r = explore(c, limits, reduction=reduction, engine="native", workers=workers, symmetry=symmetric)
        fallback = [n for n in r.notes if "per state in Python" in n]
        if fallback and not all("has no room for it" in n for n in fallback):
            raise _fail(what, text, props, f"the compiled engine did not run: {fallback}")
        if fallback:  # a value past its packing: the per-state search finished the run
            tally.inconclusive["native"] += 1
            return
        _check_result(what, text, props, ref, c, r, exact_length=reduction is None)
        if reduction is None and not ref.shortest:
            counts = (r.stats.states, r.stats.transitions)
            if symmetric:
                assert sym is not None
                orbits = len({canonical(sym, s) for s in ref.reached})
                if r.stats.states != orbits:
                    why = f"{r.stats.states} states, but the reference's {ref.states} states make {orbits} orbits"
                    raise _fail(what, text, props, why)
                tally.orbits += 1
            elif counts != (ref.states, ref.transitions):
                why = f"{r.stats} but the reference has {ref.states} states, {ref.transitions} transitions"
                raise _fail(what, text, props, why)
        if symmetric != any(n.startswith(SYMMETRY_NOTE) for n in r.notes):
            groups = [g.decl for g in sym.groups] if sym is not None else "no group"
            raise _fail(what, text, props, f"find_symmetry found {groups}, the engine's notes are {r.notes}")
    if sym is not None and ref.shortest and props is None:
        _orbits_of_a_holding_selection(text, model, ref, sym, tally)


def _orbits_of_a_holding_selection(text: str, model: Model, ref: Ref, sym: Symmetry, tally: Tally) -> None:
    """Most symmetric specs violate something, and a violated search stops early: the orbit
    count is compared on the selection of the properties the reference finds no violation
    of (when there is one: a property kind selects every property of that kind)."""
    violated = set(ref.shortest)
    for _ in range(2):
        rest = sorted({n for _, n in model.properties} - violated)
        if not rest:
            return
        sub = reference(model, rest)
        if not sub.complete:
            return
        if sub.shortest:
            violated |= set(sub.shortest)
            continue
        c = compile_model(model, rest)
        r = explore(c, Limits(max_states=MAX_STATES), engine="native", workers=1, symmetry=True)
        if any("per state in Python" in n for n in r.notes):
            return
        orbits = len({canonical(sym, s) for s in sub.reached})
        if (r.verdict, r.stats.states) != ("HOLDS", orbits):
            why = f"{r.verdict} in {r.stats.states} states; the reference's {sub.states} states make {orbits} orbits"
            raise _fail("native (workers=1, symmetry)", text, rest, why)
        tally.orbits += 1
        return


def agree_per_property(
    text: str, engines: Collection[str] = ENGINES, tally: Tally | None = None, limit: int = 4
) -> None:
    """`assert_engines_agree` with one property selected at a time (the first `limit` of the spec's)."""
    model = lower(check(parse(text, "gen.spec")))
    names = sorted({n for _, n in model.properties if not n.startswith("oracle")})
    # the spec's own properties first: lock_misuse and the always-on ones hide least there
    names.sort(key=lambda n: n in ("deadlock", "lock_misuse", "lock_order", "use_after_free"))
    for name in names[:limit]:
        assert_engines_agree(text, [name], [e for e in engines if e != "oracle"], tally)


# ---------------------------------------------------------------- the minimal examples of issue 9

KNOWN = {
    1: """shared x: int[0..2]
shared y: int[0..2]
proc get() -> int[0..2] { return x }
thread t { atomic { y = get() } }
thread u { x = 2 }
thread v { var o: int[0..2]; atomic { o = get(); assert oracle1: o == x } }
thread w { assert oracle2: get() == x }
invariant zero: y == 0
""",
    2: """shared p1: int[0..2]
thread t1 { var a: int[0..3] = 0; a = p1 + 1; a = p1 }
thread t2 { var b: int[0..3] = 0; b = p1 + 1; b = p1 }
invariant not_both: !(t1.a == 1 && t2.b == 1)
""",
    3: """shared a: int[0..2048]
thread t { a = 1024 }
invariant cube: a * a * a == 0
""",
    4: """shared x: int[0..2]
shared w: int[0..4294967296] = 4294967296
thread t { x = w * w }
thread u[2] { w = w }
""",
    5: """lock l: spinlock
shared x: int[0..2]
thread t { spin_lock(l); x = 1; assert x == 1; spin_unlock(l) }
thread u { spin_unlock(l); spin_lock(l); x = 2; spin_unlock(l) }
""",
    6: """lock a: spinlock
lock b: spinlock
thread t1 { spin_lock(a); spin_lock(b); spin_unlock(b); spin_unlock(a) }
thread t2 { spin_lock(b); spin_lock(a); spin_unlock(a); spin_unlock(b) }
""",
}
KNOWN_PROPS: dict[int, list[str] | None] = {1: None, 2: None, 3: None, 4: None, 5: ["assert"], 6: ["lock_order"]}


@pytest.mark.parametrize("cls", sorted(KNOWN))
def test_known_bug_classes(cls: int) -> None:
    """The harness holds each of issue 9's minimal examples to the reference."""
    assert_engines_agree(KNOWN[cls], KNOWN_PROPS[cls])


#: Found by the harness (generate(1309) of the long run, minimized): lowering folds
#: `2 << 64` into the constant 2**65, which the compiled engine emitted as a C literal the
#: compiler truncated to 0: a false VIOLATED. `native.supported` now sends a model with a
#: constant (or an initial value) past int64 to the per-state search.
CONSTANT_PAST_INT64 = """shared y: int[0..2] = 1
thread t { y = 0 }
invariant i1: 2 << 64 != y
"""


def test_compiled_engine_keeps_a_constant_past_int64() -> None:
    assert_engines_agree(CONSTANT_PAST_INT64, None, ("explicit", "native"))


ASSERT_WITH_PROC = """shared x: int[0..2]
shared y: int[0..2]
proc get() -> int[0..2] {
    if x == 0 {
        return y
    }
    return x % 3
}
thread t0 {
    assert oracle1: (x == 0 ==> get() == y) && (x != 0 ==> get() == x % 3)
}
thread t1 { y = 1 }
"""


def test_assert_condition_with_a_proc_call_is_atomic() -> None:
    """docs/language.md 5.10: an assert's condition is evaluated in one step, however many
    shared reads it has; a proc called in it must not let another thread in between."""
    assert_engines_agree(ASSERT_WITH_PROC, None, ("oracle", "explicit"))


# ---------------------------------------------------------------- generated specs

SAMPLE = 30  # seeds 0..29: the CI-sized sample
NATIVE_SAMPLE = 20  # the compiled engine's part of it: a C compiler run per spec


def run_seeds(
    seeds: Iterable[int],
    engines: Collection[str],
    per_property: Callable[[int], bool] = lambda seed: False,
    tally: Tally | None = None,
) -> list[str]:
    """Check the specs of the given seeds; one line per disagreement or traceback (which names the seed)."""
    failures: list[str] = []
    tally = tally if tally is not None else Tally()
    for seed in seeds:
        text = generate(seed)
        try:
            assert_engines_agree(text, None, engines, tally)
            if per_property(seed):
                agree_per_property(text, engines, tally, limit=2)
        except Disagreement as exc:
            failures.append(f"generate({seed}): {exc}")
    return failures


def _report(failures: list[str], n: int) -> None:
    if failures:
        heads = "\n".join(f.split("\n", 1)[0] for f in failures)
        raise Disagreement(
            f"{len(failures)} of {n} generated specs disagree:\n{heads}\n\nthe first in full:\n{failures[0]}"
        )


@pytest.mark.parametrize(
    "engines", [("explicit",), ("oracle",), ("reduction",)], ids=["explicit", "oracle", "reduction"]
)
def test_generated_sample_agrees(engines: tuple[str, ...]) -> None:
    """A CI-sized sample of generated specs (fixed seeds): each engine agrees with the reference.

    z3 (BMC, k-induction) is held to it on a sample in tests/test_differential.py."""
    _report(run_seeds(range(SAMPLE), engines, per_property=lambda seed: seed % 5 == 0), SAMPLE)


@pytest.mark.skipif(native.compiler() is None, reason="no C compiler: the compiled engine cannot be built")
def test_generated_sample_agrees_compiled() -> None:
    """The first 20 seeds of the sample on the compiled engine: each spec is compiled once (the engine serves
    every property selection), then searched with one and two workers, with reduction, and
    with symmetry where the generator made the thread array symmetric."""
    tally = Tally()
    seeds = range(NATIVE_SAMPLE)
    _report(run_seeds(seeds, ("native",), per_property=lambda seed: seed % 5 == 0, tally=tally), NATIVE_SAMPLE)
    assert tally.compared["native"] >= NATIVE_SAMPLE // 2 and tally.symmetric > 0 and tally.orbits > 0, tally


LONG_SEEDS = 10_000
CHUNKS = 10
NATIVE_EVERY = 10  # the compiled engine on every tenth seed: its compiler costs ~0.5 s a spec


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_generated_long_run(chunk: int) -> None:
    """10,000 generated specs in chunks: explicit, reduction and oracles on every spec, the
    compiled engine on every tenth (seeds divisible by 10: about 1,000 specs, ~15 minutes of
    compiler and search), one property at a time on every hundredth, BMC and k-induction on
    every five-hundredth (z3 takes up to minutes on a spec: its own samples are in
    tests/test_differential.py)."""
    size = LONG_SEEDS // CHUNKS
    seeds = range(chunk * size, (chunk + 1) * size)
    fast = [s for s in seeds if s % 500]
    base = ("explicit", "oracle", "reduction")
    every = lambda seed: seed % 100 == 0  # noqa: E731
    failures = run_seeds([s for s in fast if s % NATIVE_EVERY], base, per_property=every)
    failures += run_seeds([s for s in fast if s % NATIVE_EVERY == 0], (*base, "native"), per_property=every)
    failures += run_seeds([s for s in seeds if s % 500 == 0], ENGINES)
    _report(failures, size)
