"""Symmetry reduction: identical instances of a `thread NAME[N]` declaration.

A permutation of a declaration's instances acts on a state: every per-thread slot (pc, RCU
depth, grace-period wait mask, locals, temps) moves with its thread; the blocks of the
shared arrays indexed by the instance number (`flag[self]`, `pcp[self]`) move as wholes;
lock owner slots have their owner renamed (the lockdep subclass above `ir.OWNER_BITS`
stays); reader masks, RCU wait masks and grace-period masks have their bits permuted.

`find_symmetry` guesses the arrays from the slot layout and how the instances address it,
then validates the guess, so soundness never rests on it: for the generators of each
group (the transposition of instances 0 and 1 and the cycle 0 -> 1 -> ... -> N-1) the
initial state and every selected invariant must map to themselves and the IR of every
thread, with every slot address, thread number and error site mapped, must be
structurally identical to the IR of the thread it maps to. What the mapping cannot express
(a value computed from `self`, a comparison of thread numbers, a dynamic index that may
reach a permuted slot, a raw read of a lock word or a mask) fails this and the group is
refused with the reason. The generators generate the whole symmetric group, so every
permutation of the instances is then an automorphism of the transition system that
preserves every property.

`canonical` picks one representative per orbit: each instance gets a key made of all the
data that depends on its identity (its slots, with thread numbers written relative to it,
its bit in every fixed mask, its ownership of every fixed lock); instances are sorted by
key. When an instance's data names another instance (a lock in its block owned by another
instance, a grace period waiting for another instance), keys are refined by the classes of
the instances they name and the smallest state over every sort order of the remaining ties
is taken. `c_canon` generates the same function in C for the compiled engine.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, fields, is_dataclass

from . import ir
from . import semantics as T
from .ranges import Ranges

PLAIN, OWNER, MASK = 0, 1, 2
_MASK_KINDS = ("lock_readers", "rcu_mask", "gp_wait")
_ALWAYS_ON = ("null_deref", "bounds", "overflow")  # as reference.ALWAYS_ON
MAX_SUBCLASS = 1 << 20  # a larger lockdep subclass would not fit the int64 key encoding
_SUB_SHIFT = 40  # where an owner's subclass sits in its key value


@dataclass(frozen=True)
class Group:
    """The instances of one `thread NAME[N]` declaration and the slots each one carries.

    `blocks[j][p]` is the slot of instance j at position p; a permutation moves the value of
    `blocks[j][p]` to `blocks[pi(j)][p]`. `arrays` names the shared arrays permuted with it."""

    decl: str
    threads: tuple[int, ...]  # thread index of each instance
    blocks: tuple[tuple[int, ...], ...]
    arrays: tuple[str, ...]


@dataclass(frozen=True)
class Symmetry:
    """The symmetry groups of a model and how a permutation acts on its states."""

    groups: tuple[Group, ...]
    kinds: tuple[int, ...]  # per slot: PLAIN, OWNER (lock owner + 1, subclass above) or MASK (bits over threads)
    fixed_owners: tuple[int, ...]  # owner slots outside every block
    fixed_masks: tuple[int, ...]  # mask slots outside every block
    nthreads: int
    member: tuple[int, ...]  # per thread, the index of its group, or -1
    fixed_bits: int  # the mask bits of the threads in no group

    @property
    def nslots(self) -> int:
        """The number of slots of a state."""
        return len(self.kinds)


#: One permutation per group: `perm[g][j]` is the position instance j of group g moves to.
Perm = tuple[tuple[int, ...], ...]


class _Refused(Exception):
    pass


# ---------------------------------------------------------------- finding the groups


def symmetry_or_reason(model: ir.Model, props: Collection[str] | None = None) -> Symmetry | str:
    """The model's symmetry, or why it has none (no group, or every group refused, with the reasons)."""
    decls: dict[str, list[int]] = {}
    for t in model.threads:
        decls.setdefault(t.decl, []).append(t.index)
    candidates = [(d, ts) for d, ts in decls.items() if len(ts) >= 2]
    if not candidates:
        return "no thread declaration has two or more instances"
    reasons: list[str] = []
    for op in _all_ops(model):
        if isinstance(op, ir.Acquire) and not 0 <= op.subclass < MAX_SUBCLASS:
            return f"lock subclass {op.subclass} is out of the supported range"
    kinds = tuple(_value_kind(s) for s in model.slots)
    dims = _array_dims(model)
    groups: list[Group] = []
    taken: set[int] = set()
    for decl, ts in candidates:
        try:
            group = _group(model, decl, ts, dims, kinds)
            inside = {s for b in group.blocks for s in b}
            if inside & taken:
                raise _Refused("its arrays overlap another declaration's")
            trial = _symmetry(model, [*groups, group], kinds)
            _validate(model, trial, len(groups), props)
        except _Refused as exc:
            reasons.append(f"{decl}[{len(ts)}]: {exc}")
            continue
        groups.append(group)
        taken |= inside
    if not groups:
        return "; ".join(reasons)
    return _symmetry(model, groups, kinds)


