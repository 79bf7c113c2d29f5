"""Semantic types and the typed tree that `check` produces and `lower` consumes.

Every typed expression carries its type (`ty`) and span. Params are folded to
constants by `check`, so nothing downstream sees a param.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .diagnostics import Span

# ---------------------------------------------------------------- types


@dataclass(frozen=True)
class BoolT:
    def __str__(self) -> str:
        return "bool"


@dataclass(frozen=True)
class IntT:
    lo: int | None = None
    hi: int | None = None

    def __str__(self) -> str:
        return "int" if self.lo is None else f"int[{self.lo}..{self.hi}]"


@dataclass(frozen=True)
class EnumT:
    name: str
    members: tuple[str, ...]

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class LockT:
    kind: str  # spinlock | mutex | rwsem

    def __str__(self) -> str:
        return self.kind


@dataclass(frozen=True)
class RefT:
    pool: str

    def __str__(self) -> str:
        return f"ref {self.pool}"


@dataclass(frozen=True)
class NullT:
    def __str__(self) -> str:
        return "null"


@dataclass(frozen=True)
class ArrayT:
    elem: Type
    size: int

    def __str__(self) -> str:
        return f"{self.elem}[{self.size}]"


@dataclass(frozen=True)
class FieldInfo:
    name: str
    type: Type
    default: TExpr | None
    guarded_by: TExpr | None
    requires: TExpr | None
    span: Span
    ghost: bool = False


@dataclass(frozen=True)
class StructT:
    name: str
    fields: tuple[FieldInfo, ...] = field(compare=False, hash=False)

    def __str__(self) -> str:
        return self.name

    def field(self, name: str) -> FieldInfo | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None


@dataclass(frozen=True)
class PoolT:
    name: str
    struct: StructT
    size: int

    def __str__(self) -> str:
        return f"pool {self.name}"


@dataclass(frozen=True)
class BitsT:
    """A 64-bit word with named bit fields (`bits pte64 { present @0, pfn @12..51 }`)."""

    name: str
    fields: tuple[tuple[str, int, int], ...]  # (name, lowest bit, width)
    width: int = 64

    def __str__(self) -> str:
        return self.name

    def field(self, name: str) -> tuple[str, int, int] | None:
        return next((f for f in self.fields if f[0] == name), None)


@dataclass(frozen=True)
class VoidT:
    def __str__(self) -> str:
        return "void"


Type = BoolT | IntT | EnumT | LockT | RefT | NullT | ArrayT | StructT | PoolT | VoidT | BitsT

BOOL = BoolT()
INT = IntT()
VOID = VoidT()

LOCK_KINDS = ("spinlock", "mutex", "rwsem")

# ---------------------------------------------------------------- symbols


@dataclass(frozen=True, eq=False)
class VarSym:
    """A variable: shared, ghost, thread-local, proc-local/param, or quantifier-bound."""

    name: str
    kind: str  # shared | ghost | local | bound | lemma
    type: Type
    span: Span
    owner: str = ""  # thread or proc name for locals

    def __repr__(self) -> str:
        return f"VarSym({self.kind} {self.owner + '.' if self.owner else ''}{self.name})"


# ---------------------------------------------------------------- typed expressions


@dataclass(frozen=True)
class TConst:
    span: Span
    ty: Type
    value: int  # bool 0/1, enum index, ref: 0 null / i+1


@dataclass(frozen=True)
class TStruct:
    span: Span
    ty: StructT
    fields: tuple[TExpr, ...]  # one per struct field, in declaration order


@dataclass(frozen=True)
class TVar:
    span: Span
    ty: Type
    var: VarSym


@dataclass(frozen=True)
class TThreadLocal:
    """A thread's local read from a property: `mover.t`, `cpu[1].x`."""

    span: Span
    ty: Type
    thread: str
    instance: int
    var: VarSym


@dataclass(frozen=True)
class TSelf:
    span: Span
    ty: Type


