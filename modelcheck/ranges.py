"""Value ranges: an interval for every slot and every IR expression of a model.

The language computes on unbounded integers; the engines that do not (the z3
bit-vector encodings, the compiled int64 search) use this analysis to know how wide
their numbers must be so that no intermediate value wraps. Slots take their
ranges from their declared types (and, for pcs, locks and masks, from the model's
shape); an expression's interval follows its operators: `+ - *` from the ends of
their operands, `/` and `%` truncate toward zero (C), shifts are floor shifts by a
count that lowering has checked to lie in 0..SHIFT_MAX, and `& | ^` on operands
that fit in k bits two's complement fit in k bits too.

`Ranges.expr` gives an expression's interval; `Ranges.widest` also walks every
intermediate value of it (sub-expressions, guards, address arithmetic) and gives
the largest magnitude met, so a caller can choose a width or refuse a model.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from . import ir
from . import semantics as T

SHIFT_MAX = T.SHIFT_MAX  # counts outside 0..SHIFT_MAX fail the step (lowering guards them)

Interval = tuple[int, int]


@dataclass(frozen=True)
class Extreme:
    """The largest magnitude an expression's intermediate values can reach, and where."""

    magnitude: int
    expr: ir.Expr | None

    def signed_bits(self) -> int:
        """Bits of a two's complement number that holds every value within the magnitude."""
        return self.magnitude.bit_length() + 1


def signed_bits(lo: int, hi: int) -> int:
    """Bits of a two's complement number that holds every value of [lo, hi]."""
    return max(_bits(lo), _bits(hi)) + 1


def _bits(v: int) -> int:
    return v.bit_length() if v >= 0 else (~v).bit_length()


