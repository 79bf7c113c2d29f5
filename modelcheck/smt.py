"""The z3 engines: a solver gateway and bounded model checking (BMC) of the IR.

This is the only module that imports z3. Every slot is a bit-vector per time step, as wide
as the interval analysis of `ranges` says every value of the model needs (signed: `>>` is
arithmetic, `/` and `%` truncate as in C), so nothing wraps. Each (thread, pc) step is
executed symbolically the way `codegen` emits it (guards, path conditions, checks that
fail in program order, dynamic addresses as ite chains over the slots they can denote).
A counterexample's schedule is re-executed by the explicit engine, so it comes back as
the same kind of trace, and an encoding that disagrees with the explicit semantics fails
loudly instead of reporting a wrong verdict.

z3's `unknown` (timeout, resource limit) is never a pass: it is UNKNOWN with z3's reason.
Nor is a property the encoding does not check (`not_checked`: lock_order).
"""

from __future__ import annotations

import ctypes
import dataclasses
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import z3

from . import ir
from .codegen import Compiled, enabled_checks, rcu_objects
from .explore import (
    PROVED,
    RCU_THREAD,
    UNKNOWN,
    VIOLATED,
    Result,
    Stats,
    Violation,
    describe_blocked,
    format_size,
    resident_bytes,
)
from .ranges import Ranges, model_exprs, signed_bits

Term = Any  # a z3 bit-vector or Boolean expression
WIDTH = 32  # set per model by `width_for` before encoding
RLIMIT = 2_000_000_000  # z3's deterministic resource limit per query


MAX_WIDTH = 4096  # wider bit-vectors than this are not attempted: the answer is UNKNOWN


@dataclass(frozen=True)
class Width:
    """The bit-vector width that holds every value a model computes, or why there is none."""

    bits: int
    problem: str = ""  # "not encodable exactly: ..." when no width is used


def width_for(model: ir.Model, exprs: Collection[ir.Expr] = (), extra: Collection[Any] = ()) -> Width:
    """Bits enough that no value of the model (slots, and every intermediate value of its
    steps and invariants, or of `exprs` if given, with `extra` slot types past the state)
    wraps, from the interval analysis in `ranges`; two's complement, so signed."""
    r = Ranges(model, tuple(extra))
    need = _signed_bits(len(model.slots) + len(model.threads) + len(rcu_objects(model)) + 1)
    for j in range(len(r.slots)):
        rng = r.slot(j)
        if rng is not None:
            need = max(need, signed_bits(*rng))
    for e in exprs or list(model_exprs(model)):
        w = r.widest(e)
        if w.magnitude < 0:
            return Width(0, f"not encodable exactly: {_show(w.expr)} has no bounded range")
        if w.magnitude.bit_length() + 1 > MAX_WIDTH:
            return Width(
                0,
                f"not encodable exactly: {_show(w.expr)} needs {w.magnitude.bit_length() + 1} bits "
                f"(more than {MAX_WIDTH})",
            )
        need = max(need, w.magnitude.bit_length() + 1)
    return Width(max(16, need + 1))  # one more bit: the encoder's own +1 on indexes and depths


def _signed_bits(v: int) -> int:
    return signed_bits(v, v)


def _show(e: ir.Expr | None) -> str:
    from .ir_text import format_expr

    return "an expression" if e is None else format_expr(e)


def _bv(x: int) -> Term:
    return z3.BitVecVal(x, WIDTH)


def _truth(x: Term) -> Term:
    return x != _bv(0)


def _bit(b: Term) -> Term:
    return z3.If(b, _bv(1), _bv(0))


@dataclass(frozen=True)
class SolverOutcome:
    """What z3 said: "sat", "unsat" or "unknown" (with its reason)."""

    status: str
    reason: str = ""


class Gateway:
    """The one place solver calls go through: a deterministic rlimit per call and a wall-clock
    deadline that every call shares (each call gets the time that is left, no more)."""

    def __init__(self, timeout_ms: int = 60_000, rlimit: int = RLIMIT, deadline: float | None = None) -> None:
        self.solver = z3.SolverFor("QF_BV")  # about 10x faster than the generic solver on these queries
        self.timeout_ms = timeout_ms
        self.deadline = deadline  # time.monotonic() by which every call must have returned
        self.solver.set("timeout", timeout_ms)
        self.solver.set("rlimit", rlimit)
        self.solver.set("random_seed", 0)

    def add(self, *constraints: Term) -> None:
        """Assert constraints permanently."""
        self.solver.add(*constraints)

    def check(self, *assumptions: Term) -> SolverOutcome:
        """Check satisfiability under temporary assumptions, within the time that is left."""
        if self.deadline is not None:
            left = int(1000 * (self.deadline - time.monotonic()))
            if left <= 0:
                return SolverOutcome("unknown", "timeout (the time budget was used up before this query)")
            self.solver.set("timeout", min(self.timeout_ms, left))
        status = self.solver.check(*assumptions)
        if status == z3.sat:
            return SolverOutcome("sat")
        if status == z3.unsat:
            return SolverOutcome("unsat")
        return SolverOutcome("unknown", self.solver.reason_unknown())

    def model(self) -> z3.ModelRef:
        """The model of the last sat check."""
        return self.solver.model()


# ---------------------------------------------------------------- symbolic steps


@dataclass
class _Path:
    cond: Term  # the path condition inside the step (and no check failed so far)
    state: list[Term]


