"""The abstract syntax tree: frozen dataclasses, each carrying its source span.

`parse` builds these; `check` consumes them. Nothing here knows about types.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields, is_dataclass

from .diagnostics import Span

# ---------------------------------------------------------------- types


@dataclass(frozen=True)
class BoolType:
    span: Span


@dataclass(frozen=True)
class IntType:
    span: Span
    lo: Expr
    hi: Expr


@dataclass(frozen=True)
class InlineEnumType:
    span: Span
    members: tuple[str, ...]


@dataclass(frozen=True)
class RefType:
    span: Span
    pool: str


@dataclass(frozen=True)
class ArrayType:
    span: Span
    elem: TypeExpr
    size: Expr


@dataclass(frozen=True)
class NamedType:
    span: Span
    name: str


TypeExpr = BoolType | IntType | InlineEnumType | RefType | ArrayType | NamedType

# ---------------------------------------------------------------- expressions


@dataclass(frozen=True)
class IntLit:
    span: Span
    value: int


@dataclass(frozen=True)
class BoolLit:
    span: Span
    value: bool


@dataclass(frozen=True)
class NullLit:
    span: Span


@dataclass(frozen=True)
class SelfLit:
    span: Span


@dataclass(frozen=True)
class Name:
    span: Span
    name: str


@dataclass(frozen=True)
class FieldAccess:
    span: Span
    base: Expr
    name: str


@dataclass(frozen=True)
class IndexAccess:
    span: Span
    base: Expr
    index: Expr


@dataclass(frozen=True)
class KwArg:
    span: Span
    name: str
    value: Expr


@dataclass(frozen=True)
class Call:
    span: Span
    func: Expr
    args: tuple[Expr | KwArg, ...]


@dataclass(frozen=True)
class Unary:
    span: Span
    op: str
    operand: Expr


@dataclass(frozen=True)
class Binary:
    span: Span
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Quant:
    span: Span
    kind: str  # "forall" | "exists"
    var: str
    pool: str
    body: Expr


Expr = IntLit | BoolLit | NullLit | SelfLit | Name | FieldAccess | IndexAccess | Call | Unary | Binary | Quant

# ---------------------------------------------------------------- statements


@dataclass(frozen=True)
class VarStmt:
    span: Span
    name: str
    type: TypeExpr | None
    init: Expr | None


@dataclass(frozen=True)
class AssignStmt:
    span: Span
    target: Expr
    value: Expr


@dataclass(frozen=True)
class CallStmt:
    span: Span
    call: Call


@dataclass(frozen=True)
class IfStmt:
    span: Span
    cond: Expr
    then: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]


@dataclass(frozen=True)
class WhileStmt:
    span: Span
    cond: Expr
    body: tuple[Stmt, ...]


@dataclass(frozen=True)
class GotoStmt:
    span: Span
    label: str


@dataclass(frozen=True)
class LabelStmt:
    span: Span
    name: str


@dataclass(frozen=True)
class ReturnStmt:
    span: Span
    value: Expr | None


@dataclass(frozen=True)
class AtomicStmt:
    span: Span
    body: tuple[Stmt, ...]


@dataclass(frozen=True)
class ChooseStmt:
    span: Span
    branches: tuple[tuple[Stmt, ...], ...]


@dataclass(frozen=True)
class AwaitStmt:
    span: Span
    cond: Expr


@dataclass(frozen=True)
class AssertStmt:
    span: Span
    name: str | None
    cond: Expr


@dataclass(frozen=True)
class SkipStmt:
    span: Span


@dataclass(frozen=True)
class BreakStmt:
    span: Span


@dataclass(frozen=True)
class ContinueStmt:
    span: Span


Stmt = (
    VarStmt
    | AssignStmt
    | CallStmt
    | IfStmt
    | WhileStmt
    | GotoStmt
    | LabelStmt
    | ReturnStmt
    | AtomicStmt
    | ChooseStmt
    | AwaitStmt
    | AssertStmt
    | SkipStmt
    | BreakStmt
    | ContinueStmt
)

# ---------------------------------------------------------------- declarations


@dataclass(frozen=True)
class ParamDecl:
    span: Span
    name: str
    type: TypeExpr
    default: Expr


@dataclass(frozen=True)
class EnumDecl:
    span: Span
    name: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class FieldDecl:
    span: Span
    name: str
    type: TypeExpr
    default: Expr | None
    guarded_by: Expr | None
    requires: Expr | None
    ghost: bool = False


@dataclass(frozen=True)
class StructDecl:
    span: Span
    name: str
    fields: tuple[FieldDecl, ...]


@dataclass(frozen=True)
class PoolDecl:
    span: Span
    name: str
    struct: str
    size: Expr
    allocated: Expr | None


@dataclass(frozen=True)
class VarDecl:
    span: Span
    kind: str  # "shared" | "ghost"
    name: str
    type: TypeExpr
    init: Expr | None


@dataclass(frozen=True)
class ThreadDecl:
    span: Span
    name: str
    count: Expr | None
    body: tuple[Stmt, ...]


@dataclass(frozen=True)
class ProcParam:
    span: Span
    name: str
    type: TypeExpr


@dataclass(frozen=True)
class ProcDecl:
    span: Span
    name: str
    params: tuple[ProcParam, ...]
    ret: TypeExpr | None
    body: tuple[Stmt, ...]


@dataclass(frozen=True)
class InitDecl:
    span: Span
    body: tuple[Stmt, ...]
    name: str = "init"


@dataclass(frozen=True)
class BitField:
    span: Span
    name: str
    lo: int
    hi: int  # inclusive


@dataclass(frozen=True)
class BitsDecl:
    span: Span
    name: str
    fields: tuple[BitField, ...]


@dataclass(frozen=True)
class FnDecl:
    span: Span
    name: str
    params: tuple[ProcParam, ...]
    ret: TypeExpr
    body: Expr


@dataclass(frozen=True)
class LemmaDecl:
    span: Span
    name: str
    params: tuple[ProcParam, ...]
    expr: Expr


@dataclass(frozen=True)
class InvariantDecl:
    span: Span
    name: str
    expr: Expr


class PropName(str):
    """A property name as written in an `expect` clause (may be dotted)."""


@dataclass(frozen=True)
class ExpectDecl:
    span: Span
    kind: str  # "holds" | "violation"
    prop: str | None
    when: Expr | None


Decl = (
    ParamDecl
    | EnumDecl
    | StructDecl
    | PoolDecl
    | VarDecl
    | ThreadDecl
    | ProcDecl
    | InvariantDecl
    | ExpectDecl
    | InitDecl
    | BitsDecl
    | FnDecl
    | LemmaDecl
)


@dataclass(frozen=True)
class Spec:
    """A parsed spec file: its declarations in source order and its text."""

    file: str
    source: str
    decls: tuple[Decl, ...]


def walk_nodes(node: object) -> Iterator[object]:
    """Every syntax node under `node` (itself included), depth first, in field order."""
    yield node
    if is_dataclass(node) and not isinstance(node, type):
        for f in fields(node):
            value = getattr(node, f.name)
            for item in value if isinstance(value, tuple) else (value,):
                if is_dataclass(item) and not isinstance(item, (type, Span)):
                    yield from walk_nodes(item)
