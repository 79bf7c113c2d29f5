"""Export to Promela: `ir.Model` -> a SPIN model that takes the same steps.

Every modelcheck step (a thread's step at one pc, one `choose` branch, an RCU callback)
is one `d_step` of the Promela model, so SPIN with its reduction off (`-DNOREDUCE`)
stores one state per modelcheck state, plus one per distinct violated check:

- The state is one global array `S`, the slot vector; `err` is 0 in every real state.
  `init` sets the initial values and starts every process in one atomic sequence, so
  SPIN stores one state (the one before it) that modelcheck does not have.
- Each thread instance is an `active proctype` looping over one `d_step` per pc (and per
  `choose` branch); the option's guard is `S[pc] == k` and whether the step can move (a
  failing step moves). The thread's Promela control state never changes, so it adds
  nothing to the state.
- A step that fails sets `err` to the error id + 1, resets every other slot (all threads at
  their end, nothing pending) and prints `MCERR <id>` from embedded C the first time: the
  failing step has no successor but this one absorbing error state per error id.
- A `monitor` process fires when an invariant is false (or its evaluation fails) or on a
  deadlock (computed, not SPIN's invalid end states: run pan with `-E`), and fails the same
  way; RCU callbacks are one more process.

Promela ints are 32 bits: a conservative interval analysis of every slot and every
subexpression rejects a model whose values may not fit (`NotTranslatable`), as it does
anything else it cannot express exactly. The lock-order property (a property of all runs)
and the lemmas (for z3) are not translated: `unchecked_properties` names them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import partial

from . import ir
from . import semantics as T
from .codegen import enabled_checks

INT_MIN, INT_MAX = -(2**31) + 1, 2**31 - 1  # -2**31 is left out so that negation stays in range
#: Error code (minus one) printed for a deadlock: one past the model's error sites.
RCU_DEPTH_MAX = 2**24  # an RCU depth d needs d + 1 distinct reachable states first


class NotTranslatable(Exception):
    """The model uses something the Promela export cannot express exactly."""

    def __init__(self, reason: str, where: str = "") -> None:
        super().__init__(f"{where}: {reason}" if where else reason)
        self.reason = reason
        self.where = where  # "file:line:col" of the construct, when there is one


@dataclass(frozen=True)
class PromelaModel:
    """A translated model: the Promela text and how to read pan's output."""

    text: str
    deadlock_code: int  # the number printed as `MCERR <n>` for a deadlock
    unchecked: tuple[str, ...]  # selected properties the model does not check


def unchecked_properties(model: ir.Model, props: Collection[str] | None) -> tuple[str, ...]:
    """Selected properties that the Promela model does not check: lock_order (a property of
    all runs) and the lemmas (about every value of their parameters, for z3)."""
    out = [lm.name for lm in model.lemmas if props is None or "lemma" in props or lm.name in props]
    if props is None or "lock_order" in props:
        out.append("lock_order")
    return tuple(out)


def to_promela(model: ir.Model, props: Collection[str] | None = None) -> str:
    """The Promela text of `model` with the properties `props` (None: all); see the module doc."""
    return translate(model, props).text


def translate(model: ir.Model, props: Collection[str] | None = None) -> PromelaModel:
    """Translate `model`; raise NotTranslatable when it cannot be done exactly."""
    ranges = _Ranges(model)
    gen = _Gen(model, props, ranges)
    text = gen.build()
    return PromelaModel(text, len(model.errors), unchecked_properties(model, props))


# ---------------------------------------------------------------- value ranges

Interval = tuple[int | None, int | None]


def _hull(a: Interval, b: Interval) -> Interval:
    lo = None if a[0] is None or b[0] is None else min(a[0], b[0])
    hi = None if a[1] is None or b[1] is None else max(a[1], b[1])
    return lo, hi


def _type_range(ty: T.Type) -> Interval:
    if isinstance(ty, T.BoolT):
        return 0, 1
    if isinstance(ty, T.IntT):
        return ty.lo, ty.hi
    if isinstance(ty, T.EnumT):
        return 0, max(len(ty.members) - 1, 0)
    if isinstance(ty, T.NullT):
        return 0, 0
    if isinstance(ty, T.BitsT):
        return 0, 2**ty.width - 1
    return None, None