def find_symmetry(model: ir.Model, props: Collection[str] | None = None) -> Symmetry | None:
    """The model's symmetry under permutations of identical thread instances, or None."""
    found = symmetry_or_reason(model, props)
    return found if isinstance(found, Symmetry) else None


def _value_kind(s: ir.Slot) -> int:
    if s.kind == "lock":
        return OWNER
    if s.kind in _MASK_KINDS:
        return MASK
    return PLAIN


def _symmetry(model: ir.Model, groups: Sequence[Group], kinds: tuple[int, ...]) -> Symmetry:
    inside = {s for g in groups for b in g.blocks for s in b}
    owners = tuple(s for s, k in enumerate(kinds) if k == OWNER and s not in inside)
    masks = tuple(s for s, k in enumerate(kinds) if k == MASK and s not in inside)
    member = [-1] * len(model.threads)
    for gi, g in enumerate(groups):
        for t in g.threads:
            member[t] = gi
    fixed = sum(1 << t for t, g in enumerate(member) if g < 0)
    return Symmetry(tuple(groups), kinds, owners, masks, len(model.threads), tuple(member), fixed)


def _pool_slots(model: ir.Model) -> set[int]:
    return {s for p in model.pools for s in range(p.base, p.base + p.stride * p.size)}


def _array_dims(model: ir.Model) -> dict[str, dict[int, list[tuple[str, int]]]]:
    """Every array dimension of the shared globals: its name prefix, then per index the
    (name suffix, slot) of each slot in that element."""
    pool = _pool_slots(model)
    dims: dict[str, dict[int, list[tuple[str, int]]]] = {}
    for k, s in enumerate(model.slots):
        if s.thread >= 0 or k in pool:
            continue
        start = 0
        while True:
            i = s.name.find("[", start)
            if i < 0:
                break
            j = s.name.index("]", i)
            index = s.name[i + 1 : j]
            if index.isdigit():
                dims.setdefault(s.name[:i], {}).setdefault(int(index), []).append((s.name[j + 1 :], k))
            start = j + 1
    return dims


def _group(
    model: ir.Model,
    decl: str,
    ts: list[int],
    dims: dict[str, dict[int, list[tuple[str, int]]]],
    kinds: tuple[int, ...],
) -> Group:
    """The candidate slot blocks of one declaration's instances (validated later)."""
    n = len(ts)
    threads = [model.threads[t] for t in ts]
    own = [[k for k, s in enumerate(model.slots) if s.thread == t] for t in ts]
    if len({len(o) for o in own}) != 1:
        raise _Refused("its instances have different locals")
    blocks = [list(o) for o in own]
    counts = [_constant_accesses(t) for t in threads]
    arrays = []
    for prefix, elems in sorted(dims.items()):
        if sorted(elems) != list(range(n)):
            continue
        shapes = {tuple(sfx for sfx, _ in elems[i]) for i in range(n)}
        if len(shapes) != 1:
            continue
        # permuted when the instances address the elements differently (flag[self])
        pattern = [tuple(sum(c.get(slot, 0) for _, slot in elems[i]) for i in range(n)) for c in counts]
        if len(set(pattern)) == 1:
            continue
        arrays.append(prefix)
        for j in range(n):
            blocks[j].extend(slot for _, slot in elems[j])
    for b in blocks[1:]:
        for p, (s0, s1) in enumerate(zip(blocks[0], b, strict=True)):
            a, c = model.slots[s0], model.slots[s1]
            if (a.kind, a.ty, kinds[s0]) != (c.kind, c.ty, kinds[s1]) or a.proc != c.proc:
                raise _Refused(f"slot {c.name} does not match {a.name} (position {p})")
    flat = [s for b in blocks for s in b]
    if len(flat) != len(set(flat)):
        raise _Refused("two permuted arrays overlap")
    return Group(decl, tuple(ts), tuple(tuple(b) for b in blocks), tuple(arrays))


def _constant_accesses(t: ir.ThreadIR) -> dict[int, int]:
    """How many times the thread's code names each slot with a constant address."""
    out: dict[int, int] = {}
    for a in _addrs(t.nodes):
        if not a.terms:
            out[a.base] = out.get(a.base, 0) + 1
    return out


def _addrs(x: object) -> Iterator[ir.Addr]:
    if isinstance(x, ir.Addr):
        yield x
        for _, e in x.terms:
            yield from _addrs(e)
    elif isinstance(x, (list, tuple)):
        for y in x:
            yield from _addrs(y)
    elif is_dataclass(x) and not isinstance(x, type):
        for f in fields(x):
            yield from _addrs(getattr(x, f.name))


def _all_ops(model: ir.Model) -> Iterator[ir.Op]:
    for t in model.threads:
        for node in t.nodes:
            yield from node.ops


