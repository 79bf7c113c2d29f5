"""Random valid specs that reach the whole checked language, for differential tests.

`generate(seed)` is a deterministic function of the seed (for long runs); `specs()` is the
same generator as a hypothesis strategy. A spec is built from *features* (pools with
contracts, RCU, bit layouts, procs, rwsems, thread arrays, big and negative ints, ...),
each adding declarations, statements for the threads and invariants, so that every
generated spec loads without a static error while the random composition (statement
kinds, nesting, constants, which thread does what) reaches the places where engines can
disagree: atomicity boundaries, properties over thread locals, lock handover by another
thread, integer edges. State spaces stay small (hundreds to a few thousand states).

`coverage(texts)` measures which grammar rules, checked-tree node classes, IR node kinds,
operators and builtins a sample exercised, and whether symmetry reduction applies
(`SYMMETRY_CONSTRUCTS`); `required_constructs()` is everything the
grammar and the IR can express, minus `NOT_GENERATED` (each entry says why).
"""

from __future__ import annotations

import dataclasses
import random
import typing
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from hypothesis import strategies as st

from modelcheck import ir
from modelcheck import semantics as T
from modelcheck import syntax as S
from modelcheck.check import BUILTINS, check
from modelcheck.codegen import EvalFailure, evaluate
from modelcheck.lower import lower
from modelcheck.parse import _parser, parse
from modelcheck.symmetry import find_symmetry

_E = TypeVar("_E")


class Rng(Protocol):
    """What the generator needs of a random source (random.Random, hypothesis randoms())."""

    def random(self) -> float: ...
    def randint(self, a: int, b: int) -> int: ...
    def choice(self, seq: Any) -> Any: ...


# Features: each is switched on with its own probability per spec.
FEATURES = {
    "signed": 0.35,  # a signed shared int: negative values, shifts of negatives, / and %
    "big": 0.3,  # a shared int with a range past 32 bits: products, shifts, int edges
    "enum": 0.3,
    "struct": 0.3,  # a struct value global, a plain int array, field and element writes
    "ghost": 0.3,
    "param": 0.35,
    "init": 0.25,
    "spinlock": 0.55,
    "mutex": 0.25,
    "rwsem": 0.25,
    "lockarray": 0.2,  # spin_lock_nested, lock-order cycles over one class
    "pool": 0.3,  # pool with a lock field, guarded_by and requires, refs, alloc/free
    "rcu": 0.2,  # needs pool: rcu_read_lock, free_rcu, synchronize_rcu
    "bits": 0.2,
    "folio": 0.15,  # a mutex field named `lock`: folio_lock / folio_trylock / folio_unlock
    "procs": 0.55,
    "array_thread": 0.3,  # thread cpu[N], self, cpu[i].local in invariants
    "expect": 0.15,
    "critical": 0.3,  # a local mark set around a shared write, an invariant over two threads' marks
    "deep_loops": 0.1,  # a purely local loop inside a choose branch (codegen recursion: issue 9)
    # with array_thread: instances that differ only in `self`-indexed data (own[self], pl[self]),
    # invariants symmetric in them: the compiled engine's symmetry reduction applies
    "symmetric": 0.5,
}


@dataclass
class _Var:
    """A scalar the generated code may read or write."""

    name: str
    kind: str  # int | bool | enum
    lo: int = 0
    hi: int = 1
    shared: bool = True
    members: tuple[str, ...] = ()


@dataclass
class _Thread:
    name: str  # declaration name
    count: int | None  # None: a single thread; -1: `[N]`
    locals: list[_Var] = field(default_factory=list)
    decls: set[str] = field(default_factory=set)
    labels: int = 0


@dataclass
class _Ctx:
    """Where a statement is generated."""

    th: _Thread
    depth: int = 0
    atomic: bool = False
    loop: bool = False  # break / continue allowed
    locked: bool = False  # inside a lock region: no jumps out, no sleeping under a spinlock
    spin: bool = False
    proc: bool = False

    @property
    def symmetric(self) -> bool:
        """In the body of the symmetric thread array: `self` only as an index (`own[self]`)."""
        return self.th.name == "cpu" and self.th.count is not None and self.th.count > 0 and not self.proc


