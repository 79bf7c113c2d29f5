"""Stage 3, lower: `semantics.CheckedSpec` -> `ir.Model`.

Flattens every variable, struct, array and pool object into slots; inlines procs
at their call sites; and turns each thread into a control-flow graph whose
shared nodes are the atomic steps. A statement with one shared access is one
step; a statement with several has its shared reads hoisted into temporaries,
one step each, in evaluation order. Purely local work joins the step before it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field

from . import ir
from . import semantics as T
from .check import LOCK_OPS, PURE_BUILTINS, VALUE_BUILTINS, _int_default
from .check import slot_count as _size
from .diagnostics import Span, error

ALWAYS_ON = ("null_deref", "bounds", "overflow")


def lower(spec: T.CheckedSpec) -> ir.Model:
    """Build the transition system of a checked spec."""
    return _Lowerer(spec).run()


# ---------------------------------------------------------------- values and locations

Val = ir.Expr | tuple["Val", ...]


@dataclass(frozen=True)
class Loc:
    """A location: an address, its type, the struct fields that enclose it (outermost
    first, for contracts) and its lock class (`struct.field`, or the variable's name)."""

    addr: ir.Addr
    ty: T.Type
    fields: tuple[tuple[ir.Addr, T.StructT, str], ...] = ()
    cls: str = ""


def _shift(a: ir.Addr, k: int) -> ir.Addr:
    return ir.Addr(a.base + k, a.terms)


def _field_offset(st: T.StructT, name: str) -> int:
    off = 0
    for f in st.fields:
        if f.name == name:
            return off
        off += _size(f.type)
    raise KeyError(name)


def _scalars(ty: T.Type, name: str) -> Iterator[tuple[str, T.Type]]:
    """Names and types of the slots a value of `ty` occupies, in layout order."""
    if isinstance(ty, T.StructT):
        for f in ty.fields:
            yield from _scalars(f.type, f"{name}.{f.name}")
    elif isinstance(ty, T.ArrayT):
        for i in range(ty.size):
            yield from _scalars(ty.elem, f"{name}[{i}]")
    elif isinstance(ty, T.LockT) and ty.kind == "rwsem":
        yield name, ty
        yield name + ".readers", T.IntT(0, None)
    else:
        yield name, ty


def _flatten_const(e: T.TExpr) -> list[int]:
    if isinstance(e, T.TConst):
        return [e.value]
    if isinstance(e, T.TPoolElem) and isinstance(e.index, T.TConst):  # objs[0] inside a struct value
        return [e.index.value + 1]
    if isinstance(e, T.TStruct):
        out: list[int] = []
        for f in e.fields:
            out.extend(_flatten_const(f))
        return out
    raise AssertionError(f"not a constant: {e!r}")


def _default_values(ty: T.Type) -> list[int]:
    if isinstance(ty, T.StructT):
        out: list[int] = []
        for f in ty.fields:
            out.extend(_flatten_const(f.default) if f.default is not None else _default_values(f.type))
        return out
    if isinstance(ty, T.ArrayT):
        return _default_values(ty.elem) * ty.size
    if isinstance(ty, T.IntT):
        return [_int_default(ty)]
    return [0] * _size(ty)


def _flat(v: Val) -> list[ir.Expr]:
    if isinstance(v, tuple):
        out: list[ir.Expr] = []
        for x in v:
            out.extend(_flat(x))
        return out
    return [v]


def _and(a: ir.Expr, b: ir.Expr) -> ir.Expr:
    if isinstance(a, ir.Const):
        return b if a.value else a
    if isinstance(b, ir.Const) and b.value:
        return a
    return ir.Bin("&&", a, b)


def _eq(a: Val, b: Val) -> ir.Expr:
    fa, fb = _flat(a), _flat(b)
    acc: ir.Expr = ir.Const(1)
    for x, y in zip(fa, fb, strict=True):
        acc = _and(acc, ir.Bin("==", x, y))
    return acc


# ---------------------------------------------------------------- environments


@dataclass
class _Env:
    """Variable bindings for one thread instance or one inlined proc call."""

    thread: int
    instance: int
    slots: dict[T.VarSym, int] = field(default_factory=dict)
    aliases: dict[T.VarSym, tuple[T.TExpr, _Env]] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    parent: _Env | None = None
    ret_slot: int = -1
    ret_ty: T.Type | None = None
    exit: int = -1
    proc: str = ""

    def slot(self, sym: T.VarSym) -> int:
        """The slot of a variable that is stored (not a lock alias)."""
        found, _ = self.lookup(sym)
        assert isinstance(found, int)
        return found

    def lookup(self, sym: T.VarSym) -> tuple[int, None] | tuple[T.TExpr, _Env]:
        env: _Env | None = self
        while env is not None:
            if sym in env.slots:
                return env.slots[sym], None
            if sym in env.aliases:
                return env.aliases[sym]
            env = env.parent
        raise KeyError(sym)


# ---------------------------------------------------------------- access counting


def _loc_info(e: T.TExpr) -> tuple[bool, int]:
    """(is the location shared, shared accesses needed to compute its address)."""
    if isinstance(e, T.TVar):
        return e.var.kind == "shared", 0
    if isinstance(e, T.TThreadLocal):
        return False, 0
    if isinstance(e, T.TField):
        if _is_ghost_field(e):
            if isinstance(e.base.ty, T.RefT):
                return False, _acc(e.base)
            if isinstance(e.base, T.TSelfObj):
                return False, 0
            return False, _loc_info(e.base)[1]
        if isinstance(e.base.ty, T.RefT):
            return True, _acc(e.base)
        if isinstance(e.base, T.TSelfObj):
            return True, 0
        return _loc_info(e.base)
    if isinstance(e, T.TIndex):
        shared, dyn = _loc_info(e.base)
        return shared, dyn + _acc(e.index)
    raise AssertionError(f"not a location: {e!r}")


def _is_ghost_field(e: T.TField) -> bool:
    return e.ghost


def _acc(e: T.TExpr) -> int:
    """The number of shared accesses evaluating `e` makes (procs count as many)."""
    if isinstance(e, (T.TVar, T.TField, T.TIndex)) and not (isinstance(e, T.TVar) and e.var.kind == "bound"):
        shared, dyn = _loc_info(e)
        return dyn + (1 if shared else 0)
    if isinstance(e, (T.TConst, T.TSelf, T.TSelfObj, T.TThreadLocal, T.TVar)):
        return 0
    if isinstance(e, T.TPoolElem):
        return _acc(e.index)
    if isinstance(e, T.TStruct):
        return sum(_acc(f) for f in e.fields)
    if isinstance(e, T.TUnary):
        return _acc(e.operand)
    if isinstance(e, T.TBinary):
        return _acc(e.left) + _acc(e.right)
    if isinstance(e, T.TQuant):
        return 1 if _acc(e.body) else 0
    if isinstance(e, T.TProcCall):
        return 2
    if isinstance(e, T.TBuiltin):
        if e.name in PURE_BUILTINS:
            return 0
        if e.name == "READ_ONCE":
            return _acc(e.args[0])
        if e.name in LOCK_OPS or e.name in ("WRITE_ONCE", "cmpxchg", "xchg", "fetch_add", "fetch_sub"):
            _, dyn = _loc_info(e.args[0])
            return 1 + dyn + sum(_acc(a) for a in e.args[1:])
        if e.name in ("free", "free_rcu"):
            return 1 + _acc(e.args[0])
        return 1
    raise AssertionError(f"unhandled {e!r}")


# ---------------------------------------------------------------- the lowerer


class _Lowerer:
    def __init__(self, spec: T.CheckedSpec) -> None:
        self.spec = spec
        self.slots: list[ir.Slot] = []
        self.errors: list[ir.ErrorSite] = []
        self._error_ids: dict[tuple[str, str, str, Span], int] = {}
        self.global_slots: dict[T.VarSym, int] = {}
        self.pools: dict[str, ir.PoolLayout] = {}
        self.locks: list[ir.LockSlot] = []
        self.uses_rcu = _uses(spec, {"rcu_read_lock", "rcu_read_unlock", "synchronize_rcu", "free_rcu"})
        self.uses_sync = _uses(spec, {"synchronize_rcu"})
        self.threads: list[ir.ThreadIR] = []
        self.instance_envs: dict[tuple[str, int], _Env] = {}
        self.nthreads = sum(t.count or 1 for t in spec.threads)
        # per-thread lowering state
        self.nodes: list[ir.Node] = []
        self.env: _Env = _Env(0, 0)
        self.loops: list[tuple[int, int]] = []
        self.temps: list[int] = []
        self.cur: ir.Node | None = None
        self._atomic = False  # lowering the inside of an atomic { } block
        self._marked = False  # lowering the operand of READ_ONCE()

    # ------------------------------------------------------------ errors
    def error_id(self, kind: str, name: str, message: str, span: Span) -> int:
        key = (kind, name, message, span)
        if key not in self._error_ids:
            self._error_ids[key] = len(self.errors)
            self.errors.append(ir.ErrorSite(kind, name, message, span))
        return self._error_ids[key]

    # ------------------------------------------------------------ layout
    def unique(self, name: str) -> str:
        """`name`, or `name#2`, `name#3`, ... if a slot already has it (temps, procs called twice)."""
        taken = {s.name for s in self.slots}
        if name not in taken:
            return name
        k = 2
        while f"{name}#{k}" in taken:
            k += 1
        return f"{name}#{k}"

    def add_slots(self, ty: T.Type, name: str, kind: str, inits: list[int], thread: int = -1, proc: str = "") -> int:
        name = self.unique(name)
        base = len(self.slots)
        for (sname, sty), init in zip(_scalars(ty, name), inits, strict=True):
            skind = kind
            if isinstance(sty, T.LockT):
                skind = "lock"
            elif sname.endswith(".readers") and isinstance(sty, T.IntT) and sty.hi is None:
                skind = "lock_readers"
            self.slots.append(ir.Slot(sname, skind, sty, init, thread, proc))
        self._register_locks(ty, name, base, name)
        return base

    def _register_locks(self, ty: T.Type, name: str, base: int, cls: str) -> None:
        """Record every lock in a value; its class is `struct.field`, or the variable's name."""
        if isinstance(ty, T.LockT):
            self.locks.append(ir.LockSlot(base, ty.kind, cls, name))
        elif isinstance(ty, T.StructT):
            off = 0
            for f in ty.fields:
                self._register_locks(f.type, f"{name}.{f.name}", base + off, f"{ty.name}.{f.name}")
                off += _size(f.type)
        elif isinstance(ty, T.ArrayT):
            step = _size(ty.elem)
            for i in range(ty.size):
                self._register_locks(ty.elem, f"{name}[{i}]", base + i * step, cls)

    def layout_globals(self) -> None:
        for g in self.spec.globals:
            inits = _flatten_const(g.init) if g.init is not None else _default_values(g.var.type)
            self.global_slots[g.var] = self.add_slots(g.var.type, g.var.name, g.var.kind, inits)
        rcu_pools = self.uses_rcu
        for p in self.spec.pools:
            base = len(self.slots)
            head = 2 if rcu_pools else 1
            stride = head + _size(p.struct)
            status_ty = T.EnumT("status", ("unallocated", "live", "rcu_pending", "freed"))
            for i in range(p.size):
                obj = f"{p.name}[{i}]"
                self.slots.append(ir.Slot(f"{obj}.<status>", "status", status_ty, 1 if i < p.allocated else 0))
                if rcu_pools:
                    self.slots.append(ir.Slot(f"{obj}.<rcu_wait>", "rcu_mask", T.IntT(0, None), 0))
                self.add_slots(p.struct, obj, "shared", _default_values(p.struct))
            self.pools[p.name] = ir.PoolLayout(
                p.name,
                base,
                stride,
                p.size,
                p.allocated,
                p.struct,
                rcu_pools,
                tuple(_default_values(p.struct)),
            )

    # ------------------------------------------------------------ driver
    def run(self) -> ir.Model:
        self.layout_globals()
        self.run_init()
        index = 0
        for t in self.spec.threads:
            for inst in range(t.count or 1):
                name = t.name if t.count is None else f"{t.name}[{inst}]"
                self.threads.append(self.lower_thread(t, inst, index, name))
                index += 1
        invariants = []
        for inv in self.spec.invariants:
            self.env = _Env(-1, 0)
            err = self.error_id("invariant", inv.name, f"invariant {inv.name} is violated", inv.span)
            val = self.rvalue(inv.expr, direct=True)
            assert not isinstance(val, tuple)
            invariants.append(ir.InvariantIR(inv.name, val, inv.span, err))
        lemmas = []
        for lemma in self.spec.lemmas:
            self.env = _Env(-1, 0)
            base = len(self.slots)
            for k, sym in enumerate(lemma.params):
                self.env.slots[sym] = base + k
            err = self.error_id("lemma", lemma.name, f"lemma {lemma.name} is refuted", lemma.span)
            val = self.rvalue(lemma.expr, direct=True)
            assert not isinstance(val, tuple)
            params = tuple((p.name, p.type) for p in lemma.params)
            lemmas.append(ir.LemmaIR(lemma.name, params, base, val, lemma.span, err))
        props: set[tuple[str, str]] = {(e.kind, e.name) for e in self.errors}
        props |= {("deadlock", "deadlock"), ("lock_misuse", "lock_misuse"), ("lock_order", "lock_order")}
        model = ir.Model(
            file=self.spec.file,
            source=self.spec.source,
            params=tuple((n, T.format_value(ty, v)) for n, ty, v in self.spec.params),
            slots=self.slots,
            pools=list(self.pools.values()),
            locks=self.locks,
            threads=self.threads,
            invariants=invariants,
            errors=self.errors,
            uses_rcu=self.uses_rcu,
            expects=self.spec.expects,
            properties=tuple(sorted(props)),
            lemmas=lemmas,
        )
        from .por import dead_local_resets

        for thread, resets in zip(self.threads, dead_local_resets(model), strict=True):
            thread.resets = resets
        return model

    def run_init(self) -> None:
        """Execute `init { }` once, on the default values, to get the initial slot values."""
        if not self.spec.init:
            return
        from .codegen import EvalFailure, address, evaluate

        self.env = _Env(-1, 0)
        self.thread_index, self.thread_name, self.self_value = -1, "init", 0
        self.nodes = []
        entry = self.new_node(self.spec.init[0].span, "init")
        self.cur = entry
        self._atomic = True
        try:
            self.block(self.spec.init)
        finally:
            self._atomic = False
        values = [s.init for s in self.slots]
        node: ir.Node | None = entry
        try:
            while node is not None:
                for op in node.ops:
                    state = tuple(values)
                    if isinstance(op, ir.Set):
                        values[address(op.addr, state, strict=True)] = evaluate(op.value, state, strict=True)
                    elif isinstance(op, ir.Check) and not evaluate(op.cond, state, strict=True):
                        raise EvalFailure(op.error)
                if node.cond is not None:
                    nxt = node.then if evaluate(node.cond, tuple(values), strict=True) else node.orelse
                    for op in node.post:
                        values[op.addr.base] = 0
                else:
                    nxt = node.next
                node = self.nodes[nxt] if nxt is not None else None
        except EvalFailure as exc:
            site = self.errors[exc.error]
            raise error(site.span, "init", f"init {{ }} fails: {site.message}") from None
        self.slots = [dataclasses.replace(s, init=v) for s, v in zip(self.slots, values, strict=True)]

    # ------------------------------------------------------------ threads and the CFG
    def new_node(self, span: Span, text: str, shared: bool = False) -> ir.Node:
        node = ir.Node(len(self.nodes), [], span, text, shared=shared, proc=self.env.proc)
        self.nodes.append(node)
        return node

    def link(self, target: int) -> None:
        """Make the current open node fall through to `target`."""
        if self.cur is not None:
            self.cur.next = target
        self.cur = None

    def open(self, span: Span, text: str, shared: bool = False) -> ir.Node:
        node = self.new_node(span, text, shared)
        self.link(node.id)
        self.cur = node
        return node

    def lower_thread(self, t: T.Thread, inst: int, index: int, name: str) -> ir.ThreadIR:
        self.nodes = []
        self.loops = []
        env = _Env(index, inst)
        self.env = env
        pc_slot = len(self.slots)
        self.slots.append(ir.Slot(f"{name}.pc", "pc", T.INT, 0, index))
        rcu_slot = gp_slot = -1
        if self.uses_rcu:
            rcu_slot = len(self.slots)
            self.slots.append(ir.Slot(f"{name}.<rcu_depth>", "rcu_depth", T.IntT(0, None), 0, index))
        if self.uses_sync:
            gp_slot = len(self.slots)
            self.slots.append(ir.Slot(f"{name}.<gp_wait>", "gp_wait", T.IntT(0, None), 0, index))
        self.self_value = inst
        self.rcu_slot, self.gp_slot, self.thread_index, self.thread_name = rcu_slot, gp_slot, index, name
        for sym in t.locals:
            env.slots[sym] = self.add_slots(sym.type, f"{name}.{sym.name}", "local", _default_values(sym.type), index)
        self.instance_envs[(t.name, inst)] = env
        entry = self.new_node(t.span, f"thread {name} starts")
        self.cur = entry
        self.declare_labels(t.body, env)
        self.block(t.body)
        end = self.new_node(t.span, f"thread {name} ends")
        end.end = True
        self.link(end.id)
        start = entry
        while not start.ops and start.cond is None and not start.choices and not start.end and start.next is not None:
            start = self.nodes[start.next]
        yields = self.yield_points(start.id)
        end_errors = [
            (lk.addr, self.error_id("lock_misuse", "lock_misuse", f"{name} ends holding {lk.name}", t.span))
            for lk in self.locks
        ]
        if rcu_slot >= 0:
            end_errors.append(
                (-1, self.error_id("lock_misuse", "lock_misuse", f"{name} ends inside an RCU read section", t.span))
            )
        thread = ir.ThreadIR(
            name, index, t.name, pc_slot, rcu_slot, gp_slot, self.nodes, start.id, yields, t.span, tuple(end_errors)
        )
        if start.id not in yields and not self.prerun_entry(thread):
            thread.yields.insert(0, start.id)
        return thread

    def prerun_entry(self, t: ir.ThreadIR) -> bool:
        """Run a thread's leading local code into the initial state, so it costs no step.

        Only local code that cannot fail qualifies; the thread then starts at the first
        step it reaches (its pc slot starts there). False when the code does not qualify.
        """
        from .codegen import address, evaluate

        values = [s.init for s in self.slots]
        node = self.nodes[t.entry]
        seen = set()
        while not node.end and node.id not in t.yields:
            if node.id in seen or not all(self.prerunnable(op, t.index) for op in node.ops):
                return False
            seen.add(node.id)
            for op in node.ops:
                assert isinstance(op, ir.Set)
                state = tuple(values)
                values[address(op.addr, state)] = evaluate(op.value, state)
            if node.cond is not None:
                if not self.local_only(node.cond, t.index):
                    return False
                nxt = node.then if evaluate(node.cond, tuple(values)) else node.orelse
                for op in node.post:
                    values[op.addr.base] = 0
            else:
                nxt = node.next
            if nxt is None:
                return False
            node = self.nodes[nxt]
        values[t.pc_slot] = t.yields.index(node.id) if not node.end else len(t.yields)
        self.slots = [dataclasses.replace(s, init=v) for s, v in zip(self.slots, values, strict=True)]
        t.prerun = tuple(sorted(seen))
        return True

    def prerunnable(self, op: ir.Op, thread: int) -> bool:
        """An op the initial state may absorb: a store to a fixed local of `thread` from its locals."""
        if not isinstance(op, ir.Set) or op.addr.terms:
            return False
        return self.slots[op.addr.base].thread == thread and self.local_only(op.value, thread)

    def local_only(self, e: ir.Expr, thread: int) -> bool:
        """True when `e` cannot fail and reads only fixed slots that `thread` owns."""
        if isinstance(e, ir.Const):
            return True
        if isinstance(e, ir.Load):
            return not e.addr.terms and self.slots[e.addr.base].thread == thread
        if isinstance(e, ir.Un):
            return self.local_only(e.a, thread)
        if isinstance(e, ir.Bin):
            return self.local_only(e.a, thread) and self.local_only(e.b, thread)
        return False

    def declare_labels(self, body: tuple[T.TStmt, ...], env: _Env) -> None:
        for st in _walk(body):
            if isinstance(st, T.TLabel):
                env.labels[st.name] = self.new_node(st.span, f"{st.name}:").id

    def yield_points(self, entry: int) -> list[int]:
        """The nodes that start a step: shared and choosing nodes, plus one node on every
        purely local cycle (so a step always ends). The thread's entry is not one unless
        it is shared; `lower_thread` decides whether it must become one."""
        nodes = self.nodes
        ys = {n.id for n in nodes if n.shared or n.choices}

        def succ(n: ir.Node) -> list[int]:
            return [x for x in (n.next, n.then, n.orelse, *n.choices) if x is not None]

        # Depth-first over local edges from every root; the target of a back edge yields.
        state: dict[int, int] = {}
        for root in sorted(ys | {entry}):
            if state.get(root) == 2:
                continue
            state[root] = 1
            stack: list[tuple[int, Iterator[int]]] = [(root, iter(succ(nodes[root])))]
            while stack:
                n, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    state[n] = 2
                    stack.pop()
                elif nxt in ys and nxt != root:
                    continue
                elif state.get(nxt) == 1:
                    ys.add(nxt)
                elif nxt not in state:
                    state[nxt] = 1
                    stack.append((nxt, iter(succ(nodes[nxt]))))
        reach: set[int] = set()
        todo = [entry]
        while todo:
            n = todo.pop()
            if n not in reach:
                reach.add(n)
                todo.extend(succ(nodes[n]))
                todo.extend(nodes[n].choices)
        return sorted(y for y in ys if y in reach and not nodes[y].end)

    # ------------------------------------------------------------ statements
    def block(self, body: tuple[T.TStmt, ...]) -> None:
        for st in body:
            self.stmt(st)

    def ensure_open(self, span: Span, text: str) -> ir.Node:
        if self.cur is None:
            # unreachable code after goto/return: give it a node nobody jumps to
            self.cur = self.new_node(span, text)
        return self.cur

    def stmt(self, st: T.TStmt) -> None:
        if isinstance(st, T.TLabel):
            target = self.env.labels[st.name]
            self.link(target)
            self.cur = self.nodes[target]
            return
        if isinstance(st, T.TGoto):
            self.ensure_open(st.span, f"goto {st.label}")
            self.link(self.env.labels[st.label])
            return
        if isinstance(st, T.TAssign):
            self.assign(st)
            return
        if isinstance(st, T.TEval):
            self.eval_stmt(st)
            return
        if isinstance(st, T.TIf):
            self.if_stmt(st.cond, st.then, st.orelse, st.span, st.text)
            return
        if isinstance(st, T.TWhile):
            head = self.new_node(st.span, st.text)
            self.link(head.id)
            self.cur = head
            exit_node = self.new_node(st.span, st.text)
            self.loops.append((head.id, exit_node.id))
            body_node = self.new_node(st.span, st.text)
            self.branch(st.cond, body_node.id, exit_node.id, st.span, st.text)
            self.cur = body_node
            self.block(st.body)
            self.link(head.id)
            self.loops.pop()
            self.cur = exit_node
            return
        if isinstance(st, T.TBreak):
            self.ensure_open(st.span, "break")
            self.link(self.loops[-1][1])
            return
        if isinstance(st, T.TContinue):
            self.ensure_open(st.span, "continue")
            self.link(self.loops[-1][0])
            return
        if isinstance(st, T.TReturn):
            self.ensure_open(st.span, st.text)
            if st.value is not None:
                ret = Loc(ir.Addr(self.env.ret_slot), st.value.ty if self.env.ret_ty is None else self.env.ret_ty)
                self.assign_value(st.span, st.text, ret, st.value)
            if self.env.exit >= 0:
                self.link(self.env.exit)
            else:
                end = self.new_node(st.span, st.text)
                end.end = True
                self.link(end.id)
            return
        if isinstance(st, T.TAtomic):
            self.atomic(st)
            return
        if isinstance(st, T.TChoose):
            node = self.open(st.span, "choose", shared=True)
            join = self.new_node(st.span, "choose")
            starts = []
            for branch in st.branches:
                start = self.new_node(st.span, "choose")
                starts.append(start.id)
                self.cur = start
                self.block(branch)
                self.link(join.id)
            node.choices = tuple(starts)
            self.cur = join
            return
        if isinstance(st, T.TAwait):
            node = self.start_access(st.span, st.text, shared=True)
            cond = self.rvalue(st.cond, direct=True)
            assert not isinstance(cond, tuple)
            node = self.evaluated(node)
            node.ops.append(ir.Await(cond))
            self.cur = node
            return
        if isinstance(st, T.TAssert) and st.kernel and not self._atomic:
            # BUG_ON(c): `if (c) BUG();` with the usual one-access-per-step reads
            err = self.error_id("assert", st.name, f"assertion {st.text} failed", st.span)
            ok = self.new_node(st.span, st.text)
            bug = self.new_node(st.span, st.text)
            self.ensure_open(st.span, st.text)
            self.branch(st.cond, ok.id, bug.id, st.span, st.text)
            bug.ops.append(ir.Check(ir.Const(0), err))
            bug.next = ok.id
            self.cur = ok
            return
        if isinstance(st, T.TAssert):
            node = self.start_access(st.span, st.text, shared=_acc(st.cond) > 0)
            # the condition is one step, a proc called in it included (like atomic { })
            saved, self._atomic = self._atomic, True
            try:
                cond = self.rvalue(st.cond, direct=True)
            finally:
                self._atomic = saved
            assert not isinstance(cond, tuple)
            err = self.error_id("assert", st.name, f"assertion {st.text} failed", st.span)
            node = self.evaluated(node)
            node.ops.append(ir.Check(cond, err))
            self.cur = node
            return
        raise AssertionError(f"unhandled statement {st!r}")  # pragma: no cover

    def atomic(self, st: T.TAtomic) -> None:
        """One step: every statement of the block joins the node opened here."""
        self.open(st.span, "atomic", shared=True)
        saved = self._atomic
        self._atomic = True
        try:
            self.block(st.body)
        finally:
            self._atomic = saved

    def evaluated(self, node: ir.Node) -> ir.Node:
        """The node where evaluation ended after starting in `node`: a proc inlined into the
        expression (inside `atomic { }`) moves on to the call's exit node, and what uses the
        value must come after the call."""
        return self.cur if self.cur is not None else node

    def start_access(self, span: Span, text: str, shared: bool) -> ir.Node:
        """The node a statement's (last) access goes into."""
        if self._atomic:
            return self.ensure_open(span, text)
        if shared:
            return self.open(span, text, shared=True)
        return self.ensure_open(span, text)

    def assign(self, st: T.TAssign) -> None:
        shared, dyn = _loc_info(st.target)
        count = dyn + (1 if shared else 0) + _acc(st.value)
        direct = count <= 1 or self._atomic
        self.ensure_open(st.span, st.text)
        mark = len(self.temps)
        if direct:
            node = self.start_access(st.span, st.text, count == 1)
            value = self.rvalue(st.value, direct=True)
            loc = self.location(st.target, direct=True)
            node = self.evaluated(node)
            self.store(node, loc, value, st.span)
            self.release_temps(node, mark)
            self.cur = node
            return
        value = self.rvalue(st.value, direct=False, text=st.text)
        loc = self.location(st.target, direct=False, text=st.text)
        node = self.start_access(st.span, st.text, shared)
        self.store(node, loc, value, st.span)
        self.release_temps(node, mark)
        self.cur = node

    def assign_value(self, span: Span, text: str, loc: Loc, value_e: T.TExpr) -> None:
        mark = len(self.temps)
        count = _acc(value_e)
        direct = count <= 1 or self._atomic
        if direct:
            node = self.start_access(span, text, count == 1)
            value = self.rvalue(value_e, direct=True)
            node = self.evaluated(node)
        else:
            value = self.rvalue(value_e, direct=False, text=text)
            node = self.ensure_open(span, text)
        self.store(node, loc, value, span)
        self.release_temps(node, mark)
        self.cur = node

    def store(self, node: ir.Node, loc: Loc, value: Val, span: Span) -> None:
        self.contract_checks(node, loc, span, write=True)
        flat = _flat(value)
        scalars = list(_scalars(loc.ty, ""))
        for i, (v, (_, sty)) in enumerate(zip(flat, scalars, strict=True)):
            if isinstance(sty, T.IntT) and sty.lo is not None and sty.hi is not None and not self.within(v, sty):
                err = self.error_id("overflow", "overflow", f"value out of range {sty}", span)
                v = ir.Guarded(_and(ir.Bin(">=", v, ir.Const(sty.lo)), ir.Bin("<=", v, ir.Const(sty.hi))), err, v)
            node.ops.append(ir.Set(_shift(loc.addr, i), v))

    def within(self, v: ir.Expr, ty: T.IntT) -> bool:
        """True when `v` is statically known to lie in the range of `ty`."""
        assert ty.lo is not None and ty.hi is not None
        if isinstance(v, ir.Const):
            return ty.lo <= v.value <= ty.hi
        if isinstance(v, ir.Load) and not v.addr.terms:
            src = self.slots[v.addr.base].ty
            return (
                isinstance(src, T.IntT)
                and src.lo is not None
                and src.hi is not None
                and ty.lo <= src.lo
                and src.hi <= ty.hi
            )
        return False

    def contract_checks(self, node: ir.Node, loc: Loc, span: Span, write: bool) -> None:
        if self.env.thread < 0 or self.thread_index < 0:  # properties and init { } are not kernel code
            return
        for obj, st, fname in (*loc.fields, *_inner_fields(loc.addr, loc.ty)):
            info = st.field(fname)
            if info is None:
                continue
            prop = f"{st.name}.{fname}"
            if info.guarded_by is not None and (write or not self._marked):
                lock = self.location(info.guarded_by, direct=True, self_obj=obj)
                assert isinstance(lock.ty, T.LockT)
                err = self.error_id(
                    "guarded_by",
                    prop + ".guarded_by",
                    f"{'write to' if write else 'read of'} {prop} without holding its lock",
                    span,
                )
                node.ops.append(ir.Check(ir.Held(lock.addr, lock.ty.kind, self.thread_index, write), err))
            if write and info.requires is not None:
                cond = self.rvalue(info.requires, direct=True, self_obj=obj)
                assert not isinstance(cond, tuple)
                err = self.error_id("requires", prop + ".requires", f"write to {prop} breaks its requires", span)
                node.ops.append(ir.Check(cond, err))

    def release_temps(self, node: ir.Node, mark: int = 0) -> None:
        """Reset the temps made since `mark`: dead values must not split states."""
        for slot in self.temps[mark:]:
            node.ops.append(ir.Set(ir.Addr(slot), ir.Const(0)))
        del self.temps[mark:]

    def eval_stmt(self, st: T.TEval) -> None:
        e = st.expr
        if isinstance(e, T.TProcCall):
            self.call_proc(e, None, st.span, st.text)
            return
        assert isinstance(e, T.TBuiltin)
        self.ensure_open(st.span, st.text)
        mark = len(self.temps)
        count = _acc(e)
        direct = count <= 1 or self._atomic
        if not direct:
            args = [self.hoist_arg(a, st.text) for a in e.args]
            e = T.TBuiltin(e.span, e.ty, e.name, tuple(args))
        node = self.start_access(st.span, st.text, True)
        result = None
        if e.name in VALUE_BUILTINS:  # fetch_add(x, 1) as a statement: the old value is dropped
            result = Loc(ir.Addr(self.env.slot(self.new_temp(e.ty, e.span))), e.ty)
        self.builtin_effect(node, e, result, st.span, st.text)
        self.release_temps(self.cur or node, mark)
        if self.cur is None:
            self.cur = node

    def hoist_arg(self, a: T.TExpr, text: str) -> T.TExpr:
        """Hoist the shared reads inside a location's address (or a value) into temps."""
        if isinstance(a, T.TField) and isinstance(a.base.ty, T.RefT):
            if _acc(a.base):
                tmp = self.temp_of(a.base, text)
                return T.TField(a.span, a.ty, tmp, a.name, a.ghost)
            return a
        if isinstance(a, T.TField):
            return T.TField(a.span, a.ty, self.hoist_arg(a.base, text), a.name, a.ghost)
        if isinstance(a, T.TIndex):
            idx = self.temp_of(a.index, text) if _acc(a.index) else a.index
            return T.TIndex(a.span, a.ty, self.hoist_arg(a.base, text), idx)
        if isinstance(a, T.TVar):
            return a
        if _acc(a):
            return self.temp_of(a, text)
        return a

    def temp_of(self, e: T.TExpr, text: str) -> T.TExpr:
        val = self.rvalue(e, direct=False, text=text)
        if not isinstance(val, tuple) and isinstance(val, ir.Load) and not val.addr.terms:
            slot = val.addr.base
            if self.slots[slot].kind == "local":
                return T.TVar(e.span, e.ty, self._slot_sym(slot, e.ty))
        sym = self.new_temp(e.ty, e.span)
        node = self.ensure_open(e.span, text)
        self.store(node, Loc(ir.Addr(self.env.lookup(sym)[0]), e.ty), val, e.span)  # type: ignore[arg-type]
        return T.TVar(e.span, e.ty, sym)

    def _slot_sym(self, slot: int, ty: T.Type) -> T.VarSym:
        sym = T.VarSym(f"<slot{slot}>", "local", ty, Span("", 0, 0, 0, 0))
        self.env.slots[sym] = slot
        return sym

    def new_temp(self, ty: T.Type, span: Span) -> T.VarSym:
        sym = T.VarSym(f"<tmp{len(self.slots)}>", "local", ty, span, self.thread_name)
        base = self.add_slots(ty, f"{self.thread_name}.<tmp>", "local", _default_values(ty), self.thread_index)
        self.env.slots[sym] = base
        for k in range(_size(ty)):
            self.temps.append(base + k)
        return sym

    def if_stmt(
        self, cond: T.TExpr, then: tuple[T.TStmt, ...], orelse: tuple[T.TStmt, ...], span: Span, text: str
    ) -> None:
        if isinstance(cond, T.TConst):  # decided by params: only the taken branch exists
            self.block(then if cond.value else orelse)
            return
        then_node = self.new_node(span, text)
        else_node = self.new_node(span, text)
        join = self.new_node(span, text)
        self.ensure_open(span, text)
        self.branch(cond, then_node.id, else_node.id, span, text)
        self.cur = then_node
        self.block(then)
        self.link(join.id)
        self.cur = else_node
        self.block(orelse)
        self.link(join.id)
        self.cur = join

    def branch(self, cond: T.TExpr, t: int, f: int, span: Span, text: str) -> None:
        """Jump to t or f; && || ! become jumps so shared reads stay short-circuit."""
        if isinstance(cond, T.TBinary) and cond.op in ("&&", "||", "==>") and _acc(cond) > 1 and not self._atomic:
            mid = self.new_node(span, text)
            if cond.op == "&&":
                self.branch(cond.left, mid.id, f, span, text)
            elif cond.op == "||":
                self.branch(cond.left, t, mid.id, span, text)
            else:
                self.branch(cond.left, mid.id, t, span, text)
            self.cur = mid
            self.branch(cond.right, t, f, span, text)
            return
        if isinstance(cond, T.TUnary) and cond.op == "!" and _acc(cond) > 1:
            self.branch(cond.operand, f, t, span, text)
            return
        count = _acc(cond)
        self.ensure_open(span, text)
        mark = len(self.temps)
        if count <= 1 or self._atomic:
            node = self.start_access(span, text, count == 1)
            value = self.rvalue(cond, direct=True)
            node = self.evaluated(node)
        else:
            value = self.rvalue(cond, direct=False, text=text)
            node = self.ensure_open(span, text)
        assert not isinstance(value, tuple)
        if self.temps[mark:]:
            node.post = [ir.Set(ir.Addr(slot), ir.Const(0)) for slot in self.temps[mark:]]
            del self.temps[mark:]
        node.cond = value
        node.then, node.orelse = t, f
        self.cur = None

    # ------------------------------------------------------------ procs
    def call_proc(self, call: T.TProcCall, result: Loc | None, span: Span, text: str) -> None:
        proc = next(p for p in self.spec.procs if p.name == call.proc)
        caller = self.env
        callee = _Env(caller.thread, caller.instance, parent=caller, proc=proc.name)
        prefix = f"{self.thread_name}.{proc.name}"
        for sym in proc.locals:
            callee.slots[sym] = self.add_slots(
                sym.type, f"{prefix}.{sym.name}", "local", _default_values(sym.type), self.thread_index, proc.name
            )
        # arguments are evaluated in the caller's environment
        for psym, arg in zip(proc.params, call.args, strict=True):
            if isinstance(psym.type, T.LockT) or _has_lock(psym.type):
                callee.aliases[psym] = (arg, caller)
                continue
            slot = self.add_slots(
                psym.type, f"{prefix}.{psym.name}", "local", _default_values(psym.type), self.thread_index, proc.name
            )
            callee.slots[psym] = slot
            self.ensure_open(span, text)
            self.assign_value(span, text, Loc(ir.Addr(slot), psym.type), arg)
        if not isinstance(proc.ret, T.VoidT):
            callee.ret_ty = proc.ret
            callee.ret_slot = self.add_slots(
                proc.ret, f"{prefix}.<ret>", "local", _default_values(proc.ret), self.thread_index, proc.name
            )
        exit_node = self.new_node(span, text)
        callee.exit = exit_node.id
        self.ensure_open(span, text)
        self.env = callee
        saved_loops = self.loops
        self.loops = []
        try:
            self.declare_labels(proc.body, callee)
            self.block(proc.body)
            self.link(exit_node.id)
        finally:
            self.env = caller
            self.loops = saved_loops
        self.cur = exit_node
        if result is not None:
            self.store(exit_node, result, self.load_loc(Loc(ir.Addr(callee.ret_slot), proc.ret)), span)
        # the callee's locals are dead after the call: reset them so they do not split states
        for sym, base in sorted(callee.slots.items(), key=lambda kv: kv[1]):
            for k in range(_size(sym.type)):
                exit_node.ops.append(ir.Set(ir.Addr(base + k), ir.Const(self.slots[base + k].init), reset=True))

    # ------------------------------------------------------------ expressions
    def rvalue(self, e: T.TExpr, direct: bool, text: str = "", self_obj: ir.Addr | None = None) -> Val:
        """Lower an expression to a pure value; in hoist mode shared reads go to temps first."""
        if isinstance(e, T.TConst):
            return ir.Const(e.value)
        if isinstance(e, T.TStruct):
            return tuple(self.rvalue(f, direct, text, self_obj) for f in e.fields)
        if isinstance(e, T.TSelf):
            return ir.Const(self.self_value)
        if isinstance(e, T.TThreadLocal):
            env = self.instance_envs[(e.thread, e.instance)]
            slot = env.slots[e.var]
            return self.load_loc(Loc(ir.Addr(slot), e.ty))
        if isinstance(e, T.TPoolElem):
            idx = self.rvalue(e.index, direct, text, self_obj)
            assert not isinstance(idx, tuple)
            pool = self.pools[e.pool]
            err = self.error_id("bounds", "bounds", f"index out of range for pool {e.pool}", e.span)
            checked = ir.Guarded(_and(ir.Bin(">=", idx, ir.Const(0)), ir.Bin("<", idx, ir.Const(pool.size))), err, idx)
            return ir.Bin("+", checked, ir.Const(1))
        if isinstance(e, (T.TVar, T.TField, T.TIndex)):
            shared, _ = _loc_info(e) if not isinstance(e, T.TVar) or e.var.kind != "bound" else (False, 0)
            if not direct and shared and _acc(e) >= 1:
                loc = self.location(e, direct=False, text=text, self_obj=self_obj)
                node = self.start_access(e.span, text, True)
                self.contract_checks(node, loc, e.span, write=False)
                value = self.load_loc(loc)
                sym = self.new_temp(e.ty, e.span)
                slot = self.env.slot(sym)
                self.store(node, Loc(ir.Addr(slot), e.ty), value, e.span)
                self.cur = node
                return self.load_loc(Loc(ir.Addr(slot), e.ty))
            loc = self.location(e, direct=direct, text=text, self_obj=self_obj)
            if self.cur is not None and self.env.thread >= 0:
                self.contract_checks(self.cur, loc, e.span, write=False)
            return self.load_loc(loc)
        if isinstance(e, T.TUnary):
            a = self.rvalue(e.operand, direct, text, self_obj)
            assert not isinstance(a, tuple)
            return ir.Un(e.op, a)
        if isinstance(e, T.TBinary):
            a = self.rvalue(e.left, direct, text, self_obj)
            b = self.rvalue(e.right, direct, text, self_obj)
            if e.op in ("==", "!="):
                eq = _eq(a, b)
                return eq if e.op == "==" else ir.Un("!", eq)
            assert not isinstance(a, tuple) and not isinstance(b, tuple)
            if e.op in ("/", "%"):
                err = self.error_id("overflow", "overflow", "division by zero", e.span)
                b = ir.Guarded(ir.Bin("!=", b, ir.Const(0)), err, b)
            if e.op in ("<<", ">>") and not (isinstance(b, ir.Const) and 0 <= b.value <= T.SHIFT_MAX):
                err = self.error_id("overflow", "overflow", f"shift count out of range 0..{T.SHIFT_MAX}", e.span)
                b = ir.Guarded(_and(ir.Bin(">=", b, ir.Const(0)), ir.Bin("<=", b, ir.Const(T.SHIFT_MAX))), err, b)
            return ir.Bin(e.op, a, b)
        if isinstance(e, T.TQuant) and not direct and _acc(e) > 0:
            # a quantifier reads all its objects in one atomic step, wherever it appears
            node = self.start_access(e.span, text, True)
            value = self.rvalue(e, direct=True, text=text, self_obj=self_obj)
            sym = self.new_temp(e.ty, e.span)
            self.store(node, Loc(ir.Addr(self.env.slot(sym)), e.ty), value, e.span)
            self.cur = node
            return ir.Load(ir.Addr(self.env.slot(sym)))
        if isinstance(e, T.TQuant):
            pool = self.pools[e.pool]
            parts: list[ir.Expr] = []
            sym = e.var
            for i in range(pool.size):
                body = self.rvalue(_subst_bound(e.body, sym, i + 1), direct, text, self_obj)
                assert not isinstance(body, tuple)
                parts.append(body)
            acc: ir.Expr = ir.Const(1 if e.kind == "forall" else 0)
            for p in parts:
                acc = _and(acc, p) if e.kind == "forall" else (p if isinstance(acc, ir.Const) else ir.Bin("||", acc, p))
            return acc
        if isinstance(e, T.TProcCall):  # inlined in place: inside atomic { } it joins the step
            sym = self.new_temp(e.ty, e.span)
            slot = self.env.slot(sym)
            self.call_proc(e, Loc(ir.Addr(slot), e.ty), e.span, text)
            return self.load_loc(Loc(ir.Addr(slot), e.ty))
        if isinstance(e, T.TBuiltin):
            return self.builtin_value(e, direct, text, self_obj)
        raise AssertionError(f"unhandled expression {e!r}")  # pragma: no cover

    def builtin_value(self, e: T.TBuiltin, direct: bool, text: str, self_obj: ir.Addr | None) -> Val:
        if e.name == "lockdep_is_held":
            loc = self.location(e.args[0], direct, text, self_obj)
            assert isinstance(loc.ty, T.LockT)
            return ir.Held(loc.addr, loc.ty.kind, self.env.thread if self.env.thread >= 0 else 0, False)
        if e.name in ("live", "freed"):
            ref = self.rvalue(e.args[0], direct, text, self_obj)
            assert not isinstance(ref, tuple) and isinstance(e.args[0].ty, T.RefT)
            pool = self.pools[e.args[0].ty.pool]
            err = self.error_id("null_deref", "null_deref", f"{e.name}() of null", e.span)
            status: ir.Expr = ir.Guarded(
                ir.Bin("!=", ref, ir.Const(0)), err, ir.Load(ir.Addr(pool.base - pool.stride, ((pool.stride, ref),)))
            )
            if e.name == "live":
                return ir.Bin("||", ir.Bin("==", status, ir.Const(1)), ir.Bin("==", status, ir.Const(2)))
            return ir.Bin("==", status, ir.Const(3))
        if e.name == "READ_ONCE":
            # a marked read: an intentional lockless read, so guarded_by does not apply (as KCSAN)
            saved, self._marked = self._marked, True
            try:
                return self.rvalue(e.args[0], direct, text, self_obj)
            finally:
                self._marked = saved
        # an effectful builtin used as a value: its own step, result in a temp
        if direct and self.cur is not None:
            node = self.cur
            sym = self.new_temp(e.ty, e.span)
            slot = self.env.slot(sym)
            self.builtin_effect(node, e, Loc(ir.Addr(slot), e.ty), e.span, text)
            return self.load_loc(Loc(ir.Addr(slot), e.ty))
        if not direct:
            args = [self.hoist_arg(a, text) for a in e.args]
            e = T.TBuiltin(e.span, e.ty, e.name, tuple(args))
        sym = self.new_temp(e.ty, e.span)
        slot = self.env.slot(sym)
        node = self.start_access(e.span, text, True)
        self.builtin_effect(node, e, Loc(ir.Addr(slot), e.ty), e.span, text)
        self.cur = node
        return self.load_loc(Loc(ir.Addr(slot), e.ty))

    def builtin_effect(self, node: ir.Node, e: T.TBuiltin, result: Loc | None, span: Span, text: str) -> None:
        """Emit the operations of an effectful builtin into `node`."""
        name = e.name
        if name in LOCK_OPS:
            kind, op = LOCK_OPS[name]
            loc = self.location(e.args[0], direct=True)
            node = self.evaluated(node)
            cls = self.lock_class(loc, e)
            mode = "r" if op.endswith("_read") else "w"
            if op.startswith("acquire"):
                held = self.error_id(
                    "lock_misuse", "lock_misuse", f"{name}() of a lock this thread already holds", span
                )
                sleep = self.error_id(
                    "lock_misuse",
                    "lock_misuse",
                    f"{name}() may sleep, but this thread holds a spinlock or is in an RCU read section",
                    span,
                )
                sub = e.args[1].value if e.name == "spin_lock_nested" and isinstance(e.args[1], T.TConst) else 0
                node.ops.append(ir.Acquire(loc.addr, kind, mode, cls, (held, sleep), sub))
            elif op.startswith("release"):
                err = self.error_id("lock_misuse", "lock_misuse", f"{name}() of a lock this thread does not hold", span)
                node.ops.append(ir.Release(loc.addr, kind, mode, err))
            else:
                assert result is not None
                node.ops.append(ir.TryAcquire(result.addr, loc.addr, kind, mode, cls))
            return
        if name == "rcu_read_lock":
            node.ops.append(ir.RcuLock())
            return
        if name == "rcu_read_unlock":
            err = self.error_id("lock_misuse", "lock_misuse", "rcu_read_unlock() outside an RCU read section", span)
            node.ops.append(ir.RcuUnlock(err))
            return
        if name == "synchronize_rcu":
            err = self.error_id(
                "lock_misuse",
                "lock_misuse",
                "synchronize_rcu() may sleep, but this thread holds a spinlock or is in an RCU read section",
                span,
            )
            node.ops.append(ir.SyncRcuStart(err))
            wait = self.new_node(span, text, shared=True)
            wait.ops.append(ir.SyncRcuWait())
            node.next = wait.id
            self.cur = wait
            return
        if name in ("free", "free_rcu"):
            ref = self.rvalue(e.args[0], direct=True)
            assert not isinstance(ref, tuple) and isinstance(e.args[0].ty, T.RefT)
            node = self.evaluated(node)
            nerr = self.error_id("null_deref", "null_deref", f"{name}() of null", span)
            err = self.error_id("use_after_free", "use_after_free", f"{name}() of an object that is not live", span)
            node.ops.append(
                ir.Free(
                    ir.Guarded(ir.Bin("!=", ref, ir.Const(0)), nerr, ref), e.args[0].ty.pool, name == "free_rcu", err
                )
            )
            return
        if name == "alloc":
            assert result is not None and isinstance(e.ty, T.RefT)
            node.ops.append(ir.Alloc(result.addr, e.ty.pool))
            return
        # the arguments first: a proc inlined into one (inside atomic { }) runs before the access
        args = [self.rvalue(a, direct=True) for a in e.args[1:]]
        loc = self.location(e.args[0], direct=True)
        node = self.evaluated(node)
        if name != "READ_ONCE":  # a marked read is exempt from guarded_by (as KCSAN)
            self.contract_checks(node, loc, span, write=False)
        old = self.load_loc(loc)
        if name == "READ_ONCE":  # a statement of its own: the value is read and dropped
            assert result is not None
            self.store(node, result, old, span)
            return
        if name == "WRITE_ONCE":
            self.store(node, loc, args[0], span)
            return
        assert result is not None
        # read the old value into the result first: the write below may overwrite it
        self.store(node, result, old, span)
        old_v = self.load_loc(result)
        if name == "xchg":
            self.store(node, loc, args[0], span)
        elif name in ("fetch_add", "fetch_sub"):
            assert not isinstance(old_v, tuple) and not isinstance(args[0], tuple)
            self.store(node, loc, ir.Bin("+" if name == "fetch_add" else "-", old_v, args[0]), span)
        elif name == "cmpxchg":
            same = _eq(old_v, args[0])
            flat_new, flat_old = _flat(args[1]), _flat(old_v)
            mixed = tuple(_ite(same, n, o) for n, o in zip(flat_new, flat_old, strict=True))
            self.store(node, loc, mixed if len(mixed) > 1 else mixed[0], span)
        else:  # pragma: no cover
            raise AssertionError(name)

    def lock_class(self, loc: Loc, e: T.TBuiltin) -> str:
        if e.name == "spin_lock_nested":
            sub = e.args[1]
            assert isinstance(sub, T.TConst)
            if sub.value:
                return f"{loc.cls}/{sub.value}"
        return loc.cls

    def load_loc(self, loc: Loc) -> Val:
        n = _size(loc.ty)
        if isinstance(loc.ty, (T.StructT, T.ArrayT)):
            return tuple(ir.Load(_shift(loc.addr, k)) for k in range(n))
        return ir.Load(loc.addr)

    def location(self, e: T.TExpr, direct: bool, text: str = "", self_obj: ir.Addr | None = None) -> Loc:
        """The address of an lvalue; null, freed-object and bounds checks are built in."""
        if isinstance(e, T.TVar):
            found, env = (
                self.env.lookup(e.var)
                if e.var.kind in ("local", "bound", "lemma")
                else (self.global_slots[e.var], None)
            )
            if env is not None:
                assert not isinstance(found, int)
                saved = self.env
                self.env = env
                try:
                    return self.location(found, direct, text, self_obj)
                finally:
                    self.env = saved
            assert isinstance(found, int)
            return Loc(ir.Addr(found), e.ty, (), e.var.name)
        if isinstance(e, T.TThreadLocal):
            env = self.instance_envs[(e.thread, e.instance)]
            return Loc(ir.Addr(env.slots[e.var]), e.ty, (), e.var.name)
        if isinstance(e, T.TSelfObj):
            assert self_obj is not None
            return Loc(self_obj, e.ty, (), e.ty.name)
        if isinstance(e, T.TField):
            if isinstance(e.base.ty, T.RefT):
                pool = self.pools[e.base.ty.pool]
                ref = self.rvalue(e.base, direct, text, self_obj)
                assert not isinstance(ref, tuple)
                nerr = self.error_id("null_deref", "null_deref", "dereference of null", e.span)
                uerr = self.error_id("use_after_free", "use_after_free", "access to a freed object", e.span)
                status = ir.Load(ir.Addr(pool.base - pool.stride, ((pool.stride, ref),)))
                ok = ir.Bin("||", ir.Bin("==", status, ir.Const(1)), ir.Bin("==", status, ir.Const(2)))
                inner = ref if self.env.thread < 0 else ir.Guarded(ok, uerr, ref)  # properties may look at freed memory
                checked = ir.Guarded(ir.Bin("!=", ref, ir.Const(0)), nerr, inner)
                head = 2 if pool.rcu else 1
                obj = ir.Addr(pool.base - pool.stride + head, ((pool.stride, checked),))
                off = _field_offset(pool.struct, e.name)
                return Loc(_shift(obj, off), e.ty, ((obj, pool.struct, e.name),), f"{pool.struct.name}.{e.name}")
            base = self.location(e.base, direct, text, self_obj)
            assert isinstance(base.ty, T.StructT)
            off = _field_offset(base.ty, e.name)
            chain = (*base.fields, (base.addr, base.ty, e.name))
            return Loc(_shift(base.addr, off), e.ty, chain, f"{base.ty.name}.{e.name}")
        if isinstance(e, T.TIndex):
            base = self.location(e.base, direct, text, self_obj)
            assert isinstance(base.ty, T.ArrayT)
            idx = self.rvalue(e.index, direct, text, self_obj)
            assert not isinstance(idx, tuple)
            if isinstance(idx, ir.Const):
                return Loc(_shift(base.addr, idx.value * _size(base.ty.elem)), e.ty, base.fields, base.cls)
            err = self.error_id("bounds", "bounds", f"index out of range for {base.ty}", e.span)
            checked = ir.Guarded(
                _and(ir.Bin(">=", idx, ir.Const(0)), ir.Bin("<", idx, ir.Const(base.ty.size))), err, idx
            )
            addr = ir.Addr(base.addr.base, (*base.addr.terms, (_size(base.ty.elem), checked)))
            return Loc(addr, e.ty, base.fields, base.cls)
        raise error(e.span, "type", "cannot take the address of this expression")


def _inner_fields(addr: ir.Addr, ty: T.Type) -> list[tuple[ir.Addr, T.StructT, str]]:
    """The struct fields inside a value of type `ty` at `addr` (a whole-struct access touches them)."""
    out: list[tuple[ir.Addr, T.StructT, str]] = []
    if isinstance(ty, T.StructT):
        off = 0
        for f in ty.fields:
            out.append((addr, ty, f.name))
            out.extend(_inner_fields(_shift(addr, off), f.type))
            off += _size(f.type)
    elif isinstance(ty, T.ArrayT):
        step = _size(ty.elem)
        for i in range(ty.size):
            out.extend(_inner_fields(_shift(addr, i * step), ty.elem))
    return out


def _ite(c: ir.Expr, a: ir.Expr, b: ir.Expr) -> ir.Expr:
    # (c && a) || (!c && b) over ints: c*a + (1-c)*b
    return ir.Bin("+", ir.Bin("*", c, a), ir.Bin("*", ir.Bin("-", ir.Const(1), c), b))


def _has_lock(ty: T.Type) -> bool:
    if isinstance(ty, T.LockT):
        return True
    if isinstance(ty, T.StructT):
        return any(_has_lock(f.type) for f in ty.fields)
    if isinstance(ty, T.ArrayT):
        return _has_lock(ty.elem)
    return False


def _subst_bound(e: T.TExpr, sym: T.VarSym, value: int) -> T.TExpr:
    """Replace a quantified variable by a constant ref."""
    if isinstance(e, T.TVar) and e.var is sym:
        return T.TConst(e.span, e.ty, value)
    if not hasattr(e, "__dataclass_fields__"):
        return e
    changes: dict[str, object] = {}
    for k in e.__dataclass_fields__:
        v = getattr(e, k)
        if isinstance(v, tuple) and v and hasattr(v[0], "span") and hasattr(v[0], "ty"):
            changes[k] = tuple(_subst_bound(x, sym, value) for x in v)
        elif k not in ("ty", "span") and hasattr(v, "span") and hasattr(v, "ty"):
            changes[k] = _subst_bound(v, sym, value)
    if not changes:
        return e
    import dataclasses

    return dataclasses.replace(e, **changes)  # type: ignore[arg-type]


def _walk(body: tuple[T.TStmt, ...]) -> Iterator[T.TStmt]:
    for st in body:
        yield st
        if isinstance(st, T.TIf):
            yield from _walk(st.then)
            yield from _walk(st.orelse)
        elif isinstance(st, (T.TWhile, T.TAtomic)):
            yield from _walk(st.body)
        elif isinstance(st, T.TChoose):
            for b in st.branches:
                yield from _walk(b)


def _uses(spec: T.CheckedSpec, names: set[str]) -> bool:
    def visit(x: object) -> bool:
        if isinstance(x, T.TBuiltin) and x.name in names:
            return True
        if isinstance(x, tuple):
            return any(visit(y) for y in x)
        if hasattr(x, "__dataclass_fields__") and not isinstance(x, (T.VarSym, T.StructT)):
            return any(visit(getattr(x, k)) for k in x.__dataclass_fields__ if k not in ("ty", "span"))
        return False

    return any(visit(t.body) for t in spec.threads) or any(visit(p.body) for p in spec.procs)
