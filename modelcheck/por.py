"""Partial-order reduction: which thread's step may be explored alone in a state.

`analyse(model, props)` computes, once per spec, static tables that the explorer
consults per state. A thread `i` at pc `p` forms a persistent set on its own
(the "ample" set: all of i's transitions at p, every `choose` branch) when

- its step is invisible: it writes no slot that a selected invariant reads;
- no other thread `j`, from its current pc, can reach a step that conflicts
  with it: both touch the same shared slot and one writes, unless a lock that
  `i` must hold at `p` and `j` must hold at that access keeps them apart (one of
  the two in exclusive mode). Held locks come from a must-held dataflow over the
  CFG, so an access that `j` can only make under a lock `i` holds cannot happen
  before `i` moves: that is the lock-aware part;
- the RCU callbacks (a process of their own) cannot conflict with it either.

The explorer adds the cycle proviso (a state whose ample successor was already
stored is expanded in full) so no thread's step is ignored forever. With these
conditions every deadlock, every failing step (asserts, contracts, misuse; they
depend only on what the step reads) and every invariant violation of the full
graph stays reachable; counterexamples may be longer, so callers re-search the
found depth without reduction for the shortest one.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from . import ir
from .codegen import enabled_checks
from .ranges import Ranges

ANY = -1  # a location that may be any slot: conflicts with everything
READERS = -2  # which threads are in an RCU read section (their depths)
WAITS = -3  # who each grace period (synchronize_rcu, free_rcu callback) still waits for
_MAX_ADDRS = 4096  # a dynamic address with more possible slots than this is ANY


@dataclass(frozen=True)
class Access:
    loc: int
    write: bool
    held: frozenset[tuple[int, str]]  # (lock slot, mode) must-held at the access
    own_bit: bool = False  # sets or clears only this thread's bit: commutes with other such writes


@dataclass(frozen=True)
class Reduction:
    """Per thread, per pc: None (never ample) or the other threads' conflicting pcs.

    `conflicts[i][p]` is a tuple of (pc slot of j, bitmask over j's pcs from which j
    can reach a step dependent on i's step at p)."""

    conflicts: tuple[tuple[tuple[tuple[int, int], ...] | None, ...], ...]
    pc_slots: tuple[int, ...]

    def ample(self, s: tuple[int, ...]) -> Iterator[int]:
        """The threads whose step at `s` may be explored alone (if it is enabled)."""
        for i, pcslot in enumerate(self.pc_slots):
            row = self.conflicts[i]
            pc = s[pcslot]
            if pc >= len(row):
                continue
            c = row[pc]
            if c is None:
                continue
            for pj, mask in c:
                if (mask >> s[pj]) & 1:
                    break
            else:
                yield i

    def eligible_steps(self) -> int:
        """How many (thread, pc) steps can ever be ample (for reports and tests)."""
        return sum(c is not None for row in self.conflicts for c in row)


def analyse(model: ir.Model, props: Collection[str] | None = None) -> Reduction:
    """Build the reduction tables of a model for the selected properties."""
    return _Analysis(model, props).run()


def dead_local_resets(model: ir.Model) -> list[tuple[tuple[tuple[int, int], ...], ...]]:
    """For each thread, per pc (and last for its end), the locals no later step reads before
    writing them, with their initial values. Resetting them when the pc is entered merges
    states that differ only in values that can never matter (SPIN does the same by default).
    Locals an invariant reads are never reset."""
    a = _Analysis(model, None)
    watched: set[int] = set()
    for inv in model.invariants:
        a.expr_reads(inv.expr, watched)
    return [_dead_locals(a, t, watched) for t in model.threads]


def _dead_locals(a: _Analysis, t: ir.ThreadIR, watched: set[int]) -> tuple[tuple[tuple[int, int], ...], ...]:
    model = a.m
    scope = {k for k, s in enumerate(model.slots) if s.thread == t.index and s.kind == "local"}
    scope -= watched if ANY not in watched else scope

    def reads(e: ir.Expr | None, live: set[int]) -> None:
        found: set[int] = set()
        a.expr_reads(e, found)
        live |= scope if ANY in found else found & scope

    def before(op: ir.Op, live: set[int]) -> set[int]:
        r, w, _ = a.op_accesses(op)
        dest = op.addr if isinstance(op, ir.Set) else getattr(op, "dest", None)
        out = set(live)
        if dest is not None and not dest.terms:  # a store to a fixed slot kills it
            out.discard(dest.base)
        found = set(r) | (w - {dest.base} if dest is not None and not dest.terms else w)
        out |= scope if ANY in found else found & scope
        return out

    nodes = t.nodes
    preds: dict[int, list[int]] = {n.id: [] for n in nodes}
    for n in nodes:
        for x in (n.next, n.then, n.orelse, *n.choices):
            if x is not None:
                preds[x].append(n.id)
    live_in: dict[int, set[int]] = {n.id: set() for n in nodes}
    work = [n.id for n in nodes]
    while work:
        nid = work.pop()
        n = nodes[nid]
        live: set[int] = set()
        for x in (n.next, n.then, n.orelse, *n.choices):
            if x is not None:
                live |= live_in[x]
        if not n.choices:  # a choose node's own ops do not run: its branches are the step
            for reset in reversed(n.post):
                live = before(reset, live)
            reads(n.cond, live)
            for op in reversed(n.ops):
                live = before(op, live)
        if live != live_in[nid]:
            live_in[nid] = live
            work.extend(preds[nid])
    init = [s.init for s in model.slots]
    resets = [tuple((k, init[k]) for k in sorted(scope - live_in[y])) for y in t.yields]
    resets.append(tuple((k, init[k]) for k in sorted(scope)))
    return tuple(resets)


class _Analysis:
    def __init__(self, model: ir.Model, props: Collection[str] | None) -> None:
        self.m = model
        self.nslots = len(model.slots)
        self.enabled = enabled_checks(model, props)
        self.pools = {p.name: p for p in model.pools}
        self.watched: set[int] = set()  # slots the selected invariants read
        self.ranges = Ranges(model)
        # per thread: its private slots, and its yield nodes -> pc
        self._per_thread: dict[int, tuple[set[int], dict[int, int]]] = {}

    def slots_of(self, a: ir.Addr) -> list[int]:
        if not a.terms:
            return [a.base]
        ranges = []
        count = 1
        for k, e in a.terms:
            r = self.ranges.expr(e)
            if r is None:
                return [ANY]
            ranges.append([k * v for v in range(r[0], r[1] + 1)])
            count *= len(ranges[-1])
            if count > _MAX_ADDRS:
                return [ANY]
        out = {a.base + sum(c) for c in itertools.product(*ranges)}
        return sorted(x for x in out if 0 <= x < self.nslots) or [ANY]

    # ------------------------------------------------------------ accesses
    def expr_reads(self, e: ir.Expr | None, out: set[int]) -> None:
        if e is None or isinstance(e, (ir.Const, ir.Held)):
            return  # Held: whether *this* thread holds a lock, which only it changes
        if isinstance(e, ir.Load):
            out.update(self.slots_of(e.addr))
            self.addr_reads(e.addr, out)
        elif isinstance(e, ir.Un):
            self.expr_reads(e.a, out)
        elif isinstance(e, ir.Bin):
            self.expr_reads(e.a, out)
            self.expr_reads(e.b, out)
        elif isinstance(e, ir.Guarded):
            self.expr_reads(e.cond, out)
            self.expr_reads(e.expr, out)
        else:
            out.add(ANY)

    def addr_reads(self, a: ir.Addr, out: set[int]) -> None:
        for _, e in a.terms:
            self.expr_reads(e, out)

    def op_accesses(self, op: ir.Op) -> tuple[set[int], set[int], set[int]]:
        """(slots read, slots written, slots where only this thread's bit is set or cleared)."""
        r: set[int] = set()
        w: set[int] = set()
        bit: set[int] = set()
        if isinstance(op, ir.Set):
            w.update(self.slots_of(op.addr))
            self.addr_reads(op.addr, r)
            self.expr_reads(op.value, r)
        elif isinstance(op, (ir.Check, ir.Await)):
            self.expr_reads(op.cond, r)
        elif isinstance(op, (ir.Acquire, ir.Release, ir.TryAcquire)):
            self.addr_reads(op.addr, r)
            for a in self.slots_of(op.addr):
                if op.kind == "rwsem" and a != ANY:
                    if op.mode == "r":  # readers take and drop their own bit; they commute
                        r.add(a)
                        bit.add(a + 1)
                    else:
                        w.update((a, a + 1))
                else:
                    w.add(a)
            if isinstance(op, ir.TryAcquire):
                w.update(self.slots_of(op.dest))
                self.addr_reads(op.dest, r)
        elif isinstance(op, ir.RcuLock):
            bit.add(READERS)
        elif isinstance(op, ir.RcuUnlock):
            bit.update((READERS, WAITS))  # leaving the section clears this thread's wait bits
        elif isinstance(op, ir.SyncRcuStart):
            r.add(READERS)
            w.add(WAITS)
        elif isinstance(op, ir.SyncRcuWait):
            r.add(WAITS)
        elif isinstance(op, ir.Free):
            self.expr_reads(op.ref, r)
            p = self.pools[op.pool]
            w.update(p.base + k * p.stride for k in range(p.size))
            if op.deferred:
                r.add(READERS)
                w.add(WAITS)
        elif isinstance(op, ir.Alloc):
            p = self.pools[op.pool]
            w.update(range(p.base, p.base + p.size * p.stride))
            w.update(self.slots_of(op.dest))
        else:
            w.add(ANY)
        return r, w, bit

    # ------------------------------------------------------------ locks held
    def must_held(self, t: ir.ThreadIR) -> dict[int, frozenset[tuple[int, str]]]:
        """Locks (slot, mode) held on every path to each node's entry."""
        held: dict[int, frozenset[tuple[int, str]]] = {t.entry: frozenset()}
        work = [t.entry]
        while work:
            nid = work.pop()
            out = self.after_ops(t.nodes[nid], held[nid])
            node = t.nodes[nid]
            for succ in (node.next, node.then, node.orelse, *node.choices):
                if succ is None:
                    continue
                old = held.get(succ)
                new = out if old is None else old & out
                if new != old:
                    held[succ] = new
                    work.append(succ)
        return held

    @staticmethod
    def after_op(op: ir.Op, h: frozenset[tuple[int, str]]) -> frozenset[tuple[int, str]]:
        if isinstance(op, ir.Acquire) and not op.addr.terms:
            return h | {(op.addr.base, op.mode)}
        if isinstance(op, ir.Release):
            if op.addr.terms:
                return frozenset()  # it may release any of them
            return frozenset(x for x in h if x[0] != op.addr.base)
        return h

    def after_ops(self, node: ir.Node, h: frozenset[tuple[int, str]]) -> frozenset[tuple[int, str]]:
        for op in node.ops:
            h = self.after_op(op, h)
        return h

    def step(
        self, t: ir.ThreadIR, pc: int, held: dict[int, frozenset[tuple[int, str]]]
    ) -> tuple[list[Access], set[int]]:
        """The accesses of the step at `pc` (shared slots only) and the pcs it can end at."""
        if t.index not in self._per_thread:
            private = {k for k, s in enumerate(self.m.slots) if s.thread == t.index and s.kind in ("local", "pc")}
            # a local an invariant reads is visible: its writes are accesses like any other
            private = set() if ANY in self.watched else private - self.watched
            self._per_thread[t.index] = (private, {y: i for i, y in enumerate(t.yields)})
        private, yields = self._per_thread[t.index]
        accesses: list[Access] = []
        ends: set[int] = set()
        seen: set[int] = set()
        stack = [t.yields[pc]]
        while stack:
            nid = stack.pop()
            if nid in seen:
                continue
            seen.add(nid)
            node = t.nodes[nid]
            h = held.get(nid, frozenset())

            def add(reads: set[int], writes: set[int], bits: set[int], h: frozenset[tuple[int, str]] = h) -> None:
                for x in reads - writes - bits:
                    if x not in private:
                        accesses.append(Access(x, False, h))
                for x in writes:
                    if x not in private:
                        accesses.append(Access(x, True, h))
                for x in bits - writes:
                    accesses.append(Access(x, True, h, own_bit=True))

            for op in node.ops:
                add(*self.op_accesses(op))
                h = self.after_op(op, h)
            r: set[int] = set()
            self.expr_reads(node.cond, r)
            for op in node.post:
                add(*self.op_accesses(op), h=h)
            add(r, set(), set(), h)
            succs = [x for x in (node.next, node.then, node.orelse, *node.choices) if x is not None]
            if node.end or (node.next is None and node.cond is None and not node.choices):
                ends.add(t.end_pc)
            for x in succs:
                if x in yields:
                    ends.add(yields[x])
                else:
                    stack.append(x)
        return accesses, ends

    # ------------------------------------------------------------ tables
    def run(self) -> Reduction:
        m = self.m
        inv_reads: set[int] = set()
        for inv in m.invariants:
            if inv.error in self.enabled:
                self.expr_reads(inv.expr, inv_reads)
        self.watched = inv_reads
        steps: list[list[list[Access]]] = []
        futures: list[list[dict[int, list[Access]]]] = []
        helds = [self.must_held(t) for t in m.threads]
        trusted = self.trusted_locks(helds)
        helds = [{nid: frozenset(x for x in h if x[0] in trusted) for nid, h in held.items()} for held in helds]
        for t, held in zip(m.threads, helds, strict=True):
            acc, ends = [], []
            for pc in range(len(t.yields)):
                a, e = self.step(t, pc, held)
                acc.append(a)
                ends.append(e)
            steps.append(acc)
            futures.append(self.future(acc, ends))
        rcu_future = self.rcu_callbacks()
        conflicts = []
        for i, t in enumerate(m.threads):
            row: list[tuple[tuple[int, int], ...] | None] = []
            for pc in range(len(t.yields)):
                mine = steps[i][pc]
                if self.visible(mine, inv_reads) or _conflict(mine, rcu_future, frozenset()):
                    row.append(None)
                    continue
                held_i = helds[i].get(t.yields[pc], frozenset())
                masks = []
                for j, u in enumerate(m.threads):
                    if j == i:
                        continue
                    mask = 0
                    for q in range(len(u.yields)):
                        if _conflict(mine, futures[j][q], held_i):
                            mask |= 1 << q
                    if mask:
                        masks.append((u.pc_slot, mask))
                row.append(tuple(masks))
            conflicts.append(tuple(row))
        return Reduction(tuple(conflicts), tuple(t.pc_slot for t in m.threads))

    def trusted_locks(self, helds: list[dict[int, frozenset[tuple[int, str]]]]) -> set[int]:
        """The lock slots whose holder keeps them until it releases them itself.

        Without the lock-misuse check, any thread's unlock releases a lock, so a lock that some
        thread may unlock without holding it keeps nothing apart; nor does a lock that a store
        or an `alloc` (which resets a pool object) may overwrite."""
        trusted = {lk.addr for lk in self.m.locks}
        for t, held in zip(self.m.threads, helds, strict=True):
            for node in t.nodes:
                h = held.get(node.id, frozenset())
                for op in node.ops:
                    if isinstance(op, ir.Release) and op.mode == "w" and op.error not in self.enabled:
                        slots = self.slots_of(op.addr)
                        if ANY in slots:
                            return set()
                        if op.addr.terms or (op.addr.base, "w") not in h:
                            trusted -= set(slots)
                    elif isinstance(op, (ir.Set, ir.Alloc)):
                        _, writes, _ = self.op_accesses(op)
                        if ANY in writes:
                            return set()
                        trusted -= writes
                    h = self.after_op(op, h)
        return trusted

    def visible(self, acc: list[Access], inv_reads: set[int]) -> bool:
        if ANY in inv_reads:
            return any(a.write for a in acc)
        return any(a.write and (a.loc in inv_reads or a.loc == ANY) for a in acc)

    @staticmethod
    def future(acc: list[list[Access]], ends: list[set[int]]) -> list[dict[int, list[Access]]]:
        """For each pc, the accesses of every step reachable from it, by location (each
        distinct access once: a conflict only asks whether one exists)."""
        n = len(acc)
        # least fixpoint of fut[pc] = acc[pc] | fut[e] for every end e; backwards, code that
        # runs forwards settles in one pass, each loop takes another
        succ = [sorted(e for e in ends[pc] if e < n and e != pc) for pc in range(n)]
        fut = [frozenset(a) for a in acc]
        changed = True
        while changed:
            changed = False
            for pc in range(n - 1, -1, -1):
                new = fut[pc].union(*(fut[e] for e in succ[pc]))
                if len(new) != len(fut[pc]):
                    fut[pc] = new
                    changed = True
        out: list[dict[int, list[Access]]] = []
        for pc in range(n):
            by_loc: dict[int, list[Access]] = {}
            for a in sorted(fut[pc], key=_access_order):
                by_loc.setdefault(a.loc, []).append(a)
            out.append(by_loc)
        return out

    def rcu_callbacks(self) -> dict[int, list[Access]]:
        """The RCU callback process: once no reader is left to wait for, it may free (write
        the status of) any object of an RCU pool."""
        out: dict[int, list[Access]] = {}
        for p in self.m.pools:
            if p.rcu:
                for k in range(p.size):
                    x = p.base + k * p.stride
                    out[x] = [Access(x, True, frozenset())]
                out[WAITS] = [Access(WAITS, False, frozenset())]
        return out


def _access_order(a: Access) -> tuple[int, bool, list[tuple[int, str]], bool]:
    return (a.loc, a.write, sorted(a.held), a.own_bit)


def _conflict(mine: list[Access], theirs: dict[int, list[Access]], held_i: frozenset[tuple[int, str]]) -> bool:
    """Can one of `theirs` happen before `mine` (whose thread holds `held_i`) and not commute with it?"""
    if not theirs:
        return False
    any_theirs = theirs.get(ANY, [])
    for a in mine:
        others = [b for bs in theirs.values() for b in bs] if a.loc == ANY else theirs.get(a.loc, []) + any_theirs
        for b in others:
            if not (a.write or b.write) or (a.own_bit and b.own_bit):
                continue
            if any(lk == lb and "w" in (mi, mb) for lk, mi in held_i for lb, mb in b.held):
                continue
            return True
    return False
