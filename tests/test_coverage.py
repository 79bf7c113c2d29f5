"""Coverage: what a search executed and evaluated, the report, and VACUOUS expectations.

A statement reported "never reached" must be executed by no step of the explored graph,
and a check reported "never evaluated" must be evaluated by none; the per-state and the
compiled search, with and without reduction, must report the same coverage.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from modelcheck import api
from modelcheck.cli import main
from modelcheck.codegen import compile_model
from modelcheck.explore import HOLDS, UNKNOWN, Limits, Result, explore
from modelcheck.por import analyse
from modelcheck.render import render_result

from .conftest import CORPUS, ROOT
from .helpers import model_of
from .test_differential import specs

DEAD_BUG_ON = """\
shared x: int[0..3]
shared y: int[0..3]
lock l: spinlock
thread t {
    spin_lock(l)
    x = 1
    if x == 3 {
        BUG_ON(y == 0)
        y = 2
    }
    spin_unlock(l)
}
thread u {
    spin_lock(l)
    y = 1
    assert ok: y == 1
    spin_unlock(l)
}
"""

COVERED = """\
shared x: int[0..3]
lock l: spinlock
thread t[2] {
    spin_lock(l)
    BUG_ON(x == 3)
    if x == 0 { x = 1 } else { x = 2 }
    spin_unlock(l)
}
invariant small: x <= 2
"""


def _search(text: str, props: list[str] | None = None, **kw: object) -> tuple[api.Compiled, Result]:
    c = compile_model(model_of(text), props)
    return c, explore(c, **kw)  # type: ignore[arg-type]


def test_a_bug_on_in_a_dead_branch_is_never_evaluated() -> None:
    c, r = _search(DEAD_BUG_ON)
    assert r.verdict == HOLDS and r.coverage is not None and r.coverage.complete
    assert [(u.threads, u.first, u.last, u.texts) for u in r.coverage.unreached] == [
        (("t",), 8, 9, ("BUG_ON(y == 0)", "y = 2"))
    ]
    assert [(s.kind, s.span.line) for s in r.coverage.unevaluated] == [("assert", 8)]
    text = render_result(r, None, [])
    assert "never reached:\n  t: t.spec:8-9: BUG_ON(y == 0); y = 2\n" in text
    assert "never evaluated:\n  t.spec:8:9: BUG_ON(y == 0)\n" in text


def test_a_fully_covered_spec_reports_nothing() -> None:
    c, r = _search(COVERED)
    assert r.verdict == HOLDS and r.coverage is not None
    assert r.coverage.unreached == () and r.coverage.unevaluated == ()
    # the BUG_ON's condition ran (and was never true): it counts as evaluated
    assert any(c.errors[e].name == "BUG_ON" for e in r.coverage.sites)
    assert "never" not in render_result(r, None, [])


def test_a_bounded_search_says_its_coverage_is_partial() -> None:
    c, r = _search(COVERED, limits=Limits(max_depth=2))
    assert r.verdict == UNKNOWN and r.coverage is not None and not r.coverage.complete
    text = render_result(r, None, [])
    assert "never reached (in the part searched before the bound):" in text
    assert "t[0], t[1]: t.spec:3: end of thread" in text


def test_leading_local_code_run_into_the_initial_state_counts_as_reached() -> None:
    text = """\
shared x: int[0..3]
thread t {
    var a: int[0..3] = 1
    var b: int[0..3]
    if a == 1 {
        b = 2
    } else {
        b = 3
    }
    x = b
}
"""
    c, r = _search(text)
    assert r.coverage is not None
    # the arms of the if run only local code: they are told apart as (when true) / (when false)
    assert [(u.first, u.texts) for u in r.coverage.unreached] == [(5, ("if a == 1 (when false)",))]


def test_a_check_after_a_short_circuit_is_evaluated_only_when_the_left_side_lets_it() -> None:
    text = """\
struct s_t { f: int[0..1] guarded_by lk, lk: spinlock }
pool objs: s_t[1] allocated 1
shared flag: bool
shared x: int[0..1]
thread t {
    var p: ref objs = objs[0]
    if flag && p.f == 1 { x = 1 }
}
"""
    c, r = _search(text)
    assert r.coverage is not None
    assert sorted(s.name for s in r.coverage.unevaluated) == ["s_t.f.guarded_by", "use_after_free"]
    c, r = _search(text.replace("shared flag: bool", "shared flag: bool = true"), limits=Limits())
    assert r.verdict != HOLDS  # the read without the lock is then found


def test_a_check_in_a_guard_that_never_passes_is_evaluated() -> None:
    text = """\