# ---------------------------------------------------------------- validation


class _Mapping:
    """One permutation of one group, acting on slots, thread numbers and IR."""

    def __init__(self, model: ir.Model, sym: Symmetry, gi: int, pos: tuple[int, ...]) -> None:
        self.model = model
        self.sym = sym
        group = sym.groups[gi]
        self.slot = list(range(len(model.slots)))
        for j, block in enumerate(group.blocks):
            for p, s in enumerate(block):
                self.slot[s] = group.blocks[pos[j]][p]
        self.thread = list(range(len(model.threads)))
        for j, t in enumerate(group.threads):
            self.thread[t] = group.threads[pos[j]]
        self.ranges = Ranges(model)
        self.errors = model.errors
        self.nonzero: list[ir.Expr] = []  # values the guards around the current expression have checked

    def reach(self, a: ir.Addr, extra: int) -> list[int]:
        """The slots a dynamic address can denote when its guards pass (plus `extra` slots after each)."""
        sums = {a.base}
        for k, e in a.terms:
            r = _term_interval(self.ranges, e, self.nonzero)
            if r is None:
                raise _Refused("a dynamic index has no bounded range")
            if len(sums) * (r[1] - r[0] + 1) > 1 << 16:
                raise _Refused("a dynamic index has too wide a range")
            sums = {x + k * v for x in sums for v in range(r[0], r[1] + 1)}
        n = len(self.slot)
        return sorted({x + d for x in sums for d in range(extra + 1) if 0 <= x + d < n})

    def addr(self, a: ir.Addr, value: bool, extra: int = 0) -> object:
        """The normal form of a mapped address; `value`: its slot is read or written as a number."""
        folded = [_constant(e) for _, e in a.terms]
        if a.terms and all(v is not None for v in folded):
            # a constant index (`l[(self + 1) % N]`) whose guards always pass: a fixed slot
            a = ir.Addr(a.base + sum(k * v for (k, _), v in zip(a.terms, folded, strict=True) if v is not None))
        terms = tuple((k, self.expr(e)) for k, e in a.terms)
        if not a.terms:
            for s in range(a.base, a.base + extra + 1):
                if value and self.sym.kinds[s] != PLAIN:
                    raise _Refused(f"{self.model.slots[s].name} is read or written as a number")
            return ("addr", self.slot[a.base], ())
        shifts = set()
        for s in self.reach(a, extra):
            if value and self.sym.kinds[s] != PLAIN:
                raise _Refused(f"a dynamic index may read or write {self.model.slots[s].name} as a number")
            shifts.add(self.slot[s] - s)
        if len(shifts) > 1:
            raise _Refused("a dynamic index may reach a permuted slot")
        return ("addr", a.base + (shifts.pop() if shifts else 0), terms)

    def error(self, e: int) -> object:
        site = self.errors[e]
        return ("error", site.kind, site.name, site.span)

    def expr(self, e: ir.Expr) -> object:
        """The normal form of a mapped expression (pure && || and commutative operands sorted)."""
        if isinstance(e, ir.Const):
            return ("const", e.value)
        if isinstance(e, ir.Load):
            return ("load", self.addr(e.addr, True))
        if isinstance(e, ir.Un):
            return ("un", e.op, self.expr(e.a))
        if isinstance(e, ir.Guarded):
            cond = self.expr(e.cond)
            c = e.cond
            known = isinstance(c, ir.Bin) and c.op == "!=" and c.b == ir.Const(0)
            if known:
                assert isinstance(c, ir.Bin)
                self.nonzero.append(c.a)
            try:
                return ("guarded", cond, self.error(e.error), self.expr(e.expr))
            finally:
                if known:
                    self.nonzero.pop()
        if isinstance(e, ir.Held):
            extra = 1 if e.kind == "rwsem" else 0
            return ("held", self.addr(e.addr, False, extra), e.kind, self.thread[e.thread], e.write)
        assert isinstance(e, ir.Bin)
        if e.op in _ASSOCIATIVE and _pure(e):
            parts = sorted((self.expr(x) for x in _flatten(e, e.op)), key=repr)
            return ("bin*", e.op, tuple(parts))
        a, b = self.expr(e.a), self.expr(e.b)
        if e.op in _COMMUTATIVE and _pure(e):
            a, b = sorted((a, b), key=repr)
        return ("bin", e.op, a, b)

    def op(self, op: ir.Op) -> object:
        """The normal form of a mapped operation."""
        if isinstance(op, ir.Set):
            return ("set", self.expr(op.value), self.addr(op.addr, True), op.reset)
        if isinstance(op, ir.Check):
            return ("check", self.expr(op.cond), self.error(op.error))
        if isinstance(op, ir.Await):
            return ("await", self.expr(op.cond))
        if isinstance(op, ir.Acquire):
            extra = 1 if op.kind == "rwsem" else 0
            errs = tuple(self.error(x) for x in op.errors)
            return ("acquire", self.addr(op.addr, False, extra), op.kind, op.mode, op.lock_class, errs, op.subclass)
        if isinstance(op, ir.TryAcquire):
            extra = 1 if op.kind == "rwsem" else 0
            lock = self.addr(op.addr, False, extra)
            return ("try", self.addr(op.dest, True), lock, op.kind, op.mode, op.lock_class)
        if isinstance(op, ir.Release):
            extra = 1 if op.kind == "rwsem" else 0
            return ("release", self.addr(op.addr, False, extra), op.kind, op.mode, self.error(op.error))
        if isinstance(op, (ir.RcuUnlock, ir.SyncRcuStart)):
            return (type(op).__name__, self.error(op.error))
        if isinstance(op, (ir.RcuLock, ir.SyncRcuWait)):
            return (type(op).__name__,)
        if isinstance(op, ir.Free):
            return ("free", self.expr(op.ref), op.pool, op.deferred, self.error(op.error))
        assert isinstance(op, ir.Alloc)
        return ("alloc", self.addr(op.dest, True), op.pool)

    def thread_ir(self, t: ir.ThreadIR) -> object:
        """The normal form of a mapped thread: its slots, its steps, node by node."""
        nodes = tuple(
            (
                n.id,
                tuple(self.op(o) for o in n.ops),
                n.shared,
                n.next,
                None if n.cond is None else self.expr(n.cond),
                n.then,
                n.orelse,
                n.choices,
                tuple(self.op(o) for o in n.post),
                n.end,
            )
            for n in t.nodes
        )
        slots = tuple(self.slot[s] if s >= 0 else -1 for s in (t.pc_slot, t.rcu_slot, t.gp_slot))
        ends = tuple(sorted(((self.slot[a] if a >= 0 else -1, repr(self.error(e))) for a, e in t.end_errors)))
        resets = tuple(tuple(sorted((self.slot[s], v) for s, v in r)) for r in t.resets)
        return (self.thread[t.index], slots, tuple(t.yields), ends, resets, nodes)