@dataclass(frozen=True)
class TSelfObj:
    """The object a field contract is evaluated on."""

    span: Span
    ty: StructT


@dataclass(frozen=True)
class TPoolElem:
    span: Span
    ty: RefT
    pool: str
    index: TExpr


@dataclass(frozen=True)
class TField:
    span: Span
    ty: Type
    base: TExpr  # struct-typed or ref-typed (a dereference)
    name: str
    ghost: bool = False  # a ghost field: reading or writing it is not a shared access


@dataclass(frozen=True)
class TIndex:
    span: Span
    ty: Type
    base: TExpr
    index: TExpr


@dataclass(frozen=True)
class TUnary:
    span: Span
    ty: Type
    op: str
    operand: TExpr


@dataclass(frozen=True)
class TBinary:
    span: Span
    ty: Type
    op: str
    left: TExpr
    right: TExpr


@dataclass(frozen=True)
class TBuiltin:
    """A builtin with an effect or a shared access: READ_ONCE, cmpxchg, trylocks, alloc..."""

    span: Span
    ty: Type
    name: str
    args: tuple[TExpr, ...]


@dataclass(frozen=True)
class TProcCall:
    span: Span
    ty: Type
    proc: str
    args: tuple[TExpr, ...]


@dataclass(frozen=True)
class TQuant:
    span: Span
    ty: Type
    kind: str
    var: VarSym
    pool: str
    body: TExpr


TExpr = (
    TConst
    | TStruct
    | TVar
    | TThreadLocal
    | TSelf
    | TSelfObj
    | TPoolElem
    | TField
    | TIndex
    | TUnary
    | TBinary
    | TBuiltin
    | TProcCall
    | TQuant
)

# ---------------------------------------------------------------- typed statements


@dataclass(frozen=True)
class TAssign:
    span: Span
    target: TExpr
    value: TExpr
    text: str


@dataclass(frozen=True)
class TEval:
    """A statement that is an expression evaluated for its effect (a call)."""

    span: Span
    expr: TExpr
    text: str


@dataclass(frozen=True)
class TIf:
    span: Span
    cond: TExpr
    then: tuple[TStmt, ...]
    orelse: tuple[TStmt, ...]
    text: str


@dataclass(frozen=True)
class TWhile:
    span: Span
    cond: TExpr
    body: tuple[TStmt, ...]
    text: str


@dataclass(frozen=True)
class TGoto:
    span: Span
    label: str


@dataclass(frozen=True)
class TLabel:
    span: Span
    name: str


@dataclass(frozen=True)
class TReturn:
    span: Span
    value: TExpr | None
    text: str


@dataclass(frozen=True)
class TAtomic:
    span: Span
    body: tuple[TStmt, ...]


@dataclass(frozen=True)
class TChoose:
    span: Span
    branches: tuple[tuple[TStmt, ...], ...]


@dataclass(frozen=True)
class TAwait:
    span: Span
    cond: TExpr
    text: str


@dataclass(frozen=True)
class TAssert:
    span: Span
    name: str
    cond: TExpr
    text: str
    kernel: bool = False  # BUG_ON: kernel code, its reads are steps like an if's; assert reads atomically


@dataclass(frozen=True)
class TBreak:
    span: Span


@dataclass(frozen=True)
class TContinue:
    span: Span


TStmt = (
    TAssign
    | TEval
    | TIf
    | TWhile
    | TGoto
    | TLabel
    | TReturn
    | TAtomic
    | TChoose
    | TAwait
    | TAssert
    | TBreak
    | TContinue
)

# ---------------------------------------------------------------- checked spec


@dataclass(frozen=True)
class Pool:
    name: str
    struct: StructT
    size: int
    allocated: int
    span: Span


@dataclass(frozen=True)
class Global:
    var: VarSym
    init: TExpr | None


@dataclass(frozen=True)
class Thread:
    name: str
    count: int | None  # None: a single thread; else `thread name[count]`
    locals: tuple[VarSym, ...]
    body: tuple[TStmt, ...]
    span: Span