class _Gen:
    def __init__(self, rng: Rng, without: Collection[str] = ()) -> None:
        self.r = rng
        self.on = {f for f, p in FEATURES.items() if rng.random() < p} - set(without)
        self.narrow = "wide" in without  # constants and shift counts that keep values within 32 bits
        if "rcu" in self.on:
            self.on.add("pool")
        if "array_thread" not in self.on:
            self.on.discard("symmetric")
        self.instances = 0  # of the thread array `cpu`
        self.decls: list[str] = []
        self.proc_decls: list[str] = []
        self.marks: list[tuple[_Thread, _Var]] = []
        self.invariants: list[str] = []
        self.vars: list[_Var] = []
        self.procs: list[tuple[str, str, bool]] = []  # (call text template kind, name, atomic-safe)
        self.threads: list[_Thread] = []
        self.counter = 0

    # ------------------------------------------------------------ helpers

    def p(self, prob: float) -> bool:
        return self.r.random() < prob

    def pick(self, seq: Iterable[_E]) -> _E:
        out: _E = self.r.choice(list(seq))
        return out

    def fresh(self, th: _Thread, prefix: str = "v") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def ints(self, shared: bool | None = None) -> list[_Var]:
        return [v for v in self.vars if v.kind == "int" and (shared is None or v.shared == shared)]

    def const(self, v: _Var) -> str:
        if v.kind == "bool":
            return self.pick(["true", "false"])
        if v.kind == "enum":
            return self.pick(v.members)
        return str(self.r.randint(v.lo, v.hi))

    # ------------------------------------------------------------ expressions

    def int_atom(self, ctx: _Ctx | None, allow_locals: bool = True) -> str:
        opts: list[str] = [v.name for v in self.ints()]
        if ctx is not None and allow_locals:
            opts += [v.name for v in ctx.th.locals if v.kind == "int" and v.name in ctx.th.decls]
            if ctx.th.count is not None and not ctx.proc and "symmetric" not in self.on:
                opts.append("self")
            if "symmetric" in self.on and ctx.symmetric:
                opts.append("own[self]")
        if "struct" in self.on:
            opts += ["pt.pfn", "arr[0]", "arr[1]"]
        if self.p(0.3) or not opts:
            return str(self.pick([0, 1, 2, 3, -1, 5, 64, 7] if self.narrow else [0, 1, 2, 3, -1, 1024, 64, 4294967296]))
        return self.pick(opts)

    def int_expr(self, ctx: _Ctx | None, depth: int = 0, allow_locals: bool = True, calls: bool = True) -> str:
        if depth >= 2 or self.p(0.4):
            return self.int_atom(ctx, allow_locals)
        a = self.int_expr(ctx, depth + 1, allow_locals, calls)
        b = self.int_expr(ctx, depth + 1, allow_locals, calls)
        k = self.r.randint(0, 15)
        if k <= 3:
            return f"{a} {self.pick('+-')} {b}"
        if k == 4:
            return f"{a} * {b}"
        if k == 5:
            return f"({a}) / {self.pick(['2', '-3', '7'])}"
        if k == 6:
            return f"({a}) % {self.pick(['2', '-3', '3'])}"
        if k == 7:
            return f"{a} << {self.pick(['1', '2', '3', '1', '2'] if self.narrow else ['1', '2', '31', '33', '64'])}"
        if k == 8:
            return f"{a} >> {self.pick(['1', '2', '3'] if self.narrow else ['1', '2', '40'])}"
        if k == 9:
            return f"({a} {self.pick('&|^')} {b})"
        if k == 10:
            return f"-{self.int_atom(ctx, allow_locals)}"
        if k == 11:
            return f"~{self.int_atom(ctx, allow_locals)}"
        if k == 12 and ctx is not None and calls:
            procs = [n for kind, n, _ in self.procs if kind == "int_ret"]
            if procs:
                return f"{self.pick(procs)}()"
        return f"({a})"

    def cond(self, ctx: _Ctx | None, depth: int = 0, allow_locals: bool = True, calls: bool = True) -> str:
        k = self.r.randint(0, 11)
        if depth < 1 and k <= 2:
            a = self.cond(ctx, depth + 1, allow_locals, calls)
            b = self.cond(ctx, depth + 1, allow_locals, calls)
            op = self.pick(["&&", "||", "&&", "==>"])
            return f"({a} {op} {b})" if op == "==>" else f"{a} {op} {b}"
        if k == 3 and depth < 2:
            return f"!({self.cond(ctx, depth + 1, allow_locals, calls)})"
        bools = [v for v in self.vars if v.kind == "bool"]
        if ctx is not None and allow_locals:
            bools += [v for v in ctx.th.locals if v.kind == "bool" and v.name in ctx.th.decls]
        if k == 4 and bools:
            v = self.pick(bools)
            return v.name if self.p(0.5) else f"!{v.name}"
        enums = [v for v in self.vars if v.kind == "enum"]
        if k == 5 and enums:
            v = self.pick(enums)
            return f"{v.name} {self.pick(['==', '!='])} {self.pick(v.members)}"
        if k == 6 and ctx is not None and calls:
            procs = [n for kind, n, _ in self.procs if kind == "bool_ret"]
            if procs:
                arg = self.int_atom(ctx)
                return f"{self.pick(procs)}({arg if _has_name(arg) else 1})"
        op = self.pick(["==", "!=", "<", "<=", ">", ">="])
        return f"{self.int_expr(ctx, 1, allow_locals, calls)} {op} {self.int_expr(ctx, 1, allow_locals, calls)}"

    def value_for(self, v: _Var, ctx: _Ctx) -> str:
        """A value to store into v: mostly in range, sometimes an out-of-range edge."""
        if v.kind != "int":
            return self.const(v) if self.p(0.7) or v.kind != "bool" else self.cond(ctx)
        k = self.r.randint(0, 9)
        if k <= 3:
            return self.const(v)
        if k <= 5:
            locs = [u for u in ctx.th.locals if u.kind == "int" and u.name in ctx.th.decls]
            w = self.pick(self.ints() + locs)
            if w.lo >= v.lo and w.hi <= v.hi:
                return w.name
            return f"({w.name} - {w.lo}) % {v.hi - v.lo + 1} + {v.lo}" if v.hi - v.lo < 8 else w.name
        e = self.int_expr(ctx)
        if not _has_name(e):  # a constant out of range would be a static error
            return self.const(v)
        if k <= 8 and v.lo >= 0:
            return f"({e} - ({v.lo})) % {v.hi - v.lo + 1} + {v.lo}"
        return e

    # ------------------------------------------------------------ declarations

    def declare(self) -> None:
        r = self.r
        d = self.decls
        if "param" in self.on:
            d.append(f"param P: bool = {self.pick(['true', 'false'])}")
            d.append(f"param K: int[-2..2] = {r.randint(-2, 2)}")
        x_hi = self.pick([1, 2, 2, 3])
        d.append(f"shared x: int[0..{x_hi}]" + (f" = {r.randint(0, x_hi)}" if self.p(0.3) else ""))
        self.vars.append(_Var("x", "int", 0, x_hi))
        d.append("shared y: int[0..2]")
        self.vars.append(_Var("y", "int", 0, 2))
        if self.p(0.5):
            d.append("shared flag: bool")
            self.vars.append(_Var("flag", "bool"))
        if "signed" in self.on:
            lo = self.pick([-4, -3, -8])
            d.append(f"shared z: int[{lo}..3] = {r.randint(lo, 0)}")
            self.vars.append(_Var("z", "int", lo, 3))
        if "big" in self.on:
            hi = self.pick([2**40, 2**62, 2**63 - 1, 4096])
            d.append(f"shared w: int[0..{hi}] = {self.pick([0, 1024, 2**32 if hi > 2**32 else 7])}")
            self.vars.append(_Var("w", "int", 0, hi))
        if "enum" in self.on:
            if self.p(0.5):
                d.append("enum state_t { IDLE, BUSY, DONE }")
                d.append("shared st: state_t")
                self.vars.append(_Var("st", "enum", members=("IDLE", "BUSY", "DONE")))
            else:
                d.append("shared st: {IDLE, BUSY,\n    DONE,\n} = BUSY")
                self.vars.append(_Var("st", "enum", members=("IDLE", "BUSY", "DONE")))
        if "struct" in self.on:
            d.append("struct ent_t { present: bool, pfn: int[0..3] = 1 }")
            d.append(f"shared pt: ent_t = ent_t({self.pick(['pfn: 2', 'true, 0', ''])})")
            d.append("shared arr: int[0..2][2]")
        if "ghost" in self.on:
            d.append("ghost g: int[0..3]")
            self.vars.append(_Var("g", "int", 0, 3, shared=False))
        if "spinlock" in self.on:
            d.append("lock lk: spinlock")
        if "mutex" in self.on:
            d.append("lock mx: mutex")
        if "rwsem" in self.on:
            d.append("lock sem: rwsem")
        if "lockarray" in self.on:
            d.append("lock la: spinlock[2]")
        if "pool" in self.on:
            d.append(
                "struct obj_t {\n    ptl: spinlock\n    val: int[0..2] guarded_by ptl\n"
                "    ghost dead: bool\n    key: int[0..2] requires !dead\n}"
            )
            d.append(f"pool objs: obj_t[2] allocated {self.pick([1, 1, 2])}")
            d.append("shared cur: ref objs = objs[0]")
        if "folio" in self.on:
            d.append("struct folio_t { lock: mutex, mapped: bool }\nshared fo: folio_t")
        if "bits" in self.on:
            d.append("bits pte64 {\n    present @0\n    rw @1, pfn @12..51\n}")
            d.append("fn mkpte(p: int[0..3]) -> pte64 = pte64(present: true, rw: p > 1, pfn: p)")
            d.append("fn wrprotect(e: pte64) -> pte64 =\n    e & ~pte64(rw: true)")
            d.append(f"shared pte: pte64 = pte64({self.pick(['0x1002', '0', '0x3'])})")
            if self.p(0.3):
                d.append("lemma wp_clears_rw(e: pte64): !wrprotect(e).rw")
        if "init" in self.on:
            body = [f"x = {r.randint(0, x_hi)}"]
            if "param" in self.on:
                body.append("if P { y = 1 } else { y = 2 }")
            if "pool" in self.on:
                body.append("objs[1].key = 1")
            d.append("init {\n    " + "\n    ".join(body) + "\n}")

    def declare_procs(self) -> None:
        if "procs" not in self.on:
            return
        d = self.proc_decls
        # a value proc that reads shared state: usable in atomic { }, asserts, conditions, args
        self.get_c = self.r.randint(0, 1)
        d.append(
            f"proc get() -> int[0..2] {{\n    if x == {self.get_c} {{\n        return y\n    }}\n    return x % 3\n}}"
        )
        self.procs.append(("int_ret", "get", True))
        d.append("proc is_at(k: int[-1..1024]) -> bool { return y == k }")
        self.procs.append(("bool_ret", "is_at", True))
        d.append("proc put(v: int[0..2]) {\n    y = v\n}")
        self.procs.append(("stmt1", "put", True))
        if self.p(0.6):
            # a proc with a local loop and a goto: not allowed in atomic { }
            d.append(
                "proc count_up(n: int[0..2]) -> int[0..2] {\n    var i: int[0..2]\n    while i < n {\n"
                "        i = i + 1\n        if i == 2 { break }\n    }\n  again:\n    if i == 0 && n > 0 {\n"
                "        i = 1\n        goto again\n    }\n    return i\n}"
            )
            self.procs.append(("loop_ret", "count_up", False))
        if "spinlock" in self.on or "lockarray" in self.on:
            d.append(
                "proc locked_set(a: spinlock, v: int[0..2]) {\n    spin_lock(a)\n    x = v % "
                + "2"
                + "\n    spin_unlock(a)\n}"
            )
            self.procs.append(("lockp", "locked_set", False))
        if "pool" in self.on:
            d.append(
                "proc obj_get(o: ref objs) -> int[0..2] {\n    var r: int[0..2]\n    spin_lock(o.ptl)\n"
                "    r = o.val\n    spin_unlock(o.ptl)\n    return r\n}"
            )
            self.procs.append(("obj_ret", "obj_get", False))

    def get_oracle(self, value: str) -> str:
        """A condition that is true iff `value` is what get() returns in this state."""
        c = self.get_c
        return f"(x == {c} ==> {value} == y) && (x != {c} ==> {value} == x % 3)"

    # ------------------------------------------------------------ statements

    def local(self, ctx: _Ctx, kind: str = "int", lo: int = 0, hi: int = 2) -> _Var:
        """A new local of the thread, declared by the returned var line's caller."""
        name = self.fresh(ctx.th)
        v = _Var(name, kind, lo, hi, shared=False)
        ctx.th.locals.append(v)
        return v

    def block(self, ctx: _Ctx, n: int | None = None) -> list[str]:
        count = n if n is not None else self.r.randint(1, 2)
        out: list[str] = []
        for _ in range(count):
            out += self.stmt(ctx)
        return out or ["skip"]

    def stmt(self, ctx: _Ctx) -> list[str]:
        kinds = ["assign", "assign", "var", "if", "assert", "builtin"]
        if ctx.depth < 2:
            kinds += ["if", "bug_on"]
            if not ctx.atomic:
                kinds += ["while", "atomic", "choose", "await", "goto", "lock", "lock", "call"]
        if ctx.atomic:
            kinds += ["call"] if self.procs else []
        if ctx.loop and not ctx.atomic:
            kinds += ["jump"]
        if "pool" in self.on and not ctx.atomic and ctx.depth < 2:
            kinds += ["pool", "pool"]
        if "bits" in self.on:
            kinds += ["bits"]
        if ("struct" in self.on or "enum" in self.on) and ctx.depth < 2:
            kinds += ["struct"]
        if "symmetric" in self.on and ctx.symmetric:
            kinds += ["own", "own"]
        kind = self.pick(kinds)
        ctx = dataclasses.replace(ctx, depth=ctx.depth + 1)
        make: Callable[[_Ctx], list[str]] = getattr(self, "s_" + kind)
        return make(ctx)

    def s_own(self, ctx: _Ctx) -> list[str]:
        """The instance's own slot and lock: `own[self]`, `pl[self]` (permuted by symmetry)."""
        k = self.r.randint(0, 3)
        if k == 0 or (k == 3 and ctx.atomic):
            return [f"own[self] = {self.value_for(_Var('own[self]', 'int', 0, 2), ctx)}"]
        if k == 1:
            v = self.local(ctx, "int", 0, 2)
            ctx.th.decls.add(v.name)
            return [f"var {v.name} = own[self]"]
        if k == 2:
            return [f"{self.pick(self.ints(shared=True)).name} = own[self] % 2", "own[self] = (own[self] + 1) % 3"]
        inner = dataclasses.replace(ctx, locked=True, loop=False, spin=True)
        return ["spin_lock(pl[self])", *self.block(inner, 1), "own[self] = 1", "spin_unlock(pl[self])"]

    def s_assign(self, ctx: _Ctx) -> list[str]:
        targets = [v for v in self.vars] + [v for v in ctx.th.locals if v.name in ctx.th.decls]
        if "symmetric" in self.on and ctx.symmetric:
            targets.append(_Var("own[self]", "int", 0, 2))
        v = self.pick(targets)
        val = self.value_for(v, ctx)
        if v.shared and self.p(0.2):
            return [f"WRITE_ONCE({v.name}, {val})"]
        return [f"{v.name} = {val}"]

    def s_var(self, ctx: _Ctx) -> list[str]:
        k = self.r.randint(0, 5)
        if k == 0:
            v = self.local(ctx, "bool")
            ctx.th.decls.add(v.name)
            return [f"var {v.name}: bool = {self.cond(ctx)}"]
        lo, hi = self.pick([(0, 2), (0, 3), (-2, 2), (0, 1)])
        v = self.local(ctx, "int", lo, hi)
        src = self.pick(self.ints(shared=True))
        ctx.th.decls.add(v.name)
        if k == 1:
            v.lo, v.hi = src.lo, src.hi
            return [f"var {v.name} = READ_ONCE({src.name})"] if self.p(0.5) else [f"var {v.name} = {src.name}"]
        if k == 2:
            return [f"var {v.name}: int[{lo}..{hi}]"]
        return [f"var {v.name}: int[{lo}..{hi}] = {self.value_for(v, ctx)}"]

    def s_if(self, ctx: _Ctx) -> list[str]:
        head = f"if {self.cond(ctx)} {{"
        lines = [head] + _ind(self.block(ctx))
        k = self.r.randint(0, 3)
        if k == 0:
            lines += ["} else {"] + _ind(self.block(ctx)) + ["}"]
        elif k == 1:
            lines += (
                [f"}} else if {self.cond(ctx)} {{"]
                + _ind(self.block(ctx))
                + ["} else {"]
                + _ind(self.block(ctx))
                + ["}"]
            )
        else:
            lines += ["}"]
        if "param" in self.on and self.p(0.2):
            lines = ["if P || K < 0 {"] + _ind(lines) + ["}"]
        return lines

    def s_while(self, ctx: _Ctx) -> list[str]:
        i = self.local(ctx, "int", 0, 2)
        ctx.th.decls.add(i.name)
        inner = dataclasses.replace(ctx, loop=True, locked=False)
        body = self.block(inner)
        cond = f"{i.name} < {self.r.randint(1, 2)}"
        if self.p(0.4):
            cond += f" && {self.cond(ctx)}"
        return [f"var {i.name}: int[0..2] = 0", f"while {cond} {{", f"    {i.name} = {i.name} + 1"] + _ind(body) + ["}"]

    def s_jump(self, ctx: _Ctx) -> list[str]:
        if ctx.locked:
            return ["skip"]
        return [f"if {self.cond(ctx)} {{", f"    {self.pick(['break', 'continue'])}", "}"]

    def s_goto(self, ctx: _Ctx) -> list[str]:
        k = self.local(ctx, "int", 0, 2)
        ctx.th.decls.add(k.name)
        label, skip = f"again{self.counter}", f"out{self.counter}"
        body = self.block(dataclasses.replace(ctx, loop=False), 1)
        if self.p(0.5):  # a forward goto over code, ending a block with a label
            return (
                [f"var {k.name}: int[0..2]", f"if {self.cond(ctx)} {{", f"    goto {skip}", "}"] + body + [f"{skip}:"]
            )
        return (
            [f"var {k.name}: int[0..2]", f"{label}:"]
            + body
            + [f"if {k.name} < 1 && {self.cond(ctx)} {{", f"    {k.name} = {k.name} + 1", f"    goto {label}", "}"]
        )

    def s_assert(self, ctx: _Ctx) -> list[str]:
        if "procs" in self.on and self.p(0.15):  # an oracle: the proc's value, computed inline
            self.counter += 1
            return [f"assert oracle{self.counter}: {self.get_oracle('get()')}"]
        c = self.cond(ctx)
        if self.p(0.6):
            c = f"{c} || {self.cond(ctx)}"
        if "procs" in self.on and self.p(0.3):
            c = f"get() != {self.r.randint(0, 3)} || {c}"
        if self.p(0.4):
            self.counter += 1
            return [f"assert a{self.counter}: {c}"]
        return [f"assert {c}"]

    def s_bug_on(self, ctx: _Ctx) -> list[str]:
        if self.p(0.5):
            src = self.pick(self.ints(shared=True))
            return [f"BUG_ON(READ_ONCE({src.name}) == {self.const(src)} && {self.cond(ctx)})"]
        return [f"BUG_ON({self.cond(ctx)} && {self.cond(ctx)})"]

    def s_atomic(self, ctx: _Ctx) -> list[str]:
        inner = dataclasses.replace(ctx, atomic=True)
        first: list[str] = []
        k = self.r.randint(0, 5)
        locks = self.plain_locks()
        tail: list[str] = []
        if k == 0:
            first = [f"await {self.cond(ctx, allow_locals=False, calls=False)}"]
        elif k == 1 and locks:
            lock, acq, rel = self.pick(locks)
            first = [f"{acq}({lock})"]
            tail = [f"{rel}({lock})"] if self.p(0.8) else []
            if not tail:  # released by a later statement of the thread
                return ["atomic {"] + _ind(first + self.block(inner)) + ["}", f"{rel}({lock})"]
        elif k == 2 and "rcu" in self.on and not ctx.locked:
            first = ["skip", "synchronize_rcu()"]
        body = self.block(inner, self.r.randint(1, 3))
        before: list[str] = []
        if "procs" in self.on and self.p(0.6):
            v = self.pick(self.ints(shared=True))
            body.insert(0, f"{v.name} = get()" if v.hi >= 2 and v.lo <= 0 else f"{v.name} = get() % {v.hi + 1}")
        if "procs" in self.on and self.p(0.3):  # an oracle: the value of get() in the block's state
            o = self.local(ctx, "int", 0, 2)
            ctx.th.decls.add(o.name)
            before = [f"var {o.name}: int[0..2]"]
            body = [f"{o.name} = get()", f"assert oracle{self.counter}: {self.get_oracle(o.name)}"] + body
        return before + ["atomic {"] + _ind(first + body + tail) + ["}"]

    def s_choose(self, ctx: _Ctx) -> list[str]:
        n = self.r.randint(2, 3)
        lines = ["choose {"]
        for b in range(n):
            if b:
                lines.append("} or {")
            if b == 0 and ("deep_loops" in self.on) and self.p(0.5):
                i = self.local(ctx, "int", 0, 2)
                ctx.th.decls.add(i.name)
                lines += _ind(
                    [f"var {i.name}: int[0..2] = 0", f"while {i.name} < 2 {{", f"    {i.name} = {i.name} + 1", "}"]
                )
            elif b == 1 and self.p(0.4):
                i = self.local(ctx, "int", 0, 2)
                ctx.th.decls.add(i.name)
                lines += _ind(
                    [
                        f"var {i.name}: int[0..2] = 0",
                        f"while {i.name} < 2 && READ_ONCE(x) != {self.r.randint(0, 2)} {{",
                        f"    {i.name} = {i.name} + 1",
                        "}",
                    ]
                )
            else:
                lines += _ind(self.block(dataclasses.replace(ctx, loop=False)))
        return lines + ["}"]

    def s_await(self, ctx: _Ctx) -> list[str]:
        return [f"await {self.cond(ctx, calls=False)} || {self.cond(ctx, calls=False)}"]

    def plain_locks(self) -> list[tuple[str, str, str]]:
        out = []
        if "spinlock" in self.on:
            out.append(("lk", "spin_lock", "spin_unlock"))
        if "mutex" in self.on:
            out.append(("mx", "mutex_lock", "mutex_unlock"))
        if "rwsem" in self.on:
            out.append(("sem", "down_read", "up_read"))
            out.append(("sem", "down_write", "up_write"))
        if "lockarray" in self.on:
            out.append((f"la[{self.r.randint(0, 1)}]", "spin_lock", "spin_unlock"))
        if "folio" in self.on:
            out.append(("fo.lock", "folio_lock", "folio_unlock"))
        return out

    def s_lock(self, ctx: _Ctx) -> list[str]:
        locks = self.plain_locks()
        if not locks or ctx.atomic:
            return self.s_assign(ctx)
        lock, acq, rel = self.pick(locks)
        sleeping = acq in ("mutex_lock", "down_read", "down_write", "folio_lock")
        if ctx.spin and sleeping and self.p(0.8):
            return self.s_assign(ctx)
        inner = dataclasses.replace(ctx, locked=True, loop=False, spin=ctx.spin or acq == "spin_lock")
        k = self.r.randint(0, 9)
        if k in (0, 6):  # trylock
            try_name = {
                "spin_lock": "spin_trylock",
                "mutex_lock": "mutex_trylock",
                "down_read": "down_read_trylock",
                "down_write": "down_write_trylock",
                "folio_lock": "folio_trylock",
            }[acq]
            if self.p(0.3):
                ok = self.fresh(ctx.th, "ok")
                return (
                    [f"var {ok}: bool = {try_name}({lock})", f"if {ok} {{"]
                    + _ind(self.block(inner) + [f"{rel}({lock})"])
                    + ["}"]
                )
            return [f"if {try_name}({lock}) {{"] + _ind(self.block(inner) + [f"{rel}({lock})"]) + ["}"]
        if k == 1 and self.p(0.5):  # an unlock by a thread that does not hold the lock (handover / misuse)
            return [f"{rel}({lock})"]
        if k == 2 and "lockarray" in self.on:  # nested locks of one class
            i = self.r.randint(0, 1)
            nested = f"spin_lock_nested(la[{1 - i}], 1)" if self.p(0.6) else f"spin_lock(la[{1 - i}])"
            return (
                [f"spin_lock(la[{i}])", nested]
                + self.block(inner, 1)
                + [f"spin_unlock(la[{1 - i}])", f"spin_unlock(la[{i}])"]
            )
        if k == 3 and len(locks) >= 2:  # two locks nested, in a random order: lock-order cycles
            (l1, a1, r1), (l2, a2, r2) = self.r.choice([(locks[0], locks[1]), (locks[1], locks[0])])
            if l1 != l2:
                return [f"{a1}({l1})", f"{a2}({l2})"] + self.block(inner, 1) + [f"{r2}({l2})", f"{r1}({l1})"]
        if k == 4 and "procs" in self.on and acq == "spin_lock" and any(n == "locked_set" for _, n, _ in self.procs):
            return [f"locked_set({lock}, {self.r.randint(0, 2)})"]
        if k == 5 and "folio" in self.on:
            if self.p(0.3):
                return ["if folio_trylock(fo.lock) {", "    fo.mapped = false", "    folio_unlock(fo.lock)", "}"]
            return (
                ["folio_lock(fo.lock)", "fo.mapped = !fo.mapped", "folio_unlock(fo.lock)"]
                if self.p(0.8)
                else ["fo.mapped = true"]
            )
        body = self.block(inner)
        if self.p(0.2):
            body.append(f"lockdep_assert_held({lock})")
        if self.p(0.15):
            body.append(f"assert lockdep_is_held({lock})")
        return [f"{acq}({lock})"] + body + [f"{rel}({lock})"]

    def s_call(self, ctx: _Ctx) -> list[str]:
        opts = [(k, n) for k, n, safe in self.procs if safe or not ctx.atomic]
        if not opts:
            return self.s_assign(ctx)
        kind, name = self.pick(opts)
        if kind == "int_ret":
            if self.p(0.3):
                return [f"{name}()"]
            v = self.local(ctx, "int", 0, 2)
            ctx.th.decls.add(v.name)
            return [f"var {v.name}: int[0..2] = {name}()"]
        if kind == "bool_ret":
            arg = self.int_atom(ctx)
            return [f"if {name}({arg if _has_name(arg) else 0}) {{"] + _ind(self.block(ctx, 1)) + ["}"]
        if kind == "stmt1":
            arg = self.pick(["get()" if "get" in [n for _, n, _ in self.procs] else "1", "0", "2"])
            return [f"{name}({arg})"]
        if kind == "loop_ret":
            v = self.local(ctx, "int", 0, 2)
            ctx.th.decls.add(v.name)
            return [f"var {v.name}: int[0..2] = {name}({self.pick(['0', '1', '2', 'get()'])})"]
        if kind == "lockp":
            if ctx.locked:
                return self.s_lock(ctx)
            spins = [lk for lk, acq, _ in self.plain_locks() if acq == "spin_lock"]
            return [f"{name}({self.pick(spins)}, 1)"]
        if kind == "obj_ret":
            if ctx.locked:
                return ["skip"]
            v = self.local(ctx, "int", 0, 2)
            ctx.th.decls.add(v.name)
            return [f"var {v.name}: int[0..2] = {name}(objs[{self.r.randint(0, 1)}])"]
        return ["skip"]

    def s_builtin(self, ctx: _Ctx) -> list[str]:
        v = self.pick(self.ints(shared=True))
        k = self.r.randint(0, 4)
        if k == 0:
            return [f"fetch_add({v.name}, 1)"] if self.p(0.5) else [f"fetch_sub({v.name}, 1)"]
        if k == 1:
            loc = self.local(ctx, "int", v.lo, v.hi)
            ctx.th.decls.add(loc.name)
            return [f"var {loc.name}: int[{v.lo}..{v.hi}] = cmpxchg({v.name}, {self.const(v)}, {self.const(v)})"]
        if k == 2:
            loc = self.local(ctx, "int", v.lo, v.hi)
            ctx.th.decls.add(loc.name)
            return [f"var {loc.name} = xchg({v.name}, {self.const(v)})"]
        if k == 3:
            return [f"WRITE_ONCE({v.name}, READ_ONCE({v.name}))"]
        return [f"cmpxchg({v.name}, {self.const(v)}, {self.const(v)})"]

    def s_struct(self, ctx: _Ctx) -> list[str]:
        opts = []
        if "struct" in self.on:
            opts += [
                [f"pt = ent_t(present: {self.pick(['true', 'false'])}, pfn: {self.r.randint(0, 3)})"],
                [f"pt.pfn = {self.r.randint(0, 3)}"],
                ["assert pt != ent_t() || !pt.present"],
                [f"arr[{self.pick([a for a in [self.int_atom(ctx)] if _has_name(a)] or ['y'])} % 2] = 1"],
                [f"arr[x] = {self.r.randint(0, 2)}"],  # may be out of bounds
            ]
            if not ctx.atomic:
                loc = self.fresh(ctx.th, "e")
                opts.append([f"var {loc}: ent_t = pt", f"{loc}.present = !{loc}.present", f"pt = {loc}"])
        if "enum" in self.on:
            opts += [
                [f"st = {self.pick(['IDLE', 'BUSY', 'DONE'])}"],
                [f"cmpxchg(st, {self.pick(['IDLE', 'BUSY'])}, DONE)"],
            ]
        return self.pick(opts)

    def s_bits(self, ctx: _Ctx) -> list[str]:
        k = self.r.randint(0, 3)
        if k == 0:
            return [f"pte = mkpte({self.r.randint(0, 3)})"]
        if k == 1 and not ctx.atomic:
            e = self.fresh(ctx.th, "e")
            return [
                f"var {e}: pte64 = READ_ONCE(pte)",
                f"if {e}.present {{",
                f"    WRITE_ONCE(pte, wrprotect({e}))",
                "}",
            ]
        if k == 2:
            return [f"pte = pte | pte64(rw: true) ^ pte64({self.pick(['0x1000', '1', '0'])})"]
        return ["assert pte.pfn <= 3 && (pte >> 12) == pte.pfn"]

    def s_pool(self, ctx: _Ctx) -> list[str]:
        p = self.fresh(ctx.th, "p")
        k = self.r.randint(0, 5) if "rcu" not in self.on or self.p(0.4) else self.r.randint(6, 8)
        if k == 0:  # a lock reached through a pool reference
            return [
                f"var {p} = READ_ONCE(cur)",
                f"if {p} != null {{",
                f"    spin_lock({p}.ptl)",
                f"    {p}.val = ({p}.val + 1) % 3",
                f"    spin_unlock({p}.ptl)",
                "}",
            ]
        if k == 1:  # alloc, fill, publish
            return [
                f"var {p}: ref objs = alloc(objs)",
                f"if {p} != null {{",
                f"    {p}.key = {self.r.randint(0, 2)}",
                f"    WRITE_ONCE(cur, {p})",
                "}",
            ]
        if k == 2:  # unpublish and free
            return [f"var {p} = xchg(cur, null)", f"if {p} != null {{", f"    {p}.dead = true", f"    free({p})", "}"]
        if k == 3:  # unguarded access, maybe a use after free or a contract violation
            return [
                f"var {p}: ref objs = cur",
                f"if {p} != null && live({p}) {{",
                f"    {p}.key = {self.r.randint(0, 2)}",
                "}",
            ]
        if k == 4:
            return [
                "assert forall o in objs: live(o) || freed(o) || !o.dead",
                f"spin_lock(objs[{self.r.randint(0, 1)}].ptl)",
                f"objs[{self.r.randint(0, 1)}].val = 1",
                f"spin_unlock(objs[{self.r.randint(0, 1)}].ptl)",
            ]
        if k == 5:
            return [
                f"var {p}: ref objs = objs[{self.r.randint(0, 1)}]",
                f"if !freed({p}) {{",
                f"    {p}.dead = true",
                "}",
            ]
        if k == 6:  # an RCU reader
            body = [f"    var {p} = READ_ONCE(cur)", f"    if {p} != null {{", f"        var {p}v = {p}.key", "    }"]
            return ["rcu_read_lock()"] + [b[4:] for b in body] + ["rcu_read_unlock()"]
        if k == 7:  # unpublish, then free after a grace period
            return [f"var {p} = xchg(cur, null)", f"if {p} != null {{", f"    free_rcu({p})", "}"]
        return [f"var {p} = xchg(cur, null)", "synchronize_rcu()", f"if {p} != null {{", f"    free({p})", "}"]

    # ------------------------------------------------------------ threads and properties

    def s_critical(self, ctx: _Ctx) -> list[str]:
        """A critical section marked by a local (`mK = 1 ... mK = 0`), maybe under a lock,
        checked by an assert and by an invariant over two threads' marks."""
        m = self.local(ctx, "int", 0, 3)
        ctx.th.decls.add(m.name)
        self.marks.append((ctx.th, m))
        if self.p(0.5):  # the mark is set by a step that only reads shared state
            return [f"var {m.name}: int[0..3]", f"{m.name} = y + 1", f"{m.name} = y"]
        c = self.r.randint(0, 2)
        body = [f"{m.name} = 1", f"x = {min(c, 1)}"]
        if self.p(0.5):
            body.append(f"assert x == {min(c, 1)}")
        body.append(f"{m.name} = 0")
        if "spinlock" in self.on and self.p(0.6):
            body = ["spin_lock(lk)", *body, "spin_unlock(lk)"]
            if self.p(0.3):  # another thread's unlock hands the lock over
                body = ["spin_unlock(lk)", *body]
        return [f"var {m.name}: int[0..3]", *body]

    def thread_body(self, th: _Thread) -> list[str]:
        ctx = _Ctx(th)
        out: list[str] = []
        n = self.r.randint(2, 4)
        if "critical" in self.on:
            out += self.s_critical(ctx)
            n -= 1
        for _ in range(n):
            out += self.stmt(ctx)
        if self.p(0.1):
            out += ["return"] if self.p(0.5) else ["return", "x = 0"]
        # declare the locals used before their `var`, as the language allows
        extra = [v for v in th.locals if v.name not in th.decls]
        return [f"var {v.name}: int[0..2]" for v in extra] + out

    def build(self) -> str:
        self.declare()
        self.declare_procs()
        nthreads = self.pick([2, 2, 2, 3, 1])
        if "symmetric" in self.on:
            self.instances = self.pick([2, 2, 3])
            self.decls.append(f"shared own: int[0..2][{self.instances}]")
            self.decls.append(f"lock pl: spinlock[{self.instances}]")
            self.threads.append(_Thread("cpu", self.instances))
            nthreads = max(1, nthreads - (self.instances - 1))
        elif "array_thread" in self.on:
            count = "N" if "param" in self.on and self.p(0.5) else "2"
            if count == "N":
                self.decls.append(f"param N: int[1..2] = {self.r.randint(1, 2)}")
            self.threads.append(_Thread("cpu", 2 if count == "2" else -1))
            nthreads = max(1, nthreads - 1)
        for i in range(nthreads):
            self.threads.append(_Thread(f"t{i}", None))
        parts = self.decls + self.proc_decls
        skeleton = list(self.decls)  # what the invariants may read: no procs, threads with only their locals
        for th in self.threads:
            body = self.thread_body(th)
            size = "N" if th.count == -1 else str(th.count)
            head = f"thread {th.name}" + (f"[{size}]" if th.count is not None else "")
            parts.append(head + " {\n" + "\n".join(_ind(body)) + "\n}")
            locals_ = [ln.strip() for ln in body if ln.startswith("var ") and "=" not in ln]
            locals_ += [f"var {v.name}: int[{v.lo}..{v.hi}]" for v in th.locals if v.kind == "int"]
            skeleton.append(head + " {\n" + "\n".join(dict.fromkeys(_ind(locals_ or ["skip"]))) + "\n}")
        parts += self.choose_invariants("\n".join(skeleton))
        if "expect" in self.on:
            parts.append(
                self.pick(
                    ["expect holds", "expect violation", "expect holds deadlock when P", "expect violation assert"]
                ).replace(" when P", " when P" if "param" in self.on else "")
            )
        return "\n".join(parts) + "\n"

    def choose_invariants(self, base: str) -> list[str]:
        """Up to two random invariants true in the initial state (rarely a false one), plus oracles.

        `base` is a skeleton of the spec (declarations, and threads reduced to their int
        locals), cheaper to load than the spec; the locals start at 0 there."""
        cands = self.make_invariants(6)
        model = lower(check(parse(base + "\n" + "\n".join(cands) + "\n", "gen.spec")))
        init = model.initial_state()
        true_at_start = set()
        for inv in model.invariants:
            try:
                if evaluate(inv.expr, init, strict=True):
                    true_at_start.add(inv.name)
            except EvalFailure:
                pass
        want = self.r.randint(0, 2)
        out = [c for c in cands if c.split(":")[0].split()[1] in true_at_start or self.p(0.03)][:want]
        out += self.oracle_invariants()
        if "symmetric" in self.on:
            out += self.symmetric_invariants()
        if len(self.marks) >= 2:
            (ta, a), (tb, b) = self.marks[0], self.marks[1]
            if "symmetric" in self.on and self.is_array(ta):
                out.append(f"invariant exclusive: !({self.any_instance(ta, a.name, 1)} && {tb.name}.{b.name} == 1)")
            else:
                sa = f"{ta.name}[0]" if ta.count is not None else ta.name
                sb = f"{tb.name}[1]" if tb.count == 2 else (f"{tb.name}[0]" if tb.count is not None else tb.name)
                if (sa, a.name) != (sb, b.name):
                    out.append(f"invariant exclusive: !({sa}.{a.name} == 1 && {sb}.{b.name} == 1)")
        return out

    def is_array(self, th: _Thread) -> bool:
        """The symmetric thread array (its instances are only named all together)."""
        return "symmetric" in self.on and th.count is not None and th.count > 0

    def any_instance(self, th: _Thread, local: str, value: int) -> str:
        """Some instance of the symmetric array has `local == value` (symmetric in the instances)."""
        return "(" + " || ".join(f"{th.name}[{j}].{local} == {value}" for j in range(th.count or 0)) + ")"

    def symmetric_invariants(self) -> list[str]:
        """Invariants over every instance of the symmetric array at once: mutual exclusion of
        a local mark between instances, a bound on the sum of `own`."""
        out = []
        n = self.instances
        if self.p(0.5):
            total = " + ".join(f"own[{j}]" for j in range(n))
            out.append(f"invariant own_sum: {total} <= {self.r.randint(1, 2 * n)}")
        marks = [m for th, m in self.marks if self.is_array(th)]
        if marks:
            m = marks[0].name
            pairs = [f"!(cpu[{i}].{m} == 1 && cpu[{j}].{m} == 1)" for i in range(n) for j in range(i + 1, n)]
            out.append("invariant mutex_cpu: " + " && ".join(pairs))
        return out

    def oracle_invariants(self) -> list[str]:
        """Invariants that hold in every state of every spec (unbounded ints): a violation is an engine bug."""
        out = []
        if "signed" in self.on and self.p(0.3):
            out.append(
                self.pick(
                    [
                        "invariant oracle_shift: (z >> 1) * 2 + (z & 1) == z",
                        "invariant oracle_div: z / 2 * 2 + z % 2 == z",
                        "invariant oracle_not: ~z == -z - 1 && (z << 3) / 8 == z",
                    ]
                )
            )
        if "big" in self.on and self.p(0.3):
            out.append(
                self.pick(
                    [
                        "invariant oracle_cube: w == 0 || w * w * w / w == w * w",
                        "invariant oracle_wide: (w << 40) >> 40 == w && w * 4294967296 >= 0",
                    ]
                )
            )
        return out

    def make_invariants(self, n: int) -> list[str]:
        out = []
        for i in range(n):
            k = self.r.randint(0, 6)
            if k <= 1:
                c = self.cond(None)
            elif k == 2:  # thread locals of two threads together (POR's blind spot, issue 9 class 2)
                locs = [(th, v) for th in self.threads for v in th.locals if v.kind == "int"]
                if len(locs) >= 1:
                    parts = []
                    for th, v in [self.pick(locs), self.pick(locs)]:
                        val = self.r.randint(max(v.lo, 0), min(v.hi, 1) if v.hi > 0 else 0)
                        if self.is_array(th):
                            parts.append(self.any_instance(th, v.name, val))
                            continue
                        inst = (
                            f"{th.name}[{self.r.randint(0, 1 if th.count == 2 else 0)}]"
                            if th.count is not None
                            else th.name
                        )
                        parts.append(f"{inst}.{v.name} == {val}")
                    c = f"!({parts[0]} && {parts[1]})"
                else:
                    c = self.cond(None)
            elif k == 3 and "pool" in self.on:
                c = self.pick(
                    [
                        "forall o in objs: live(o) ==> !o.dead",
                        "exists o in objs:\n    live(o)",
                        "cur == null || !freed(cur)",
                        "cur != objs[1]",
                    ]
                )
            elif k == 4 and "big" in self.on:
                c = self.pick(
                    [
                        "w * w * w < 1073741824",
                        "w * w < 4611686018427387904",
                        "(w << 20) >> 20 == w",
                        "w * w * w != 1073741824",
                        "w < 1024",
                    ]
                )
            elif k == 5 and "signed" in self.on:
                c = self.pick(["(z >> 1) < 0 || z >= 0", "z * z < 16", "-z <= 4", "~z != 0", "z / 2 * 2 + z % 2 == z"])
            elif k == 6 and "bits" in self.on:
                c = self.pick(
                    ["!pte.rw || pte.pfn > 1", "pte.pfn <= 3", "(pte & pte64(present: true)) != 0 || pte == 0"]
                )
            else:
                c = self.cond(None, allow_locals=False)
            out.append(f"invariant i{i}: {c}")
        return out


