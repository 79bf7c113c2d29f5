"""Stage 1, parse: spec text -> `syntax.Spec` (lark LALR, positions on every node).

The grammar is grammars/modelcheck.lark. Newlines end statements; `_Newlines`
(a lark post-lexer) drops the newline tokens that cannot end one, so users may
break lines inside brackets, after an operator, or before `else` / `{`.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.resources
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from . import syntax as S
from .diagnostics import Diagnostic, Span, SpecError

_BRACKETS_OPEN = {"(", "["}
_BRACKETS_CLOSE = {")", "]"}
# Words after which a statement cannot end.
_CONTINUING_WORDS = {
    "if",
    "while",
    "var",
    "goto",
    "param",
    "struct",
    "enum",
    "pool",
    "shared",
    "ghost",
    "lock",
    "thread",
    "proc",
    "expect",
    "await",
    "atomic",
    "choose",
    "forall",
    "exists",
    "in",
    "int",
    "ref",
    "else",
    "or",
    "when",
    "init",
    "allocated",
}
# Words that continue the previous line rather than start a statement.
_CONTINUATION_WORDS = {"else", "or", "when", "guarded_by", "requires", "allocated", "in"}


def _is_word(tok: Token) -> bool:
    return bool(tok.value) and (tok.value[0].isalpha() or tok.value[0] == "_")


def _can_end(tok: Token) -> bool:
    if tok.type == "INT":
        return True
    if _is_word(tok):
        return tok.value not in _CONTINUING_WORDS
    return tok.value in (")", "]", "}", ":")


def _can_start(tok: Token) -> bool:
    return _is_word(tok) and tok.value not in _CONTINUATION_WORDS


class _Newlines:
    """Post-lexer: keep a newline (or `;`) only where it can separate statements."""

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        depth = 0
        prev: Token | None = None
        pending: Token | None = None
        for tok in stream:
            if tok.type == "_NL":
                explicit = ";" in tok.value
                if explicit and depth > 0:
                    yield tok  # a `;` inside brackets is an error the parser reports
                    continue
                if depth == 0 and prev is not None and (explicit or _can_end(prev)) and (pending is None or explicit):
                    pending = tok
                continue
            if pending is not None:
                # a newline ends a statement only before the start of another; a `;` always does
                if ";" in pending.value or _can_start(tok) or tok.value == "}":
                    yield pending
                pending = None
            if tok.value in _BRACKETS_OPEN:
                depth += 1
            elif tok.value in _BRACKETS_CLOSE and depth > 0:
                depth -= 1
            prev = tok
            yield tok
        if pending is not None:
            yield pending


def grammar_text() -> str:
    """The grammar source, from the installed package or the source checkout."""
    try:
        res = importlib.resources.files("modelcheck") / "grammars" / "modelcheck.lark"
        if res.is_file():
            return res.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        pass
    here = Path(__file__).resolve().parent.parent / "grammars" / "modelcheck.lark"
    return here.read_text(encoding="utf-8")


@functools.cache
def _parser() -> Lark:
    return Lark(
        grammar_text(),
        parser="lalr",
        lexer="basic",
        postlex=_Newlines(),
        propagate_positions=True,
        maybe_placeholders=False,
        cache=True,  # the LALR tables, keyed by the grammar's hash, in the temp directory
    )


def parse(text: str, file: str = "<string>") -> S.Spec:
    """Parse spec text into a `syntax.Spec`; raise SpecError on a syntax error."""
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        raise SpecError([_syntax_diagnostic(exc, file, text)], text) from None
    problem = _too_deep(tree, file)
    if problem is not None:
        raise SpecError([problem], text)
    decls = _ToAst(file).transform(tree)
    return S.Spec(file=file, source=text, decls=tuple(decls))


#: At most this many blocks inside one another (`if`, `while`, `atomic`, `choose`,
#: `else if`), and expressions at most this many operators deep (`a + b + c` is two):
#: every stage and the generated Python code nest as deep (docs/language.md, "Known limits").
MAX_NESTING = 50
# Rules whose children are a flat chain of operands: `a + b + c` becomes two levels.
_CHAINS = {
    "or_expr",
    "and_expr",
    "cmp_expr",
    "bor_expr",
    "bxor_expr",
    "band_expr",
    "shift_expr",
    "sum_expr",
    "prod_expr",
}


def _too_deep(tree: Tree[Token], file: str) -> Diagnostic | None:
    """The first place where blocks or an expression nest deeper than `MAX_NESTING`.

    Walks the lark tree with an explicit stack, before any stage recurses over it.
    """
    stack: list[tuple[Tree[Token], int, int, Any]] = [(tree, 0, 0, tree.meta)]
    while stack:
        node, blocks, depth, meta = stack.pop()
        if not getattr(node.meta, "empty", True):
            meta = node.meta
        name = str(node.data)
        if name == "block":
            blocks += 1
            if blocks > MAX_NESTING:
                return Diagnostic(
                    _span(file, meta),
                    "limit",
                    f"blocks nest {blocks} deep here, more than the {MAX_NESTING} modelcheck supports",
                    "move the inner code into a proc, or use `else if` sparingly",
                )
        statement = name in ("start", "block") or name.endswith(("_stmt", "_decl"))
        depth = 0 if statement else depth + 1
        if depth > MAX_NESTING:
            return Diagnostic(
                _span(file, meta),
                "limit",
                f"this expression nests {depth} operators deep, more than the {MAX_NESTING} modelcheck supports",
                "split it with a local variable or a pure function",
            )
        children = [c for c in node.children if isinstance(c, Tree)]
        operand = [not str(c.data).endswith("_op") for c in children]
        k = sum(operand) if name in _CHAINS else 0
        i = k
        for c, is_operand in zip(reversed(children), reversed(operand), strict=True):
            extra = 0
            if k > 1 and is_operand:
                # left-associative: operand i sits under the k - i operators after it
                i -= 1
                extra = k - 1 - max(i, 1)
            stack.append((c, blocks, depth + extra, meta))
    return None


def read_spec(path: str) -> S.Spec:
    """Read and parse a spec file; a missing or unreadable file is a SpecError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        span = Span(path, 0, 0, 0, 0)
        raise SpecError([Diagnostic(span, "file", f"cannot read spec: {reason}")]) from None
    return parse(text, path)


