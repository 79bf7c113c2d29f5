"""Stage 2: names, types, params and -D overrides, each error with code, span and hint."""

from __future__ import annotations

import pytest

from modelcheck import semantics as T
from modelcheck.check import check
from modelcheck.diagnostics import SpecError
from modelcheck.parse import parse

BASE = """
param FIXED: bool = true
param MODE: {fast, slow} = fast
param SIZE: int[1..4] = 2
struct obj { l: spinlock, v: int[0..3] guarded_by l }
pool objs: obj[SIZE]
shared p: ref objs = objs[0]
lock m: mutex
"""


def errors(text: str, defines: dict[str, str] | None = None) -> list[tuple[int, str, str, str]]:
    with pytest.raises(SpecError) as info:
        check(parse(text, "t.spec"), defines)
    return [(d.span.line, d.code, d.message, d.hint) for d in info.value.diagnostics]


def test_params_take_defaults_and_overrides() -> None:
    spec = check(parse(BASE + "thread t { skip }", "t.spec"), {"FIXED": "false", "MODE": "slow", "SIZE": "3"})
    values = {n: T.format_value(ty, v) for n, ty, v in spec.params}
    assert values == {"FIXED": "false", "MODE": "slow", "SIZE": "3"}
    assert spec.pool("objs").size == 3


@pytest.mark.parametrize(
    ("defines", "fragment", "hint"),
    [
        ({"FIXD": "true"}, "no param named 'FIXD'", "did you mean 'FIXED'?"),
        ({"FIXED": "maybe"}, "expected a bool", "use true or false"),
        ({"MODE": "fats"}, "expected one of fast, slow", "did you mean 'fast'?"),
        ({"SIZE": "9"}, "out of range int[1..4]", ""),
        ({"SIZE": "two"}, "expected an integer", ""),
    ],
)
def test_bad_defines_are_diagnosed(defines: dict[str, str], fragment: str, hint: str) -> None:
    (err,) = errors(BASE + "thread t { skip }", defines)
    assert err[1] == "define" and fragment in err[2] and err[3] == hint


@pytest.mark.parametrize(
    ("stmt", "code", "fragment"),
    [
        ("x = 1", "name", "name 'x' is not defined"),
        ("spin_lock(m)", "lock", "spin_lock() needs a spinlock, but this is a mutex"),
        ("p.w = 1", "name", "struct 'obj' has no field 'w'"),
        ("p.v = true", "type", "expected int[0..3], found bool"),
        ("p.v = 7", "type", "7 is out of range for int[0..3]"),
        ("goto nowhere", "name", "no label 'nowhere'"),
        ("break", "structure", "break outside a while loop"),
        ("frob(p)", "name", "'frob' is not a builtin, proc or struct"),
        ("if p == 1 { skip }", "type", "cannot compare ref objs with int"),
        ("atomic { p = null\n await FIXED }", "structure", "await may only be the first statement"),
    ],
)
def test_statement_errors(stmt: str, code: str, fragment: str) -> None:
    errs = errors(BASE + "thread t {\n" + stmt + "\n}\n")
    assert any(e[1] == code and fragment in e[2] for e in errs), errs


def test_did_you_mean_for_misspelt_names() -> None:
    (err,) = errors(BASE + "thread t {\n spin_lock(p.l)\n p.v = 1\n spin_unlock(p.l)\n FIXD = true\n}\n")
    assert err[0] == 13 and err[3] == "did you mean 'FIXED'?"


def test_every_error_in_a_spec_is_reported_at_once() -> None:
    errs = errors(BASE + "thread t {\n a = 1\n b = 2\n}\n")
    assert [e[0] for e in errs] == [10, 11]


def test_recursive_procs_are_rejected() -> None:
    errs = errors("proc f() { g() }\nproc g() { f() }\nthread t { f() }")
    assert any(e[1] == "structure" and "recursive" in e[2] for e in errs)


def test_expect_must_name_a_property() -> None:
    errs = errors("invariant ok: true\nthread t { skip }\nexpect holds okk")
    assert errs[0][1] == "name" and errs[0][3] == "did you mean 'ok'?"


def test_a_spec_without_threads_is_an_error() -> None:
    errs = errors("shared x: bool")
    assert errs[0][1] == "structure" and "no thread" in errs[0][2]


def test_enum_members_resolve_by_context() -> None:
    text = (
        "struct a { s: {on, off} }\nstruct b { s: {off, broken} }\nshared x: a\nshared y: b\n"
        "thread t { x.s = off\n y.s = off\n}"
    )
    spec = check(parse(text, "t.spec"))
    assign = spec.threads[0].body[1]
    assert isinstance(assign, T.TAssign) and isinstance(assign.value, T.TConst) and assign.value.value == 0