@dataclass
class _StepSym:
    enabled: Term
    fail: list[tuple[Term, int]]  # (condition, error id), in program order
    succ: list[list[Term]]  # one successor per choose branch (a single one otherwise)


class _Encoder:
    """Symbolic execution of the IR of one model, for the selected properties."""

    def __init__(self, model: ir.Model, props: Collection[str] | None) -> None:
        self.m = model
        self.n = len(model.slots)
        self.enabled = enabled_checks(model, props)
        self.spin_slots = [lk.addr for lk in model.locks if lk.kind == "spinlock"]
        self.gp_slots = [t.gp_slot for t in model.threads if t.gp_slot >= 0]
        self.mask_slots = [p.base + k * p.stride + 1 for p in model.pools if p.rcu for k in range(p.size)]

    def on(self, err: int) -> bool:
        return err in self.enabled  # enabled_checks always includes the always-on kinds

    # ------------------------------------------------------------ expressions
    def addr(self, a: ir.Addr, s: list[Term], ctx: Term, fails: list[tuple[Term, int]]) -> Term | int:
        if not a.terms:
            return a.base
        total = _bv(a.base)
        for k, e in a.terms:
            total = total + _bv(k) * self.expr(e, s, ctx, fails)
        return z3.simplify(total)

    def candidates(self, a: ir.Addr) -> list[int]:
        strides = [k for k, _ in a.terms]
        step = strides[0] if len(strides) == 1 else 1
        return [j for j in range(self.n) if (j - a.base) % step == 0]

    def load(self, a: ir.Addr, s: list[Term], ctx: Term, fails: list[tuple[Term, int]]) -> Term:
        idx = self.addr(a, s, ctx, fails)
        if isinstance(idx, int):
            return s[idx]
        out = _bv(0)
        for j in self.candidates(a):
            out = z3.If(idx == _bv(j), s[j], out)
        return out

    def store(self, a: ir.Addr, value: Term, s: list[Term], ctx: Term, fails: list[tuple[Term, int]]) -> list[Term]:
        idx = self.addr(a, s, ctx, fails)
        s = list(s)
        if isinstance(idx, int):
            s[idx] = value
            return s
        for j in self.candidates(a):
            s[j] = z3.If(idx == _bv(j), value, s[j])
        return s

    def store_at(self, idx: Term | int, value: Term, s: list[Term], cands: list[int]) -> list[Term]:
        s = list(s)
        if isinstance(idx, int):
            s[idx] = value
            return s
        for j in cands:
            s[j] = z3.If(idx == _bv(j), value, s[j])
        return s

    def expr(self, e: ir.Expr, s: list[Term], ctx: Term, fails: list[tuple[Term, int]]) -> Term:
        if isinstance(e, ir.Const):
            return _bv(e.value)
        if isinstance(e, ir.Load):
            return self.load(e.addr, s, ctx, fails)
        if isinstance(e, ir.Un):
            a = self.expr(e.a, s, ctx, fails)
            return _bit(a == _bv(0)) if e.op == "!" else -a
        if isinstance(e, ir.Bin):
            a = self.expr(e.a, s, ctx, fails)
            if e.op in ("&&", "||", "==>"):
                right_ctx = z3.And(ctx, _truth(a)) if e.op != "||" else z3.And(ctx, z3.Not(_truth(a)))
                b = self.expr(e.b, s, right_ctx, fails)
                if e.op == "&&":
                    return _bit(z3.And(_truth(a), _truth(b)))
                if e.op == "||":
                    return _bit(z3.Or(_truth(a), _truth(b)))
                return _bit(z3.Or(z3.Not(_truth(a)), _truth(b)))
            b = self.expr(e.b, s, ctx, fails)
            ops = {
                "==": lambda: _bit(a == b),
                "!=": lambda: _bit(a != b),
                "<": lambda: _bit(a < b),
                "<=": lambda: _bit(a <= b),
                ">": lambda: _bit(a > b),
                ">=": lambda: _bit(a >= b),
                "+": lambda: a + b,
                "-": lambda: a - b,
                "*": lambda: a * b,
                "/": lambda: a / b,
                "%": lambda: z3.SRem(a, b),
                "&": lambda: a & b,
                "|": lambda: a | b,
                "^": lambda: a ^ b,
                "<<": lambda: a << b,
                ">>": lambda: a >> b,  # arithmetic: a floor shift, as on Python ints
            }
            return ops[e.op]()
        if isinstance(e, ir.Guarded):
            c = self.expr(e.cond, s, ctx, fails)
            if self.on(e.error):
                fails.append((z3.And(ctx, z3.Not(_truth(c))), e.error))
                ctx = z3.And(ctx, _truth(c))
            return self.expr(e.expr, s, ctx, fails)
        if isinstance(e, ir.Held):
            idx = self.addr(e.addr, s, ctx, fails)
            me = e.thread + 1
            owner = self._at(idx, e.addr, s)
            held = (owner & _bv(ir.OWNER_MASK)) == _bv(me)
            if e.kind == "rwsem" and not e.write:
                readers = self._at(idx, e.addr, s, 1)
                held = z3.Or(held, (z3.LShR(readers, e.thread) & _bv(1)) == _bv(1))
            return _bit(held)
        raise AssertionError(f"unhandled {e!r}")

    def _at(self, idx: Term | int, a: ir.Addr, s: list[Term], offset: int = 0) -> Term:
        if isinstance(idx, int):
            return s[idx + offset]
        out = _bv(0)
        for j in self.candidates(a):
            if j + offset < self.n:
                out = z3.If(idx == _bv(j), s[j + offset], out)
        return out

    def readers_mask(self, s: list[Term], exclude: int | None) -> Term:
        out = _bv(0)
        for t in self.m.threads:
            if t.rcu_slot >= 0 and t.index != exclude:
                out = out | z3.If(s[t.rcu_slot] != _bv(0), _bv(1 << t.index), _bv(0))
        return out

    def spin_held(self, s: list[Term], me: int) -> Term:
        return (
            z3.Or(*[(s[a] & _bv(ir.OWNER_MASK)) == _bv(me) for a in self.spin_slots])
            if self.spin_slots
            else z3.BoolVal(False)
        )

    # ------------------------------------------------------------ steps
    def step(self, t: ir.ThreadIR, nid: int, s: list[Term]) -> _StepSym:
        """The symbolic effect of the step that starts at yield node `nid` of thread `t`."""
        node = t.nodes[nid]
        fails: list[tuple[Term, int]] = []
        if node.choices:
            succ = []
            for c in node.choices:
                paths = self.cont(t, c, [_Path(z3.BoolVal(True), s)], fails, first=False)
                succ.append(self.merge(paths, s))
            return _StepSym(z3.BoolVal(True), fails, succ)
        ops = list(node.ops)
        enabled: Term = z3.BoolVal(True)
        path = _Path(z3.BoolVal(True), s)
        k = 0
        while k < len(ops) and isinstance(ops[k], ir.Check):
            k += 1
        if k < len(ops) and isinstance(ops[k], (ir.Await, ir.Acquire, ir.SyncRcuWait)):
            for op in ops[:k]:
                path = self.op(t, op, path, fails)
            enabled, path = self.guard(t, ops[k], path, fails)
            rest = ops[k + 1 :]
        else:
            rest = ops
        for op in rest:
            path = self.op(t, op, path, fails)
        paths = self.after_ops(t, node, [path], fails)
        return _StepSym(enabled, fails, [self.merge(paths, s)])

    def cont(
        self, t: ir.ThreadIR, nid: int, paths: list[_Path], fails: list[tuple[Term, int]], first: bool
    ) -> list[_Path]:
        node = t.nodes[nid]
        pcs = {y: i for i, y in enumerate(t.yields)}
        if not first and nid in pcs:
            return [_Path(p.cond, self._enter(p.state, t, pcs[nid])) for p in paths]
        if node.end:
            return [self.thread_end(t, p, fails) for p in paths]
        out = []
        for p in paths:
            for op in node.ops:
                p = self.op(t, op, p, fails)
            out.extend(self.after_ops(t, node, [p], fails))
        return out

    def after_ops(
        self, t: ir.ThreadIR, node: ir.Node, paths: list[_Path], fails: list[tuple[Term, int]]
    ) -> list[_Path]:
        out: list[_Path] = []
        for p in paths:
            if node.cond is not None:
                assert node.then is not None and node.orelse is not None
                c = _truth(self.expr(node.cond, p.state, p.cond, fails))
                state = p.state
                for op in node.post:
                    state = self._set(state, op.addr.base, 0)
                out.extend(self.cont(t, node.then, [_Path(z3.And(p.cond, c), state)], fails, False))
                out.extend(self.cont(t, node.orelse, [_Path(z3.And(p.cond, z3.Not(c)), state)], fails, False))
            elif node.next is None:
                out.append(self.thread_end(t, p, fails))
            else:
                out.extend(self.cont(t, node.next, [p], fails, False))
        return out

    def merge(self, paths: list[_Path], s: list[Term]) -> list[Term]:
        """One successor: for each slot, the value of the path whose condition holds."""
        out = list(paths[-1].state)
        for p in reversed(paths[:-1]):
            for j in range(self.n):
                if p.state[j] is not out[j]:
                    out[j] = z3.If(p.cond, p.state[j], out[j])
        return out

    def _enter(self, s: list[Term], t: ir.ThreadIR, pc: int) -> list[Term]:
        """The thread moves to `pc`; the locals dead from there on are reset, as in codegen."""
        s = self._set(s, t.pc_slot, pc)
        for slot, value in t.resets[pc] if t.resets else ():
            s[slot] = _bv(value)
        return s

    def _set(self, s: list[Term], j: int, value: int | Term) -> list[Term]:
        s = list(s)
        s[j] = _bv(value) if isinstance(value, int) else value
        return s

    def fail(self, p: _Path, cond: Term, err: int, fails: list[tuple[Term, int]]) -> _Path:
        """Record that `err` is violated where `cond` holds on this path; the path goes on without it."""
        if not self.on(err):
            return p
        fails.append((z3.And(p.cond, cond), err))
        return _Path(z3.And(p.cond, z3.Not(cond)), p.state)

    def guard(self, t: ir.ThreadIR, op: ir.Op, p: _Path, fails: list[tuple[Term, int]]) -> tuple[Term, _Path]:
        me = t.index + 1
        bit = 1 << t.index
        s = p.state
        if isinstance(op, ir.Await):
            enabled = _truth(self.expr(op.cond, s, p.cond, fails))
            return enabled, _Path(z3.And(p.cond, enabled), s)
        if isinstance(op, ir.SyncRcuWait):
            enabled = s[t.gp_slot] == _bv(0)
            return enabled, _Path(z3.And(p.cond, enabled), s)
        assert isinstance(op, ir.Acquire)
        idx = self.addr(op.addr, s, p.cond, fails)
        o = self._at(idx, op.addr, s)
        rw = op.kind == "rwsem"
        r = self._at(idx, op.addr, s, 1) if rw else _bv(0)
        owner = o & _bv(ir.OWNER_MASK)
        held_err, sleep_err = op.errors
        if self.on(held_err):
            mine = z3.Or(owner == _bv(me), (r & _bv(bit)) != _bv(0)) if rw else owner == _bv(me)
            if op.mode == "w":
                blocked = z3.And(o != _bv(0), owner != _bv(me))
                if rw:
                    blocked = z3.Or(blocked, (r & ~_bv(bit)) != _bv(0))
            else:
                blocked = z3.And(o != _bv(0), owner != _bv(me))
        else:
            mine = z3.BoolVal(False)
            blocked = o != _bv(0)
            if rw and op.mode == "w":
                blocked = z3.Or(blocked, r != _bv(0))
        enabled = z3.Not(blocked)
        p = _Path(z3.And(p.cond, enabled), s)
        if self.on(held_err):
            p = self.fail(p, mine, held_err, fails)
        if op.kind != "spinlock" and self.on(sleep_err):
            cond = self.spin_held(p.state, me)
            if t.rcu_slot >= 0:
                cond = z3.Or(cond, p.state[t.rcu_slot] != _bv(0))
            p = self.fail(p, cond, sleep_err, fails)
        cands = self.candidates(op.addr) if not isinstance(idx, int) else []
        if op.mode == "w":
            state = self.store_at(idx, _bv(me | (op.subclass << ir.OWNER_BITS)), p.state, cands)
        else:
            ridx = idx + 1 if isinstance(idx, int) else idx + _bv(1)
            state = self.store_at(ridx, r | _bv(bit), p.state, [j + 1 for j in cands if j + 1 < self.n])
        return enabled, _Path(p.cond, state)

    def op(self, t: ir.ThreadIR, op: ir.Op, p: _Path, fails: list[tuple[Term, int]]) -> _Path:
        me = t.index + 1
        bit = 1 << t.index
        s = p.state
        if isinstance(op, ir.Set):
            value = self.expr(op.value, s, p.cond, fails)
            return _Path(p.cond, self.store(op.addr, value, s, p.cond, fails))
        if isinstance(op, ir.Check):
            if not self.on(op.error):  # not selected, but its reads are still made
                self.expr(op.cond, s, p.cond, fails)
                return p
            c = _truth(self.expr(op.cond, s, p.cond, fails))
            return self.fail(p, z3.Not(c), op.error, fails)
        if isinstance(op, ir.TryAcquire):
            idx = self.addr(op.addr, s, p.cond, fails)
            cands = self.candidates(op.addr) if not isinstance(idx, int) else []
            o = self._at(idx, op.addr, s)
            rw = op.kind == "rwsem"
            if op.mode == "w":
                free = z3.And(o == _bv(0), self._at(idx, op.addr, s, 1) == _bv(0)) if rw else o == _bv(0)
                taken = self.store_at(idx, _bv(me), s, cands)
            else:
                free = o == _bv(0)
                r = self._at(idx, op.addr, s, 1)
                ridx = idx + 1 if isinstance(idx, int) else idx + _bv(1)
                taken = self.store_at(ridx, r | _bv(bit), s, [j + 1 for j in cands if j + 1 < self.n])
            state = [z3.If(free, a, b) if a is not b else a for a, b in zip(taken, s, strict=True)]
            return _Path(p.cond, self.store(op.dest, _bit(free), state, p.cond, fails))
        if isinstance(op, ir.Release):
            idx = self.addr(op.addr, s, p.cond, fails)
            cands = self.candidates(op.addr) if not isinstance(idx, int) else []
            if op.mode == "w":
                o = self._at(idx, op.addr, s)
                p = self.fail(p, (o & _bv(ir.OWNER_MASK)) != _bv(me), op.error, fails)
                return _Path(p.cond, self.store_at(idx, _bv(0), p.state, cands))
            r = self._at(idx, op.addr, s, 1)
            p = self.fail(p, (r & _bv(bit)) == _bv(0), op.error, fails)
            ridx = idx + 1 if isinstance(idx, int) else idx + _bv(1)
            return _Path(p.cond, self.store_at(ridx, r & ~_bv(bit), p.state, [j + 1 for j in cands if j + 1 < self.n]))
        if isinstance(op, ir.RcuLock):
            return _Path(p.cond, self._set(s, t.rcu_slot, s[t.rcu_slot] + _bv(1)))
        if isinstance(op, ir.RcuUnlock):
            depth = s[t.rcu_slot]
            p = self.fail(p, depth == _bv(0), op.error, fails)
            s = p.state
            new = z3.If(depth == _bv(0), _bv(0), depth - _bv(1))
            s = self._set(s, t.rcu_slot, new)
            for slot in self.gp_slots + self.mask_slots:
                s[slot] = z3.If(new == _bv(0), s[slot] & ~_bv(bit), s[slot])
            return _Path(p.cond, s)
        if isinstance(op, ir.SyncRcuStart):
            cond = z3.Or(self.spin_held(s, me), s[t.rcu_slot] != _bv(0))
            p = self.fail(p, cond, op.error, fails)
            return _Path(p.cond, self._set(p.state, t.gp_slot, self.readers_mask(p.state, t.index)))
        if isinstance(op, ir.Free):
            pool = next(pl for pl in self.m.pools if pl.name == op.pool)
            ref = self.expr(op.ref, s, p.cond, fails)
            st = _bv(pool.base - pool.stride) + _bv(pool.stride) * ref
            cands = [pool.base + k * pool.stride for k in range(pool.size)]
            status = _bv(0)
            for j in cands:
                status = z3.If(st == _bv(j), s[j], status)
            p = self.fail(p, status != _bv(1), op.error, fails)
            state = self.store_at(st, _bv(2 if op.deferred else 3), p.state, cands)
            if op.deferred:
                state = self.store_at(st + _bv(1), self.readers_mask(p.state, None), state, [j + 1 for j in cands])
            return _Path(p.cond, state)
        if isinstance(op, ir.Alloc):
            pool = next(pl for pl in self.m.pools if pl.name == op.pool)
            head = 2 if pool.rcu else 1
            chosen = self.store(op.dest, _bv(0), s, p.cond, fails)
            for k in reversed(range(pool.size)):
                st = pool.base + k * pool.stride
                fresh = self._set(s, st, 1)
                for j, d in enumerate(pool.defaults):
                    fresh[st + head + j] = _bv(d)
                fresh = self.store(op.dest, _bv(k + 1), fresh, p.cond, fails)
                free = z3.Or(s[st] == _bv(0), s[st] == _bv(3))
                chosen = [z3.If(free, a, b) if a is not b else a for a, b in zip(fresh, chosen, strict=True)]
            return _Path(p.cond, chosen)
        raise AssertionError(f"op {op!r} must start its step")

    def thread_end(self, t: ir.ThreadIR, p: _Path, fails: list[tuple[Term, int]]) -> _Path:
        me = t.index + 1
        locks = {lk.addr: lk for lk in self.m.locks}
        for addr, err in t.end_errors:
            if addr < 0:
                p = self.fail(p, p.state[t.rcu_slot] != _bv(0), err, fails)
                continue
            held = (p.state[addr] & _bv(ir.OWNER_MASK)) == _bv(me)
            if locks[addr].kind == "rwsem":
                held = z3.Or(held, (z3.LShR(p.state[addr + 1], t.index) & _bv(1)) == _bv(1))
            p = self.fail(p, held, err, fails)
        return _Path(p.cond, self._enter(p.state, t, t.end_pc))

    def invariant_fail(self, s: list[Term]) -> list[tuple[Term, int]]:
        fails: list[tuple[Term, int]] = []
        for inv in self.m.invariants:
            if self.on(inv.error):
                ok = _truth(self.expr(inv.expr, s, z3.BoolVal(True), fails))
                fails.append((z3.Not(ok), inv.error))
        return fails


