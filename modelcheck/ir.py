"""The IR: a transition system over a flat vector of small-int slots.

`lower` builds it; `codegen` compiles it to Python; a symbolic engine can read
the same structure. A `Model` has a slot layout, one control-flow graph per
thread instance whose yield points are the atomic steps, and invariants.
Expressions are pure except `Guarded`, which fails with a violation when its
condition is false (null dereference, use after free, a contract).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import semantics as T
from .diagnostics import Span

# ---------------------------------------------------------------- layout


@dataclass(frozen=True)
class Slot:
    """One component of the state vector."""

    name: str  # as shown to users: "dst_pmd", "tables[0].pte[0].present", "mover.pc"
    kind: str  # shared | ghost | local | pc | lock | lock_readers | status | rcu_mask | rcu_depth | gp_wait
    ty: T.Type  # for rendering the value
    init: int
    thread: int = -1  # owning thread instance for per-thread slots
    proc: str = ""  # the inlined proc whose local this is


# ---------------------------------------------------------------- violations


@dataclass(frozen=True)
class ErrorSite:
    """A place where a property can be violated."""

    kind: str  # one of check.PROPERTY_KINDS
    name: str  # property name ("wp_not_lost", "table.pte.requires", "BUG_ON", ...)
    message: str
    span: Span


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Const:
    value: int


@dataclass(frozen=True)
class Addr:
    """Slot index base + sum(stride * expr)."""

    base: int
    terms: tuple[tuple[int, Expr], ...] = ()


@dataclass(frozen=True)
class Load:
    addr: Addr


@dataclass(frozen=True)
class Un:
    op: str  # ! -
    a: Expr


@dataclass(frozen=True)
class Bin:
    op: str  # && || ==> == != < <= > >= + - * / %
    a: Expr
    b: Expr


@dataclass(frozen=True)
class Guarded:
    """`expr`, but a violation of `error` when `cond` is false."""

    cond: Expr
    error: int
    expr: Expr


@dataclass(frozen=True)
class Held:
    """True when thread `thread` holds the lock at `addr` (any mode; write mode if `write`)."""

    addr: Addr
    kind: str
    thread: int
    write: bool


Expr = Const | Load | Un | Bin | Guarded | Held

# ---------------------------------------------------------------- operations


@dataclass(frozen=True)
class Set:
    addr: Addr
    value: Expr
    reset: bool = False  # a dead local set back to its initial value: bookkeeping, not a store


@dataclass(frozen=True)
class Check:
    cond: Expr
    error: int


@dataclass(frozen=True)
class Await:
    cond: Expr


@dataclass(frozen=True)
class Acquire:
    """Blocking acquisition: mode "w" (spinlock, mutex, rwsem write) or "r" (rwsem read)."""

    addr: Addr
    kind: str
    mode: str
    lock_class: str
    errors: tuple[int, int]  # (already held by this thread, sleeping lock in atomic context)
    subclass: int = 0  # spin_lock_nested(lock, subclass): kept in the owner slot for lockdep


@dataclass(frozen=True)
class TryAcquire:
    dest: Addr
    addr: Addr
    kind: str
    mode: str
    lock_class: str


@dataclass(frozen=True)
class Release:
    addr: Addr
    kind: str
    mode: str
    error: int  # unlock of a lock not held


@dataclass(frozen=True)
class RcuLock:
    pass


@dataclass(frozen=True)
class RcuUnlock:
    error: int  # unbalanced unlock


@dataclass(frozen=True)
class SyncRcuStart:
    error: int  # synchronize_rcu in atomic context


@dataclass(frozen=True)
class SyncRcuWait:
    pass


@dataclass(frozen=True)
class Free:
    ref: Expr
    pool: str
    deferred: bool
    error: int  # double free


@dataclass(frozen=True)
class Alloc:
    dest: Addr
    pool: str


Op = (
    Set
    | Check
    | Await
    | Acquire
    | TryAcquire
    | Release
    | RcuLock
    | RcuUnlock
    | SyncRcuStart
    | SyncRcuWait
    | Free
    | Alloc
)

# ---------------------------------------------------------------- control flow


@dataclass
class Node:
    """A CFG node: run `ops`, then branch, choose, or fall through to `next`."""

    id: int
    ops: list[Op]
    span: Span
    text: str
    shared: bool = False  # touches shared state: starts an atomic step
    next: int | None = None
    cond: Expr | None = None
    then: int | None = None
    orelse: int | None = None
    choices: tuple[int, ...] = ()
    post: list[Set] = field(default_factory=list)  # temp resets between evaluating `cond` and jumping
    end: bool = False
    proc: str = ""  # innermost inlined proc, for traces


@dataclass(frozen=True)
class PoolLayout:
    name: str
    base: int  # slot of object 0's status
    stride: int  # slots per object
    size: int
    allocated: int
    struct: T.StructT
    rcu: bool  # objects carry an RCU wait mask after the status
    defaults: tuple[int, ...] = ()  # a fresh object's field values, for alloc()


#: A lock's owner slot holds the owner's thread number + 1 in its low bits and the
#: lockdep subclass of the acquisition (spin_lock_nested) above them.
OWNER_BITS = 6
OWNER_MASK = (1 << OWNER_BITS) - 1


@dataclass(frozen=True)
class LockSlot:
    addr: int
    kind: str
    lock_class: str
    name: str


@dataclass
class ThreadIR:
    name: str  # "mover", "cpu[1]"
    index: int
    decl: str  # the thread declaration's name
    pc_slot: int
    rcu_slot: int  # -1 when the spec never uses RCU
    gp_slot: int  # -1 when the spec never calls synchronize_rcu
    nodes: list[Node]
    entry: int
    yields: list[int]  # node ids that start a step; pc value = position in this list
    span: Span
    # lock misuse at the end of the thread: (lock slot, or -1 for an open RCU section, error id)
    end_errors: tuple[tuple[int, int], ...] = ()
    # per pc, and last for the end: (slot, value) of the locals that are dead from there on,
    # reset whenever the pc is entered
    resets: tuple[tuple[tuple[int, int], ...], ...] = ()
    # the nodes of the leading local code that lowering ran into the initial state
    prerun: tuple[int, ...] = ()

    @property
    def end_pc(self) -> int:
        return len(self.yields)


@dataclass(frozen=True)
class InvariantIR:
    name: str
    expr: Expr
    span: Span
    error: int


@dataclass(frozen=True)
class LemmaIR:
    """A lemma: `expr` must be true for every value of the params, which the expression
    reads as the slots `base`, `base + 1`, ... (past the end of the state)."""

    name: str
    params: tuple[tuple[str, T.Type], ...]
    base: int
    expr: Expr
    span: Span
    error: int


@dataclass
class Model:
    """The whole transition system of a checked spec."""

    file: str
    source: str
    params: tuple[tuple[str, str], ...]  # name, value as text
    slots: list[Slot]
    pools: list[PoolLayout]
    locks: list[LockSlot]
    threads: list[ThreadIR]
    invariants: list[InvariantIR]
    errors: list[ErrorSite]
    uses_rcu: bool
    expects: tuple[T.Expect, ...]
    properties: tuple[tuple[str, str], ...]  # (kind, name) of every checkable property
    lemmas: list[LemmaIR] = field(default_factory=list)

    def initial_state(self) -> tuple[int, ...]:
        """The single initial state."""
        return tuple(s.init for s in self.slots)