_ASSOCIATIVE = ("&&", "||", "+", "*", "&", "|", "^")
_COMMUTATIVE = ("==", "!=")


def _flatten(e: ir.Expr, op: str) -> Iterator[ir.Expr]:
    if isinstance(e, ir.Bin) and e.op == op:
        yield from _flatten(e.a, op)
        yield from _flatten(e.b, op)
    else:
        yield e


def _pure(e: ir.Expr) -> bool:
    """No guard inside: the expression cannot fail, so its operands' order does not matter."""
    if isinstance(e, ir.Guarded):
        return False
    if isinstance(e, ir.Un):
        return _pure(e.a)
    if isinstance(e, ir.Bin):
        return _pure(e.a) and _pure(e.b)
    if isinstance(e, (ir.Load, ir.Held)):
        return all(_pure(x) for _, x in e.addr.terms)
    return True


def _term_interval(r: Ranges, e: ir.Expr, nonzero: Sequence[ir.Expr]) -> tuple[int, int] | None:
    """The values of an index term for which its guards, and those around it (`nonzero`), pass."""
    if isinstance(e, ir.Guarded):
        inner = _term_interval(r, e.expr, nonzero)
        if inner is None:
            return None
        lo, hi = inner
        c = e.cond
        # bounds check `x >= 0 && x < K`, null check `x != 0`, on the guarded value itself
        if isinstance(c, ir.Bin) and c.op == "&&" and isinstance(c.a, ir.Bin) and isinstance(c.b, ir.Bin):
            ge, lt = c.a, c.b
            if (
                ge.op == ">="
                and lt.op == "<"
                and ge.a == e.expr
                and lt.a == e.expr
                and ge.b == ir.Const(0)
                and isinstance(lt.b, ir.Const)
            ):
                lo, hi = max(lo, 0), min(hi, lt.b.value - 1)
        elif isinstance(c, ir.Bin) and c.op == "!=" and c.a == _unguard(e.expr) and c.b == ir.Const(0) and lo == 0:
            lo = 1
        return (lo, hi) if lo <= hi else (0, -1)
    got = r.expr(e)
    if got is not None and got[0] == 0 and e in nonzero:
        return (1, got[1]) if got[1] >= 1 else (0, -1)
    return got


def _constant(e: ir.Expr) -> int | None:
    """The value of an expression that reads no state and whose guards pass, else None."""
    if isinstance(e, ir.Const):
        return e.value
    if isinstance(e, ir.Guarded):
        ok = _constant(e.cond)
        return _constant(e.expr) if ok else None
    if isinstance(e, ir.Un):
        a = _constant(e.a)
        if a is None:
            return None
        return int(not a) if e.op == "!" else -a
    if isinstance(e, ir.Bin):
        a, b = _constant(e.a), _constant(e.b)
        if a is None or b is None or (e.op in ("/", "%") and b == 0) or (e.op in ("<<", ">>") and not 0 <= b <= 64):
            return None
        return T.BINARY_OPS[e.op](a, b)
    return None


