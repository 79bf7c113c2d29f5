"""Stage 1: the grammar, the newline rules and syntax diagnostics."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelcheck import syntax as S
from modelcheck.diagnostics import SpecError
from modelcheck.parse import parse


def body(text: str) -> tuple[S.Stmt, ...]:
    spec = parse("thread t {\n" + text + "\n}\n", "t.spec")
    decl = spec.decls[0]
    assert isinstance(decl, S.ThreadDecl)
    return decl.body


def test_newlines_end_statements_and_semicolons_are_optional() -> None:
    assert len(body("x = 1\ny = 2")) == 2
    assert len(body("x = 1; y = 2;")) == 2


def test_lines_may_break_inside_brackets_after_operators_and_before_else() -> None:
    stmts = body("x = f(1,\n  2)\nif a &&\n   b {\n skip\n}\nelse {\n skip\n}")
    assert isinstance(stmts[0], S.AssignStmt)
    assert isinstance(stmts[1], S.IfStmt) and len(stmts[1].orelse) == 1


def test_bare_return_before_a_label_is_not_return_of_the_label() -> None:
    stmts = body("return\nout:\nx = 1")
    assert isinstance(stmts[0], S.ReturnStmt) and stmts[0].value is None
    assert isinstance(stmts[1], S.LabelStmt) and stmts[1].name == "out"


def test_every_node_carries_its_span() -> None:
    stmts = body("  spin_lock(t.ptl)")
    call = stmts[0]
    assert isinstance(call, S.CallStmt)
    assert (call.span.line, call.span.col) == (2, 3)
    arg = call.call.args[0]
    assert isinstance(arg, S.FieldAccess) and (arg.span.line, arg.span.col, arg.span.end_col) == (2, 13, 18)


def test_precedence_implies_or_and_comparison_arithmetic() -> None:
    spec = parse("invariant i: a || b && c == 1 + 2 * 3 ==> d\nthread t { skip }", "t.spec")
    inv = spec.decls[0]
    assert isinstance(inv, S.InvariantDecl)
    e = inv.expr
    assert isinstance(e, S.Binary) and e.op == "==>"
    assert isinstance(e.left, S.Binary) and e.left.op == "||"
    right = e.left.right
    assert isinstance(right, S.Binary) and right.op == "&&"


def test_expect_names_may_be_dotted_and_contract_kinds() -> None:
    spec = parse("expect violation table.pte.requires when X\nexpect holds\nthread t { skip }", "t.spec")
    a, b = spec.decls[0], spec.decls[1]
    assert isinstance(a, S.ExpectDecl) and a.prop == "table.pte.requires" and a.when is not None
    assert isinstance(b, S.ExpectDecl) and b.kind == "holds" and b.prop is None


@pytest.mark.parametrize(
    ("text", "line", "col", "fragment"),
    [
        ("thread x {\n  y = \n}", 3, 1, "unexpected '}'"),
        ("struct s { a: bool b: bool }", 1, 20, "unexpected 'b'"),
        ("thread x { y = 1 $ }", 1, 18, "unexpected character '$'"),
        ("thread x { y = 1 ", 1, 17, "unexpected end of file"),
    ],
)
def test_syntax_errors_point_at_the_token_with_expected_tokens(text: str, line: int, col: int, fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        parse(text, "bad.spec")
    (d,) = info.value.diagnostics
    assert (d.span.line, d.span.col, d.code) == (line, col, "syntax")
    assert fragment in d.message
    rendered = info.value.render()
    assert rendered.startswith(f"bad.spec:{line}:{col}: error: ")
    assert "^" in rendered


def test_missing_brace_hint_lists_the_expected_tokens() -> None:
    with pytest.raises(SpecError) as info:
        parse("struct s { a: bool b: bool }", "bad.spec")
    assert "'}'" in info.value.diagnostics[0].hint


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="thread x{}()[]=;:\n abc123_.,!&|<>+-*/%\"'", max_size=60))
def test_parser_never_crashes_on_arbitrary_text(text: str) -> None:
    try:
        parse(text, "fuzz.spec")
    except SpecError as exc:
        assert exc.diagnostics and exc.diagnostics[0].code == "syntax"
