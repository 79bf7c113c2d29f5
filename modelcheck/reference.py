"""The reference semantics: what every IR operation means, written to be read.

This is the definition every engine is held to (the generated per-state code, the compiled
search, the z3 encodings, the partial-order reduction, and any engine that comes later).
It interprets an `ir.Model` directly, one node and one operation at a time, on Python's
unbounded integers, and explores the whole state graph breadth-first without any
reduction. It is deliberately slow and plain; tests compare the engines with it on
generated specs (same reachable states, same verdict per property, same shortest
counterexample length).

The meaning of one step of thread `t` in state `s`:

- The step starts at the yield node of `t`'s pc. A `choose` node runs each branch on its
  own copy of `s`: one successor (or failure) per branch.
- Otherwise the checks that precede a blocking operation (await, lock acquisition, the
  wait of `synchronize_rcu`) are evaluated on `s` first: a thread touching a guarded field
  in an `await` is touching it whether or not it can go on. Then the blocking operation
  decides whether the step is enabled at all.
- Operations run in order on a working copy; an expression evaluates left to right (a
  store evaluates its value before its address); a `Guarded` expression, a `Check` or a
  misuse check of a selected property that fails ends the step with that error, and the
  step has no successor. Checks of properties not selected do not exist.
- After a node's operations, its condition picks `then` or `orelse` (temporaries in `post`
  are reset in between); control follows `next` until it reaches a yield node (the thread's
  new pc) or the thread's end (the end-of-thread lock checks run, then the end pc). Entering
  a pc resets the locals that are dead from there (`ThreadIR.resets`).

A state violates an invariant when the invariant evaluates to false or one of its checks
fails; a step fails when it ends with an error; a deadlock is a state where no thread and no
RCU callback can move and some thread has not finished. The lock-order property is violated
when the graph of lock classes (an edge from each class a thread holds to the class it
acquires, over every transition of the graph) has a cycle.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from . import ir
from .semantics import c_div, c_mod

ALWAYS_ON = ("null_deref", "bounds", "overflow")
LOCK_ORDER = "lock_order"
DEADLOCK = "deadlock"


@dataclass(frozen=True)
class RefResult:
    """Everything the reference search found.

    `shortest` maps each violated property name (an `ErrorSite.name`, "deadlock" or
    "lock_order") to the length of its shortest counterexample: an invariant false in a
    state at depth k is k; a step failing from a state at depth k is k + 1; a deadlock in a
    state at depth k is k; a lock-order cycle is 0 (it is a property of all runs)."""

    states: frozenset[tuple[int, ...]]
    transitions: int
    shortest: dict[str, int]
    complete: bool
    depth: int

    def first(self) -> tuple[frozenset[str], int] | None:
        """What a search for the shortest counterexample may report: the properties violated
        at the smallest length, and that length. A lock-order cycle has no path, so engines
        report it only when nothing else is violated. None when nothing is violated."""
        paths = {n: k for n, k in self.shortest.items() if n != LOCK_ORDER}
        if not paths:
            return (frozenset({LOCK_ORDER}), 0) if LOCK_ORDER in self.shortest else None
        k = min(paths.values())
        return frozenset(n for n, x in paths.items() if x == k), k

    @property
    def verdict(self) -> str:
        """VIOLATED, HOLDS, or UNKNOWN when the search was cut short."""
        if self.shortest:
            return "VIOLATED"
        return "HOLDS" if self.complete else "UNKNOWN"


class _Fail(Exception):
    def __init__(self, error: int) -> None:
        super().__init__(error)
        self.error = error


@dataclass(frozen=True)
class Move:
    """One outcome of a step: the successor state, or the id of the error it fails with."""

    thread: int  # -1 for an RCU callback
    branch: int
    state: tuple[int, ...] | None
    error: int | None
    edges: tuple[tuple[str, str], ...] = ()  # lock-order edges this step adds


class Semantics:
    """The meaning of a model's steps, with a selection of properties switched on."""

    def __init__(self, model: ir.Model, props: Collection[str] | None = None) -> None:
        self.m = model
        self.on = {
            i
            for i, e in enumerate(model.errors)
            if props is None or e.kind in ALWAYS_ON or e.kind in props or e.name in props
        }
        self.deadlock = props is None or DEADLOCK in props
        self.lock_order = props is None or LOCK_ORDER in props
        self.pools = {p.name: p for p in model.pools}
        self.spin_slots = [lk.addr for lk in model.locks if lk.kind == "spinlock"]
        self.lock_at = {lk.addr: lk for lk in model.locks}
        self.edges: list[tuple[str, str]] = []  # gathered by the step being run
        self.pcs = [{y: pc for pc, y in enumerate(t.yields)} for t in model.threads]  # yield node -> pc

    # ------------------------------------------------------------ expressions
    def check(self, error: int) -> bool:
        """Whether the check with this error id exists in this selection."""
        return error in self.on

    def address(self, a: ir.Addr, v: list[int]) -> int:
        """The slot an address denotes."""
        slot = a.base
        for stride, e in a.terms:
            slot += stride * self.value(e, v)
        if not 0 <= slot < len(v):
            raise AssertionError(f"address {slot} outside the state: a check the lowering should emit is missing")
        return slot

    def value(self, e: ir.Expr, v: list[int]) -> int:
        """The value of an expression; a failing guard of a selected property raises _Fail."""
        if isinstance(e, ir.Const):
            return e.value
        if isinstance(e, ir.Load):
            return v[self.address(e.addr, v)]
        if isinstance(e, ir.Un):
            a = self.value(e.a, v)
            if e.op == "!":
                return int(not a)
            if e.op == "-":
                return -a
            raise AssertionError(f"unary {e.op}")
        if isinstance(e, ir.Bin):
            return self.binary(e, v)
        if isinstance(e, ir.Guarded):
            if self.check(e.error) and not self.value(e.cond, v):
                raise _Fail(e.error)
            return self.value(e.expr, v)
        if isinstance(e, ir.Held):
            a = self.address(e.addr, v)
            if v[a] & ir.OWNER_MASK == e.thread + 1:
                return 1
            return int(e.kind == "rwsem" and not e.write and (v[a + 1] >> e.thread) & 1 == 1)
        raise AssertionError(f"unknown expression {e!r}")

    def binary(self, e: ir.Bin, v: list[int]) -> int:
        a = self.value(e.a, v)
        if e.op == "&&":
            return int(bool(a) and bool(self.value(e.b, v)))
        if e.op == "||":
            return int(bool(a) or bool(self.value(e.b, v)))
        if e.op == "==>":
            return int(not a or bool(self.value(e.b, v)))
        b = self.value(e.b, v)
        op = e.op
        if op == "==":
            return int(a == b)
        if op == "!=":
            return int(a != b)
        if op == "<":
            return int(a < b)
        if op == "<=":
            return int(a <= b)
        if op == ">":
            return int(a > b)
        if op == ">=":
            return int(a >= b)
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return c_div(a, b)
        if op == "%":
            return c_mod(a, b)
        if op == "&":
            return a & b
        if op == "|":
            return a | b
        if op == "^":
            return a ^ b
        if op == "<<":
            return a << b
        if op == ">>":
            return a >> b
        raise AssertionError(f"binary {op}")

    def readers(self, v: list[int], exclude: int | None) -> int:
        """The bitmask of the threads inside an RCU read section (but `exclude`)."""
        mask = 0
        for t in self.m.threads:
            if t.rcu_slot >= 0 and t.index != exclude and v[t.rcu_slot] != 0:
                mask |= 1 << t.index
        return mask

    def holds_spinlock(self, v: list[int], thread: int) -> bool:
        return any(v[a] & ir.OWNER_MASK == thread + 1 for a in self.spin_slots)

    def holds(self, v: list[int], lock: ir.LockSlot, thread: int) -> bool:
        """Whether the thread holds the lock in any mode."""
        if v[lock.addr] & ir.OWNER_MASK == thread + 1:
            return True
        return lock.kind == "rwsem" and (v[lock.addr + 1] >> thread) & 1 == 1

    # ------------------------------------------------------------ operations
    def blocked(self, t: ir.ThreadIR, op: ir.Op, v: list[int]) -> bool:
        """Whether a blocking operation at the start of a step keeps the thread waiting."""
        if isinstance(op, ir.Await):
            return not self.value(op.cond, v)
        if isinstance(op, ir.SyncRcuWait):
            return v[t.gp_slot] != 0
        assert isinstance(op, ir.Acquire)
        a = self.address(op.addr, v)
        owner = v[a] & ir.OWNER_MASK
        readers = v[a + 1] if op.kind == "rwsem" else 0
        me, bit = t.index + 1, 1 << t.index
        if self.check(op.errors[0]):
            # re-acquiring a lock this thread holds is reported as misuse, not waited for
            others = owner != 0 and owner != me
            if op.mode == "w":
                return others or readers & ~bit != 0
            return others
        # misuse not checked: the thread waits, for itself if need be, as the kernel would
        if op.mode == "w":
            return v[a] != 0 or readers != 0
        return v[a] != 0

    def acquire(self, t: ir.ThreadIR, op: ir.Acquire, v: list[int]) -> None:
        a = self.address(op.addr, v)
        me, bit = t.index + 1, 1 << t.index
        held_err, sleep_err = op.errors
        if self.check(held_err):
            mine = v[a] & ir.OWNER_MASK == me or (op.kind == "rwsem" and v[a + 1] & bit != 0)
            if mine:
                raise _Fail(held_err)
        if op.kind != "spinlock" and self.check(sleep_err):
            in_rcu = t.rcu_slot >= 0 and v[t.rcu_slot] > 0
            if self.holds_spinlock(v, t.index) or in_rcu:
                raise _Fail(sleep_err)
        if self.lock_order:
            for lk in self.m.locks:
                if self.holds(v, lk, t.index):
                    sub = v[lk.addr] >> ir.OWNER_BITS if v[lk.addr] & ir.OWNER_MASK == me else 0
                    self.edges.append((f"{lk.lock_class}/{sub}" if sub else lk.lock_class, op.lock_class))
        if op.mode == "w":
            v[a] = me | (op.subclass << ir.OWNER_BITS)
        else:
            v[a + 1] |= bit

    def run_op(self, t: ir.ThreadIR, op: ir.Op, v: list[int]) -> None:
        """Apply one non-blocking operation to the working state `v`."""
        me, bit = t.index + 1, 1 << t.index
        if isinstance(op, ir.Set):
            x = self.value(op.value, v)
            v[self.address(op.addr, v)] = x
        elif isinstance(op, ir.Check):
            # an unselected check's condition is still evaluated: its reads are what the thread does
            if not self.value(op.cond, v) and self.check(op.error):
                raise _Fail(op.error)
        elif isinstance(op, ir.TryAcquire):
            a = self.address(op.addr, v)
            if op.mode == "w":
                free = v[a] == 0 and (op.kind != "rwsem" or v[a + 1] == 0)
                if free:
                    v[a] = me
            else:
                free = v[a] == 0
                if free:
                    v[a + 1] |= bit
            v[self.address(op.dest, v)] = int(free)
        elif isinstance(op, ir.Release):
            a = self.address(op.addr, v)
            if op.mode == "w":
                if self.check(op.error) and v[a] & ir.OWNER_MASK != me:
                    raise _Fail(op.error)
                v[a] = 0  # misuse not checked: whoever unlocks releases the lock
            else:
                if self.check(op.error) and v[a + 1] & bit == 0:
                    raise _Fail(op.error)
                v[a + 1] &= ~bit
        elif isinstance(op, ir.RcuLock):
            v[t.rcu_slot] += 1
        elif isinstance(op, ir.RcuUnlock):
            if self.check(op.error) and v[t.rcu_slot] == 0:
                raise _Fail(op.error)
            v[t.rcu_slot] = max(0, v[t.rcu_slot] - 1)
            if v[t.rcu_slot] == 0:
                # the grace periods stop waiting for this thread
                for u in self.m.threads:
                    if u.gp_slot >= 0:
                        v[u.gp_slot] &= ~bit
                for p in self.m.pools:
                    if p.rcu:
                        for k in range(p.size):
                            v[p.base + k * p.stride + 1] &= ~bit
        elif isinstance(op, ir.SyncRcuStart):
            if self.check(op.error) and (self.holds_spinlock(v, t.index) or v[t.rcu_slot] > 0):
                raise _Fail(op.error)
            v[t.gp_slot] = self.readers(v, t.index)
        elif isinstance(op, ir.Free):
            pool = self.pools[op.pool]
            ref = self.value(op.ref, v)
            status = pool.base + (ref - 1) * pool.stride
            if self.check(op.error) and v[status] != 1:
                raise _Fail(op.error)
            if op.deferred:
                v[status] = 2
                v[status + 1] = self.readers(v, None)
            else:
                v[status] = 3
        elif isinstance(op, ir.Alloc):
            pool = self.pools[op.pool]
            head = 2 if pool.rcu else 1
            got = 0
            for k in range(pool.size):
                status = pool.base + k * pool.stride
                if v[status] in (0, 3):  # unallocated or freed
                    v[status] = 1
                    for j, d in enumerate(pool.defaults):
                        v[status + head + j] = d
                    got = k + 1
                    break
            v[self.address(op.dest, v)] = got
        else:
            raise AssertionError(f"{op!r} can only start a step")

    # ------------------------------------------------------------ control flow
    def enter(self, t: ir.ThreadIR, pc: int, v: list[int]) -> None:
        v[t.pc_slot] = pc
        for slot, init in t.resets[pc] if t.resets else ():
            v[slot] = init

    def finish(self, t: ir.ThreadIR, v: list[int]) -> None:
        """The thread ends: locks still held and an open RCU section are misuse."""
        for addr, err in t.end_errors:
            if not self.check(err):
                continue
            if addr < 0:
                if v[t.rcu_slot] > 0:
                    raise _Fail(err)
            elif self.holds(v, self.lock_at[addr], t.index):
                raise _Fail(err)
        self.enter(t, t.end_pc, v)

    def run_from(self, t: ir.ThreadIR, nid: int, v: list[int], ops: list[ir.Op]) -> None:
        """Run node `nid` (starting with `ops` of it) and the nodes after it until a yield point."""
        pcs = self.pcs[t.index]
        node = t.nodes[nid]
        while True:
            if node.end:
                self.finish(t, v)
                return
            for op in ops:
                self.run_op(t, op, v)
            if node.cond is not None:
                taken = self.value(node.cond, v)
                for reset in node.post:
                    self.run_op(t, reset, v)
                nxt = node.then if taken else node.orelse
            elif node.next is None:
                self.finish(t, v)
                return
            else:
                nxt = node.next
            assert nxt is not None
            if nxt in pcs:
                self.enter(t, pcs[nxt], v)
                return
            node = t.nodes[nxt]
            ops = list(node.ops)

    def step(self, t: ir.ThreadIR, s: tuple[int, ...]) -> list[Move]:
        """Every outcome of thread `t`'s step in state `s` (none when it cannot move)."""
        pc = s[t.pc_slot]
        if pc >= t.end_pc:
            return []
        node = t.nodes[t.yields[pc]]
        if node.choices:
            return [self._outcome(t, k, s, c, None) for k, c in enumerate(node.choices)]
        ops = list(node.ops)
        k = 0
        while k < len(ops) and isinstance(ops[k], ir.Check):
            k += 1
        if k < len(ops) and isinstance(ops[k], (ir.Await, ir.Acquire, ir.SyncRcuWait)):
            v = list(s)
            try:
                for op in ops[:k]:
                    self.run_op(t, op, v)  # checks only: `v` stays `s`
                if self.blocked(t, ops[k], v):
                    return []
            except _Fail as f:
                return [Move(t.index, 0, None, f.error)]
            return [self._outcome(t, 0, s, node.id, ops[k:])]
        return [self._outcome(t, 0, s, node.id, ops)]

    def _outcome(self, t: ir.ThreadIR, branch: int, s: tuple[int, ...], nid: int, ops: list[ir.Op] | None) -> Move:
        v = list(s)
        self.edges = []
        try:
            if ops is not None and ops and isinstance(ops[0], (ir.Await, ir.Acquire, ir.SyncRcuWait)):
                if isinstance(ops[0], ir.Acquire):
                    self.acquire(t, ops[0], v)
                ops = ops[1:]
            if ops is None:  # a choose branch starts at its first node
                pcs = self.pcs[t.index]
                if nid in pcs:
                    self.enter(t, pcs[nid], v)
                else:
                    self.run_from(t, nid, v, list(t.nodes[nid].ops))
            else:
                self.run_from(t, nid, v, ops)
        except _Fail as f:
            return Move(t.index, branch, None, f.error)
        return Move(t.index, branch, tuple(v), None, tuple(self.edges))

    def rcu_callbacks(self, s: tuple[int, ...]) -> list[Move]:
        """The RCU callbacks that can run: a pending free whose readers have all left."""
        out = []
        k = 0
        for p in self.m.pools:
            if not p.rcu:
                continue
            for i in range(p.size):
                status = p.base + i * p.stride
                if s[status] == 2 and s[status + 1] == 0:
                    v = list(s)
                    v[status] = 3
                    out.append(Move(-1, k, tuple(v), None))
                k += 1
        return out

    def moves(self, s: tuple[int, ...]) -> list[Move]:
        """Every move of every thread and RCU callback from `s`."""
        out: list[Move] = []
        for t in self.m.threads:
            out.extend(self.step(t, s))
        out.extend(self.rcu_callbacks(s))
        return out

    def invariant_errors(self, s: tuple[int, ...]) -> list[int]:
        """The error of each selected invariant that does not hold in `s` (its own, or a failing check's)."""
        out = []
        v = list(s)
        for inv in self.m.invariants:
            if not self.check(inv.error):
                continue
            try:
                if not self.value(inv.expr, v):
                    out.append(inv.error)
            except _Fail as f:
                out.append(f.error)
        return out

    def done(self, s: tuple[int, ...]) -> bool:
        return all(s[t.pc_slot] == t.end_pc for t in self.m.threads)