# ---------------------------------------------------------------- lemmas


@dataclass(frozen=True)
class LemmaResult:
    """PROVED, REFUTED (with the values that break it) or UNKNOWN (with z3's reason)."""

    name: str
    verdict: str
    values: tuple[tuple[str, str], ...] = ()
    reason: str = ""


def prove_lemmas(
    model: ir.Model,
    names: Collection[str] | None = None,
    timeout_ms: int | None = None,
    rlimit: int = RLIMIT,
    deadline: float | None = None,
) -> list[LemmaResult]:
    """Prove each selected lemma for every value of its parameters, or find values that refute it.

    Each lemma is encoded in bit-vectors wide enough for every value it computes (see
    `width_for`), so 64-bit words stay non-negative and no product wraps. Each query is
    bounded by `rlimit` (deterministic), and by `timeout_ms` and `deadline` if given."""
    from . import semantics as T

    global WIDTH
    saved = WIDTH
    try:
        enc = _Encoder(model, None)
        out = []
        for lemma in model.lemmas:
            if names is not None and lemma.name not in names and "lemma" not in names:
                continue
            width = width_for(model, [lemma.expr], [ty for _, ty in lemma.params])
            if width.problem:
                out.append(LemmaResult(lemma.name, "UNKNOWN", reason=width.problem))
                continue
            WIDTH = width.bits
            gw = Gateway(timeout_ms=timeout_ms or 3_600_000, rlimit=rlimit, deadline=deadline)
            state: list[Term] = [_bv(0)] * lemma.base
            params = []
            for pname, ty in lemma.params:
                v = z3.BitVec(pname, WIDTH)
                params.append(v)
                if isinstance(ty, T.BitsT):
                    gw.add(v >= _bv(0), v < _bv(1 << ty.width))
                elif isinstance(ty, T.BoolT):
                    gw.add(v >= _bv(0), v <= _bv(1))
                elif isinstance(ty, T.EnumT):
                    gw.add(v >= _bv(0), v < _bv(len(ty.members)))
                elif isinstance(ty, T.IntT) and ty.lo is not None and ty.hi is not None:
                    gw.add(v >= _bv(ty.lo), v <= _bv(ty.hi))
            enc.n = lemma.base + len(params)
            holds = _truth(enc.expr(lemma.expr, state + params, z3.BoolVal(True), []))
            outcome = gw.check(z3.Not(holds))
            if outcome.status == "unsat":
                out.append(LemmaResult(lemma.name, "PROVED"))
            elif outcome.status == "unknown":
                out.append(LemmaResult(lemma.name, "UNKNOWN", reason=outcome.reason))
            else:
                zm = gw.model()
                values = []
                raws = []
                for (pname, ty), v in zip(lemma.params, params, strict=True):
                    raw = zm.eval(v, model_completion=True).as_signed_long()
                    raws.append(raw)
                    values.append((pname, T.format_value(ty, raw)))
                # the refutation must hold concretely, by the interpreter the explicit engine uses
                from .codegen import evaluate

                if evaluate(lemma.expr, tuple([0] * lemma.base + raws)):
                    raise AssertionError(f"lemma {lemma.name}: z3's counterexample does not refute it concretely")
                out.append(LemmaResult(lemma.name, "REFUTED", tuple(values)))
        return out
    finally:
        WIDTH = saved