class Ranges:
    """Intervals of the slots and expressions of one model.

    `extra` are the types of slots read past the end of the state (a lemma's params).
    A slot without a bounded range (an RCU nesting depth) has the interval None, and so
    has every expression that reads it.
    """

    def __init__(self, model: ir.Model, extra: Sequence[T.Type] = ()) -> None:
        self.m = model
        self.n = len(model.slots)
        self.pools = {p.name: p for p in model.pools}
        self.slots: list[Interval | None] = [self._slot(j) for j in range(self.n)]
        self.slots.extend(_type_range(ty, self.pools) for ty in extra)
        self._hulls: dict[tuple[int, int, int], Interval | None] = {}

    # ------------------------------------------------------------ slots
    def _slot(self, j: int) -> Interval | None:
        s = self.m.slots[j]
        nthreads = len(self.m.threads)
        if s.kind == "pc":
            return (0, self.m.threads[s.thread].end_pc)
        if s.kind == "lock":
            acquires = (op for t in self.m.threads for nd in t.nodes for op in nd.ops if isinstance(op, ir.Acquire))
            sub = max((op.subclass for op in acquires), default=0)
            return (0, (sub << ir.OWNER_BITS) | ir.OWNER_MASK)
        if s.kind in ("lock_readers", "rcu_mask", "gp_wait"):
            return (0, (1 << nthreads) - 1)
        if s.kind == "status":
            return (0, 3)
        if s.kind == "rcu_depth":
            return None
        return _type_range(s.ty, self.pools)

    def slot(self, j: int) -> Interval | None:
        """The values slot `j` can hold in any state (None: unbounded)."""
        return self.slots[j] if 0 <= j < len(self.slots) else None

    def addr(self, a: ir.Addr) -> Interval | None:
        """The interval of the slot index an address computes (base + sum of stride * term)."""
        lo = hi = a.base
        for k, e in a.terms:
            r = self.expr(e)
            if r is None:
                return None
            lo, hi = lo + min(k * r[0], k * r[1]), hi + max(k * r[0], k * r[1])
        return (lo, hi)

    def load(self, a: ir.Addr) -> Interval | None:
        """The values a load from address `a` can give: the hull of the slots it can denote."""
        if not a.terms:
            return self.slot(a.base)
        where = self.addr(a)
        if where is None:
            return self._hull(0, len(self.slots) - 1, 1)
        step = a.terms[0][0] if len(a.terms) == 1 and a.terms[0][0] > 0 else 1
        lo, hi = max(where[0], 0), min(where[1], len(self.slots) - 1)
        if lo > hi:  # every index is out of bounds: the bounds check fails first
            return (0, 0)
        lo += (a.base - lo) % step
        return self._hull(lo, hi, step)

    def _hull(self, lo: int, hi: int, step: int) -> Interval | None:
        key = (lo, hi, step)
        if key not in self._hulls:
            parts = [self.slots[j] for j in range(lo, hi + 1, step)]
            known = [r for r in parts if r is not None]
            if len(known) < len(parts):
                self._hulls[key] = None
            else:
                self._hulls[key] = (min(r[0] for r in known), max(r[1] for r in known)) if known else (0, 0)
        return self._hulls[key]

    # ------------------------------------------------------------ expressions
    def expr(self, e: ir.Expr) -> Interval | None:
        """The values `e` can take in a state whose slots are in range (None: unbounded)."""
        if isinstance(e, ir.Const):
            return (e.value, e.value)
        if isinstance(e, ir.Load):
            return self.load(e.addr)
        if isinstance(e, ir.Guarded):
            return self.expr(e.expr)
        if isinstance(e, ir.Held):
            return (0, 1)
        if isinstance(e, ir.Un):
            if e.op == "!":
                return (0, 1)
            a = self.expr(e.a)
            return None if a is None else (-a[1], -a[0])
        assert isinstance(e, ir.Bin)
        if e.op in _BOOLEAN:
            return (0, 1)
        a, b = self.expr(e.a), self.expr(e.b)
        if a is None or b is None:
            return None
        return binary_range(e.op, a, b)

    def widest(self, e: ir.Expr) -> Extreme:
        """The largest magnitude of `e` and of every value computed on the way to it
        (operands, guard conditions, address arithmetic); magnitude -1 if one is unbounded."""
        best = Extreme(0, None)
        for sub in subexprs(e):
            r = self.expr(sub)
            if r is None:
                return Extreme(-1, sub)
            mags = [abs(r[0]), abs(r[1])]
            if isinstance(sub, (ir.Load, ir.Held)):
                sums = _address_sums(self, sub.addr)
                if sums is None:
                    return Extreme(-1, sub)
                mags.extend(sums)
            if max(mags) > best.magnitude:
                best = Extreme(max(mags), sub)
        return best


_BOOLEAN = ("&&", "||", "==>", "==", "!=", "<", "<=", ">", ">=")


def binary_range(op: str, a: Interval, b: Interval) -> Interval:
    """The interval of `a op b` for operands in the intervals `a` and `b`."""
    if op in _BOOLEAN:
        return (0, 1)
    if op == "+":
        return (a[0] + b[0], a[1] + b[1])
    if op == "-":
        return (a[0] - b[1], a[1] - b[0])
    if op == "*":
        prods = [x * y for x in a for y in b]
        return (min(prods), max(prods))
    if op == "/":  # truncating: |a / b| <= |a|
        big = max(abs(a[0]), abs(a[1]))
        return (0, big) if a[0] >= 0 and b[0] >= 0 else (-big, big)
    if op == "%":  # |a % b| < |b| and <= |a|; its sign is a's
        big = min(max(abs(a[0]), abs(a[1])), max(abs(b[0]), abs(b[1]), 1) - 1)
        return (0 if a[0] >= 0 else -big, 0 if a[1] <= 0 else big)
    if op in ("<<", ">>"):
        # lowering checks the count: out of 0..SHIFT_MAX the step fails before using the value
        lo, hi = max(b[0], 0), min(b[1], SHIFT_MAX)
        if lo > hi:
            return (0, 0)
        ends = [T.BINARY_OPS[op](x, y) for x in a for y in (lo, hi)]
        return (min(ends), max(ends))
    if op in ("&", "|", "^"):
        k = max(_bits(a[0]), _bits(a[1]), _bits(b[0]), _bits(b[1]))
        if op == "&" and (a[0] >= 0 or b[0] >= 0):
            top = min(x[1] for x in (a, b) if x[0] >= 0)
            return (0, top)
        if a[0] >= 0 and b[0] >= 0:
            return (0, (1 << k) - 1)
        return (-(1 << k), (1 << k) - 1)
    raise AssertionError(f"unknown operator {op}")