# ---------------------------------------------------------------- errors

_TOKEN_WORDS = {
    "NAME": "a name",
    "INT": "a number",
    "_NL": "end of line",
    "$END": "end of file",
    "CMP_OP": "a comparison",
    "SHIFT_OP": "'<<' or '>>'",
    "MUL_OP": "'*', '/' or '%'",
    "VARKIND": "'shared' or 'ghost'",
    "EXPECT_KIND": "'holds' or 'violation'",
    "QUANT": "'forall' or 'exists'",
}


def _describe_terminal(name: str) -> str:
    if name in _TOKEN_WORDS:
        return _TOKEN_WORDS[name]
    try:
        term = _parser().get_terminal(name)
    except KeyError:
        return name
    pattern = term.pattern
    if pattern.type == "str":
        return f"'{pattern.value}'"
    return name.lower()


def _describe_token(tok: Token) -> str:
    if tok.type == "$END":
        return "end of file"
    if tok.type == "_NL":
        return "end of line" if ";" not in tok.value else "';'"
    return f"'{tok.value}'"


def _syntax_diagnostic(exc: UnexpectedInput, file: str, text: str) -> Diagnostic:
    line = getattr(exc, "line", 0) or 0
    col = getattr(exc, "column", 0) or 0
    expected: set[str] = set()
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        expected = set(exc.expected or ())
        if exc.interactive_parser is not None:
            with contextlib.suppress(UnexpectedInput):
                expected = set(exc.interactive_parser.accepts())  # type: ignore[no-untyped-call]
        if tok.type == "$END" or line <= 0:
            line, col = _end_position(text)
        what = _describe_token(tok)
        width = max(1, len(tok.value)) if tok.type not in ("$END", "_NL") else 1
        message = f"unexpected {what}"
    elif isinstance(exc, UnexpectedCharacters):
        width = 1
        message = f"unexpected character {exc.char!r}"
    elif isinstance(exc, UnexpectedEOF):
        width = 1
        message = "unexpected end of file"
        expected = set(exc.expected or ())
    else:  # pragma: no cover - lark has no other kinds
        width = 1
        message = str(exc)
    closing = {"'}'", "')'", "']'"}
    words = sorted(
        {_describe_terminal(e) for e in expected if not e.startswith("__")}, key=lambda w: (w not in closing, w)
    )
    hint = ""
    if words:
        shown = words[:10]
        hint = "expected " + (", ".join(shown[:-1]) + " or " + shown[-1] if len(shown) > 1 else shown[0])
        if len(words) > len(shown):
            hint += ", ..."
    span = Span(file, max(line, 1), max(col, 1), max(line, 1), max(col, 1) + width)
    return Diagnostic(span, "syntax", message, hint)


def _end_position(text: str) -> tuple[int, int]:
    """The line and column just after the last character of `text`."""
    lines = text.rstrip().split("\n")
    return len(lines), len(lines[-1]) + 1