# ---------------------------------------------------------------- bounded model checking


class _Unrolling:
    """The transition relation of a compiled model, unrolled one state at a time."""

    def __init__(self, c: Compiled) -> None:
        global WIDTH
        self.width = width_for(c.model)
        WIDTH = self.width.bits or WIDTH
        self.c = c
        self.m = c.model
        self.enc = _Encoder(self.m, c.props)
        self.deadlock_on = c.props is None or "deadlock" in c.props
        self.nthreads = len(self.m.threads)
        self.rcu = rcu_objects(self.m)

    def moves(self, s: list[Term]) -> tuple[list[Any], list[Any]]:
        """Every move from state `s`: each (thread, pc) step, and the RCU callbacks."""
        m, enc = self.m, self.enc
        moves = []
        for t in m.threads:
            pc = s[t.pc_slot]
            for p, nid in enumerate(t.yields):
                sym = enc.step(t, nid, s)
                at = pc == _bv(p)
                moves.append((at, z3.And(at, sym.enabled), [(z3.And(at, f), e) for f, e in sym.fail], sym.succ))
        rcu_moves = []
        for i, (pool_name, idx) in enumerate(self.rcu):
            pool = next(pl for pl in m.pools if pl.name == pool_name)
            st = pool.base + idx * pool.stride
            en = z3.And(s[st] == _bv(2), s[st + 1] == _bv(0))
            rcu_moves.append((en, enc._set(s, st, 3), i))
        return moves, rcu_moves

    def bad(self, s: list[Term], moves: list[Any], rcu_moves: list[Any]) -> Term:
        """State `s` violates a selected property, or a step from it does."""
        return z3.Or(self.bad_state(s, moves, rcu_moves), self.bad_step(moves))

    def bad_state(self, s: list[Term], moves: list[Any], rcu_moves: list[Any]) -> Term:
        """State `s` itself violates an invariant, or is a deadlock."""
        bad: list[Term] = [f for f, _ in self.enc.invariant_fail(s)]
        if self.deadlock_on:
            any_enabled = z3.Or(*[en for _, en, _, _ in moves], *[en for en, _, _ in rcu_moves], z3.BoolVal(False))
            done = z3.And(*[s[t.pc_slot] == _bv(t.end_pc) for t in self.m.threads])
            bad.append(z3.And(z3.Not(any_enabled), z3.Not(done)))
        return z3.Or(*bad) if bad else z3.BoolVal(False)

    def bad_step(self, moves: list[Any]) -> Term:
        """A step from the state fails (an assert, a lock misuse): the path is one step longer."""
        fails = [f for _, _, step_fails, _ in moves for f, _ in step_fails]
        return z3.Or(*fails) if fails else z3.BoolVal(False)

    def step(
        self, s: list[Term], moves: list[Any], rcu_moves: list[Any], tag: str
    ) -> tuple[list[Term], list[Term], tuple[Term, Term]]:
        """Constraints for one transition from `s` to fresh variables: (constraints, next state, choice)."""
        who = z3.BitVec(f"who_{tag}", WIDTH)
        branch = z3.BitVec(f"branch_{tag}", WIDTH)
        n = self.enc.n
        nxt = [z3.BitVec(f"s_{tag}_{j}", WIDTH) for j in range(n)]
        valid = []
        value: list[Term] = list(s)  # per slot: an ite chain over the moves that change it
        mi = 0
        for t in self.m.threads:
            for _p, _nid in enumerate(t.yields):
                at, en, fails, succ = moves[mi]
                mi += 1
                ok = z3.And(en, *[z3.Not(f) for f, _ in fails])
                for b, succ_state in enumerate(succ):
                    sel = z3.And(who == _bv(t.index), branch == _bv(b), at)
                    valid.append(z3.And(sel, ok))
                    for j in range(n):
                        if succ_state[j] is not s[j]:
                            value[j] = z3.If(sel, succ_state[j], value[j])
        for en, succ_state, i in rcu_moves:
            sel = who == _bv(self.nthreads + i)
            valid.append(z3.And(sel, en))
            for j in range(n):
                if succ_state[j] is not s[j]:
                    value[j] = z3.If(sel, succ_state[j], value[j])
        constraints = [z3.Or(*valid) if valid else z3.BoolVal(False)]
        constraints.extend(nxt[j] == value[j] for j in range(n))
        return constraints, nxt, (who, branch)

    def domain(self, s: list[Term]) -> list[Term]:
        """What every reachable state satisfies slot by slot (the checks keep values in range):
        the slot ranges the widths were computed from."""
        out = []
        ranges = Ranges(self.m)
        for j in range(len(self.m.slots)):
            rng = ranges.slot(j)
            if rng is None:  # an RCU nesting depth: never negative
                out.append(s[j] >= _bv(0))
            else:
                out.append(z3.And(s[j] >= _bv(rng[0]), s[j] <= _bv(rng[1])))
        return out