class _Ranges:
    """A conservative interval for every slot and a check that every subexpression fits 32 bits."""

    def __init__(self, model: ir.Model) -> None:
        self.m = model
        n = len(model.threads)
        if n > 30:
            raise NotTranslatable(f"{n} threads: thread bitmasks need more than 31 bits")
        mask: Interval = (0, 2**n - 1)
        sub = max([0] + [op.subclass for op, _ in self._ops() if isinstance(op, ir.Acquire)])
        ends = {t.pc_slot: t.end_pc for t in model.threads}
        pools = {p.name: p for p in model.pools}
        self.slot: list[Interval] = []
        free: list[int] = []  # slots whose range comes from the stores into them
        for i, s in enumerate(model.slots):
            if s.kind == "pc":
                r: Interval = (0, ends[i])
            elif s.kind == "lock":
                r = (0, ir.OWNER_MASK + (sub << ir.OWNER_BITS))
            elif s.kind in ("lock_readers", "rcu_mask", "gp_wait"):
                r = mask
            elif s.kind == "status":
                r = (0, 3)
            elif s.kind == "rcu_depth":
                r = (0, RCU_DEPTH_MAX)
            elif isinstance(s.ty, T.RefT):
                r = (0, pools[s.ty.pool].size if s.ty.pool in pools else None)
                if r[1] is None:
                    r = (s.init, s.init)
                    free.append(i)
            else:
                r = _type_range(s.ty)
                if r[0] is None or r[1] is None or r[1] > INT_MAX:
                    r = (s.init, s.init)
                    free.append(i)
            self.slot.append(r)
        if free:
            self._fixpoint(set(free))
        for i, (lo, hi) in enumerate(self.slot):
            if lo is None or hi is None or lo < INT_MIN or hi > INT_MAX:
                raise NotTranslatable(f"slot {model.slots[i].name} may hold values past 32 bits")
        for op, where in self._ops():
            for e in _op_exprs(op):
                self.fits(e, where)
        for inv in model.invariants:
            self.fits(inv.expr, str(inv.span))

    def _ops(self) -> list[tuple[ir.Op, str]]:
        out: list[tuple[ir.Op, str]] = []
        for t in self.m.threads:
            for node in t.nodes:
                where = f"{node.span}"
                out.extend((op, where) for op in node.ops)
                out.extend((op, where) for op in node.post)
                if node.cond is not None:
                    out.append((ir.Check(node.cond, -1), where))
        return out

    def _fixpoint(self, free: set[int]) -> None:
        sets = [op for op, _ in self._ops() if isinstance(op, ir.Set)]
        for _ in range(30):
            changed = False
            for op in sets:
                value = self.expr(op.value)
                for slot in self.targets(op.addr):
                    if slot in free:
                        new = _hull(self.slot[slot], value)
                        if new != self.slot[slot]:
                            self.slot[slot] = new
                            changed = True
            if not changed:
                return
        for slot in free:
            self.slot[slot] = (None, None)

    def targets(self, a: ir.Addr) -> range:
        """Every slot an address may denote."""
        lo, hi = self.addr(a)
        n = len(self.slot)
        if lo is None or hi is None:
            return range(n)
        return range(max(lo, 0), min(hi, n - 1) + 1)

    def addr(self, a: ir.Addr) -> Interval:
        r: Interval = (a.base, a.base)
        for k, e in a.terms:
            r = _arith("+", r, _arith("*", (k, k), self.expr(e)))
        return r

    def expr(self, e: ir.Expr) -> Interval:
        """An interval holding every value of `e`."""
        if isinstance(e, ir.Const):
            return e.value, e.value
        if isinstance(e, ir.Load):
            out: Interval | None = None
            for s in self.targets(e.addr):
                out = self.slot[s] if out is None else _hull(out, self.slot[s])
            return out if out is not None else (0, 0)
        if isinstance(e, ir.Un):
            if e.op == "!":
                return 0, 1
            a = self.expr(e.a)
            return (None if a[1] is None else -a[1], None if a[0] is None else -a[0])
        if isinstance(e, ir.Bin):
            if e.op in ("&&", "||", "==>", "==", "!=", "<", "<=", ">", ">="):
                return 0, 1
            return _arith(e.op, self.expr(e.a), self.expr(e.b))
        if isinstance(e, ir.Guarded):
            return self.expr(e.expr)
        if isinstance(e, ir.Held):
            return 0, 1
        raise NotTranslatable(f"expression {e!r}")

    def fits(self, e: ir.Expr, where: str) -> None:
        """Raise NotTranslatable unless `e` and all its parts stay within 32 bits."""
        for sub in _children(e):
            self.fits(sub, where)
        if isinstance(e, ir.Bin) and e.op in ("<<", ">>"):
            blo, bhi = self.expr(e.b)
            if blo is None or bhi is None or blo < 0 or bhi > 30:
                raise NotTranslatable("a shift count may lie outside 0..30", where)
        lo, hi = self.expr(e)
        if lo is None or hi is None or lo < INT_MIN or hi > INT_MAX:
            raise NotTranslatable("a value may not fit in 32 bits", where)