def _type_range(ty: T.Type, pools: dict[str, ir.PoolLayout]) -> Interval | None:
    if isinstance(ty, T.BoolT):
        return (0, 1)
    if isinstance(ty, T.IntT) and ty.lo is not None and ty.hi is not None:
        return (ty.lo, ty.hi)
    if isinstance(ty, T.EnumT):
        return (0, len(ty.members) - 1)
    if isinstance(ty, T.RefT) and ty.pool in pools:
        return (0, pools[ty.pool].size)
    if isinstance(ty, T.BitsT):
        return (0, (1 << ty.width) - 1)
    if isinstance(ty, T.LockT):
        return (0, ir.OWNER_MASK)
    return None


def _address_sums(r: Ranges, a: ir.Addr) -> list[int] | None:
    """The magnitudes of the products and partial sums of an address's arithmetic."""
    lo = hi = a.base
    out = [abs(a.base)]
    for k, e in a.terms:
        t = r.expr(e)
        if t is None:
            return None
        prods = (k * t[0], k * t[1])
        lo, hi = lo + min(prods), hi + max(prods)
        out.extend(abs(x) for x in (*prods, lo, hi))
    return out


def subexprs(e: ir.Expr) -> Iterator[ir.Expr]:
    """`e` and every expression inside it, addresses' terms included."""
    stack = [e]
    while stack:
        x = stack.pop()
        yield x
        if isinstance(x, ir.Un):
            stack.append(x.a)
        elif isinstance(x, ir.Bin):
            stack.extend((x.a, x.b))
        elif isinstance(x, ir.Guarded):
            stack.extend((x.cond, x.expr))
        elif isinstance(x, (ir.Load, ir.Held)):
            stack.extend(t for _, t in x.addr.terms)


def model_exprs(model: ir.Model) -> Iterator[ir.Expr]:
    """Every expression the model's steps and invariants evaluate (not its lemmas),
    addresses as loads from them."""
    for t in model.threads:
        for node in t.nodes:
            for op in [*node.ops, *node.post]:
                yield from _op_exprs(op)
            if node.cond is not None:
                yield node.cond
    for inv in model.invariants:
        yield inv.expr


def _op_exprs(op: ir.Op) -> Iterator[ir.Expr]:
    if isinstance(op, ir.Set):
        yield op.value
        yield ir.Load(op.addr)
    elif isinstance(op, (ir.Check, ir.Await)):
        yield op.cond
    elif isinstance(op, (ir.Acquire, ir.Release)):
        yield ir.Load(op.addr)
    elif isinstance(op, ir.TryAcquire):
        yield ir.Load(op.addr)
        yield ir.Load(op.dest)
    elif isinstance(op, ir.Free):
        yield op.ref
    elif isinstance(op, ir.Alloc):
        yield ir.Load(op.dest)


def widest_in_model(model: ir.Model) -> Extreme:
    """The largest magnitude any intermediate value of the model's steps and invariants
    can reach (magnitude -1: one is unbounded), with the expression that reaches it."""
    r = Ranges(model)
    best = Extreme(0, None)
    for e in model_exprs(model):
        w = r.widest(e)
        if w.magnitude < 0:
            return w
        if w.magnitude > best.magnitude:
            best = w
    return best


__all__ = [
    "SHIFT_MAX",
    "Extreme",
    "Ranges",
    "binary_range",
    "model_exprs",
    "signed_bits",
    "subexprs",
    "widest_in_model",
]