_TOO_DEEP = "a step has too many nodes in a row for the z3 encoding (Python's recursion limit)"
# Python's recursion limit, raised as is or from inside a z3 call (ctypes wraps it)
_TooDeep = (RecursionError, ctypes.ArgumentError)


def _over_memory(max_memory: int | None) -> str:
    """The UNKNOWN reason when this process (z3 included) uses more than `max_memory` bytes."""
    if max_memory is None:
        return ""
    used = resident_bytes()
    return f"--max-memory {format_size(max_memory)} reached ({format_size(used)} in use)" if used > max_memory else ""


def bmc(
    c: Compiled, depth: int, timeout: float | None = None, rlimit: int = RLIMIT, max_memory: int | None = None
) -> Result:
    """Look for a violation within `depth` steps; a found one is replayed by the explicit engine.

    `timeout` (seconds) covers the whole run, encoding included; `rlimit` bounds each z3 query
    deterministically. BMC never says HOLDS: without a violation the answer is UNKNOWN with
    the depth covered."""
    t0 = time.monotonic()
    return _bmc(c, depth, t0, None if timeout is None else t0 + timeout, rlimit, max_memory)


def _bmc(c: Compiled, depth: int, t0: float, deadline: float | None, rlimit: int, max_memory: int | None) -> Result:
    u = _Unrolling(c)
    note = _not_checked_note(c)

    def stats(k: int) -> Stats:
        return Stats(0, 0, k, time.monotonic() - t0)

    if u.width.problem:
        return Result(UNKNOWN, stats(0), reason=u.width.problem + note, engine="bmc")
    gw = Gateway(timeout_ms=3_600_000, rlimit=rlimit, deadline=deadline)
    states: list[list[Term]] = [[_bv(v) for v in c.model.initial_state()]]
    choices: list[tuple[Term, Term]] = []

    def covered(k: int) -> str:
        return f"no violation within {k} steps" if k >= 0 else "nothing was checked"

    for k in range(depth + 1):
        s = states[k]
        try:
            moves, rcu_moves = u.moves(s)
        except _TooDeep:
            return Result(UNKNOWN, stats(k), reason=f"{_TOO_DEEP}: {covered(k - 1)}" + note, engine="bmc")
        if deadline is not None and time.monotonic() > deadline:
            return Result(UNKNOWN, stats(k), reason=f"--timeout reached: {covered(k - 1)}" + note, engine="bmc")
        if memory := _over_memory(max_memory):
            return Result(UNKNOWN, stats(k), reason=f"{memory}: {covered(k - 1)}" + note, engine="bmc")
        # A bad state at depth k is a path of k steps, a failing step from it one of k+1:
        # asking in that order keeps the counterexample the shortest.
        for bad in (u.bad_state(s, moves, rcu_moves), u.bad_step(moves)):
            outcome = gw.check(bad)
            if outcome.status == "unknown":
                return Result(
                    UNKNOWN,
                    stats(k),
                    reason=f"z3 gave up at depth {k}: {outcome.reason}; {covered(k - 1)}" + note,
                    engine="bmc",
                )
            if outcome.status == "sat":
                return _replay(c, gw.model(), choices, k, stats(k), u.nthreads)
        if k == depth:
            break
        constraints, nxt, choice = u.step(s, moves, rcu_moves, str(k))
        gw.add(*constraints)
        choices.append(choice)
        states.append(nxt)
    return Result(
        UNKNOWN,
        stats(depth),
        reason=f"no violation within {depth} steps (--depth {depth}); "
        "bounded model checking proves nothing beyond that" + note,
        engine="bmc",
    )