def _bits(x: int) -> int:
    return max(abs(x), abs(x + 1)).bit_length()


def _arith(op: str, a: Interval, b: Interval) -> Interval:
    if a[0] is None or a[1] is None or b[0] is None or b[1] is None:
        return None, None
    alo, ahi, blo, bhi = a[0], a[1], b[0], b[1]
    if op == "+":
        return alo + blo, ahi + bhi
    if op == "-":
        return alo - bhi, ahi - blo
    if op == "*":
        c = [alo * blo, alo * bhi, ahi * blo, ahi * bhi]
        return min(c), max(c)
    if op == "/":
        m = max(abs(alo), abs(ahi))
        return -m, m
    if op == "%":
        m = min(max(abs(alo), abs(ahi)), max(abs(blo), abs(bhi)))
        return -m, m
    if op in ("&", "|", "^"):
        if alo >= 0 and blo >= 0:
            if op == "&":
                return 0, min(ahi, bhi)
            return 0, 2 ** max(ahi.bit_length(), bhi.bit_length()) - 1
        k = max(_bits(alo), _bits(ahi), _bits(blo), _bits(bhi))
        return -(2**k), 2**k - 1
    if op == "<<":
        if blo < 0 or bhi > 62:
            return None, None
        c = [alo << blo, alo << bhi, ahi << blo, ahi << bhi]
        return min(c), max(c)
    if op == ">>":
        return min(alo, 0), max(ahi, 0)
    raise NotTranslatable(f"operator {op}")


def _children(e: ir.Expr) -> list[ir.Expr]:
    if isinstance(e, ir.Load):
        return [x for _, x in e.addr.terms]
    if isinstance(e, ir.Un):
        return [e.a]
    if isinstance(e, ir.Bin):
        return [e.a, e.b]
    if isinstance(e, ir.Guarded):
        return [e.cond, e.expr]
    if isinstance(e, ir.Held):
        return [x for _, x in e.addr.terms]
    return []


def _op_exprs(op: ir.Op) -> list[ir.Expr]:
    addrs: list[ir.Addr] = []
    exprs: list[ir.Expr] = []
    if isinstance(op, ir.Set):
        addrs, exprs = [op.addr], [op.value]
    elif isinstance(op, (ir.Check, ir.Await)):
        exprs = [op.cond]
    elif isinstance(op, (ir.Acquire, ir.Release)):
        addrs = [op.addr]
    elif isinstance(op, ir.TryAcquire):
        addrs = [op.addr, op.dest]
    elif isinstance(op, ir.Free):
        exprs = [op.ref]
    elif isinstance(op, ir.Alloc):
        addrs = [op.dest]
    for a in addrs:
        exprs.append(ir.Load(a))
    return exprs


# ---------------------------------------------------------------- code generation

_BLOCKING = (ir.Await, ir.Acquire, ir.SyncRcuWait)