struct o_t { v: int[0..1] }
pool objs: o_t[1] allocated 1
shared p: ref objs = objs[0]
thread t {
    await p.v == 1
}
"""
    c, r = _search(text, props=["null_deref"])
    assert r.verdict == HOLDS and r.coverage is not None
    # the thread never gets past the await, but its dereference of p is checked every time
    assert any(c.errors[e].kind == "null_deref" for e in r.coverage.sites)
    assert [(u.first, u.texts) for u in r.coverage.unreached] == [(5, ("await p.v == 1",)), (4, ("end of thread",))]


def _same_coverage(
    text: str, path: str = "t.spec", defines: dict[str, str] | None = None, must_compile: bool = True
) -> None:
    """Every search reports the per-state search's coverage; `must_compile`: the compiled
    engine must run the whole search (a value past int64 otherwise hands it back)."""
    model = api.load(path, defines)[2] if text == "" else model_of(text, defines)
    c = compile_model(model)
    full = explore(c, engine="python")
    if full.verdict != HOLDS:
        return
    assert full.coverage is not None
    red = analyse(model, None)
    for kw in ({"engine": "native"}, {"reduction": red, "engine": "python"}, {"reduction": red, "engine": "native"}):
        other = explore(c, **kw)  # type: ignore[arg-type]
        if must_compile:
            assert not any("per state in Python" in n for n in other.notes), (path, kw, other.notes)
        assert other.verdict == HOLDS and other.coverage is not None, (path, kw)
        assert other.coverage.nodes == full.coverage.nodes, (path, kw)
        assert other.coverage.sites == full.coverage.sites, (path, kw)


def test_compiled_and_per_state_searches_report_the_same_coverage() -> None:
    _same_coverage(DEAD_BUG_ON)
    _same_coverage(COVERED)
    _same_coverage("", str(ROOT / "bench" / "ticketlock.spec"), {"N": "3", "ITER": "2"})
    c = compile_model(model_of(DEAD_BUG_ON))
    compiled = explore(c, engine="native")
    assert not any("per state in Python" in n for n in compiled.notes), compiled.notes
    assert compiled.coverage is not None and [s.span.line for s in compiled.coverage.unevaluated] == [8]


@pytest.mark.parametrize("path", sorted(str(p) for p in (CORPUS / "ok").glob("*.spec")), ids=lambda p: Path(p).stem)
def test_corpus_coverage_is_the_same_with_reduction_and_compiled(path: str) -> None:
    _same_coverage("", path)


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(specs())
def test_reduction_does_not_lose_coverage_on_random_specs(text: str) -> None:
    _same_coverage(text, must_compile=False)


def test_expect_holds_of_a_property_never_evaluated_is_vacuous(tmp_path: Path) -> None:
    spec = tmp_path / "dead.spec"
    spec.write_text(DEAD_BUG_ON + "expect holds BUG_ON\nexpect holds ok\nexpect holds\n", encoding="utf-8")
    outcomes = api.test_spec(str(spec))
    assert [(o.prop, o.passed, o.vacuous) for o in outcomes] == [
        ("BUG_ON", True, True),
        ("ok", True, False),
        ("", True, False),  # `ok` was evaluated
    ]
    assert outcomes[2].detail.startswith("1 check never evaluated")
    out, err = io.StringIO(), io.StringIO()
    assert main(["test", str(spec)], out, err) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"VACUOUS {spec}:19 [defaults] expect holds BUG_ON: HOLDS")
    assert lines[0].endswith("vacuous: no check of BUG_ON was ever evaluated")
    assert lines[-1] == "3 passed (1 vacuous), 0 failed"
    out = io.StringIO()
    assert main(["test", "--strict", str(spec)], out, err) == 1
    assert out.getvalue().startswith("FAIL ") and out.getvalue().endswith("2 passed, 1 failed\n")


def test_expect_holds_of_a_spec_whose_properties_never_ran_is_vacuous(tmp_path: Path) -> None:
    spec = tmp_path / "never.spec"
    spec.write_text(
        "shared x: int[0..1]\nthread t {\n    if x == 1 { assert a: x == 0 }\n}\nexpect holds\nexpect holds deadlock\n",
        encoding="utf-8",
    )
    assert [(o.prop, o.vacuous) for o in api.test_spec(str(spec))] == [("", True), ("deadlock", False)]