def prove(
    c: Compiled, max_k: int, timeout: float | None = None, rlimit: int = RLIMIT, max_memory: int | None = None
) -> Result:
    """k-induction: PROVED for runs of any length, VIOLATED (via BMC), or UNKNOWN with the reason.

    For k = 1..max_k: if k steps from any in-range state that satisfy every property can
    never lead to a violation (the induction step) and no run from the initial state
    violates a property within k steps (the base case), every property holds forever.
    A selected property the encoding does not cover (lock_order) makes the answer UNKNOWN.
    `timeout` (seconds) covers the whole run, encoding included; `rlimit` bounds each z3
    query deterministically.
    """
    t0 = time.monotonic()
    deadline = None if timeout is None else t0 + timeout
    unchecked = not_checked(c)
    note = _not_checked_note(c)

    def stats(k: int) -> Stats:
        return Stats(0, 0, k, time.monotonic() - t0)

    if unchecked and set(unchecked) >= set(_selected_kinds(c)):
        return Result(UNKNOWN, stats(0), engine="prove", reason=note.removeprefix("; "))
    u = _Unrolling(c)
    if u.width.problem:
        return Result(UNKNOWN, stats(0), reason=u.width.problem + note, engine="prove")
    last_cti = ""
    for k in range(1, max_k + 1):
        if deadline is not None and time.monotonic() >= deadline:
            break
        if memory := _over_memory(max_memory):
            return Result(
                UNKNOWN, stats(k), reason=f"{memory} before the induction step at k={k}" + note, engine="prove"
            )
        gw = Gateway(timeout_ms=3_600_000, rlimit=rlimit, deadline=deadline)
        s = [z3.BitVec(f"s_i0_{j}", WIDTH) for j in range(u.enc.n)]
        gw.add(*u.domain(s))
        path = [s]
        for i in range(k):
            try:
                moves, rcu_moves = u.moves(path[i])
            except _TooDeep:
                return Result(UNKNOWN, stats(k), reason=_TOO_DEEP + note, engine="prove")
            gw.add(z3.Not(u.bad(path[i], moves, rcu_moves)))
            constraints, nxt, _ = u.step(path[i], moves, rcu_moves, f"i{i + 1}")
            gw.add(*constraints)
            path.append(nxt)
        for a in range(len(path)):  # simple paths: no state repeats
            for b in range(a + 1, len(path)):
                gw.add(z3.Or(*[x != y for x, y in zip(path[a], path[b], strict=True)]))
        moves, rcu_moves = u.moves(path[k])
        outcome = gw.check(u.bad(path[k], moves, rcu_moves))
        if outcome.status == "unknown":
            return Result(
                UNKNOWN,
                stats(k),
                reason=f"z3 gave up in the induction step at k={k}: {outcome.reason}" + note,
                engine="prove",
            )
        if outcome.status == "sat":
            last_cti = _describe_cti(u, gw.model(), path[-1])
            continue
        base = _bmc(c, k, t0, deadline, rlimit, max_memory)
        if not (base.verdict == UNKNOWN and base.reason.startswith(f"no violation within {k} steps (--depth {k})")):
            return dataclasses.replace(base, engine="prove")  # a violation, or the base case is unfinished
        if unchecked:
            return Result(
                UNKNOWN,
                stats(k),
                engine="prove",
                reason=f"{note.removeprefix('; ')}; every other selected property is PROVED by {k}-induction "
                "for runs of any length",
            )
        return Result(
            PROVED,
            stats(k),
            engine="prove",
            reason=f"PROVED by {k}-induction for runs of any length",
            notes=(f"PROVED by {k}-induction: every property holds in runs of any length",),
        )
    return Result(
        UNKNOWN,
        stats(max_k),
        engine="prove",
        reason=f"no proof: the induction step fails up to k={max_k} (or the time ran out); "
        f"counterexample to induction: {last_cti or 'none found yet'}" + note,
    )