def _has_name(e: str) -> bool:
    return any(c.isalpha() or c == "_" for c in e.replace("0x", ""))


def _ind(lines: list[str]) -> list[str]:
    return ["    " + ln for ln in lines]


def generate(seed: int, without: Collection[str] = ()) -> str:
    """A random valid spec, a deterministic function of `seed`; the FEATURES named in
    `without` are left out; "wide" also keeps constants and shift counts small (the SPIN
    oracle leaves out "big" and "wide": Promela's ints have 32 bits)."""
    return _Gen(random.Random(seed), without).build()


def specs() -> st.SearchStrategy[str]:
    """The generator as a hypothesis strategy: `generate` of a drawn seed.

    (Driving the generator with hypothesis' own random source would let it shrink, but
    that source favours extreme values: nearly every feature switched on, specs far bigger
    than `generate` makes.)"""
    return st.integers(min_value=0, max_value=2**32 - 1).map(generate)


# ---------------------------------------------------------------- coverage

#: Constructs the generator does not produce, and why (each is a hole the test tolerates).
NOT_GENERATED: dict[str, str] = {}


def required_constructs() -> set[str]:
    """Every construct of the grammar and the IR, as `family:name`, minus NOT_GENERATED."""
    out: set[str] = set()
    for rule in _parser().rules:
        kept = [sym for sym in rule.expansion if not getattr(sym, "filter_out", False)]
        if rule.options.expand1 and rule.alias is None and len(kept) == 1:
            continue  # an inlined `?rule: x` alternative: the tree is always its only child
        name = str(rule.alias or rule.origin.name)
        if not name.startswith("_"):
            out.add(f"rule:{name}")
    for union in (ir.Op, ir.Expr):
        out |= {f"ir:{c.__name__}" for c in typing.get_args(union)}
    out |= {f"op:{o}" for o in T.BINARY_OPS}
    out |= {"unop:!", "unop:-"}  # `~x` is checked into `-x - 1`
    out |= {"syntax:!", "syntax:-", "syntax:~"}  # the prefix operators as written
    out |= {f"builtin:{b}" for b in BUILTINS}
    for union in (T.TExpr, T.TStmt):
        out |= {f"tree:{c.__name__}" for c in typing.get_args(union)}
    out |= set(SYMMETRY_CONSTRUCTS)
    return out - set(NOT_GENERATED)


