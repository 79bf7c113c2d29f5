"""Stage 4: generated code, property selection, and the trace/ITF data built from it."""

from __future__ import annotations

from modelcheck.codegen import compile_model
from modelcheck.explore import explore
from modelcheck.trace import build_trace, to_itf

from .helpers import model_of

SPEC = """
struct obj { l: spinlock, v: int[0..3] guarded_by l }
pool objs: obj[1]
shared n: int[0..3]
thread t {
    var k: int[0..1] = 1
    objs[0].v = 1
    choose {
        n = 1
    } or {
        assert second: k == 0
    }
}
invariant small: n < 3
"""


def test_unselected_properties_generate_no_checks() -> None:
    model = model_of(SPEC)
    everything = compile_model(model).source
    only_small = compile_model(model, ["small"]).source
    guarded = next(i for i, e in enumerate(model.errors) if e.kind == "guarded_by")
    assert f"return {guarded}" in everything and f"return {guarded}" not in only_small


def test_choose_yields_one_successor_per_branch_and_names_the_failing_branch() -> None:
    model = model_of(SPEC)
    c = compile_model(model, ["second"])
    result = explore(c)
    assert result.verdict == "VIOLATED" and result.violation is not None
    assert result.violation.path[-1] == (0, 1)
    trace = build_trace(c, result.violation)
    assert trace.steps[-1].failed and "[choose: branch 2 of 2]" in trace.steps[-1].text


def test_itf_export_has_meta_vars_and_one_state_per_step() -> None:
    model = model_of(SPEC)
    c = compile_model(model)
    result = explore(c)
    assert result.violation is not None
    trace = build_trace(c, result.violation)
    data = to_itf(c, result.violation, trace, "t.spec", {})
    assert data["#meta"]["format"] == "ITF"
    assert data["vars"] == [s.name for s in model.slots]
    assert len(data["states"]) == len(trace.states)
    assert data["states"][0]["n"] == 0


def _sequential_ifs(n: int) -> str:
    body = "".join(f"    if i == {k % 2} {{ j = j + 1 }}\n" for k in range(n))
    head = f"shared x: int[0..1]\nthread t {{\n    var i: int[0..1]\n    var j: int[0..{n}]\n"
    return f"{head}    x = 1\n{body}    x = 0\n}}\n"


def test_code_after_a_join_is_generated_once_not_per_path() -> None:
    # every `if` joins again; inlining the rest of the step into both branches doubled the
    # code at each one (14 ifs: 10 MB of Python, 15 s)
    small = len(compile_model(model_of(_sequential_ifs(6))).source)
    large = len(compile_model(model_of(_sequential_ifs(12))).source)
    assert large < 3 * small
    result = explore(compile_model(model_of(_sequential_ifs(12))))
    assert result.verdict == "HOLDS" and result.stats.states == 3


def test_a_trace_shows_computed_writes_to_proc_locals() -> None:
    # `a[j] = 0` stores a proc local's initial value through a computed address; the trace
    # used to take it for the reset of the proc's locals at its return and leave it out
    spec = """
shared x: int[0..3]
shared k: int[0..1]
proc p() {
    var a: int[0..3][2]
    var j: int[0..1] = READ_ONCE(k)
    a[j] = 2
    x = a[j]
    a[j] = 0
    x = a[j] + 1
}
thread t {
    p()
    assert ok: x == 0
}
"""
    c = compile_model(model_of(spec))
    result = explore(c)
    assert result.violation is not None
    trace = build_trace(c, result.violation)
    assert trace.steps[0].writes == (("p.a[0]", "2"), ("p.j", "0"))
    assert trace.steps[1].writes == (("x", "2"), ("p.a[0]", "0"))
    assert trace.steps[2].writes == (("x", "1"),)


def test_a_long_or_deeply_nested_step_compiles_and_runs() -> None:
    # 600 local ifs in one step: a chain of part functions called in a loop (calling each
    # other, they overflowed Python's stack); 3 procs of 48 nested ifs inlined into 48 more:
    # parts, not 192 levels of indentation (Python stops at 100)
    long = "shared x: int[0..1]\nthread t {\n    var i: int[0..3]\n    x = 1\n"
    long += "    if i == 0 { i = 1 } else { i = 0 }\n" * 600 + "    x = 0\n}\n"
    deep = "shared x: int[0..1]\n"
    for k in range(3):
        call = f"p{k - 1}()" if k else "j = 1"
        deep += f"proc p{k}() {{\n    var j: int[0..1]\n" + "if j == 0 {\n" * 48 + call + "\n" + "}\n" * 48 + "}\n"
    deep += "thread t {\n    var i: int[0..1]\n    x = 1\n" + "if i == 0 {\n" * 48 + "p2()\n" + "}\n" * 48 + "}\n"
    for spec in (long, deep):
        result = explore(compile_model(model_of(spec)))
        assert result.verdict == "HOLDS" and result.stats.states in (2, 3)
