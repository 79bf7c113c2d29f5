"""Stage 4, compile: `ir.Model` -> `Compiled`, Python functions built once per spec.

Each (thread, pc) step becomes one generated function `f(s)` over a state tuple:
it returns None when the step is blocked, the successor tuple, a list of
successors (for `choose`), or an int: the id of the violated `ErrorSite`.
Checks of properties that are switched off are not generated at all.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from . import ir
from . import semantics as T

StepFn = Callable[[tuple[int, ...]], Any]
ALWAYS_ON = ("null_deref", "bounds", "overflow")


@dataclass
class Compiled:
    """A model compiled to Python: step tables, invariant and RCU functions."""

    model: ir.Model
    tables: list[tuple[int, list[StepFn]]]  # per thread: (pc slot, step per pc; END -> blocked)
    invariant: Callable[[tuple[int, ...]], int | None]
    rcu_steps: Callable[[tuple[int, ...]], list[tuple[int, tuple[int, ...]]]] | None
    end_pcs: list[int]
    check_deadlock: bool
    check_lock_order: bool
    lock_edges: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    reads: list[tuple[int, int]] = field(default_factory=list)  # (slot, value read), by traced steps
    writes: list[int] = field(default_factory=list)  # filled by traced steps
    resets: list[tuple[int, int]] = field(default_factory=list)  # (dead local, value before its reset), traced
    source: str = ""
    props: Collection[str] | None = None  # the properties compiled in (None: all)
    # Coverage: the generated code sets cov[k] = 1 when it passes mark k; mark k stands for
    # the CFG nodes (thread, node id) executed and the error sites evaluated on its way
    # (`coverage` turns the marks into what a search covered).
    cov: list[int] = field(default_factory=list)
    cov_marks: list[tuple[tuple[tuple[int, int], ...], tuple[int, ...]]] = field(default_factory=list)
    state_sites: tuple[int, ...] = ()  # sites evaluated in every stored state (the invariants)

    @property
    def errors(self) -> list[ir.ErrorSite]:
        """Every place a property can be violated (the model's)."""
        return self.model.errors

    def done(self, s: tuple[int, ...]) -> bool:
        """True when every thread has finished."""
        return all(s[pc] == end for (pc, _), end in zip(self.tables, self.end_pcs, strict=True))


def enabled_checks(model: ir.Model, props: Collection[str] | None) -> set[int]:
    """Error ids whose property is selected (by kind or name); None selects all."""
    out = set()
    for i, e in enumerate(model.errors):
        if props is None or e.kind in ALWAYS_ON or e.kind in props or e.name in props:
            out.add(i)
    return out


# Past this indentation, or this many nodes inlined one inside the other, the rest of a
# step becomes a part function of its own (Python allows 100 levels of indentation).
_MAX_INDENT = 40
_MAX_INLINE = 150


def compile_model(model: ir.Model, props: Collection[str] | None = None, traced: bool = False) -> Compiled:
    """Generate and compile the step functions of a model."""
    gen = _Gen(model, props, traced)
    return gen.build()


class _Fail(Exception):
    def __init__(self, error: int) -> None:
        self.error = error


def _fail(error: int) -> Any:
    raise _Fail(error)


_div, _mod = T.c_div, T.c_mod


class _Gen:
    def __init__(self, model: ir.Model, props: Collection[str] | None, traced: bool) -> None:
        self.model = model
        self.props = props
        self.traced = traced
        self.enabled = enabled_checks(model, props)
        self.lock_order = props is None or "lock_order" in props
        self.deadlock = props is None or "deadlock" in props
        self.lines: list[str] = []
        self.joins: set[int] = set()
        self.pending: list[int] = []
        self.in_part = False  # emitting a part function: the next part is returned, not called
        self.depth = 0  # nodes inlined one inside the other so far
        self.pcs: dict[int, dict[int, int]] = {}  # per thread: yield node -> pc
        self.emitted_joins: set[tuple[int, int]] = set()
        self.spin_slots = [lk.addr for lk in model.locks if lk.kind == "spinlock"]
        self.gp_slots = [t.gp_slot for t in model.threads if t.gp_slot >= 0]
        self.mask_slots = [p.base + k * p.stride + 1 for p in model.pools if p.rcu for k in range(p.size)]
        self.marks: list[tuple[tuple[tuple[int, int], ...], tuple[int, ...]]] = []
        self.path_nodes: list[tuple[int, int]] = []  # on the code path being generated
        self.path_sites: list[int] = []
        self.optional = 0  # > 0 while generating an operand that may not be evaluated
        self.state_sites: tuple[int, ...] = ()

    def fail(self, ind: int, err: object) -> None:
        """Emit the code that reports violation `err` from the current step (or choose branch)."""
        self.emit(ind, self.fail_stmt.format(err=err))

    fail_stmt = "return {err}"

    def on(self, err: int) -> bool:
        return err in self.enabled

    def mark(self, nodes: tuple[tuple[int, int], ...], sites: tuple[int, ...]) -> int:
        """A new coverage mark standing for these nodes and sites."""
        self.marks.append((nodes, sites))
        return len(self.marks) - 1

    def reached(self, ind: int) -> None:
        """Emit the mark of the code path so far (a step that gets here covers it)."""
        k = self.mark(tuple(dict.fromkeys(self.path_nodes)), tuple(dict.fromkeys(self.path_sites)))
        self.emit(ind, f"_cov[{k}] = 1")

    def evaluated(self, err: int) -> None:
        """Site `err` is checked on the code path being generated."""
        self.path_sites.append(err)

    # ------------------------------------------------------------ expressions
    def addr(self, a: ir.Addr, var: str) -> str:
        if not a.terms:
            return str(a.base)
        parts = [str(a.base)] + [f"{k}*({self.expr(e, var)})" for k, e in a.terms]
        return " + ".join(parts)

    def load(self, a: ir.Addr, var: str) -> str:
        if self.traced:
            return f"_rd({var}, {self.addr(a, var)})"
        return f"{var}[{self.addr(a, var)}]"

    def expr(self, e: ir.Expr, var: str) -> str:
        if isinstance(e, ir.Const):
            return str(e.value)
        if isinstance(e, ir.Load):
            return self.load(e.addr, var)
        if isinstance(e, ir.Un):
            a = self.expr(e.a, var)
            return f"(not {a})" if e.op == "!" else f"(-{a})"
        if isinstance(e, ir.Bin):
            a = self.expr(e.a, var)
            lazy = e.op in ("&&", "||", "==>")
            self.optional += lazy
            b = self.expr(e.b, var)
            self.optional -= lazy
            op = e.op
            if op == "&&":
                return f"({a} and {b})"
            if op == "||":
                return f"({a} or {b})"
            if op == "==>":
                return f"((not {a}) or {b})"
            if op == "/":
                return f"_div({a}, {b})"
            if op == "%":
                return f"_mod({a}, {b})"
            return f"({a} {op} {b})"
        if isinstance(e, ir.Guarded):
            inner = self.expr(e.expr, var)
            if not self.on(e.error):
                return inner
            cond = self.expr(e.cond, var)
            if self.optional:
                # the operand of && || ==> may not be evaluated: the check marks itself
                k = self.mark((), (e.error,))
                cond = f"(_cov.__setitem__({k}, 1) or {cond})"
            else:
                self.evaluated(e.error)
            return f"({inner} if {cond} else _fail({e.error}))"
        if isinstance(e, ir.Held):
            a = self.addr(e.addr, var)
            me = f"{e.thread + 1}"
            if e.kind == "rwsem" and not e.write:
                return f"({var}[{a}] & {ir.OWNER_MASK} == {me} or ({var}[{a} + 1] >> {e.thread}) & 1 == 1)"
            return f"({var}[{a}] & {ir.OWNER_MASK} == {me})"
        raise AssertionError(f"unhandled {e!r}")

    def readers_mask(self, var: str, exclude: int | None) -> str:
        parts = [
            f"({1 << t.index} if {var}[{t.rcu_slot}] else 0)"
            for t in self.model.threads
            if t.rcu_slot >= 0 and t.index != exclude
        ]
        return "(" + " | ".join(parts) + ")" if parts else "0"

    def live_guards(self, e: ir.Expr) -> bool:
        """Whether evaluating `e` can fail a selected check."""
        if isinstance(e, ir.Guarded):
            return self.on(e.error) or self.live_guards(e.cond) or self.live_guards(e.expr)
        if isinstance(e, ir.Load):
            return any(self.live_guards(x) for _, x in e.addr.terms)
        if isinstance(e, ir.Un):
            return self.live_guards(e.a)
        if isinstance(e, ir.Bin):
            return self.live_guards(e.a) or self.live_guards(e.b)
        if isinstance(e, ir.Held):
            return any(self.live_guards(x) for _, x in e.addr.terms)
        return False

    # ------------------------------------------------------------ code emission
    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def build(self) -> Compiled:
        m = self.model
        self.emit(0, "def _make(_fail, _div, _mod, _edge, _rd, _wr, _rs, _cov):")
        tables = []
        end_pcs = []
        for t in m.threads:
            names = []
            for pc, nid in enumerate(t.yields):
                fname = f"t{t.index}_pc{pc}"
                self.step_fn(t, nid, fname)
                names.append(fname)
            tables.append((t.pc_slot, names))
            end_pcs.append(t.end_pc)
        self.invariant_fn()
        has_rcu = any(p.rcu for p in m.pools)
        if has_rcu:
            self.rcu_fn()
        self.emit(1, "return {")
        for t, (_, names) in zip(m.threads, tables, strict=True):
            self.emit(2, f"{t.index}: [{', '.join(names)}],")
        self.emit(1, "}, _invariant, " + ("_rcu_steps" if has_rcu else "None"))
        source = "\n".join(self.lines) + "\n"
        namespace: dict[str, Any] = {"_Fail": _Fail}
        exec(compile(source, f"<modelcheck:{m.file}>", "exec"), namespace)  # noqa: S102 - our own generated code
        compiled = Compiled(
            m,
            [],
            lambda s: None,
            None,
            end_pcs,
            self.deadlock,
            self.lock_order,
            source=source,
            props=None if self.props is None else tuple(self.props),
        )

        def edge(v: tuple[int, ...], tid: int, cls: str, err: int) -> None:
            me = tid + 1
            for lk in m.locks:
                owner = v[lk.addr]
                held = owner & ir.OWNER_MASK == me or (lk.kind == "rwsem" and (v[lk.addr + 1] >> tid) & 1)
                if not held:
                    continue
                sub = owner >> ir.OWNER_BITS if owner & ir.OWNER_MASK == me else 0
                held_cls = f"{lk.lock_class}/{sub}" if sub else lk.lock_class
                # the least witness: the same whatever order a search takes the steps in
                seen = compiled.lock_edges.get((held_cls, cls))
                if seen is None or (tid, err) < seen:
                    compiled.lock_edges[(held_cls, cls)] = (tid, err)

        reads = compiled.reads

        def rd(v: Any, i: int) -> int:
            reads.append((i, int(v[i])))
            return int(v[i])

        writes = compiled.writes

        def wr(i: int, x: int) -> int:
            writes.append(i)
            return x

        resets = compiled.resets

        def rs(v: list[int], i: int, x: int) -> None:
            resets.append((i, v[i]))
            v[i] = x

        compiled.cov_marks = self.marks
        compiled.cov = [0] * len(self.marks)
        compiled.state_sites = self.state_sites
        fns, inv, rcu = namespace["_make"](_fail, _div, _mod, edge, rd, wr, rs, compiled.cov)
        for t in m.threads:
            blocked: StepFn = _blocked
            table = list(fns[t.index]) + [blocked]
            compiled.tables.append((t.pc_slot, table))
        compiled.invariant = inv
        compiled.rcu_steps = rcu
        return compiled

    def step_fn(self, t: ir.ThreadIR, nid: int, fname: str) -> None:
        node = t.nodes[nid]
        self.joins = self.join_nodes(t, nid)
        self.pending = sorted(self.joins)
        self.part_fns(t)
        self.emit(1, f"def {fname}(s):")
        self.emit(2, "try:")
        self.path_nodes, self.path_sites = [], []
        if node.choices:
            # a violation in branch k is reported as element k, so the path names the branch
            self.emit(3, "out = []")
            self.fail_stmt = "out.append({err}); break"
            self.path_nodes.append((t.index, nid))
            for c in node.choices:
                self.emit(3, "v = list(s)")
                self.emit(3, "while True:")
                self.emit(4, "try:")
                self.cont(t, c, 5, first=False, ret="out.append({v}); break")
                self.emit(4, "except _Fail as f:")
                self.emit(5, "out.append(f.error); break")
            self.fail_stmt = "return {err}"
            self.emit(3, "return out")
        else:
            self.cont(t, nid, 3, first=True, ret="return {v}")
        self.emit(2, "except _Fail as f:")
        self.emit(3, "return f.error")
        self.part_fns(t)

    def part_fns(self, t: ir.ThreadIR) -> None:
        """Emit a function for each pending part of a step (a join, or code nested too deep
        to inline). A part ends the step with its state or error, or returns the function of
        the part that comes next, which the step calls in a loop: parts never nest in
        Python's stack or indentation, however long the step."""
        while self.pending:
            j = self.pending.pop()
            if (t.index, j) in self.emitted_joins:
                continue
            self.emitted_joins.add((t.index, j))
            saved = self.in_part, self.depth, self.path_nodes, self.path_sites
            # a part's code paths start at the join: the path before it was marked by the caller
            self.in_part, self.depth, self.path_nodes, self.path_sites = True, 0, [], []
            self.emit(1, f"def t{t.index}_n{j}(v):")
            self.cont(t, j, 2, first=False, ret="return {v}", inline=True)
            self.in_part, self.depth, self.path_nodes, self.path_sites = saved

    def join_nodes(self, t: ir.ThreadIR, start: int) -> set[int]:
        """The local nodes that the step from `start` reaches along more than one edge.

        Each becomes a function of its own that every path calls: inlining the code after
        a join into every branch before it doubles the code at every `if`.
        """
        nodes, pcs = t.nodes, set(t.yields)
        indegree: dict[int, int] = {}
        todo, seen = [start], {start}
        while todo:
            n = nodes[todo.pop()]
            for x in (n.next, n.then, n.orelse, *n.choices):
                if x is None or x in pcs or nodes[x].end:
                    continue
                indegree[x] = indegree.get(x, 0) + 1
                if x not in seen:
                    seen.add(x)
                    todo.append(x)
        return {x for x, k in indegree.items() if k > 1}

    def cont(self, t: ir.ThreadIR, nid: int, ind: int, first: bool, ret: str, inline: bool = False) -> None:
        """Emit the code of node `nid` and of the local nodes after it, up to the next
        yield point; `ret` is the statement that ends the step with the value `{v}`."""
        nodes, sites = len(self.path_nodes), len(self.path_sites)
        try:
            self._cont(t, nid, ind, first, ret, inline)
        finally:
            del self.path_nodes[nodes:], self.path_sites[sites:]

    def _cont(self, t: ir.ThreadIR, nid: int, ind: int, first: bool, ret: str, inline: bool) -> None:
        node = t.nodes[nid]
        pcs = self.pcs.get(t.index)
        if pcs is None:
            pcs = self.pcs[t.index] = {y: i for i, y in enumerate(t.yields)}
        if not first and nid in pcs:
            self.enter(t, pcs[nid], ind)
            self.reached(ind)
            self.emit(ind, ret.format(v="tuple(v)"))
            return
        if not first and not inline and (nid in self.joins or ind > _MAX_INDENT or self.depth > _MAX_INLINE):
            part = f"t{t.index}_n{nid}"
            self.pending.append(nid)
            self.reached(ind)
            if self.in_part:
                self.emit(ind, f"return {part}")
            else:
                self.emit(ind, f"_p = {part}(v)")
                self.emit(ind, "while callable(_p):")
                self.emit(ind + 1, "_p = _p(v)")
                self.emit(ind, ret.format(v="_p"))
            return
        self.path_nodes.append((t.index, nid))
        self.depth += 1
        try:
            self.node_code(t, node, ind, first, ret)
        finally:
            self.depth -= 1

    def node_code(self, t: ir.ThreadIR, node: ir.Node, ind: int, first: bool, ret: str) -> None:
        """The code of one node, followed by `cont` of what comes after it."""
        if node.end:
            if first:
                self.emit(ind, "v = list(s)")
            self.thread_end(t, ind)
            self.enter(t, t.end_pc, ind)
            self.reached(ind)
            self.emit(ind, ret.format(v="tuple(v)"))
            return
        ops = list(node.ops)
        if first:
            k = 0
            while k < len(ops) and isinstance(ops[k], ir.Check):
                k += 1
            if k < len(ops) and isinstance(ops[k], (ir.Await, ir.Acquire, ir.SyncRcuWait)):
                # an access checked before a blocking guard (a guarded field in an await) is
                # checked whether or not the step can proceed: the thread is touching it
                for op in ops[:k]:
                    self.op(t, op, ind, var="s")
                self.guard(t, ops[k], ind)
                ops = ops[k + 1 :]
            else:
                self.emit(ind, "v = list(s)")
        for op in ops:
            self.op(t, op, ind)
        if node.cond is not None:
            assert node.then is not None and node.orelse is not None
            cond = self.expr(node.cond, "v")
            if node.post:
                self.emit(ind, f"c = {cond}")
                for op in node.post:
                    self.op(t, op, ind)
                cond = "c"
            self.emit(ind, f"if {cond}:")
            self.cont(t, node.then, ind + 1, False, ret)
            self.emit(ind, "else:")
            self.cont(t, node.orelse, ind + 1, False, ret)
            return
        if node.next is None:
            self.thread_end(t, ind)
            self.enter(t, t.end_pc, ind)
            self.reached(ind)
            self.emit(ind, ret.format(v="tuple(v)"))
            return
        self.cont(t, node.next, ind, False, ret)

    def enter(self, t: ir.ThreadIR, pc: int, ind: int) -> None:
        """Move the thread to `pc`, resetting the locals that are dead from there on."""
        self.emit(ind, f"v[{t.pc_slot}] = {pc}")
        for slot, value in t.resets[pc] if t.resets else ():
            self.emit(ind, f"_rs(v, {slot}, {value})" if self.traced else f"v[{slot}] = {value}")

    def spin_held(self, var: str, me: int) -> str:
        if not self.spin_slots:
            return "False"
        return "(" + " or ".join(f"{var}[{a}] & {ir.OWNER_MASK} == {me}" for a in self.spin_slots) + ")"

    def checked_before_blocking(self, ind: int) -> None:
        """Checks made before a step's guard are made whether or not it blocks: mark them."""
        if self.path_sites:
            k = self.mark((), tuple(dict.fromkeys(self.path_sites)))
            self.emit(ind, f"_cov[{k}] = 1")

    def guard(self, t: ir.ThreadIR, op: ir.Op, ind: int) -> None:
        me = t.index + 1
        bit = 1 << t.index
        if isinstance(op, ir.Await):
            cond = self.expr(op.cond, "s")
            self.checked_before_blocking(ind)
            self.emit(ind, f"if not {cond}:")
            self.emit(ind + 1, "return None")
            self.emit(ind, "v = list(s)")
            return
        if isinstance(op, ir.SyncRcuWait):
            self.emit(ind, f"if s[{t.gp_slot}] != 0:")
            self.emit(ind + 1, "return None")
            self.emit(ind, "v = list(s)")
            return
        assert isinstance(op, ir.Acquire)
        self.emit(ind, f"a = {self.addr(op.addr, 's')}")
        self.checked_before_blocking(ind)
        self.emit(ind, "o = s[a]")
        rw = op.kind == "rwsem"
        if rw:
            self.emit(ind, "r = s[a + 1]")
        held_err, sleep_err = op.errors
        owner = f"(o & {ir.OWNER_MASK})"
        if self.on(held_err):
            self.evaluated(held_err)
            # a lock this thread holds is reported as misuse (below), not waited for
            mine = f"{owner} == {me}" + (f" or (r & {bit})" if rw else "")
            if op.mode == "w":
                blocked = f"(o != 0 and {owner} != {me})" + (f" or (r & {~bit})" if rw else "")
            else:
                blocked = f"(o != 0 and {owner} != {me})"
        else:
            # misuse not checked: the thread really waits for itself, as the kernel would
            mine = ""
            blocked = "o != 0" + (" or r != 0" if rw and op.mode == "w" else "")
        self.emit(ind, f"if {blocked}:")
        self.emit(ind + 1, "return None")
        self.emit(ind, "v = list(s)")
        if mine:
            self.emit(ind, f"if {mine}:")
            self.emit(ind + 1, f"return {held_err}")
        if op.kind != "spinlock" and self.on(sleep_err):
            self.evaluated(sleep_err)
            cond = self.spin_held("v", me)
            if t.rcu_slot >= 0:
                cond = f"({cond} or v[{t.rcu_slot}] > 0)"
            self.emit(ind, f"if {cond}:")
            self.emit(ind + 1, f"return {sleep_err}")
        if self.lock_order:
            self.emit(ind, f"_edge(v, {t.index}, {op.lock_class!r}, {held_err})")
        if op.mode == "w":
            self.emit(ind, f"v[a] = {me | (op.subclass << ir.OWNER_BITS)}")
        else:
            self.emit(ind, f"v[a + 1] = r | {bit}")

    def op(self, t: ir.ThreadIR, op: ir.Op, ind: int, var: str = "v") -> None:
        me = t.index + 1
        bit = 1 << t.index
        if isinstance(op, ir.Set):
            if self.traced and op.reset:
                self.emit(ind, f"_rs(v, {self.addr(op.addr, 'v')}, {self.expr(op.value, 'v')})")
            elif self.traced:
                self.emit(ind, f"w = {self.addr(op.addr, 'v')}")
                self.emit(ind, f"v[w] = _wr(w, {self.expr(op.value, 'v')})")
            else:
                self.emit(ind, f"v[{self.addr(op.addr, 'v')}] = {self.expr(op.value, 'v')}")
        elif isinstance(op, ir.Check):
            if self.on(op.error):
                self.evaluated(op.error)
                self.emit(ind, f"if not {self.expr(op.cond, var)}:")
                self.fail(ind + 1, op.error)
            elif self.live_guards(op.cond):  # not selected, but its reads are still made
                self.emit(ind, self.expr(op.cond, var))
        elif isinstance(op, ir.TryAcquire):
            self.emit(ind, f"a = {self.addr(op.addr, 'v')}")
            rw = op.kind == "rwsem"
            if op.mode == "w":
                free = "v[a] == 0" + (" and v[a + 1] == 0" if rw else "")
                take = f"v[a] = {me}"
            else:
                free = "v[a] == 0"
                take = f"v[a + 1] = v[a + 1] | {bit}"
            dest = self.addr(op.dest, "v")
            ok, no = (f"_wr({dest}, 1)", f"_wr({dest}, 0)") if self.traced else ("1", "0")
            self.emit(ind, f"if {free}:")
            self.emit(ind + 1, take)
            self.emit(ind + 1, f"v[{dest}] = {ok}")
            self.emit(ind, "else:")
            self.emit(ind + 1, f"v[{dest}] = {no}")
        elif isinstance(op, ir.Release):
            self.emit(ind, f"a = {self.addr(op.addr, 'v')}")
            if self.on(op.error):
                self.evaluated(op.error)
            if op.mode == "w":
                if self.on(op.error):
                    self.emit(ind, f"if v[a] & {ir.OWNER_MASK} != {me}:")
                    self.fail(ind + 1, op.error)
                self.emit(ind, "v[a] = 0")
            else:
                if self.on(op.error):
                    self.emit(ind, f"if not (v[a + 1] & {bit}):")
                    self.fail(ind + 1, op.error)
                self.emit(ind, f"v[a + 1] = v[a + 1] & {~bit}")
        elif isinstance(op, ir.RcuLock):
            self.emit(ind, f"v[{t.rcu_slot}] += 1")
        elif isinstance(op, ir.RcuUnlock):
            r = t.rcu_slot
            if self.on(op.error):
                self.evaluated(op.error)
                self.emit(ind, f"if v[{r}] == 0:")
                self.fail(ind + 1, op.error)
            self.emit(ind, f"v[{r}] = max(0, v[{r}] - 1)")
            targets = self.gp_slots + self.mask_slots
            if targets:
                self.emit(ind, f"if v[{r}] == 0:")
                for slot in targets:
                    self.emit(ind + 1, f"v[{slot}] = v[{slot}] & {~bit}")
        elif isinstance(op, ir.SyncRcuStart):
            if self.on(op.error):
                self.evaluated(op.error)
                cond = self.spin_held("v", me)
                cond = f"({cond} or v[{t.rcu_slot}] > 0)"
                self.emit(ind, f"if {cond}:")
                self.fail(ind + 1, op.error)
            self.emit(ind, f"v[{t.gp_slot}] = {self.readers_mask('v', t.index)}")
        elif isinstance(op, ir.Free):
            pool = next(p for p in self.model.pools if p.name == op.pool)
            self.emit(ind, f"st = {pool.base - pool.stride} + {pool.stride}*({self.expr(op.ref, 'v')})")
            if self.on(op.error):
                self.evaluated(op.error)
                self.emit(ind, "if v[st] != 1:")
                self.fail(ind + 1, op.error)
            if op.deferred:
                self.emit(ind, "v[st] = 2")
                self.emit(ind, f"v[st + 1] = {self.readers_mask('v', None)}")
            else:
                self.emit(ind, "v[st] = 3")
        elif isinstance(op, ir.Alloc):
            pool = next(p for p in self.model.pools if p.name == op.pool)
            dest = self.addr(op.dest, "v")
            head = 2 if pool.rcu else 1
            defaults = pool.defaults
            for k in range(pool.size):
                st = pool.base + k * pool.stride
                kw = "if" if k == 0 else "elif"
                self.emit(ind, f"{kw} v[{st}] == 0 or v[{st}] == 3:")
                self.emit(ind + 1, f"v[{st}] = 1")
                for j, d in enumerate(defaults):
                    self.emit(ind + 1, f"v[{st + head + j}] = {d}")
                self.emit(ind + 1, f"v[{dest}] = {k + 1}")
            self.emit(ind, "else:")
            self.emit(ind + 1, f"v[{dest}] = 0")
        else:
            raise AssertionError(f"op {op!r} must start its step")

    def thread_end(self, t: ir.ThreadIR, ind: int) -> None:
        me = t.index + 1
        locks = {lk.addr: lk for lk in self.model.locks}
        for addr, err in t.end_errors:
            if not self.on(err):
                continue
            self.evaluated(err)
            if addr < 0:
                cond = f"v[{t.rcu_slot}] > 0"
            else:
                cond = f"v[{addr}] & {ir.OWNER_MASK} == {me}"
                if locks[addr].kind == "rwsem":
                    cond += f" or (v[{addr + 1}] >> {t.index}) & 1"
            self.emit(ind, f"if {cond}:")
            self.fail(ind + 1, err)

    def invariant_fn(self) -> None:
        self.emit(1, "def _invariant(s):")
        self.emit(2, "v = s")
        self.emit(2, "try:")
        self.path_nodes, self.path_sites = [], []
        for inv in self.model.invariants:
            if self.on(inv.error):
                self.evaluated(inv.error)
                self.emit(3, f"if not {self.expr(inv.expr, 'v')}:")
                self.emit(4, f"return {inv.error}")
        self.state_sites = tuple(dict.fromkeys(self.path_sites))
        self.emit(3, "return None")
        self.emit(2, "except _Fail as f:")
        self.emit(3, "return f.error")

    def rcu_fn(self) -> None:
        self.emit(1, "def _rcu_steps(s):")
        self.emit(2, "out = []")
        k = 0
        for p in self.model.pools:
            for i in range(p.size):
                st = p.base + i * p.stride
                self.emit(2, f"if s[{st}] == 2 and s[{st + 1}] == 0:")
                self.emit(3, "v = list(s)")
                self.emit(3, f"v[{st}] = 3")
                self.emit(3, f"out.append(({k}, tuple(v)))")
                k += 1
        self.emit(2, "return out")


def _blocked(s: tuple[int, ...]) -> None:
    return None


def rcu_objects(model: ir.Model) -> list[tuple[str, int]]:
    """The (pool, index) behind each RCU callback step number."""
    return [(p.name, i) for p in model.pools if p.rcu for i in range(p.size)]


def format_slot(model: ir.Model, slot: int, value: int) -> str:
    """A slot's value as the user would write it."""
    s = model.slots[slot]
    if s.kind == "lock":
        if value == 0:
            return "unlocked"
        owner, sub = (value & ir.OWNER_MASK) - 1, value >> ir.OWNER_BITS
        name = model.threads[owner].name if 0 <= owner < len(model.threads) else str(value)
        return f"held by {name}" + (f" (nested {sub})" if sub else "")
    if s.kind in ("lock_readers", "rcu_mask", "gp_wait"):
        names = [t.name for t in model.threads if (value >> t.index) & 1]
        return "{" + ", ".join(names) + "}"
    return T.format_value(s.ty, value)


class EvalFailure(Exception):
    """A check failed while interpreting IR with `strict=True`."""

    def __init__(self, error: int) -> None:
        super().__init__(error)
        self.error = error


def evaluate(e: ir.Expr, s: tuple[int, ...], strict: bool = False) -> int:
    """Interpret an IR expression on a state; with `strict`, a failing check raises EvalFailure."""
    if isinstance(e, ir.Const):
        return e.value
    if isinstance(e, ir.Load):
        return s[address(e.addr, s, strict)]
    if isinstance(e, ir.Guarded):
        if strict and not evaluate(e.cond, s, strict):
            raise EvalFailure(e.error)
        return evaluate(e.expr, s, strict)
    if isinstance(e, ir.Un):
        a = evaluate(e.a, s, strict)
        return int(not a) if e.op == "!" else -a
    if isinstance(e, ir.Bin):
        a, b = evaluate(e.a, s, strict), evaluate(e.b, s, strict)
        if e.op in ("/", "%") and b == 0 or e.op in ("<<", ">>") and not 0 <= b <= T.SHIFT_MAX:
            return 0  # reports only: the generated code checks division by zero and shift counts
        return T.BINARY_OPS[e.op](a, b)
    if isinstance(e, ir.Held):
        a = address(e.addr, s)
        return int(s[a] & ir.OWNER_MASK == e.thread + 1)
    return 0


def address(a: ir.Addr, s: tuple[int, ...], strict: bool = False) -> int:
    """The slot an address denotes in a state."""
    return a.base + sum(k * evaluate(e, s, strict) for k, e in a.terms)