def reference_check(model: ir.Model, props: Collection[str] | None = None, max_states: int = 200_000) -> RefResult:
    """Explore the whole state graph of `model` breadth-first, with no reduction."""
    sem = Semantics(model, props)
    init = model.initial_state()
    depth_of = {init: 0}
    level = [init]
    transitions = 0
    shortest: dict[str, int] = {}
    edges: set[tuple[str, str]] = set()
    complete = True
    depth = 0

    def found(name: str, length: int) -> None:
        if name not in shortest or length < shortest[name]:
            shortest[name] = length

    for err in sem.invariant_errors(init):
        found(model.errors[err].name, 0)
    while level:
        nxt = []
        for s in level:
            d = depth_of[s]
            moves = sem.moves(s)
            for mv in moves:
                edges.update(mv.edges)
                if mv.error is not None:
                    found(model.errors[mv.error].name, d + 1)
                    continue
                assert mv.state is not None
                transitions += 1
                if mv.state in depth_of:
                    continue
                if len(depth_of) >= max_states:
                    complete = False
                    continue
                depth_of[mv.state] = d + 1
                nxt.append(mv.state)
                for err in sem.invariant_errors(mv.state):
                    found(model.errors[err].name, d + 1)
            if not moves and sem.deadlock and not sem.done(s):
                found(DEADLOCK, d)
        if nxt:
            depth += 1
        level = nxt
    if sem.lock_order and _has_cycle(edges):
        found(LOCK_ORDER, 0)
    return RefResult(frozenset(depth_of), transitions, shortest, complete, depth)


def _has_cycle(edges: set[tuple[str, str]]) -> bool:
    """Whether a directed graph, given by its edges, has a cycle (a self-loop counts)."""
    succ: dict[str, list[str]] = {}
    for a, b in sorted(edges):
        succ.setdefault(a, []).append(b)
    colour: dict[str, int] = {}
    for root in sorted(succ):
        if root in colour:
            continue
        colour[root] = 1
        stack = [(root, iter(succ.get(root, [])))]
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                colour[node] = 2
                stack.pop()
            elif colour.get(nxt) == 1:
                return True
            elif nxt not in colour:
                colour[nxt] = 1
                stack.append((nxt, iter(succ.get(nxt, []))))
    return False