def _describe_cti(u: _Unrolling, model: z3.ModelRef, s: list[Term]) -> str:
    """The last state of a counterexample to induction: where each thread is."""
    parts = []
    for t in u.m.threads:
        pc = model.eval(s[t.pc_slot], model_completion=True).as_long()
        if pc >= t.end_pc:
            parts.append(f"{t.name} done")
        else:
            node = t.nodes[t.yields[pc]]
            parts.append(f"{t.name} at line {node.span.line} ({node.text})")
    return "; ".join(parts)


def not_checked(c: Compiled) -> list[str]:
    """The selected properties the z3 encodings do not check: lock_order (a property of
    all runs, over the lock-order graph) when the model acquires a lock at all."""
    takes_locks = any(isinstance(op, ir.Acquire) for t in c.model.threads for n in t.nodes for op in n.ops)
    return ["lock_order"] if c.check_lock_order and takes_locks else []


def _selected_kinds(c: Compiled) -> list[str]:
    """The kinds and names of the selected properties (every one when nothing is selected)."""
    if c.props is None:
        return [k for k, _ in c.model.properties]
    return list(c.props)


def _not_checked_note(c: Compiled) -> str:
    return "".join(f"; {p}: not checked by this engine; use the explicit engine" for p in not_checked(c))


def _replay(
    c: Compiled, model: z3.ModelRef, choices: list[tuple[Term, Term]], k: int, stats: Stats, nthreads: int
) -> Result:
    """Turn z3's schedule into a path and re-execute it with the explicit engine."""
    path: list[tuple[int, int]] = []
    for who, branch in choices[:k]:
        w = model.eval(who, model_completion=True).as_long()
        b = model.eval(branch, model_completion=True).as_long()
        path.append((RCU_THREAD, w - nthreads) if w >= nthreads else (w, b))
    s = c.model.initial_state()
    for tid, b in path:
        if tid == RCU_THREAD:
            s = dict(c.rcu_steps(s))[b] if c.rcu_steps else s
            continue
        pcslot, table = c.tables[tid]
        r = table[s[pcslot]](s)
        if isinstance(r, list):
            r = r[b]
        if not isinstance(r, tuple):
            raise AssertionError(
                f"bmc schedule fails early at {(tid, b)}: the z3 encoding disagrees with the explicit semantics"
            )
        s = r
    bad = c.invariant(s)
    if bad is not None:
        site = c.errors[bad]
        v = Violation(site.kind, site.name, site.message, site, tuple(path), False)
        return Result(VIOLATED, stats, v, engine="bmc")
    for tid, (pcslot, table) in enumerate(c.tables):
        r = table[s[pcslot]](s)
        results = r if isinstance(r, list) else [r]
        for b, x in enumerate(results):
            if isinstance(x, int) and not isinstance(x, bool):
                site = c.errors[x]
                v = Violation(site.kind, site.name, site.message, site, (*path, (tid, b)), True)
                return Result(VIOLATED, stats, v, engine="bmc")
    enabled = any(table[s[pc]](s) is not None for pc, table in c.tables) or bool(c.rcu_steps and c.rcu_steps(s))
    if c.check_deadlock and not enabled and not c.done(s):
        v = Violation(
            "deadlock", "deadlock", "deadlock: no thread can move", None, tuple(path), False, describe_blocked(c, s)
        )
        return Result(VIOLATED, stats, v, engine="bmc")
    raise AssertionError(
        "bmc found a violation the explicit engine does not confirm: the z3 encoding disagrees "
        "with the explicit semantics"
    )


__all__ = [
    "Gateway",
    "LemmaResult",
    "SolverOutcome",
    "Width",
    "bmc",
    "not_checked",
    "prove",
    "prove_lemmas",
    "width_for",
]