# ---------------------------------------------------------------- tree -> AST


def _span(file: str, meta: Any) -> Span:
    if getattr(meta, "empty", False):
        return Span(file, 0, 0, 0, 0)
    return Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


def _tok_span(file: str, tok: Token) -> Span:
    return Span(file, tok.line or 0, tok.column or 0, tok.end_line or 0, tok.end_column or 0)


@v_args(meta=True)
class _ToAst(Transformer[Token, Any]):
    """Turn the lark tree into frozen `syntax` nodes."""

    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file

    def _s(self, meta: Any) -> Span:
        return _span(self.file, meta)

    # top level
    def start(self, meta: Any, items: list[Any]) -> list[Any]:
        return list(items)

    def param_decl(self, meta: Any, items: list[Any]) -> S.ParamDecl:
        name, ty, default = items
        return S.ParamDecl(self._s(meta), str(name), ty, default)

    def enum_decl(self, meta: Any, items: list[Any]) -> S.EnumDecl:
        return S.EnumDecl(self._s(meta), str(items[0]), tuple(str(t) for t in items[1:]))

    def struct_decl(self, meta: Any, items: list[Any]) -> S.StructDecl:
        return S.StructDecl(self._s(meta), str(items[0]), tuple(items[1:]))

    def field_name(self, meta: Any, items: list[Any]) -> str:
        return str(items[0])

    def ghost_mark(self, meta: Any, items: list[Any]) -> str:
        return "ghost"

    def field(self, meta: Any, items: list[Any]) -> S.FieldDecl:
        ghost = items[0] == "ghost" and not isinstance(items[0], Token)
        if ghost:
            items = items[1:]
        name, ty, *rest = items
        default = None
        guarded = None
        requires = None
        for item in rest:
            if isinstance(item, tuple) and item[0] == "guarded_by":
                guarded = item[1]
            elif isinstance(item, tuple) and item[0] == "requires":
                requires = item[1]
            else:
                default = item
        return S.FieldDecl(self._s(meta), str(name), ty, default, guarded, requires, ghost)

    def guarded_by(self, meta: Any, items: list[Any]) -> tuple[str, Any]:
        return ("guarded_by", items[0])

    def requires(self, meta: Any, items: list[Any]) -> tuple[str, Any]:
        return ("requires", items[0])

    def pool_decl(self, meta: Any, items: list[Any]) -> S.PoolDecl:
        name, struct, size, *rest = items
        return S.PoolDecl(self._s(meta), str(name), str(struct), size, rest[0] if rest else None)

    def var_decl(self, meta: Any, items: list[Any]) -> S.VarDecl:
        kind, name, ty, *rest = items
        return S.VarDecl(self._s(meta), str(kind), str(name), ty, rest[0] if rest else None)

    def lock_decl(self, meta: Any, items: list[Any]) -> S.VarDecl:
        name, ty = items
        return S.VarDecl(self._s(meta), "shared", str(name), ty, None)

    def thread_decl(self, meta: Any, items: list[Any]) -> S.ThreadDecl:
        name = items[0]
        count = items[1] if len(items) == 3 else None
        return S.ThreadDecl(self._s(meta), str(name), count, items[-1])

    def proc_decl(self, meta: Any, items: list[Any]) -> S.ProcDecl:
        name = str(items[0])
        params = tuple(p for p in items[1:] if isinstance(p, S.ProcParam))
        rest = [p for p in items[1:] if not isinstance(p, S.ProcParam)]
        ret = rest[0] if len(rest) == 2 else None
        return S.ProcDecl(self._s(meta), name, params, ret, rest[-1])

    def proc_param(self, meta: Any, items: list[Any]) -> S.ProcParam:
        return S.ProcParam(self._s(meta), str(items[0]), items[1])

    def var_kind(self, meta: Any, items: list[Any]) -> str:
        return str(items[0])

    def expect_kind(self, meta: Any, items: list[Any]) -> str:
        return str(items[0])

    def quant_kind(self, meta: Any, items: list[Any]) -> str:
        return str(items[0])

    def add_op(self, meta: Any, items: list[Any]) -> str:
        return str(items[0])

    def unary_op(self, meta: Any, items: list[Any]) -> str:
        return str(items[0])

    def prop_name(self, meta: Any, items: list[Any]) -> S.PropName:
        return S.PropName("".join(str(t) for t in items))

    def bits_decl(self, meta: Any, items: list[Any]) -> S.BitsDecl:
        return S.BitsDecl(self._s(meta), str(items[0]), tuple(items[1:]))

    def bit_field(self, meta: Any, items: list[Any]) -> S.BitField:
        lo = int(str(items[1]), 0)
        hi = int(str(items[2]), 0) if len(items) > 2 else lo
        return S.BitField(self._s(meta), str(items[0]), lo, hi)

    def fn_decl(self, meta: Any, items: list[Any]) -> S.FnDecl:
        params = tuple(p for p in items[1:] if isinstance(p, S.ProcParam))
        rest = [p for p in items[1:] if not isinstance(p, S.ProcParam)]
        return S.FnDecl(self._s(meta), str(items[0]), params, rest[0], rest[1])

    def lemma_decl(self, meta: Any, items: list[Any]) -> S.LemmaDecl:
        params = tuple(p for p in items[1:] if isinstance(p, S.ProcParam))
        return S.LemmaDecl(self._s(meta), str(items[0]), params, items[-1])

    def bor_op(self, meta: Any, items: list[Any]) -> str:
        return str(items[0])

    bxor_op = bor_op
    band_op = bor_op

    def init_decl(self, meta: Any, items: list[Any]) -> S.InitDecl:
        return S.InitDecl(self._s(meta), items[0])

    def invariant_decl(self, meta: Any, items: list[Any]) -> S.InvariantDecl:
        return S.InvariantDecl(self._s(meta), str(items[0]), items[1])

    def expect_decl(self, meta: Any, items: list[Any]) -> S.ExpectDecl:
        kind = str(items[0])
        prop: str | None = None
        when = None
        for item in items[1:]:
            if isinstance(item, S.PropName):
                prop = str(item)
            else:
                when = item
        return S.ExpectDecl(self._s(meta), kind, prop, when)

    # types
    def bool_type(self, meta: Any, items: list[Any]) -> S.BoolType:
        return S.BoolType(self._s(meta))

    def int_type(self, meta: Any, items: list[Any]) -> S.IntType:
        return S.IntType(self._s(meta), items[0], items[1])

    def inline_enum(self, meta: Any, items: list[Any]) -> S.InlineEnumType:
        return S.InlineEnumType(self._s(meta), tuple(str(t) for t in items))

    def ref_type(self, meta: Any, items: list[Any]) -> S.RefType:
        return S.RefType(self._s(meta), str(items[0]))

    def array_type(self, meta: Any, items: list[Any]) -> S.ArrayType:
        return S.ArrayType(self._s(meta), items[0], items[1])

    def named_type(self, meta: Any, items: list[Any]) -> S.NamedType:
        return S.NamedType(self._s(meta), str(items[0]))

    # statements
    def block(self, meta: Any, items: list[Any]) -> tuple[S.Stmt, ...]:
        out: list[S.Stmt] = []
        for item in items:
            if isinstance(item, list):
                out.extend(item)
            else:
                out.append(item)
        return tuple(out)

    def var_stmt(self, meta: Any, items: list[Any]) -> S.VarStmt:
        name = str(items[0])
        ty = None
        init = None
        for item in items[1:]:
            if isinstance(item, S.TypeExpr.__args__):
                ty = item
            else:
                init = item
        return S.VarStmt(self._s(meta), name, ty, init)

    def assign_stmt(self, meta: Any, items: list[Any]) -> S.AssignStmt:
        return S.AssignStmt(self._s(meta), items[0], items[1])

    def call_stmt(self, meta: Any, items: list[Any]) -> S.CallStmt:
        args = tuple(items[1]) if len(items) > 1 else ()
        span = self._s(meta)
        return S.CallStmt(span, S.Call(span, items[0], args))

    def if_stmt(self, meta: Any, items: list[Any]) -> S.IfStmt:
        cond, then, *rest = items
        orelse: tuple[S.Stmt, ...] = ()
        if rest:
            orelse = rest[0] if isinstance(rest[0], tuple) else (rest[0],)
        return S.IfStmt(self._s(meta), cond, then, orelse)

    def while_stmt(self, meta: Any, items: list[Any]) -> S.WhileStmt:
        return S.WhileStmt(self._s(meta), items[0], items[1])

    def goto_stmt(self, meta: Any, items: list[Any]) -> S.GotoStmt:
        return S.GotoStmt(self._s(meta), str(items[0]))

    def label_stmt(self, meta: Any, items: list[Any]) -> list[S.Stmt]:
        tok = items[0]
        out: list[S.Stmt] = [S.LabelStmt(_tok_span(self.file, tok), str(tok))]
        for item in items[1:]:  # the labelled statement, itself maybe labelled (`a: b: x = 1`)
            out.extend(item if isinstance(item, list) else [item])
        return out

    def return_stmt(self, meta: Any, items: list[Any]) -> S.ReturnStmt:
        return S.ReturnStmt(self._s(meta), items[0] if items else None)

    def atomic_stmt(self, meta: Any, items: list[Any]) -> S.AtomicStmt:
        return S.AtomicStmt(self._s(meta), items[0])

    def choose_stmt(self, meta: Any, items: list[Any]) -> S.ChooseStmt:
        return S.ChooseStmt(self._s(meta), tuple(items))

    def await_stmt(self, meta: Any, items: list[Any]) -> S.AwaitStmt:
        return S.AwaitStmt(self._s(meta), items[0])

    def assert_stmt(self, meta: Any, items: list[Any]) -> S.AssertStmt:
        if len(items) == 2:
            return S.AssertStmt(self._s(meta), str(items[0]), items[1])
        return S.AssertStmt(self._s(meta), None, items[0])

    def skip_stmt(self, meta: Any, items: list[Any]) -> S.SkipStmt:
        return S.SkipStmt(self._s(meta))

    def break_stmt(self, meta: Any, items: list[Any]) -> S.BreakStmt:
        return S.BreakStmt(self._s(meta))

    def continue_stmt(self, meta: Any, items: list[Any]) -> S.ContinueStmt:
        return S.ContinueStmt(self._s(meta))

    # expressions
    def implies_expr(self, meta: Any, items: list[Any]) -> S.Expr:
        return S.Binary(self._s(meta), "==>", items[0], items[1])

    def or_expr(self, meta: Any, items: list[Any]) -> S.Expr:
        return self._fold(meta, "||", items)

    def and_expr(self, meta: Any, items: list[Any]) -> S.Expr:
        return self._fold(meta, "&&", items)

    def _fold(self, meta: Any, op: str, items: list[Any]) -> S.Expr:
        acc: S.Expr = items[0]
        for item in items[1:]:
            acc = S.Binary(_join(acc.span, item.span), op, acc, item)
        return acc

    def _fold_ops(self, meta: Any, items: list[Any]) -> S.Expr:
        """A left-associative chain `a OP b OP c ...` (the operator tokens are in `items`)."""
        acc: S.Expr = items[0]
        for i in range(1, len(items), 2):
            op, rhs = items[i], items[i + 1]
            acc = S.Binary(_join(acc.span, rhs.span), str(op), acc, rhs)
        return acc

    cmp_expr = sum_expr = prod_expr = bor_expr = bxor_expr = band_expr = shift_expr = _fold_ops

    def unary(self, meta: Any, items: list[Any]) -> S.Expr:
        return S.Unary(self._s(meta), str(items[0]), items[1])

    def quant(self, meta: Any, items: list[Any]) -> S.Quant:
        kind, var, pool, body = items
        return S.Quant(self._s(meta), str(kind), str(var), str(pool), body)

    def field_access(self, meta: Any, items: list[Any]) -> S.FieldAccess:
        return S.FieldAccess(self._s(meta), items[0], str(items[1]))

    def index_access(self, meta: Any, items: list[Any]) -> S.IndexAccess:
        return S.IndexAccess(self._s(meta), items[0], items[1])

    def call(self, meta: Any, items: list[Any]) -> S.Call:
        args = tuple(items[1]) if len(items) > 1 else ()
        return S.Call(self._s(meta), items[0], args)

    def args(self, meta: Any, items: list[Any]) -> list[Any]:
        return list(items)

    def kwarg(self, meta: Any, items: list[Any]) -> S.KwArg:
        return S.KwArg(self._s(meta), str(items[0]), items[1])

    def int_lit(self, meta: Any, items: list[Any]) -> S.IntLit:
        return S.IntLit(self._s(meta), int(str(items[0]), 0))

    def true_lit(self, meta: Any, items: list[Any]) -> S.BoolLit:
        return S.BoolLit(self._s(meta), True)

    def false_lit(self, meta: Any, items: list[Any]) -> S.BoolLit:
        return S.BoolLit(self._s(meta), False)

    def null_lit(self, meta: Any, items: list[Any]) -> S.NullLit:
        return S.NullLit(self._s(meta))

    def self_lit(self, meta: Any, items: list[Any]) -> S.SelfLit:
        return S.SelfLit(self._s(meta))

    def name(self, meta: Any, items: list[Any]) -> S.Name:
        return S.Name(_tok_span(self.file, items[0]), str(items[0]))


def _join(a: Span, b: Span) -> Span:
    return Span(a.file, a.line, a.col, b.end_line, b.end_col)