def _unguard(e: ir.Expr) -> ir.Expr:
    while isinstance(e, ir.Guarded):
        e = e.expr
    return e


def _generators(n: int) -> list[tuple[int, ...]]:
    """The transposition of instances 0 and 1 and the cycle 0 -> 1 -> ... -> n-1 (pos[j] = image of j)."""
    swap = tuple([1, 0, *range(2, n)])
    cycle = tuple((j + 1) % n for j in range(n))
    return [swap] if n == 2 else [swap, cycle]


def _validate(model: ir.Model, sym: Symmetry, gi: int, props: Collection[str] | None) -> None:
    """Raise _Refused unless every generator of group `gi` is an automorphism of the model."""
    identity = _Mapping(model, sym, gi, tuple(range(len(sym.groups[gi].threads))))
    selected = [
        inv
        for inv in model.invariants
        if props is None or inv.name in props or "invariant" in props or model.errors[inv.error].kind in _ALWAYS_ON
    ]
    plain_threads = {t.index: identity.thread_ir(t) for t in model.threads}
    plain_invs = [identity.expr(inv.expr) for inv in selected]
    by_addr = {lk.addr: lk for lk in model.locks}
    init = model.initial_state()
    for pos in _generators(len(sym.groups[gi].threads)):
        m = _Mapping(model, sym, gi, pos)
        perm = tuple(pos if g == gi else tuple(range(len(grp.threads))) for g, grp in enumerate(sym.groups))
        if apply(sym, perm, init) != init:
            raise _Refused("the initial state is not symmetric")
        for lk in model.locks:
            other = by_addr.get(m.slot[lk.addr])
            if other is None or (other.kind, other.lock_class) != (lk.kind, lk.lock_class):
                raise _Refused(f"lock {lk.name} does not map to a lock of its class")
            if lk.kind == "rwsem" and m.slot[lk.addr + 1] != m.slot[lk.addr] + 1:
                raise _Refused(f"rwsem {lk.name} does not map to an rwsem")
        for inv, plain in zip(selected, plain_invs, strict=True):
            if m.expr(inv.expr) != plain:
                raise _Refused(f"invariant {inv.name} is not symmetric")
        for t in model.threads:
            mapped = m.thread_ir(t)
            image = plain_threads[m.thread[t.index]]
            if mapped != image:
                raise _Refused(f"{t.name} does not behave as {model.threads[m.thread[t.index]].name} renamed")


# ---------------------------------------------------------------- acting on states


def apply(sym: Symmetry, perm: Perm, state: Sequence[int]) -> tuple[int, ...]:
    """The state with group g's instance j moved to position `perm[g][j]` (owners and masks renamed)."""
    tmap = list(range(sym.nthreads))
    for group, pos in zip(sym.groups, perm, strict=True):
        for j, t in enumerate(group.threads):
            tmap[t] = group.threads[pos[j]]
    out = [_rename(sym.kinds[s], v, tmap) for s, v in enumerate(state)]
    for group, pos in zip(sym.groups, perm, strict=True):
        for j, block in enumerate(group.blocks):
            dest = group.blocks[pos[j]]
            for p, s in enumerate(block):
                out[dest[p]] = _rename(sym.kinds[s], state[s], tmap)
    return tuple(out)


def _rename(kind: int, v: int, tmap: list[int]) -> int:
    if kind == PLAIN:
        return v
    if kind == OWNER:
        o = v & ir.OWNER_MASK
        return v if o == 0 else (v & ~ir.OWNER_MASK) | (tmap[o - 1] + 1)
    out = 0
    t = 0
    while v:
        if v & 1:
            out |= 1 << tmap[t]
        v >>= 1
        t += 1
    return out


def canonical(sym: Symmetry, state: Sequence[int]) -> tuple[int, ...]:
    """The representative of the state's orbit: the same for every permutation of the state."""
    return apply(sym, permutation_to(sym, state), state)


def permutation_to(sym: Symmetry, state: Sequence[int]) -> Perm:
    """A permutation that takes the state to its canonical representative."""
    order, cross = _order(sym, state)
    if not cross:
        return tuple(_positions(o) for o in order)
    best: tuple[int, ...] | None = None
    best_perm: Perm = ()
    for perm in _tie_orders(order):
        cand = apply(sym, perm, state)
        if best is None or cand < best:
            best, best_perm = cand, perm
    return best_perm