@dataclass(frozen=True)
class Proc:
    name: str
    params: tuple[VarSym, ...]
    ret: Type
    locals: tuple[VarSym, ...]
    body: tuple[TStmt, ...]
    span: Span


@dataclass(frozen=True)
class Invariant:
    name: str
    expr: TExpr
    span: Span


@dataclass(frozen=True)
class Lemma:
    """`lemma NAME(params): expr`: z3 proves expr for every value of the params."""

    name: str
    params: tuple[VarSym, ...]
    expr: TExpr
    span: Span


@dataclass(frozen=True)
class Expect:
    kind: str  # holds | violation
    prop: str  # "" = every property
    active: bool  # its `when` holds under this param setting
    span: Span


@dataclass(frozen=True)
class CheckedSpec:
    """A spec with names resolved, types checked and params fixed to values."""

    file: str
    source: str
    params: tuple[tuple[str, Type, int], ...]
    globals: tuple[Global, ...]
    pools: tuple[Pool, ...]
    threads: tuple[Thread, ...]
    procs: tuple[Proc, ...]
    invariants: tuple[Invariant, ...]
    expects: tuple[Expect, ...]
    init: tuple[TStmt, ...]  # assignments that build the initial state
    lemmas: tuple[Lemma, ...]
    asserts: tuple[str, ...]  # property names of every assert, for `expect`

    def pool(self, name: str) -> Pool:
        for p in self.pools:
            if p.name == name:
                return p
        raise KeyError(name)


def format_value(ty: Type, value: int) -> str:
    """Render a scalar value of a type the way a user wrote it."""
    if isinstance(ty, BoolT):
        return "true" if value else "false"
    if isinstance(ty, EnumT):
        return ty.members[value] if 0 <= value < len(ty.members) else f"<{value}>"
    if isinstance(ty, RefT):
        return "null" if value == 0 else f"{ty.pool}[{value - 1}]"
    if isinstance(ty, LockT):
        return "unlocked" if value == 0 else f"held({value})"
    if isinstance(ty, BitsT):
        return format_bits(ty, value)
    if abs(value) >= 1 << 16:  # large ints, as they appear next to bit layouts
        return f"{value} ({value:#x})"
    return str(value)


def format_bits(ty: BitsT, value: int) -> str:
    """A bits value in hex, with the fields it sets: `0x0000000000000402 (rw, uffd_wp)`."""
    parts = []
    for name, lo, width in ty.fields:
        v = (value >> lo) & ((1 << width) - 1)
        if v:
            parts.append(name if width == 1 else f"{name}={v:#x}")
    text = f"{value & ((1 << ty.width) - 1):#018x}"
    return text + (f" ({', '.join(parts)})" if parts else "")


def c_div(a: int, b: int) -> int:
    """Integer division truncating toward zero, as in C."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def c_mod(a: int, b: int) -> int:
    """The remainder matching `c_div`, as in C."""
    return a - b * c_div(a, b)


#: Shift counts outside 0..SHIFT_MAX are an `overflow` violation when the shift runs.
SHIFT_MAX = 64


#: The value of each binary operator on ints (bools are 0 and 1), with C's division.
BINARY_OPS: dict[str, Callable[[int, int], int]] = {
    "&&": lambda a, b: int(bool(a) and bool(b)),
    "||": lambda a, b: int(bool(a) or bool(b)),
    "==>": lambda a, b: int((not a) or bool(b)),
    "==": lambda a, b: int(a == b),
    "!=": lambda a, b: int(a != b),
    "<": lambda a, b: int(a < b),
    "<=": lambda a, b: int(a <= b),
    ">": lambda a, b: int(a > b),
    ">=": lambda a, b: int(a >= b),
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": c_div,
    "%": c_mod,
    "&": lambda a, b: a & b,
    "|": lambda a, b: a | b,
    "^": lambda a, b: a ^ b,
    "<<": lambda a, b: a << b,
    ">>": lambda a, b: a >> b,
}

MASK64 = (1 << 64) - 1