#: What `modelcheck.symmetry` accepts: a group of identical instances, one with a permuted
#: `self`-indexed array (or lock array), one of three or more instances (the cycle generator).
SYMMETRY_CONSTRUCTS = ("symmetry:group", "symmetry:array", "symmetry:cycle")


def _walk(x: Any) -> Iterator[Any]:
    stack = [x]
    seen: set[int] = set()
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        yield o
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            stack.extend(getattr(o, f.name) for f in dataclasses.fields(o))
        elif isinstance(o, (list, tuple)):
            stack.extend(o)


def constructs(text: str) -> set[str]:
    """The constructs one spec exercises (see `required_constructs`)."""
    out: set[str] = set()
    tree = _parser().parse(text)
    for sub in tree.iter_subtrees():
        out.add(f"rule:{sub.data}")
        if sub.data == "unary_op":
            out |= {f"syntax:{tok}" for tok in sub.children}
    spec = parse(text, "gen.spec")
    for o in _walk(spec):
        if isinstance(o, S.Call) and isinstance(o.func, S.Name) and o.func.name in BUILTINS:
            out.add(f"builtin:{o.func.name}")
    checked = check(spec)
    for o in _walk(checked):
        name = type(o).__name__
        if name in _TREE_KINDS:
            out.add(f"tree:{name}")
    model = lower(checked)
    for o in _walk((model.threads, model.invariants)):
        if isinstance(o, (ir.Node)):
            continue
        cls = type(o)
        if cls.__module__ == ir.__name__ and cls.__name__ in _IR_KINDS:
            out.add(f"ir:{cls.__name__}")
        if isinstance(o, ir.Bin):
            out.add(f"op:{o.op}")
        if isinstance(o, ir.Un):
            out.add(f"unop:{o.op}")
    for th in model.threads:
        for node in th.nodes:
            for o in _walk((node.ops, node.cond, node.post)):
                cls = type(o)
                if cls.__name__ in _IR_KINDS:
                    out.add(f"ir:{cls.__name__}")
                if isinstance(o, ir.Bin):
                    out.add(f"op:{o.op}")
                if isinstance(o, ir.Un):
                    out.add(f"unop:{o.op}")
    sym = find_symmetry(model)
    if sym is not None:
        out.add("symmetry:group")
        out |= {"symmetry:array" for g in sym.groups if g.arrays}
        out |= {"symmetry:cycle" for g in sym.groups if len(g.threads) >= 3}
    return out