def _positions(order: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """`order` lists the classes of instances in key order; instance -> its new position."""
    flat = [j for cls in order for j in cls]
    pos = [0] * len(flat)
    for new, j in enumerate(flat):
        pos[j] = new
    return tuple(pos)


def _tie_orders(order: list[list[list[int]]]) -> Iterator[Perm]:
    """Every permutation that sorts the instances by class (ties in any order)."""
    choices = [[list(itertools.permutations(cls)) for cls in classes] for classes in order]
    per_group = [list(itertools.product(*c)) for c in choices]
    for combo in itertools.product(*per_group):
        yield tuple(_positions(classes) for classes in combo)


def _order(sym: Symmetry, state: Sequence[int]) -> tuple[list[list[list[int]]], bool]:
    """Per group, the instances in classes of equal key, in key order; and whether any
    instance's data names another instance (then ties are not interchangeable)."""
    color = [0] * sym.nthreads
    ngroups = len(sym.groups)
    count = -1
    while True:
        cross = False
        keyed: list[list[tuple[tuple[int, ...], int]]] = []
        for gi in range(ngroups):
            keys = []
            for j in range(len(sym.groups[gi].threads)):
                key, c = instance_key(sym, state, gi, j, color)
                cross |= c
                keys.append((key, j))
            keyed.append(keys)
        new = list(color)
        classes: list[list[list[int]]] = []
        total = 0
        for gi, keys in enumerate(keyed):
            distinct = sorted({k for k, _ in keys})
            rank = {k: r for r, k in enumerate(distinct)}
            group_classes: list[list[int]] = [[] for _ in distinct]
            for k, j in keys:
                new[sym.groups[gi].threads[j]] = rank[k]
                group_classes[rank[k]].append(j)
            classes.append(group_classes)
            total += len(distinct)
        if not cross or total == count:
            return classes, cross
        count, color = total, new


def instance_key(
    sym: Symmetry, state: Sequence[int], gi: int, j: int, color: Sequence[int]
) -> tuple[tuple[int, ...], bool]:
    """Instance j's identity-dependent data, thread numbers relative to it; and whether it
    names another instance of a group (by the current class `color` of that thread)."""
    group = sym.groups[gi]
    me = group.threads[j]
    member = sym.member
    cross = False
    key = [color[me]]
    for s in group.blocks[j]:
        v = state[s]
        kind = sym.kinds[s]
        if kind == PLAIN:
            key.append(v)
        elif kind == OWNER:
            o, sub = v & ir.OWNER_MASK, (v >> ir.OWNER_BITS) << _SUB_SHIFT
            if o == 0:
                key.append(sub)
            elif o - 1 == me:
                key.append(sub | 1)
            elif member[o - 1] < 0:
                key.append(sub | 2 | (o - 1) << 2)
            else:
                cross = True
                key.append(sub | 3 | (member[o - 1] * 64 + color[o - 1]) << 2)
        else:
            key.append((v >> me) & 1)
            key.append(v & sym.fixed_bits)
            for other in sym.groups:
                seen = 0
                for t in other.threads:
                    if t != me and (v >> t) & 1:
                        seen |= 1 << color[t]
                cross |= seen != 0
                key.append(seen)
    for s in sym.fixed_owners:
        v = state[s]
        key.append(((v >> ir.OWNER_BITS) << 1) | 1 if v & ir.OWNER_MASK == me + 1 else 0)
    for s in sym.fixed_masks:
        key.append((state[s] >> me) & 1)
    return tuple(key), cross


# ---------------------------------------------------------------- C


def _key_length(sym: Symmetry, gi: int) -> int:
    per = {PLAIN: 1, OWNER: 1, MASK: 2 + len(sym.groups)}
    return 1 + sum(per[sym.kinds[s]] for s in sym.groups[gi].blocks[0]) + len(sym.fixed_owners) + len(sym.fixed_masks)


def _c_array(ctype: str, name: str, values: Sequence[int]) -> str:
    body = ", ".join(str(v) for v in values) if values else "0"
    return f"static const {ctype} {name}[{max(len(values), 1)}] = {{{body}}};"


def c_canon(sym: Symmetry, model: ir.Model) -> str:
    """C99 source of `static void mc_canon(int64_t *v)`: `canonical` in place on a slot vector.

    It needs <stdint.h> and <string.h>; its helpers and tables are named `mc_sym_*`."""
    assert sym.nslots == len(model.slots)
    ng = len(sym.groups)
    maxn = max(len(g.threads) for g in sym.groups)
    maxkl = max(_key_length(sym, gi) for gi in range(ng))
    offsets: list[int] = []
    flat: list[int] = []
    for g in sym.groups:
        offsets.append(len(flat))
        flat.extend(s for b in g.blocks for s in b)
    lines = [
        f"/* symmetry of {len(sym.groups)} thread declaration(s): "
        + ", ".join(f"{g.decl}[{len(g.threads)}]" for g in sym.groups)
        + " */",
        f"#define MC_SYM_NSLOTS {sym.nslots}",
        f"#define MC_SYM_NT {sym.nthreads}",
        f"#define MC_SYM_NG {ng}",
        f"#define MC_SYM_MAXN {maxn}",
        f"#define MC_SYM_MAXKL {maxkl}",
        f"#define MC_SYM_OWNER_BITS {ir.OWNER_BITS}",
        f"#define MC_SYM_OWNER_MASK {ir.OWNER_MASK}LL",
        f"#define MC_SYM_SUB_SHIFT {_SUB_SHIFT}",
        f"#define MC_SYM_NFO {len(sym.fixed_owners)}",
        f"#define MC_SYM_NFM {len(sym.fixed_masks)}",
        "#define MC_SYM_KEYLENS " + ", ".join(str(_key_length(sym, gi)) for gi in range(ng)),
        f"static const int64_t mc_sym_fixed_bits = {sym.fixed_bits}LL;",
        _c_array("unsigned char", "mc_sym_kind", sym.kinds),
        _c_array("int", "mc_sym_member", sym.member),
        _c_array("int", "mc_sym_n", [len(g.threads) for g in sym.groups]),
        _c_array("int", "mc_sym_npos", [len(g.blocks[0]) for g in sym.groups]),
        _c_array("int", "mc_sym_off", offsets),
        _c_array("int", "mc_sym_block", flat),
        _c_array("int", "mc_sym_threads", [t for g in sym.groups for t in g.threads]),
        _c_array("int", "mc_sym_toff", [sum(len(h.threads) for h in sym.groups[:gi]) for gi in range(ng)]),
        _c_array("int", "mc_sym_fo", sym.fixed_owners),
        _c_array("int", "mc_sym_fm", sym.fixed_masks),
        _C_BODY,
    ]
    return "\n".join(lines) + "\n"


_C_BODY = r"""
static int64_t mc_sym_rename(int kind, int64_t x, const int *tmap) {
    if (kind == 0) return x;
    if (kind == 1) {
        int64_t o = x & MC_SYM_OWNER_MASK;
        return o == 0 ? x : ((x & ~MC_SYM_OWNER_MASK) | (int64_t)(tmap[o - 1] + 1));
    }
    int64_t out = 0;
    for (int t = 0; t < MC_SYM_NT; t++)
        if ((x >> t) & 1) out |= (int64_t)1 << tmap[t];
    return out;
}

/* out = the state with instance j of group g moved to position pos[g][j] */
static void mc_sym_apply(const int64_t *v, int pos[][MC_SYM_MAXN], int64_t *out) {
    int tmap[MC_SYM_NT];
    for (int t = 0; t < MC_SYM_NT; t++) tmap[t] = t;
    for (int g = 0; g < MC_SYM_NG; g++) {
        const int *th = mc_sym_threads + mc_sym_toff[g];
        for (int j = 0; j < mc_sym_n[g]; j++) tmap[th[j]] = th[pos[g][j]];
    }
    for (int s = 0; s < MC_SYM_NSLOTS; s++) out[s] = mc_sym_rename(mc_sym_kind[s], v[s], tmap);
    for (int g = 0; g < MC_SYM_NG; g++) {
        int np = mc_sym_npos[g];
        const int *b = mc_sym_block + mc_sym_off[g];
        for (int j = 0; j < mc_sym_n[g]; j++) {
            const int *src = b + j * np, *dst = b + pos[g][j] * np;
            for (int p = 0; p < np; p++) out[dst[p]] = mc_sym_rename(mc_sym_kind[src[p]], v[src[p]], tmap);
        }
    }
}

/* instance j of group g: its identity-dependent data, thread numbers relative to it */
static int mc_sym_key(const int64_t *v, int g, int j, const int *color, int64_t *key) {
    int me = mc_sym_threads[mc_sym_toff[g] + j], cross = 0, k = 0, np = mc_sym_npos[g];
    const int *b = mc_sym_block + mc_sym_off[g] + j * np;
    key[k++] = color[me];
    for (int p = 0; p < np; p++) {
        int64_t x = v[b[p]];
        int kind = mc_sym_kind[b[p]];
        if (kind == 0) {
            key[k++] = x;
        } else if (kind == 1) {
            int64_t o = x & MC_SYM_OWNER_MASK, sub = (x >> MC_SYM_OWNER_BITS) << MC_SYM_SUB_SHIFT;
            if (o == 0) key[k++] = sub;
            else if (o - 1 == me) key[k++] = sub | 1;
            else if (mc_sym_member[o - 1] < 0) key[k++] = sub | 2 | ((o - 1) << 2);
            else {
                cross = 1;
                key[k++] = sub | 3 | ((int64_t)(mc_sym_member[o - 1] * 64 + color[o - 1]) << 2);
            }
        } else {
            key[k++] = (x >> me) & 1;
            key[k++] = x & mc_sym_fixed_bits;
            for (int g2 = 0; g2 < MC_SYM_NG; g2++) {
                int64_t seen = 0;
                const int *th = mc_sym_threads + mc_sym_toff[g2];
                for (int i = 0; i < mc_sym_n[g2]; i++)
                    if (th[i] != me && ((x >> th[i]) & 1)) seen |= (int64_t)1 << color[th[i]];
                if (seen) cross = 1;
                key[k++] = seen;
            }
        }
    }
    for (int i = 0; i < MC_SYM_NFO; i++) {
        int64_t x = v[mc_sym_fo[i]];
        key[k++] = (x & MC_SYM_OWNER_MASK) == me + 1 ? (((x >> MC_SYM_OWNER_BITS) << 1) | 1) : 0;
    }
    for (int i = 0; i < MC_SYM_NFM; i++) key[k++] = (v[mc_sym_fm[i]] >> me) & 1;
    return cross;
}

static int mc_sym_cmp(const int64_t *a, const int64_t *b, int n) {
    for (int i = 0; i < n; i++)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    return 0;
}

/* the next permutation of a[0..n-1] in lexicographic order; 0 (and a sorted again) after the last */
static int mc_sym_next_perm(int *a, int n) {
    int i = n - 2;
    while (i >= 0 && a[i] >= a[i + 1]) i--;
    if (i < 0) {
        for (int l = 0, r = n - 1; l < r; l++, r--) { int t = a[l]; a[l] = a[r]; a[r] = t; }
        return 0;
    }
    int j = n - 1;
    while (a[j] <= a[i]) j--;
    int t = a[i]; a[i] = a[j]; a[j] = t;
    for (int l = i + 1, r = n - 1; l < r; l++, r--) { t = a[l]; a[l] = a[r]; a[r] = t; }
    return 1;
}

static void mc_canon(int64_t *v) {
    static const int kl[MC_SYM_NG] = {MC_SYM_KEYLENS};
    int64_t keys[MC_SYM_NG][MC_SYM_MAXN][MC_SYM_MAXKL];
    int color[MC_SYM_NT], ncolor[MC_SYM_NT];
    int ord[MC_SYM_NG][MC_SYM_MAXN], cls[MC_SYM_NG][MC_SYM_MAXN];
    int pos[MC_SYM_NG][MC_SYM_MAXN];
    int count = -1, cross;
    for (int t = 0; t < MC_SYM_NT; t++) color[t] = ncolor[t] = 0;
    for (;;) {
        int total = 0;
        cross = 0;
        for (int g = 0; g < MC_SYM_NG; g++) {
            int n = mc_sym_n[g];
            for (int j = 0; j < n; j++) cross |= mc_sym_key(v, g, j, color, keys[g][j]);
            for (int j = 0; j < n; j++) {  /* stable insertion sort of the instances by key */
                int i = j;
                while (i > 0 && mc_sym_cmp(keys[g][ord[g][i - 1]], keys[g][j], kl[g]) > 0) {
                    ord[g][i] = ord[g][i - 1];
                    i--;
                }
                ord[g][i] = j;
            }
            int c = 0;
            for (int i = 0; i < n; i++) {
                if (i > 0 && mc_sym_cmp(keys[g][ord[g][i - 1]], keys[g][ord[g][i]], kl[g]) != 0) c++;
                cls[g][i] = c;
                ncolor[mc_sym_threads[mc_sym_toff[g] + ord[g][i]]] = c;
            }
            total += c + 1;
        }
        if (!cross || total == count) break;
        count = total;
        for (int t = 0; t < MC_SYM_NT; t++) color[t] = ncolor[t];
    }
    int64_t tmp[MC_SYM_NSLOTS];
    if (!cross) {
        for (int g = 0; g < MC_SYM_NG; g++)
            for (int i = 0; i < mc_sym_n[g]; i++) pos[g][ord[g][i]] = i;
        mc_sym_apply(v, pos, tmp);
        memcpy(v, tmp, sizeof tmp);
        return;
    }
    /* instances that name one another: the least state over every order of the ties */
    int64_t best[MC_SYM_NSLOTS];
    int have = 0;
    for (;;) {
        for (int g = 0; g < MC_SYM_NG; g++)
            for (int i = 0; i < mc_sym_n[g]; i++) pos[g][ord[g][i]] = i;
        mc_sym_apply(v, pos, tmp);
        if (!have || mc_sym_cmp(tmp, best, MC_SYM_NSLOTS) < 0) {
            memcpy(best, tmp, sizeof tmp);
            have = 1;
        }
        /* odometer over the tie classes of every group */
        int advanced = 0;
        for (int g = MC_SYM_NG - 1; g >= 0 && !advanced; g--) {
            int n = mc_sym_n[g], end = n;
            while (end > 0 && !advanced) {
                int start = end - 1;
                while (start > 0 && cls[g][start - 1] == cls[g][end - 1]) start--;
                if (end - start > 1 && mc_sym_next_perm(ord[g] + start, end - start)) advanced = 1;
                end = start;
            }
        }
        if (!advanced) break;
    }
    memcpy(v, best, sizeof best);
}
"""
