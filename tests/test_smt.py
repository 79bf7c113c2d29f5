"""The z3 engine: bounded model checking agrees with the explicit engine, and never passes
for a proof (a bound, a timeout or z3's `unknown` is UNKNOWN)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelcheck import api
from modelcheck.codegen import compile_model
from modelcheck.explore import explore
from modelcheck.smt import Gateway, bmc, prove

from .conftest import CORPUS, ROOT
from .helpers import model_of

VIOLATIONS = sorted((CORPUS / "violation").glob("*.spec"))


def _cases() -> list[tuple[Path, str]]:
    out = []
    for path in VIOLATIONS:
        _, checked, _ = api.load(str(path))
        for ex in checked.expects:
            if ex.active and ex.kind == "violation" and ex.prop != "lock_order":
                out.append((path, ex.prop))
    return out


CASES = _cases()


@pytest.mark.parametrize(("path", "prop"), CASES, ids=[f"{p.stem}-{q}" for p, q in CASES])
def test_bmc_finds_the_shortest_violation_the_explicit_engine_finds(path: Path, prop: str) -> None:
    _, _, model = api.load(str(path))
    c = compile_model(model, [prop] if prop else None)
    explicit = explore(c)
    assert explicit.violation is not None
    length = len(explicit.violation.path)
    symbolic = bmc(c, length + 1, timeout=None)
    assert symbolic.verdict == "VIOLATED" and symbolic.violation is not None
    assert len(symbolic.violation.path) == length
    assert prop in (symbolic.violation.kind, symbolic.violation.name)
    assert symbolic.engine == "bmc"


@pytest.mark.parametrize("racers", [1, 2, 3, 4])
def test_a_bad_state_at_depth_k_is_reported_before_a_step_failing_from_it(tmp_path: Path, racers: int) -> None:
    # At depth 1 both are satisfiable: x = 1 breaks the invariant in one step, and each
    # u_i's assert fails on the second step. The one-step path is the shortest.
    text = "shared x: int[0..2]\nshared y: int[0..2]\nthread t0 {\n  x = 1\n}\n"
    text += "".join(f"thread u{i} {{\n  y = 1\n  assert a{i}: y != 1\n}}\n" for i in range(racers))
    text += "invariant i: x != 1\n"
    spec = tmp_path / "both.spec"
    spec.write_text(text)
    _, _, model = api.load(str(spec))
    result = bmc(compile_model(model, ["invariant", "assert"]), 1, timeout=None)
    assert result.violation is not None
    assert (result.violation.kind, result.violation.path) == ("invariant", ((0, 0),))


def test_bmc_reports_unknown_within_its_bound_never_holds() -> None:
    remap = str(ROOT / "specs" / "remap.spec")
    run = api.run_check(remap, {"RACER": "retract"}, engine="bmc", depth=4)
    assert run.result.verdict == "UNKNOWN" and "no violation within 4 steps" in run.result.reason


def test_a_lock_order_cycle_is_left_to_the_explicit_engine() -> None:
    path = CORPUS / "violation" / "lock_order_sequential.spec"
    _, _, model = api.load(str(path))
    result = bmc(compile_model(model, ["lock_order"]), 12, timeout=None)
    assert result.verdict == "UNKNOWN" and "lock_order: not checked by this engine" in result.reason


def test_solver_unknown_is_reported_not_passed() -> None:
    import z3

    gw = Gateway(timeout_ms=1, rlimit=1)
    x = z3.BitVec("x", 64)
    gw.add(x * x * x + 7 * x * x == 123456789 * x + 987654321)
    outcome = gw.check()
    assert outcome.status in ("unknown", "sat", "unsat")
    if outcome.status == "unknown":
        assert outcome.reason


def test_cli_names_the_engine(tmp_path: Path) -> None:
    import io

    from modelcheck.cli import main

    out, err = io.StringIO(), io.StringIO()
    spec = CORPUS / "violation" / "bug_on.spec"
    code = main(["--engine", "bmc", "--depth", "6", str(spec)], out, err)
    assert code == 1, err.getvalue()
    assert "engine: bmc (z3, depth 6)" in out.getvalue() and "!! " in out.getvalue()


LIBRARY = sorted((ROOT / "specs").glob("*.spec"))


@pytest.mark.slow
@pytest.mark.parametrize("path", LIBRARY, ids=[p.stem for p in LIBRARY])
def test_bmc_agrees_on_the_first_counterexample_of_every_library_spec(path: Path) -> None:
    from modelcheck.check import check
    from modelcheck.lower import lower

    spec = api.read_spec(str(path))
    for setting in api.param_settings(spec):
        checked = check(spec, setting)
        model = lower(checked)
        lemmas = {lm.name for lm in model.lemmas}
        for ex in checked.expects:
            # lemmas are proved by z3 directly, and lock order is a property of all runs
            if ex.active and ex.kind == "violation" and ex.prop not in ("lock_order", "lemma", *lemmas):
                c = compile_model(model, [ex.prop] if ex.prop else None)
                explicit = explore(c)
                assert explicit.violation is not None
                length = len(explicit.violation.path)
                symbolic = bmc(c, length, timeout=None)
                assert symbolic.verdict == "VIOLATED" and symbolic.violation is not None
                assert len(symbolic.violation.path) == length
                return
    pytest.skip("no violation expectation")


LEMMAS = CORPUS / "ok" / "bits_lemmas.spec"


def test_lemmas_are_proved_or_refuted_with_a_concrete_value() -> None:
    from modelcheck.smt import prove_lemmas

    _, _, fixed = api.load(str(LEMMAS))
    assert {r.name: r.verdict for r in prove_lemmas(fixed)} == {
        "uffd_wp_is_readonly": "PROVED",
        "wrprotect_keeps_pfn": "PROVED",
        "build_and_read": "PROVED",
        "shifts": "PROVED",
    }
    _, _, sloppy = api.load(str(LEMMAS), {"SLOPPY": "true"})
    refuted = {r.name: r for r in prove_lemmas(sloppy) if r.verdict == "REFUTED"}
    assert list(refuted) == ["uffd_wp_is_readonly"]
    assert "(rw" in refuted["uffd_wp_is_readonly"].values[0][1]


def test_proved_lemmas_hold_on_sampled_values() -> None:
    import random

    from modelcheck.codegen import evaluate

    _, _, model = api.load(str(LEMMAS))
    rng = random.Random(0)
    for lemma in model.lemmas:
        for _ in range(300):
            values = []
            for _name, ty in lemma.params:
                lo, hi = (0, (1 << 64) - 1) if str(ty) == "pte64" else (0, 1) if str(ty) == "bool" else (0, 1000)
                values.append(rng.randint(lo, hi))
            assert evaluate(lemma.expr, tuple([0] * lemma.base + values)), (lemma.name, values)


def test_a_false_lemma_is_refuted_not_proved(tmp_path: Path) -> None:
    spec = tmp_path / "false.spec"
    spec.write_text("bits w { a @0, b @1..3 }\nlemma wrong(x: w): x.b < 7\nthread t { skip }\n")
    run = api.run_check(str(spec))
    assert run.result.verdict == "VIOLATED" and run.result.violation is not None
    assert run.result.violation.kind == "lemma" and "0x000000000000000e" in run.result.violation.message


def test_an_inductive_property_is_proved_for_runs_of_any_length(tmp_path: Path) -> None:
    spec = tmp_path / "gen.spec"
    spec.write_text(
        "shared gen: int[0..60000]\n"
        "ghost seen: int[0..60000]\n"
        "thread bump { while true { atomic { if gen < 60000 { gen = gen + 1 }\n seen = gen } } }\n"
        "thread reader { while true { atomic { assert seen_behind: seen <= gen } } }\n"
        "invariant seen_le_gen: seen <= gen\n"
    )
    run = api.run_check(str(spec), engine="prove", depth=3)
    assert run.result.verdict == "PROVED", run.result.reason
    assert "induction" in run.result.reason


def test_no_proof_is_found_for_a_spec_the_explicit_engine_refutes() -> None:
    for path, prop in CASES:
        _, _, model = api.load(str(path))
        c = compile_model(model, [prop] if prop else None)
        from modelcheck.smt import prove

        result = prove(c, 4, timeout=None)
        assert result.verdict in ("VIOLATED", "UNKNOWN"), (path.name, prop, result.reason)


def test_prove_states_why_it_found_no_proof() -> None:
    run = api.run_check(str(ROOT / "bench" / "ticketlock.spec"), engine="prove", depth=2)
    assert run.result.verdict == "UNKNOWN"
    assert "counterexample to induction" in run.result.reason and "w[" in run.result.reason


# ---------------------------------------------------------------- exact integers (issue 9, class 3)

#: spec -> the truth (the explicit engine's verdict); each wrapped or shifted logically in
#: too narrow bit-vectors before the widths came from the interval analysis.
EXACT = {
    "cube_violated": ("shared a: int[0..2000]\nthread t { a = 1024 }\ninvariant cube: a*a*a == 0 || a == 0\n", False),
    "cube_holds": ("shared a: int[0..2000]\nthread t { a = 1024 }\ninvariant cube: a*a*a != 0 || a == 0\n", True),
    "store_of_a_wrapped_product": (
        "shared a: int[0..70000]\nshared v: int[0..10]\nthread t { a = 65536\n v = a * a * a }\n",
        False,
    ),
    "shift_of_a_negative": ("shared x: int[-8..8]\nthread t { x = -4 }\ninvariant sh: (x >> 1) >= 0\n", False),
    "shift_floors": ("shared x: int[-8..8]\nthread t { x = -3 }\ninvariant sh: x == 0 || (x >> 1) == -2\n", True),
    "left_shift_of_a_negative": (
        "shared x: int[-8..8]\nthread t { x = -4 }\ninvariant sh: x == 0 || (x << 3) == -32\n",
        True,
    ),
    "big_left_shift": (
        "shared n: int[0..64]\nthread t { n = 40 }\ninvariant sh: (1 << n) > 1000000000000 || n < 40\n",
        True,
    ),
    "division_truncates": (
        "shared x: int[-8..8]\nthread t { x = -7 }\ninvariant d: x == 0 || (x / 2 == -3 && x % 2 == -1)\n",
        True,
    ),
    "division_is_not_floor": (
        "shared x: int[-8..8]\nthread t { x = -7 }\ninvariant d: x == 0 || x / 2 == -4\n",
        False,
    ),
    "and_of_a_negative": ("shared x: int[-8..8]\nthread t { x = -6 }\ninvariant b: x == 0 || (x & 3) == 2\n", True),
}


@pytest.mark.parametrize("name", list(EXACT))
def test_z3_computes_on_exact_integers(name: str) -> None:
    from modelcheck.smt import prove

    from .helpers import model_of

    text, holds = EXACT[name]
    c = compile_model(model_of(text))
    explicit = explore(c)
    assert explicit.verdict == ("HOLDS" if holds else "VIOLATED")
    proof = prove(c, 3, timeout=None)
    if holds:
        assert proof.verdict == "PROVED", proof.reason
        assert bmc(c, 4, timeout=None).verdict == "UNKNOWN"
    else:
        assert proof.verdict != "PROVED", proof.reason
        assert explicit.violation is not None
        symbolic = bmc(c, 4, timeout=None)
        assert symbolic.violation is not None, symbolic.reason
        assert len(symbolic.violation.path) == len(explicit.violation.path)
        assert symbolic.violation.name == explicit.violation.name


def test_shift_counts_out_of_range_are_violations_in_bmc() -> None:
    from .helpers import model_of

    for n in ("-1", "65", "1000000000"):
        text = f"shared n: int[-1..1000000000]\nshared v: int[0..3]\nthread t {{ n = {n}\n v = 1 << n }}\n"
        c = compile_model(model_of(text))
        explicit = explore(c)
        symbolic = bmc(c, 4, timeout=None)
        assert explicit.violation is not None and symbolic.violation is not None
        assert explicit.violation.message == symbolic.violation.message == "shift count out of range 0..64"
        assert len(symbolic.violation.path) == len(explicit.violation.path)


def test_lemmas_compute_on_exact_integers() -> None:
    from modelcheck.smt import prove_lemmas

    from .helpers import model_of

    model = model_of(
        "bits w { lo @0..7 }\n"
        "lemma halves(x: int[-8..8]): (x >> 1) <= 4\n"
        "lemma square(x: int[0..1099511627776]): x * x >= 0\n"
        "lemma word(x: w): (x >> 1) != x || x == 0\n"
        "lemma wide(x: int[0..4294967296]): x * x < 18446744073709551616\n"
        "thread t { skip }\n"
    )
    verdicts = {r.name: r.verdict for r in prove_lemmas(model)}
    assert verdicts == {"halves": "PROVED", "square": "PROVED", "word": "PROVED", "wide": "REFUTED"}


# ---------------------------------------------------------------- what z3 does not check (class 6)

LOCK_ORDER = """lock a: spinlock
lock b: spinlock
shared step: int[0..2]
thread t1 {
    spin_lock(a)
    spin_lock(b)
    spin_unlock(b)
    spin_unlock(a)
    step = 1
}
thread t2 {
    await step == 1
    spin_lock(b)
    spin_lock(a)
    spin_unlock(a)
    spin_unlock(b)
}
"""


@pytest.mark.parametrize("props", [["lock_order"], None])
def test_prove_never_passes_a_lock_order_it_does_not_check(tmp_path: Path, props: list[str] | None) -> None:
    spec = tmp_path / "order.spec"
    spec.write_text(LOCK_ORDER)
    explicit = api.run_check(str(spec), props=props)
    assert explicit.result.verdict == "VIOLATED" and explicit.result.violation is not None
    assert explicit.result.violation.kind == "lock_order"
    for engine in ("prove", "bmc"):
        run = api.run_check(str(spec), props=props, engine=engine, depth=3)
        assert run.result.verdict == "UNKNOWN", (engine, run.result.reason)
        assert "lock_order: not checked by this engine; use the explicit engine" in run.result.reason


def test_a_model_without_locks_can_be_proved_with_every_property(tmp_path: Path) -> None:
    spec = tmp_path / "nolocks.spec"
    spec.write_text("shared x: int[0..2]\nthread t { x = 1 }\ninvariant small: x <= 1\n")
    run = api.run_check(str(spec), engine="prove", depth=2)
    assert run.result.verdict == "PROVED" and "not checked" not in run.result.reason


# ---------------------------------------------------------------- the time budget


def test_an_expired_budget_asks_z3_nothing() -> None:
    import time

    import z3

    gw = Gateway(deadline=time.monotonic() - 1)
    gw.add(z3.BitVec("x", 8) == 1)
    outcome = gw.check()
    assert outcome.status == "unknown" and "timeout" in outcome.reason


def test_bmc_and_prove_stay_within_a_zero_budget() -> None:
    from modelcheck.smt import prove

    from .helpers import model_of

    c = compile_model(model_of(EXACT["cube_violated"][0]))
    for result in (bmc(c, 5, timeout=0), prove(c, 3, timeout=0)):
        assert result.verdict == "UNKNOWN", result.reason
        assert "timeout" in result.reason or "time ran out" in result.reason


def test_max_memory_stops_bmc_and_prove_with_unknown() -> None:
    c = compile_model(model_of("shared x: int[0..3]\nthread t { x = 1\n x = 2 }\ninvariant i: x != 3\n"))
    for result in (bmc(c, 3, max_memory=1), prove(c, 3, max_memory=1)):
        assert result.verdict == "UNKNOWN" and result.reason.startswith("--max-memory 1B reached")


def test_a_step_too_long_to_encode_is_unknown_not_a_traceback() -> None:
    ifs = "\n".join(f"    if v == {k % 3} {{ v = {(k + 1) % 3} }}" for k in range(1500))
    text = f"shared x: int[0..3]\nthread t {{\n    var v: int[0..3] = x\n{ifs}\n    x = v\n}}\ninvariant i: x != 3\n"
    c = compile_model(model_of(text))
    result = bmc(c, 2)
    assert result.verdict == "UNKNOWN"