class _Gen:
    def __init__(self, model: ir.Model, props: Collection[str] | None, ranges: _Ranges) -> None:
        self.m = model
        self.ranges = ranges
        self.enabled = enabled_checks(model, props)
        self.deadlock = props is None or "deadlock" in props
        self.lines: list[str] = []
        self.ind = 0
        self.spin_slots = [lk.addr for lk in model.locks if lk.kind == "spinlock"]
        self.gp_slots = [t.gp_slot for t in model.threads if t.gp_slot >= 0]
        self.mask_slots = [p.base + k * p.stride + 1 for p in model.pools if p.rcu for k in range(p.size)]

    def on(self, err: int) -> bool:
        return err in self.enabled

    def emit(self, line: str, k: Callable[[], None] | None = None) -> None:
        """Emit one line of Promela; then go on with `k`, if given."""
        self.lines.append("  " * self.ind + line)
        if k is not None:
            k()

    # ------------------------------------------------------------ expressions
    def addr(self, a: ir.Addr) -> str:
        parts = [str(a.base)] + [f"{k}*{self.val(e)}" for k, e in a.terms]
        return " + ".join(parts)

    def val(self, e: ir.Expr) -> str:
        """The Promela expression for the value of `e` (evaluated only where its checks pass)."""
        if isinstance(e, ir.Const):
            return str(e.value) if e.value >= 0 else f"({e.value})"
        if isinstance(e, ir.Load):
            return f"S[{self.addr(e.addr)}]"
        if isinstance(e, ir.Un):
            return f"(!{self.val(e.a)})" if e.op == "!" else f"(-{self.val(e.a)})"
        if isinstance(e, ir.Bin):
            a, b = self.val(e.a), self.val(e.b)
            if e.op == "==>":
                return f"((!{a}) || {b})"
            if e.op in ("&&", "||"):
                return f"(({a} != 0) {e.op} ({b} != 0))"
            return f"({a} {e.op} {b})"
        if isinstance(e, ir.Guarded):
            return self.val(e.expr)
        if isinstance(e, ir.Held):
            a = self.addr(e.addr)
            mine = f"((S[{a}] & {ir.OWNER_MASK}) == {e.thread + 1})"
            if e.kind == "rwsem" and not e.write:
                return f"({mine} || (((S[{a} + 1] >> {e.thread}) & 1) == 1))"
            return mine
        raise NotTranslatable(f"expression {e!r}")

    def readers(self, exclude: int | None) -> str:
        parts = [
            f"(S[{t.rcu_slot}] != 0 -> {1 << t.index} : 0)"
            for t in self.m.threads
            if t.rcu_slot >= 0 and t.index != exclude
        ]
        return "(" + " | ".join(parts) + ")" if parts else "0"

    def fails(self, e: ir.Expr) -> str | None:
        """A Promela condition true when evaluating `e` fails a check (None: it never does)."""
        if isinstance(e, ir.Load):
            return self._any([self.fails(x) for _, x in e.addr.terms])
        if isinstance(e, ir.Held):
            return self._any([self.fails(x) for _, x in e.addr.terms])
        if isinstance(e, ir.Un):
            return self.fails(e.a)
        if isinstance(e, ir.Bin):
            fa, fb = self.fails(e.a), self.fails(e.b)
            if fb is not None and e.op in ("&&", "==>"):
                fb = f"({self.val(e.a)} && {fb})"
            elif fb is not None and e.op == "||":
                fb = f"((!{self.val(e.a)}) && {fb})"
            return self._any([fa, fb])
        if isinstance(e, ir.Guarded):
            if not self.on(e.error):
                return self.fails(e.expr)
            return self._any([self.fails(e.cond), f"(!{self.val(e.cond)})", self.fails(e.expr)])
        return None

    @staticmethod
    def _any(parts: list[str | None]) -> str | None:
        got = [p for p in parts if p is not None]
        if not got:
            return None
        return got[0] if len(got) == 1 else "(" + " || ".join(got) + ")"

    def errcode(self, e: ir.Expr) -> None:
        """Emit statements that set `ee` to the failing check's error id + 1, if any, in evaluation order."""
        if self.fails(e) is None:
            return
        if isinstance(e, (ir.Load, ir.Held)):
            self._seq([x for _, x in e.addr.terms])
        elif isinstance(e, ir.Un):
            self.errcode(e.a)
        elif isinstance(e, ir.Bin):
            self.errcode(e.a)
            if self.fails(e.b) is not None:
                cond = "ee == 0"
                if e.op in ("&&", "==>"):
                    cond = f"ee == 0 && {self.val(e.a)}"
                elif e.op == "||":
                    cond = f"ee == 0 && !{self.val(e.a)}"
                self._when(cond, lambda: self.errcode(e.b))
        elif isinstance(e, ir.Guarded):
            if not self.on(e.error):
                self.errcode(e.expr)
                return
            self.errcode(e.cond)
            self._when(f"ee == 0 && !{self.val(e.cond)}", lambda: self.emit(f"ee = {e.error + 1}"))
            if self.fails(e.expr) is not None:
                self._when("ee == 0", lambda: self.errcode(e.expr))

    def _seq(self, exprs: list[ir.Expr]) -> None:
        first = True
        for x in exprs:
            if self.fails(x) is None:
                continue
            if first:
                self.errcode(x)
                first = False
            else:
                self._when("ee == 0", partial(self.errcode, x))

    def _when(self, cond: str, body: Callable[[], None]) -> None:
        self.emit("if")
        self.emit(f":: ({cond}) ->")
        self.ind += 1
        body()
        self.ind -= 1
        self.emit(":: else -> skip")
        self.emit("fi;")

    def checked(self, exprs: list[ir.Expr], k: Callable[[], None]) -> None:
        """Evaluate `exprs` in order; if one fails, fail the step, else go on with `k`."""
        if all(self.fails(x) is None for x in exprs):
            k()
            return
        self.emit("ee = 0;")
        self._seq(exprs)
        self.fail_if("ee != 0", k)

    def check(self, error: int, cond: str, k: Callable[[], None]) -> None:
        """Fail with `error` when `cond` holds, if its property is selected; go on with `k`."""
        if self.on(error):
            self.fail_if(cond, k, str(error + 1))
        else:
            k()

    def fail_if(self, cond: str, k: Callable[[], None], code: str | None = None) -> None:
        """Fail the step (with `code`, or with `ee`) when `cond` holds, else go on with `k`."""
        self.emit("if")
        self.emit(f":: ({cond}) ->")
        self.ind += 1
        if code is not None:
            self.emit(f"ee = {code};")
        self.emit("fail();")
        self.ind -= 1
        self.emit(":: else ->")
        self.ind += 1
        k()
        self.ind -= 1
        self.emit("fi;")

    # ------------------------------------------------------------ steps
    def build(self) -> str:
        m = self.m
        n = len(m.slots)
        out = [
            f"/* {m.file}: generated by modelcheck export --promela; one d_step per modelcheck step */",
            f"int S[{n}];",
            "int err;",
            "hidden int ee, cc, aa, oo, rr, st;",
            f"c_decl {{ int mc_seen[{len(m.errors) + 2}]; }}",
            "inline fail() {",
            "  err = ee;",
            # no loop: SPIN allows a bounded number of jumps in one d_step, and a step may fail in many places
            "  c_code { memset(now.S, 0, sizeof(now.S)); }",
        ]
        out += [f"  S[{t.pc_slot}] = {t.end_pc};" for t in m.threads]
        out += [
            '  c_code { if (!mc_seen[now.err]) { mc_seen[now.err] = 1; printf("MCERR %d\\n", now.err - 1); } }',
            "}",
        ]
        self.lines = []
        procs = [f"t{t.index}" for t in m.threads if t.yields]  # a thread run into the initial state has no step
        for t in m.threads:
            if t.yields:
                self.thread(t)
        if self.monitor():
            procs.append("monitor")
        if self.rcu():
            procs.append("rcu_callbacks")
        inits = "; ".join(f"S[{i}] = {s.init}" for i, s in enumerate(m.slots) if s.init != 0)
        # `init` sets the initial values (an array declaration has one value for all elements)
        # and starts the processes in one atomic sequence: SPIN stores one state before it
        start = ([f"d_step {{ {inits} }}"] if inits else []) + [f"run {p}()" for p in procs] or ["err = 0"]
        # with no process to run, `init` must not end: its end would be one more state
        self.emit("init { atomic { " + "; ".join(start) + " }" + ("" if procs else "; false") + " }")
        return "\n".join(out + self.lines) + "\n"

    def thread(self, t: ir.ThreadIR) -> None:
        self.emit(f"proctype t{t.index}() {{  /* {t.name} */")
        self.ind += 1
        self.emit("do")
        for pc, nid in enumerate(t.yields):
            node = t.nodes[nid]
            if node.choices:
                if node.ops:
                    raise NotTranslatable("a choose node with operations", str(node.span))
                for c in node.choices:
                    self.option(f"S[{t.pc_slot}] == {pc}", partial(self.cont, t, c, ()))
                continue
            ops = list(node.ops)
            k = 0
            while k < len(ops) and isinstance(ops[k], ir.Check):
                k += 1
            if k < len(ops) and isinstance(ops[k], _BLOCKING):
                pre = [op for op in ops[:k] if isinstance(op, ir.Check)]
                guard = ops[k]
                rest = ops[k + 1 :]
                enabled = self.enabled_expr(t, pre, guard)
                cond = f"S[{t.pc_slot}] == {pc}" + (f" && ({enabled})" if enabled != "1" else "")
                self.option(cond, partial(self.guarded_step, t, pre, guard, rest, node))
            else:
                self.option(f"S[{t.pc_slot}] == {pc}", partial(self.start, t, node))
        self.ind -= 1
        self.emit("od")
        self.ind -= 1
        self.emit("}")

    def option(self, guard: str, body: Callable[[], None]) -> None:
        self.emit(f":: d_step {{ ({guard}) ->")
        self.ind += 1
        body()
        self.ind -= 1
        self.emit("}")

    def guarded_step(self, t: ir.ThreadIR, pre: list[ir.Check], guard: ir.Op, rest: list[ir.Op], node: ir.Node) -> None:
        """A step that starts with checks and a blocking operation (the option's guard lets it move)."""
        after = partial(self.after, t, node)
        self.run_ops(t, list(pre), lambda: self.blocking(t, guard, lambda: self.run_ops(t, rest, after)))

    def start(self, t: ir.ThreadIR, node: ir.Node) -> None:
        """A step that cannot block: the yield node's operations and on."""
        if node.end:
            self.finish(t)
            return
        self.run_ops(t, list(node.ops), lambda: self.after(t, node))

    def enabled_expr(self, t: ir.ThreadIR, pre: list[ir.Check], guard: ir.Op) -> str:
        """When the step starting with checks `pre` and the blocking `guard` can move (or fail)."""
        parts: list[str | None] = []
        for op in pre:
            if self.on(op.error):
                parts += [self.fails(op.cond), f"(!{self.val(op.cond)})"]
        if isinstance(guard, ir.Await):
            parts += [self.fails(guard.cond), f"({self.val(guard.cond)} != 0)"]
        elif isinstance(guard, ir.SyncRcuWait):
            parts.append(f"(S[{t.gp_slot}] == 0)")
        else:
            assert isinstance(guard, ir.Acquire)
            parts += [self.fails(ir.Load(guard.addr)), f"!{self.acquire_blocked(t, guard)}"]
        return self._any(parts) or "1"

    def acquire_blocked(self, t: ir.ThreadIR, op: ir.Acquire) -> str:
        a = self.addr(op.addr)
        o, owner = f"S[{a}]", f"(S[{a}] & {ir.OWNER_MASK})"
        r = f"S[{a} + 1]"
        me, bit = t.index + 1, 1 << t.index
        rw = op.kind == "rwsem"
        if self.on(op.errors[0]):
            others = f"({o} != 0 && {owner} != {me})"
            if op.mode == "w" and rw:
                return f"({others} || ({r} & {~bit}) != 0)"
            return others
        if op.mode == "w" and rw:
            return f"({o} != 0 || {r} != 0)"
        return f"({o} != 0)"

    def blocking(self, t: ir.ThreadIR, op: ir.Op, k: Callable[[], None]) -> None:
        """The effect of the blocking operation that starts an enabled step."""
        if isinstance(op, ir.Await):
            self.checked([op.cond], k)
            return
        if isinstance(op, ir.SyncRcuWait):
            k()
            return
        assert isinstance(op, ir.Acquire)
        self.checked([ir.Load(op.addr)], lambda: self.acquire(t, op, k))

    def acquire(self, t: ir.ThreadIR, op: ir.Acquire, k: Callable[[], None]) -> None:
        me, bit = t.index + 1, 1 << t.index
        rw = op.kind == "rwsem"
        held_err, sleep_err = op.errors
        self.emit(f"aa = {self.addr(op.addr)};")
        self.emit("oo = S[aa];")
        if rw:
            self.emit("rr = S[aa + 1];")

        def take() -> None:
            if op.mode == "w":
                self.emit(f"S[aa] = {me | (op.subclass << ir.OWNER_BITS)};")
            else:
                self.emit(f"S[aa + 1] = rr | {bit};")
            k()

        def sleep() -> None:
            if op.kind != "spinlock" and self.on(sleep_err):
                cond = self.spin_held(me)
                if t.rcu_slot >= 0:
                    cond = f"({cond} || S[{t.rcu_slot}] > 0)"
                self.fail_if(cond, take, str(sleep_err + 1))
            else:
                take()

        if self.on(held_err):
            mine = f"(oo & {ir.OWNER_MASK}) == {me}" + (f" || (rr & {bit}) != 0" if rw else "")
            self.fail_if(mine, sleep, str(held_err + 1))
        else:
            sleep()

    def spin_held(self, me: int) -> str:
        if not self.spin_slots:
            return "0"
        return "(" + " || ".join(f"(S[{a}] & {ir.OWNER_MASK}) == {me}" for a in self.spin_slots) + ")"

    def run_ops(self, t: ir.ThreadIR, ops: list[ir.Op], k: Callable[[], None]) -> None:
        if not ops:
            k()
            return
        self.op(t, ops[0], lambda: self.run_ops(t, ops[1:], k))

    def op(self, t: ir.ThreadIR, op: ir.Op, k: Callable[[], None]) -> None:
        me, bit = t.index + 1, 1 << t.index
        if isinstance(op, ir.Set):

            def store() -> None:
                self.emit(f"S[{self.addr(op.addr)}] = {self.val(op.value)};")
                k()

            self.checked([op.value, *[x for _, x in op.addr.terms]], store)
        elif isinstance(op, ir.Check):
            if not self.on(op.error):  # not selected, but its reads are still made
                self.checked([op.cond], k)
                return
            self.checked([op.cond], lambda: self.fail_if(f"!{self.val(op.cond)}", k, str(op.error + 1)))
        elif isinstance(op, ir.TryAcquire):

            def attempt() -> None:
                self.emit(f"aa = {self.addr(op.addr)};")
                rw = op.kind == "rwsem"
                if op.mode == "w":
                    free = "S[aa] == 0" + (" && S[aa + 1] == 0" if rw else "")
                    take = f"S[aa] = {me}"
                else:
                    free, take = "S[aa] == 0", f"S[aa + 1] = S[aa + 1] | {bit}"
                self.emit(f"if :: ({free}) -> {take}; cc = 1 :: else -> cc = 0 fi;")
                self.checked([x for _, x in op.dest.terms], partial(self.emit, f"S[{self.addr(op.dest)}] = cc;", k))

            self.checked([ir.Load(op.addr)], attempt)
        elif isinstance(op, ir.Release):

            def release() -> None:
                self.emit(f"aa = {self.addr(op.addr)};")
                if op.mode == "w":

                    def clear() -> None:
                        self.emit("S[aa] = 0;")
                        k()

                    self.check(op.error, f"(S[aa] & {ir.OWNER_MASK}) != {me}", clear)
                else:

                    def leave() -> None:
                        self.emit(f"S[aa + 1] = S[aa + 1] & {~bit};")
                        k()

                    self.check(op.error, f"(S[aa + 1] & {bit}) == 0", leave)

            self.checked([ir.Load(op.addr)], release)
        elif isinstance(op, ir.RcuLock):
            self.emit(f"S[{t.rcu_slot}] = S[{t.rcu_slot}] + 1;")
            k()
        elif isinstance(op, ir.RcuUnlock):
            r = t.rcu_slot

            def unlock() -> None:
                self.emit(f"if :: S[{r}] > 0 -> S[{r}] = S[{r}] - 1 :: else -> S[{r}] = 0 fi;")
                targets = self.gp_slots + self.mask_slots
                if targets:
                    clear = "; ".join(f"S[{s}] = S[{s}] & {~bit}" for s in targets)
                    self.emit(f"if :: S[{r}] == 0 -> {clear} :: else -> skip fi;")
                k()

            self.check(op.error, f"S[{r}] == 0", unlock)
        elif isinstance(op, ir.SyncRcuStart):

            def start() -> None:
                self.emit(f"S[{t.gp_slot}] = {self.readers(t.index)};")
                k()

            self.check(op.error, f"{self.spin_held(me)} || S[{t.rcu_slot}] > 0", start)
        elif isinstance(op, ir.Free):
            pool = next(p for p in self.m.pools if p.name == op.pool)

            def free() -> None:
                self.emit(f"st = {pool.base - pool.stride} + {pool.stride}*{self.val(op.ref)};")

                def mark() -> None:
                    if op.deferred:
                        self.emit("S[st] = 2;")
                        self.emit(f"S[st + 1] = {self.readers(None)};")
                    else:
                        self.emit("S[st] = 3;")
                    k()

                self.check(op.error, "S[st] != 1", mark)

            self.checked([op.ref], free)
        elif isinstance(op, ir.Alloc):
            pool = next(p for p in self.m.pools if p.name == op.pool)
            head = 2 if pool.rcu else 1
            self.emit("if")
            for i in range(pool.size):
                s = pool.base + i * pool.stride
                writes = [f"S[{s}] = 1"] + [f"S[{s + head + j}] = {d}" for j, d in enumerate(pool.defaults)]
                self.emit(f":: (S[{s}] == 0 || S[{s}] == 3) -> {'; '.join(writes)}; cc = {i + 1}")
                if i + 1 < pool.size:
                    # only the first free object is taken
                    self.emit(":: else ->")
                    self.ind += 1
                    self.emit("if")
            self.emit(":: else -> cc = 0")
            for _ in range(pool.size - 1):
                self.emit("fi;")
                self.ind -= 1
            self.emit("fi;")
            self.checked([x for _, x in op.dest.terms], partial(self.emit, f"S[{self.addr(op.dest)}] = cc;", k))
        else:
            raise NotTranslatable(f"{op!r} in the middle of a step")

    def after(self, t: ir.ThreadIR, node: ir.Node, seen: tuple[int, ...] = ()) -> None:
        """What follows a node's operations: its branch, its successor, or the thread's end."""
        if node.cond is not None:
            cond = node.cond
            assert node.then is not None and node.orelse is not None
            then, orelse = node.then, node.orelse

            def branch() -> None:
                self.emit(f"cc = {self.val(cond)};")
                self.run_ops(t, list(node.post), lambda: self.branch(t, then, orelse, seen))

            self.checked([cond], branch)
            return
        if node.next is None:
            self.finish(t)
            return
        self.cont(t, node.next, seen)

    def branch(self, t: ir.ThreadIR, then: int, orelse: int, seen: tuple[int, ...]) -> None:
        self.emit("if")
        self.emit(":: cc != 0 ->")
        self.ind += 1
        self.cont(t, then, seen)
        self.ind -= 1
        self.emit(":: else ->")
        self.ind += 1
        self.cont(t, orelse, seen)
        self.ind -= 1
        self.emit("fi;")

    def cont(self, t: ir.ThreadIR, nid: int, seen: tuple[int, ...]) -> None:
        """Go on at node `nid` within the step: stop at a yield node (the new pc)."""
        pcs = {y: i for i, y in enumerate(t.yields)}
        if nid in pcs:
            self.enter(t, pcs[nid])
            return
        if nid in seen:
            raise NotTranslatable("a local loop without a yield point", str(t.nodes[nid].span))
        node = t.nodes[nid]
        if node.end:
            self.finish(t)
            return
        if node.choices:
            raise NotTranslatable("a choose inside a step", str(node.span))
        self.run_ops(t, list(node.ops), lambda: self.after(t, node, (*seen, nid)))

    def enter(self, t: ir.ThreadIR, pc: int) -> None:
        writes = [f"S[{t.pc_slot}] = {pc}"]
        writes += [f"S[{slot}] = {value}" for slot, value in (t.resets[pc] if t.resets else ())]
        self.emit("; ".join(writes) + ";")

    def finish(self, t: ir.ThreadIR) -> None:
        """The thread's end: locks still held or an open RCU section fail; then the end pc."""
        me = t.index + 1
        locks = {lk.addr: lk for lk in self.m.locks}
        checks: list[tuple[str, int]] = []
        for addr, err in t.end_errors:
            if not self.on(err):
                continue
            if addr < 0:
                checks.append((f"S[{t.rcu_slot}] > 0", err))
            else:
                cond = f"(S[{addr}] & {ir.OWNER_MASK}) == {me}"
                if locks[addr].kind == "rwsem":
                    cond += f" || ((S[{addr + 1}] >> {t.index}) & 1) != 0"
                checks.append((cond, err))

        def rest(i: int) -> None:
            if i == len(checks):
                self.enter(t, t.end_pc)
                return
            cond, err = checks[i]
            self.fail_if(cond, lambda: rest(i + 1), str(err + 1))

        rest(0)

    # ------------------------------------------------------------ monitor and RCU
    def monitor(self) -> bool:
        options: list[tuple[str, Callable[[], None]]] = []
        for inv in self.m.invariants:
            if not self.on(inv.error):
                continue
            bad = self._any([self.fails(inv.expr), f"!{self.val(inv.expr)}"])
            assert bad is not None

            options.append((f"err == 0 && ({bad})", partial(self.invariant_failure, inv)))
        if self.deadlock:
            code = len(self.m.errors) + 1
            options.append((self.deadlocked(), partial(self.emit, f"ee = {code}; fail();")))
        if not options:
            return False
        self.emit("proctype monitor() {")
        self.ind += 1
        self.emit("do")
        for guard, body in options:
            self.option(guard, body)
        self.ind -= 1
        self.emit("od")
        self.emit("}")
        return True

    def invariant_failure(self, inv: ir.InvariantIR) -> None:
        """Fail with the invariant's own error, or with the check that failed while evaluating it."""
        self.emit("ee = 0;")
        self._seq([inv.expr])
        self.emit(f"if :: ee == 0 -> ee = {inv.error + 1} :: else -> skip fi;")
        self.emit("fail();")

    def deadlocked(self) -> str:
        """No thread and no RCU callback can move, and some thread has not finished."""
        done = " && ".join(f"S[{t.pc_slot}] == {t.end_pc}" for t in self.m.threads) or "1"
        parts = ["err == 0", f"!({done})"]
        for t in self.m.threads:
            stuck = [f"S[{t.pc_slot}] == {t.end_pc}"]
            for pc, nid in enumerate(t.yields):
                node = t.nodes[nid]
                if node.choices:
                    continue
                ops = list(node.ops)
                k = 0
                while k < len(ops) and isinstance(ops[k], ir.Check):
                    k += 1
                if k < len(ops) and isinstance(ops[k], _BLOCKING):
                    pre = [op for op in ops[:k] if isinstance(op, ir.Check)]
                    en = self.enabled_expr(t, pre, ops[k])
                    stuck.append(f"(S[{t.pc_slot}] == {pc} && !({en}))")
            parts.append("(" + " || ".join(stuck) + ")")
        for p in self.m.pools:
            if p.rcu:
                for i in range(p.size):
                    s = p.base + i * p.stride
                    parts.append(f"!(S[{s}] == 2 && S[{s + 1}] == 0)")
        return " && ".join(parts)

    def rcu(self) -> bool:
        objs = [p.base + i * p.stride for p in self.m.pools if p.rcu for i in range(p.size)]
        if not objs:
            return False
        self.emit("proctype rcu_callbacks() {")
        self.ind += 1
        self.emit("do")
        for s in objs:
            self.option(f"S[{s}] == 2 && S[{s + 1}] == 0", partial(self.emit, f"S[{s}] = 3;"))
        self.ind -= 1
        self.emit("od")
        self.emit("}")
        return True