_TREE_KINDS = {c.__name__ for u in (T.TExpr, T.TStmt) for c in typing.get_args(u)}
_IR_KINDS = {c.__name__ for u in (ir.Op, ir.Expr) for c in typing.get_args(u)}


@dataclass(frozen=True)
class Coverage:
    """How often each construct was produced over a sample of specs."""

    specs: int
    counts: Counter[str]
    required: frozenset[str]

    @property
    def missing(self) -> list[str]:
        """Required constructs never produced."""
        return sorted(c for c in self.required if self.counts[c] == 0)

    def table(self) -> str:
        """A plain-text table: every required construct with the number of specs that had it."""
        lines = [f"construct coverage over {self.specs} generated specs"]
        fams: dict[str, list[str]] = {}
        for c in sorted(self.required | set(self.counts)):
            fams.setdefault(c.split(":", 1)[0], []).append(c)
        for fam, names in fams.items():
            lines.append(f"  {fam}:")
            for c in names:
                n = self.counts[c]
                mark = "MISSING " if n == 0 and c in self.required else ""
                why = f"  (not generated: {NOT_GENERATED[c]})" if c in NOT_GENERATED else ""
                lines.append(f"    {mark}{c.split(':', 1)[1]:<22} {n:>6}{why}")
        for c, why in sorted(NOT_GENERATED.items()):
            if self.counts[c] == 0:
                lines.append(f"  not generated: {c}: {why}")
        return "\n".join(lines)


def coverage(texts: Iterable[str]) -> Coverage:
    """Measure the constructs a sample of spec texts exercises."""
    counts: Counter[str] = Counter()
    n = 0
    for text in texts:
        n += 1
        counts.update(constructs(text))
    return Coverage(n, counts, frozenset(required_constructs()))
