"""Stage 5b, explore compiled: the IR as C, compiled once and cached, searched natively.

`explore` runs a search here whenever the model allows it and a C compiler is there. The
model's steps, invariant, RCU callbacks, state packing, partial-order reduction tables and
symmetry canonicalization are generated as C from the IR (`generate`), followed by the
engine common to every model (`search.c`: a breadth-first search over bit-packed states in
an exact open-addressing table, parents kept for traces, a level expanded by several
worker threads). The shared object is compiled with the system C compiler and cached
under a hash of its source (`cache_dir()`), so a repeat run, or `modelcheck test` trying a
spec's parameter settings, pays for no compiler. While the compiler runs, `explore` goes
on with the per-state Python search and hands over when the engine is ready; a small
spec is done before that.

The generated code follows `reference.py` operation by operation, in the order the
per-state search evaluates (a step's checks in program order, the expansion order of the
threads), so both find the same violations first. Values are int64: `supported` refuses a
model unless `ranges` bounds every slot and intermediate value within it (the RCU nesting
depth, which has no static bound, is packed in 8 bits and a deeper nesting ends the
native search: the per-state search goes on, exactly).
"""

from __future__ import annotations

import atexit
import ctypes
import dataclasses
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import ir
from .codegen import Compiled, enabled_checks
from .coverage import Coverage
from .explore import HOLDS, UNKNOWN, VIOLATED, Limits, Result, Stats, Violation, format_size, resident_bytes
from .por import Reduction
from .ranges import Ranges, model_exprs, subexprs, widest_in_model
from .symmetry import Symmetry, c_canon, symmetry_or_reason

INT64 = (-(1 << 63), (1 << 63) - 1)
RCU_DEPTH_BITS = 8
UNROLL_SLOTS = 512  # past this many slots, packing is a loop over tables rather than straight code
CFLAGS = ("-O2", "-fPIC", "-shared", "-pthread", "-fno-strict-aliasing", "-w")
ST_RUNNING, ST_DONE, ST_VIOLATION, ST_DEADLOCK, ST_MAX_STATES, ST_MEMORY, ST_UNREPRESENTABLE, ST_MAX_DEPTH, ST_FULL = (
    range(9)
)


UNBOUNDED = (-(1 << 31), (1 << 31) - 1)  # the packing of a slot with no static range


def supported(model: ir.Model) -> str | None:
    """None if the compiled engine can run the model, else why not (the per-state search does).

    A slot with no static range (an `int` temporary, the RCU nesting depth) is packed in 32
    bits (8 for the depth); where `ranges` cannot bound the intermediate values within int64
    the arithmetic is checked. A value past either ends the compiled search and the
    per-state search, on unbounded ints, goes on (`Unrepresentable`)."""
    if len(model.threads) > 63 or any(t.end_pc >= 1 << 20 for t in model.threads):
        return "more than 63 threads or a million steps in a thread"
    ranges = Ranges(model)
    for j, s in enumerate(model.slots):
        r = ranges.slot(j)
        if r is not None and (r[0] < INT64[0] or r[1] > INT64[1] or (r[1] - r[0]).bit_length() > 63):
            return f"slot {s.name} has a range [{r[0]}, {r[1]}] past 64-bit integers"
    for e in model_exprs(model):
        for x in subexprs(e):
            if isinstance(x, ir.Const) and not INT64[0] <= x.value <= INT64[1]:
                return f"the constant {x.value} is past 64-bit integers"
    values = [*model.initial_state(), *(d for p in model.pools for d in p.defaults)]
    values += [v for t in model.threads for at in t.resets for _, v in at]
    if any(not INT64[0] <= v <= INT64[1] for v in values):
        return "an initial value is past 64-bit integers"
    return None


def checked_arithmetic(model: ir.Model) -> bool:
    """Whether the intermediate values of the model may leave int64 (then every +, -, *, <<
    is checked for overflow)."""
    widest = widest_in_model(model)
    return widest.magnitude < 0 or widest.magnitude > INT64[1]


# ---------------------------------------------------------------- packing


def constant_locals(model: ir.Model) -> dict[int, int]:
    """Thread locals that hold one value in every stored state: reset to it at every pc
    (dead everywhere, like a lowering temporary) and starting with it. They take no bits."""
    init = model.initial_state()
    out: dict[int, int] = {}
    for t in model.threads:
        if not t.resets:
            continue
        common = set(t.resets[0])
        for at in t.resets[1:]:
            common &= set(at)
        out.update((c, v) for c, v in common if init[c] == v)
    return out


@dataclass(frozen=True)
class Field:
    lo: int
    bits: int
    word: int
    shift: int


def layout(model: ir.Model) -> tuple[list[Field], int]:
    """Where each slot lives in the packed key (first fit, widest first), and the words.
    The store keeps `key_bytes` of them per state."""
    ranges = Ranges(model)
    consts = constant_locals(model)
    spans = []
    for j, s in enumerate(model.slots):
        if j in consts:
            spans.append((consts[j], consts[j]))
        elif s.kind == "rcu_depth":
            spans.append((0, (1 << RCU_DEPTH_BITS) - 1))
        else:
            spans.append(ranges.slot(j) or UNBOUNDED)
    bits = [(hi - lo).bit_length() for lo, hi in spans]
    used: list[int] = []
    fields: list[Field | None] = [None] * len(spans)
    for j in sorted(range(len(spans)), key=lambda j: (-bits[j], j)):
        w = next((k for k, u in enumerate(used) if u + bits[j] <= 64), None)
        if w is None:
            used.append(0)
            w = len(used) - 1
        fields[j] = Field(spans[j][0], bits[j], w, used[w])
        used[w] += bits[j]
    return [f for f in fields if f is not None], max(len(used), 1)


def key_bytes(fields: list[Field], words: int) -> int:
    """The bytes of a packed state: the words up to the last bit used."""
    top = max((f.word * 64 + f.shift + f.bits for f in fields), default=0)
    return max((top + 7) // 8, 1)


# ---------------------------------------------------------------- C generation


def _c_int(v: int) -> str:
    if v == INT64[0]:
        return "INT64_MIN"
    return f"INT64_C({v})"


class _Gen:
    """The C of one model's steps (the same structure as `codegen`, with goto for joins)."""

    def __init__(self, model: ir.Model, sym_c: str) -> None:
        self.m = model
        self.sym_c = sym_c
        self.checked = checked_arithmetic(model)
        self.lines: list[str] = []
        self.spin_slots = [lk.addr for lk in model.locks if lk.kind == "spinlock"]
        self.gp_slots = [t.gp_slot for t in model.threads if t.gp_slot >= 0]
        self.mask_slots = [p.base + k * p.stride + 1 for p in model.pools if p.rcu for k in range(p.size)]
        self.marks: list[tuple[tuple[tuple[int, int], ...], tuple[int, ...]]] = []
        self.optional = 0
        self.sites: list[int] = []  # evaluated on the node being generated
        self.tmp = 0
        acquires = [op for t in model.threads for nd in t.nodes for op in nd.ops if isinstance(op, ir.Acquire)]
        self.classes = sorted({lk.lock_class for lk in model.locks} | {op.lock_class for op in acquires})
        self.max_sub = max((op.subclass for op in acquires), default=0)
        self.fail_stmt = ""

    @staticmethod
    def on(err: int) -> str:
        """Whether check `err` is selected: the properties are chosen when a search starts."""
        return f"ON[{err}]"

    def emit(self, line: str) -> None:
        self.lines.append(line)

    def mark(self, nodes: tuple[tuple[int, int], ...], sites: tuple[int, ...]) -> str:
        self.marks.append((nodes, sites))
        k = len(self.marks) - 1
        return f"if (!COV[{k}]) COV[{k}] = 1;"  # read first: workers writing one line would fight over it

    # ------------------------------------------------------------ expressions
    def addr(self, a: ir.Addr, var: str) -> str:
        if not a.terms:
            return str(a.base)
        return "(" + " + ".join([str(a.base)] + [f"{k}*({self.expr(e, var)})" for k, e in a.terms]) + ")"

    def expr(self, e: ir.Expr, var: str) -> str:
        if isinstance(e, ir.Const):
            return _c_int(e.value)
        if isinstance(e, ir.Load):
            return f"{var}[{self.addr(e.addr, var)}]"
        if isinstance(e, ir.Un):
            a = self.expr(e.a, var)
            if e.op == "!":
                return f"((int64_t)!({a}))"
            return f"mc_subc(0, {a})" if self.checked else f"((int64_t)(0 - (uint64_t)({a})))"
        if isinstance(e, ir.Bin):
            a = self.expr(e.a, var)
            lazy = e.op in ("&&", "||", "==>")
            self.optional += lazy
            b = self.expr(e.b, var)
            self.optional -= lazy
            op = e.op
            if op == "&&":
                return f"((int64_t)(({a}) && ({b})))"
            if op == "||":
                return f"((int64_t)(({a}) || ({b})))"
            if op == "==>":
                return f"((int64_t)(!({a}) || ({b})))"
            fn = {"/": "mc_div", "%": "mc_mod", "<<": "mc_shl", ">>": "mc_shr"}.get(op)
            # operands are evaluated left to right, as everywhere: their checks fail in that order
            self.tmp += 1
            x, y = f"_a{self.tmp}", f"_b{self.tmp}"
            value = f"{fn}({x}, {y})" if fn else f"((int64_t)({x} {op} {y}))"
            if self.checked and op in ("+", "-", "*", "<<", "/"):
                value = f"mc_{ {'+': 'add', '-': 'sub', '*': 'mul', '<<': 'shl', '/': 'div'}[op] }c({x}, {y})"
            elif op in ("+", "-", "*"):
                value = f"((int64_t)((uint64_t){x} {op} (uint64_t){y}))"
            return f"({{ int64_t {x} = {a}; int64_t {y} = {b}; {value}; }})"
        if isinstance(e, ir.Guarded):
            cond = self.expr(e.cond, var)
            if self.optional:
                k = self.mark((), (e.error,))
                note = k
            else:
                self.sites.append(e.error)
                note = ""
            inner = self.expr(e.expr, var)
            # a check not selected is not made: its condition is not evaluated at all
            fail = self.fail_stmt.format(err=e.error)
            return f"({{ if ({self.on(e.error)}) {{ {note} if (!({cond})) {{ {fail} }} }} {inner}; }})"
        if isinstance(e, ir.Held):
            a = self.addr(e.addr, var)
            me = e.thread + 1
            own = f"(({var}[{a}] & {ir.OWNER_MASK}) == {me})"
            if e.kind == "rwsem" and not e.write:
                return f"((int64_t)({own} || (({var}[{a} + 1] >> {e.thread}) & 1)))"
            return f"((int64_t){own})"
        raise AssertionError(f"unhandled {e!r}")

    def readers_mask(self, var: str, exclude: int | None) -> str:
        parts = [
            f"({var}[{t.rcu_slot}] ? INT64_C({1 << t.index}) : 0)"
            for t in self.m.threads
            if t.rcu_slot >= 0 and t.index != exclude
        ]
        return "(" + " | ".join(parts) + ")" if parts else "0"

    def spin_held(self, var: str, me: int) -> str:
        if not self.spin_slots:
            return "0"
        return "(" + " || ".join(f"(({var}[{a}] & {ir.OWNER_MASK}) == {me})" for a in self.spin_slots) + ")"

    # ------------------------------------------------------------ steps
    def step_fn(self, t: ir.ThreadIR, pc: int) -> str:
        node = t.nodes[t.yields[pc]]
        name = f"step_{t.index}_{pc}"
        self.emit(f"static int {name}(const int64_t *s, int64_t *out, int32_t *res) {{")
        self.emit("    int64_t *v = out; int64_t a = 0, o = 0, r = 0, cnd = 0, st = 0; (void)a; (void)o; (void)r;")
        self.emit("    (void)cnd; (void)st; (void)v;")
        if node.choices:
            for k, c in enumerate(node.choices):
                self.emit(f"    v = out + {k * len(self.m.slots)}; memcpy(v, s, sizeof(int64_t) * NS);")
                self.fail_stmt = f"res[{k}] = {{err}}; goto after_{k};"
                self.end = f"res[{k}] = -1; goto after_{k};"
                self.region(t, c, f"b{k}_", first=False, choose_node=node.id)
                self.emit(f"  after_{k}: ;")
            self.emit(f"    return {len(node.choices)};")
        else:
            self.fail_stmt = "res[0] = {err}; return 1;"
            self.end = "res[0] = -1; return 1;"
            self.region(t, node.id, "", first=True)
        self.emit("}")
        return name

    def region(self, t: ir.ThreadIR, start: int, prefix: str, first: bool, choose_node: int = -1) -> None:
        """The nodes from `start` to the next yield points, each a labelled block."""
        pcs = {y: i for i, y in enumerate(t.yields)}
        if not first and start in pcs:
            self.enter(t, pcs[start], "    ")
            self.emit(f"    {self.mark(((t.index, choose_node),), ())}")
            self.emit(f"    {self.end}")
            return
        order, seen = [start], {start}
        k = 0
        while k < len(order):
            n = t.nodes[order[k]]
            k += 1
            for x in (n.next, n.then, n.orelse):
                if x is not None and x not in pcs and x not in seen:
                    seen.add(x)
                    order.append(x)
        for nid in order:
            self.node_code(t, t.nodes[nid], prefix, first and nid == start, pcs, choose_node)

    def goto(self, t: ir.ThreadIR, x: int, prefix: str, pcs: dict[int, int]) -> str:
        if x in pcs:
            return f"{{ {self.enter_code(t, pcs[x])} {self.end} }}"
        return f"goto {prefix}n{x};"

    def enter_code(self, t: ir.ThreadIR, pc: int) -> str:
        parts = [f"v[{t.pc_slot}] = {pc};"]
        for slot, value in t.resets[pc] if t.resets else ():
            parts.append(f"v[{slot}] = {_c_int(value)};")
        return " ".join(parts)

    def enter(self, t: ir.ThreadIR, pc: int, ind: str) -> None:
        self.emit(ind + self.enter_code(t, pc))

    def node_code(
        self, t: ir.ThreadIR, node: ir.Node, prefix: str, first: bool, pcs: dict[int, int], choose_node: int
    ) -> None:
        self.emit(f"  {prefix}n{node.id}: ;")
        self.sites = []
        nodes: tuple[tuple[int, int], ...] = ((t.index, node.id),)
        if choose_node >= 0 and node.id != choose_node:
            nodes = ((t.index, choose_node), (t.index, node.id))
        if node.end:
            if first:
                self.emit("    memcpy(v, s, sizeof(int64_t) * NS);")
            self.thread_end(t)
            self.emit(f"    {self.mark(nodes, tuple(dict.fromkeys(self.sites)))}")
            self.enter(t, t.end_pc, "    ")
            self.emit(f"    {self.end}")
            return
        ops = list(node.ops)
        if first:
            k = 0
            while k < len(ops) and isinstance(ops[k], ir.Check):
                k += 1
            if k < len(ops) and isinstance(ops[k], (ir.Await, ir.Acquire, ir.SyncRcuWait)):
                for op in ops[:k]:
                    self.op(t, op, var="s")
                self.guard(t, ops[k])
                ops = ops[k + 1 :]
            else:
                self.emit("    memcpy(v, s, sizeof(int64_t) * NS);")
        for op in ops:
            self.op(t, op)
        if node.cond is not None:
            assert node.then is not None and node.orelse is not None
            self.emit(f"    cnd = {self.expr(node.cond, 'v')};")
            for op in node.post:
                self.op(t, op)
            self.emit(f"    {self.mark(nodes, tuple(dict.fromkeys(self.sites)))}")
            self.emit(f"    if (cnd) {self.goto(t, node.then, prefix, pcs)}")
            self.emit(f"    {self.goto(t, node.orelse, prefix, pcs)}")
            return
        if node.next is None:
            self.thread_end(t)
            self.emit(f"    {self.mark(nodes, tuple(dict.fromkeys(self.sites)))}")
            self.enter(t, t.end_pc, "    ")
            self.emit(f"    {self.end}")
            return
        self.emit(f"    {self.mark(nodes, tuple(dict.fromkeys(self.sites)))}")
        self.emit(f"    {self.goto(t, node.next, prefix, pcs)}")

    def fail(self, err: int) -> str:
        return "{ " + self.fail_stmt.format(err=err) + " }"

    def guard(self, t: ir.ThreadIR, op: ir.Op) -> None:
        me = t.index + 1
        bit = 1 << t.index
        if self.sites:  # checks before a guard are made whether or not it blocks
            self.emit(f"    {self.mark((), tuple(dict.fromkeys(self.sites)))}")
            self.sites = []
        if isinstance(op, ir.Await):
            cond = self.expr(op.cond, "s")
            if self.sites:
                self.emit(f"    cnd = {cond};")
                self.emit(f"    {self.mark((), tuple(dict.fromkeys(self.sites)))}")
                self.sites = []
                cond = "cnd"
            self.emit(f"    if (!({cond})) return 0;")
            self.emit("    memcpy(v, s, sizeof(int64_t) * NS);")
            return
        if isinstance(op, ir.SyncRcuWait):
            self.emit(f"    if (s[{t.gp_slot}] != 0) return 0;")
            self.emit("    memcpy(v, s, sizeof(int64_t) * NS);")
            return
        assert isinstance(op, ir.Acquire)
        self.emit(f"    a = {self.addr(op.addr, 's')};")
        if self.sites:
            self.emit(f"    {self.mark((), tuple(dict.fromkeys(self.sites)))}")
            self.sites = []
        self.emit("    o = s[a];")
        rw = op.kind == "rwsem"
        if rw:
            self.emit("    r = s[a + 1];")
        held_err, sleep_err = op.errors
        owner = f"(o & {ir.OWNER_MASK})"
        self.sites.append(held_err)
        mine = f"{owner} == {me}" + (f" || (r & INT64_C({bit}))" if rw else "")
        if op.mode == "w":
            checked = f"(o != 0 && {owner} != {me})" + (f" || (r & ~INT64_C({bit}))" if rw else "")
        else:
            checked = f"(o != 0 && {owner} != {me})"
        # misuse not checked: the thread waits, for itself if need be, as the kernel would
        unchecked = "o != 0" + (" || r != 0" if rw and op.mode == "w" else "")
        self.emit(f"    if ({self.on(held_err)} ? ({checked}) : ({unchecked})) return 0;")
        self.emit("    memcpy(v, s, sizeof(int64_t) * NS);")
        self.emit(f"    if ({self.on(held_err)} && ({mine})) {self.fail(held_err)}")
        if op.kind != "spinlock":
            self.sites.append(sleep_err)
            cond = self.spin_held("v", me)
            if t.rcu_slot >= 0:
                cond = f"({cond} || v[{t.rcu_slot}] > 0)"
            self.emit(f"    if ({self.on(sleep_err)} && {cond}) {self.fail(sleep_err)}")
        self.emit("    if (LOCK_ORDER) {")
        self.edge(t, op, held_err)
        self.emit("    }")
        if op.mode == "w":
            self.emit(f"    v[a] = {me | (op.subclass << ir.OWNER_BITS)};")
        else:
            self.emit(f"    v[a + 1] = r | INT64_C({bit});")

    def edge(self, t: ir.ThreadIR, op: ir.Acquire, err: int) -> None:
        """Record the lock-order edges of this acquisition: every lock class the thread holds -> this class."""
        me = t.index + 1
        cls = self.classes.index(op.lock_class)
        nsub = self.max_sub + 1
        witness = (t.index << 24) | err
        for lk in self.m.locks:
            held = self.classes.index(lk.lock_class) * nsub
            mine = f"(v[{lk.addr}] & {ir.OWNER_MASK}) == {me}"
            idx = f"({held} + (v[{lk.addr}] >> {ir.OWNER_BITS})) * {len(self.classes)} + {cls}"
            self.emit(f"    if ({mine}) mc_edge({idx}, {witness});")
            if lk.kind == "rwsem":
                reader = f"(v[{lk.addr + 1}] >> {t.index}) & 1"
                self.emit(f"    else if ({reader}) mc_edge({held * len(self.classes) + cls}, {witness});")

    def op(self, t: ir.ThreadIR, op: ir.Op, var: str = "v") -> None:
        me = t.index + 1
        bit = 1 << t.index
        if isinstance(op, ir.Set):
            self.emit(f"    {{ int64_t x = {self.expr(op.value, 'v')}; v[{self.addr(op.addr, 'v')}] = x; }}")
        elif isinstance(op, ir.Check):
            # a check not selected still reads what it reads (and those reads are checked)
            cond = self.expr(op.cond, var)
            self.sites.append(op.error)
            self.emit(f"    cnd = {cond};")
            self.emit(f"    if ({self.on(op.error)} && !cnd) {self.fail(op.error)}")
        elif isinstance(op, ir.TryAcquire):
            self.emit(f"    a = {self.addr(op.addr, 'v')};")
            rw = op.kind == "rwsem"
            if op.mode == "w":
                free = "v[a] == 0" + (" && v[a + 1] == 0" if rw else "")
                take = f"v[a] = {me};"
            else:
                free = "v[a] == 0"
                take = f"v[a + 1] |= INT64_C({bit});"
            self.emit(f"    cnd = {free};")
            self.emit(f"    if (cnd) {{ {take} }}")
            self.emit(f"    v[{self.addr(op.dest, 'v')}] = cnd;")
        elif isinstance(op, ir.Release):
            self.emit(f"    a = {self.addr(op.addr, 'v')};")
            self.sites.append(op.error)
            if op.mode == "w":
                self.emit(f"    if ({self.on(op.error)} && (v[a] & {ir.OWNER_MASK}) != {me}) {self.fail(op.error)}")
                self.emit("    v[a] = 0;")
            else:
                self.emit(f"    if ({self.on(op.error)} && !(v[a + 1] & INT64_C({bit}))) {self.fail(op.error)}")
                self.emit(f"    v[a + 1] &= ~INT64_C({bit});")
        elif isinstance(op, ir.RcuLock):
            self.emit(f"    v[{t.rcu_slot}] += 1;")
        elif isinstance(op, ir.RcuUnlock):
            rs = t.rcu_slot
            self.sites.append(op.error)
            self.emit(f"    if ({self.on(op.error)} && v[{rs}] == 0) {self.fail(op.error)}")
            self.emit(f"    v[{rs}] = v[{rs}] > 1 ? v[{rs}] - 1 : 0;")
            targets = self.gp_slots + self.mask_slots
            if targets:
                clear = " ".join(f"v[{x}] &= ~INT64_C({bit});" for x in targets)
                self.emit(f"    if (v[{rs}] == 0) {{ {clear} }}")
        elif isinstance(op, ir.SyncRcuStart):
            self.sites.append(op.error)
            cond = f"({self.spin_held('v', me)} || v[{t.rcu_slot}] > 0)"
            self.emit(f"    if ({self.on(op.error)} && {cond}) {self.fail(op.error)}")
            self.emit(f"    v[{t.gp_slot}] = {self.readers_mask('v', t.index)};")
        elif isinstance(op, ir.Free):
            pool = next(p for p in self.m.pools if p.name == op.pool)
            self.emit(f"    st = {pool.base - pool.stride} + {pool.stride}*({self.expr(op.ref, 'v')});")
            self.sites.append(op.error)
            self.emit(f"    if ({self.on(op.error)} && v[st] != 1) {self.fail(op.error)}")
            if op.deferred:
                self.emit("    v[st] = 2;")
                self.emit(f"    v[st + 1] = {self.readers_mask('v', None)};")
            else:
                self.emit("    v[st] = 3;")
        elif isinstance(op, ir.Alloc):
            pool = next(p for p in self.m.pools if p.name == op.pool)
            dest = self.addr(op.dest, "v")
            head = 2 if pool.rcu else 1
            self.emit("    st = 0;")
            for k in range(pool.size):
                at = pool.base + k * pool.stride
                defaults = " ".join(f"v[{at + head + j}] = {_c_int(d)};" for j, d in enumerate(pool.defaults))
                kw = "if" if k == 0 else "else if"
                self.emit(f"    {kw} (v[{at}] == 0 || v[{at}] == 3) {{ v[{at}] = 1; {defaults} st = {k + 1}; }}")
            self.emit(f"    v[{dest}] = st;")
        else:
            raise AssertionError(f"op {op!r} must start its step")

    def thread_end(self, t: ir.ThreadIR) -> None:
        me = t.index + 1
        locks = {lk.addr: lk for lk in self.m.locks}
        for addr, err in t.end_errors:
            self.sites.append(err)
            if addr < 0:
                cond = f"v[{t.rcu_slot}] > 0"
            else:
                cond = f"(v[{addr}] & {ir.OWNER_MASK}) == {me}"
                if locks[addr].kind == "rwsem":
                    cond += f" || ((v[{addr + 1}] >> {t.index}) & 1)"
            self.emit(f"    if ({self.on(err)} && ({cond})) {self.fail(err)}")

    # ------------------------------------------------------------ the whole model
    def build(self, fields: list[Field], words: int) -> str:
        m = self.m
        ns = len(m.slots)
        maxout = max([len(t.nodes[y].choices) or 1 for t in m.threads for y in t.yields] + [1])
        rcu = [p.base + k * p.stride for p in m.pools if p.rcu for k in range(p.size)]
        maxsucc = sum(max([len(t.nodes[y].choices) or 1 for y in t.yields] + [1]) for t in m.threads) + len(rcu)
        # the step into a state: thread (RCU callbacks: all ones) above the branch number
        small = max(maxout, len(rcu)) < 1 << 10 and len(m.threads) < 63
        via_t, via_shift = ("uint16_t", 10) if small else ("uint32_t", 16)
        head = [
            "#include <stdint.h>",
            "#include <string.h>",
            f"#define NS {ns}",
            f"#define W {words}",
            f"#define KB {key_bytes(fields, words)}",
            f"#define NT {len(m.threads)}",
            f"#define MAXOUT {maxout}",
            f"#define MAXSUCC {maxsucc}",
            f"#define HAS_RCU {int(bool(rcu))}",
            f"typedef {via_t} via_t;",
            f"#define VIA_SHIFT {via_shift}",
            f"#define N_RCU {len(rcu)}",
            f"static const int64_t RCU_STATUS[{max(len(rcu), 1)}] = {{{', '.join(map(str, rcu)) or '0'}}};",
            f"static const int64_t PC_SLOT[NT] = {{{', '.join(str(t.pc_slot) for t in m.threads)}}};",
            f"static const int64_t END_PC[NT] = {{{', '.join(str(t.end_pc) for t in m.threads)}}};",
            f"static const int64_t INIT[NS] = {{{', '.join(_c_int(x) for x in m.initial_state())}}};",
            "static inline int64_t mc_div(int64_t a, int64_t b) { return b == 0 ? 0 : (b == -1 ? "
            "(int64_t)(0 - (uint64_t)a) : a / b); }",
            "static inline int64_t mc_mod(int64_t a, int64_t b) { return b == 0 || b == -1 ? 0 : a % b; }",
            "static inline int64_t mc_shl(int64_t a, int64_t b) { return b < 0 || b >= 64 ? 0 : "
            "(int64_t)((uint64_t)a << b); }",
            "static inline int64_t mc_shr(int64_t a, int64_t b) { return b < 0 ? 0 : b >= 64 ? (a < 0 ? -1 : 0) : "
            "a >> b; }",
        ]
        if self.checked:
            head += [
                "static __thread int OVF;",
                "static inline int64_t mc_addc(int64_t a, int64_t b) { int64_t r; "
                "if (__builtin_add_overflow(a, b, &r)) OVF = 1; return r; }",
                "static inline int64_t mc_subc(int64_t a, int64_t b) { int64_t r; "
                "if (__builtin_sub_overflow(a, b, &r)) OVF = 1; return r; }",
                "static inline int64_t mc_mulc(int64_t a, int64_t b) { int64_t r; "
                "if (__builtin_mul_overflow(a, b, &r)) OVF = 1; return r; }",
                "static inline int64_t mc_shlc(int64_t a, int64_t b) { if (a == 0 || b < 0) return 0; "
                "if (b >= 63 || ((a << b) >> b) != a) { OVF = 1; return 0; } return a << b; }",
                "static inline int64_t mc_divc(int64_t a, int64_t b) { if (b == -1 && a == INT64_MIN) { OVF = 1; "
                "return 0; } return mc_div(a, b); }",
            ]
        else:
            head.append("#define OVF 0")
        head.append(f"static uint8_t ON[{max(len(m.errors), 1)}];")
        head.append("static int LOCK_ORDER;")
        head.append("static const int64_t *AMPLE_AT, *AMPLE_DATA;")
        head.append("static int SYM_ON;")
        head.append(
            "void mc_select(const uint8_t *on, int lock_order, const int64_t *at, const int64_t *data, int sym) { "
            f"memcpy(ON, on, {len(m.errors)}); LOCK_ORDER = lock_order; AMPLE_AT = at; AMPLE_DATA = data; "
            "SYM_ON = sym; }"
        )
        nedges = max(len(self.classes) * (self.max_sub + 1) * len(self.classes), 1)
        head.append(f"static int32_t EDGES[{nedges}];")
        head.append(
            # the least witness (thread, error) of each edge: the same whatever the order of the search
            "static inline void mc_edge(int64_t k, int32_t w) { int32_t e = __atomic_load_n(&EDGES[k], "
            "__ATOMIC_RELAXED); while ((e == 0 || w + 1 < e) && !__atomic_compare_exchange_n(&EDGES[k], &e, w + 1, 1, "
            "__ATOMIC_RELAXED, __ATOMIC_RELAXED)) {} }"
        )
        self.lines = []
        tables = []
        for t in m.threads:
            names = [self.step_fn(t, pc) for pc in range(t.end_pc)]
            tables.append(names)
        steps = self.lines
        self.lines = []
        self.invariant_fn()
        inv = self.lines
        head.append(f"static uint8_t COV[{max(len(self.marks), 1)}];")
        head.append("typedef int (*step_fn)(const int64_t *, int64_t *, int32_t *);")
        tail = []
        for t, names in zip(m.threads, tables, strict=True):
            tail.append(f"static const step_fn STEPS_{t.index}[] = {{{', '.join(names) or '0'}}};")
        tail.append(f"static const step_fn *STEPS[NT] = {{{', '.join(f'STEPS_{t.index}' for t in m.threads)}}};")
        tail += self.packing(fields, words)
        tail += self.ample_fn()
        tail.append(self.sym_c or "static void mc_sym(int64_t *v) { (void)v; }")
        tail.append("#define SYMMETRY(v) do { if (SYM_ON) mc_sym(v); } while (0)")
        return "\n".join(head + steps + inv + tail) + "\n"

    def invariant_fn(self) -> None:
        self.emit("static int invariant(const int64_t *v) {")
        self.fail_stmt = "return {err};"
        self.sites = []
        for inv in self.m.invariants:
            self.emit(f"    if ({self.on(inv.error)} && !({self.expr(inv.expr, 'v')})) return {inv.error};")
        self.emit("    (void)v; return -1;")
        self.emit("}")

    def packing(self, fields: list[Field], words: int) -> list[str]:
        if len(fields) > UNROLL_SLOTS:
            return self.packing_tables(fields, words)
        out = ["static int64_t pack(const int64_t *v, uint64_t *k) {"]
        out.append("    " + " ".join(f"k[{w}] = 0;" for w in range(words)))
        for j, f in enumerate(fields):
            if f.bits == 0:
                out.append(f"    if (v[{j}] != {_c_int(f.lo)}) return {j};")
                continue
            hi = f.lo + (1 << f.bits) - 1
            out.append(f"    if (v[{j}] < {_c_int(f.lo)} || v[{j}] > {_c_int(min(hi, INT64[1]))}) return {j};")
            out.append(f"    k[{f.word}] |= (uint64_t)(v[{j}] - {_c_int(f.lo)}) << {f.shift};")
        out.append("    return -1;")
        out.append("}")
        out.append("static void unpack(const uint64_t *k, int64_t *v) {")
        for j, f in enumerate(fields):
            if f.bits == 0:
                out.append(f"    v[{j}] = {_c_int(f.lo)};")
            else:
                mask = (1 << f.bits) - 1
                out.append(f"    v[{j}] = (int64_t)((k[{f.word}] >> {f.shift}) & UINT64_C({mask})) + {_c_int(f.lo)};")
        out.append("}")
        return out

    def packing_tables(self, fields: list[Field], words: int) -> list[str]:
        """pack and unpack as loops over tables: a model with thousands of slots would
        otherwise be thousands of lines of straight code for the compiler."""

        def table(ctype: str, name: str, values: list[str]) -> str:
            return f"static const {ctype} {name}[NS] = {{{', '.join(values)}}};"

        return [
            table("int64_t", "F_LO", [_c_int(f.lo) for f in fields]),
            table("uint8_t", "F_BITS", [str(f.bits) for f in fields]),
            table("uint16_t", "F_WORD", [str(f.word) for f in fields]),
            table("uint8_t", "F_SHIFT", [str(f.shift) for f in fields]),
            "static int64_t pack(const int64_t *v, uint64_t *k) {",
            "    memset(k, 0, sizeof(uint64_t) * W);",
            "    for (int j = 0; j < NS; j++) {",
            "        uint64_t x = (uint64_t)v[j] - (uint64_t)F_LO[j];",
            "        if (v[j] < F_LO[j] || (F_BITS[j] < 64 && x >> F_BITS[j])) return j;",
            "        if (F_BITS[j]) k[F_WORD[j]] |= x << F_SHIFT[j];",
            "    }",
            "    return -1;",
            "}",
            "static void unpack(const uint64_t *k, int64_t *v) {",
            "    for (int j = 0; j < NS; j++) {",
            "        uint64_t m = F_BITS[j] >= 64 ? ~UINT64_C(0) : (UINT64_C(1) << F_BITS[j]) - 1;",
            "        v[j] = (int64_t)(((k[F_WORD[j]] >> F_SHIFT[j]) & m) + (uint64_t)F_LO[j]);",
            "    }",
            "}",
        ]

    def ample_fn(self) -> list[str]:
        """Whether thread t's step may be taken alone (partial-order reduction, `por`): the
        tables are data given when a search starts (AMPLE_AT, AMPLE_DATA; see `ample_tables`)."""
        bases, k = [], 0
        for t in self.m.threads:
            bases.append(k)
            k += t.end_pc
        return [
            f"static const int64_t PC_BASE[NT] = {{{', '.join(map(str, bases))}}};",
            "static int is_ample(int t, const int64_t *s) {",
            "    int64_t pc = s[PC_SLOT[t]];",
            "    if (!AMPLE_AT || pc >= END_PC[t]) return 0;",
            "    int64_t at = AMPLE_AT[PC_BASE[t] + pc];",
            "    if (at < 0) return 0;",
            "    const int64_t *d = AMPLE_DATA + at;",
            "    for (int64_t k = *d++; k > 0; k--) {",
            "        int64_t x = s[d[0]], nw = d[1];",
            "        if (x < nw * 64 && (((uint64_t)d[2 + x / 64] >> (x % 64)) & 1)) return 0;",
            "        d += 2 + nw;",
            "    }",
            "    return 1;",
            "}",
        ]


def ample_tables(model: ir.Model, red: Reduction) -> tuple[list[int], list[int]]:
    """The reduction tables as the compiled engine reads them: per (thread, pc) an offset into
    the data or -1 (never ample); at the offset the number of conflicts, then for each the pc
    slot of the other thread, the number of 64-bit words of its pc mask and the words."""
    at: list[int] = []
    data: list[int] = []
    for i, row in enumerate(red.conflicts):
        for p in range(model.threads[i].end_pc):
            c = row[p] if p < len(row) else None
            if c is None:
                at.append(-1)
                continue
            at.append(len(data))
            data.append(len(c))
            for pj, mask in c:
                nw = max((mask.bit_length() + 63) // 64, 1)
                data += [pj, nw]
                for w in range(nw):
                    word = (mask >> (64 * w)) & ((1 << 64) - 1)
                    data.append(word - (1 << 64) if word >= 1 << 63 else word)
    return at, data


def generate(
    model: ir.Model, sym_c: str = ""
) -> tuple[str, list[tuple[tuple[tuple[int, int], ...], tuple[int, ...]]], list[str], int]:
    """The C source of a model's engine; its coverage marks, lock classes and subclass bound.

    One engine serves every selection of properties, with or without reduction: they are
    given when a search starts. `sym_c` defines `mc_sym`, the symmetry canonicalization."""
    fields, words = layout(model)
    gen = _Gen(model, sym_c)
    src = gen.build(fields, words)
    engine = (Path(__file__).parent / "search.c").read_text()
    return src + engine, gen.marks, gen.classes, gen.max_sub


# ---------------------------------------------------------------- compiling and caching


def compiler() -> str | None:
    """The C compiler to use ($CC, cc, gcc or clang), or None."""
    for cc in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if cc and shutil.which(cc):
            return cc
    return None


def cache_dir() -> Path:
    """Where compiled engines are kept: $MODELCHECK_CACHE, else ~/.cache/modelcheck."""
    env = os.environ.get("MODELCHECK_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "modelcheck"


def _so_path(source: str, cc: str) -> Path:
    h = hashlib.sha256((source + "\0" + cc + "\0" + " ".join(CFLAGS)).encode()).hexdigest()[:32]
    return cache_dir() / f"engine-{h}.so"


class CompileError(Exception):
    """The C compiler failed on generated code: a bug, reported with the compiler's output."""


_RUNNING: set[subprocess.Popen[str]] = set()  # compilers running in the background
_LOCK = threading.Lock()


@atexit.register
def _stop_compilers() -> None:
    """A run that ends before its engine is built leaves no compiler behind (nor its files)."""
    with _LOCK:
        for proc in _RUNNING:
            proc.kill()


def build(source: str, cc: str) -> Path:
    """Compile (or find in the cache) the shared object of this source."""
    so = _so_path(source, cc)
    if so.exists():
        return so
    so.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=so.parent, prefix="tmp-") as tmp:
        c_file = Path(tmp) / "engine.c"
        c_file.write_text(source)
        out = Path(tmp) / "engine.so"
        with _LOCK:
            proc = subprocess.Popen(
                [cc, *CFLAGS, "-o", str(out), str(c_file)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            _RUNNING.add(proc)
        try:
            _, err = proc.communicate()
        finally:
            with _LOCK:
                _RUNNING.discard(proc)
        if proc.returncode != 0:
            raise CompileError(err[-4000:])
        os.replace(out, so)  # atomic: another run may be building the same engine
    return so


@dataclass
class Engine:
    """A compiled model: the shared object and what its counters mean."""

    lib: ctypes.CDLL
    marks: list[tuple[tuple[tuple[int, int], ...], tuple[int, ...]]]
    classes: list[str]
    max_sub: int
    symmetry: Symmetry | str  # the thread instances it permutes, or why none


class Builder:
    """Generates the C of a model and compiles it, in a background thread."""

    def __init__(self, model: ir.Model) -> None:
        self.model = model
        self.error: str | None = None
        self.engine: Engine | None = None
        self.thread = threading.Thread(target=self._build, daemon=True)
        self.thread.start()

    def _build(self) -> None:
        cc = compiler()
        if cc is None:
            self.error = "no C compiler (cc) was found"
            return
        try:
            sym = symmetry_or_reason(self.model)
            sym_c = (
                ""
                if isinstance(sym, str)
                else c_canon(sym, self.model) + "\nstatic void mc_sym(int64_t *v) { mc_canon(v); }"
            )
            source, marks, classes, max_sub = generate(self.model, sym_c)
            so = build(source, cc)
            lib = ctypes.CDLL(str(so))
            _declare(lib)
            self.engine = Engine(lib, marks, classes, max_sub, sym)
        except Exception as exc:  # noqa: BLE001 - a bug here must not lose the search: Python goes on
            self.error = f"the compiled engine could not be built: {type(exc).__name__}: {exc}"

    def ready(self) -> bool:
        """True once the engine is built (or failed to build)."""
        return not self.thread.is_alive()

    def wait(self) -> Engine | None:
        """The engine, once built; None if it could not be."""
        self.thread.join()
        return self.engine


_BUILDERS: dict[int, Builder] = {}


def builder_for(model: ir.Model) -> Builder:
    """The model's engine builder, started once per model object: every property selection,
    `expect` clause and search again of one loaded spec shares it (generating the C and
    deciding symmetry take a while on a large spec, even when the engine is cached)."""
    key = id(model)
    b = _BUILDERS.get(key)
    if b is None or b.model is not model:
        b = _BUILDERS[key] = Builder(model)
        weakref.finalize(model, _BUILDERS.pop, key, None)
    return b


def compiler_missing() -> str | None:
    """Why there is no compiled engine on this machine (None: there is a C compiler)."""
    return None if compiler() else "no C compiler (cc) was found"


def _declare(lib: ctypes.CDLL) -> None:
    i64, u64, vp = ctypes.c_int64, ctypes.c_uint64, ctypes.c_void_p
    lib.mc_new.restype = vp
    lib.mc_new.argtypes = [i64, i64, u64, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.mc_run.restype = ctypes.c_int
    lib.mc_run.argtypes = [vp, u64]
    for f in (lib.mc_info, lib.mc_state):
        f.restype = None
    lib.mc_info.argtypes = [vp, ctypes.POINTER(i64)]
    lib.mc_link.restype = None
    lib.mc_link.argtypes = [vp, u64, ctypes.POINTER(i64)]
    lib.mc_state.argtypes = [vp, u64, ctypes.POINTER(i64)]
    lib.mc_canonical.restype = None
    lib.mc_canonical.argtypes = [ctypes.POINTER(i64)]
    lib.mc_free.restype = None
    lib.mc_free.argtypes = [vp]
    lib.mc_cov.restype = ctypes.POINTER(ctypes.c_uint8)
    lib.mc_select.restype = None
    lib.mc_select.argtypes = [
        ctypes.POINTER(ctypes.c_uint8),
        ctypes.c_int,
        ctypes.POINTER(i64),
        ctypes.POINTER(i64),
        ctypes.c_int,
    ]
    lib.mc_edges.restype = ctypes.POINTER(ctypes.c_int32)


# ---------------------------------------------------------------- running a search

# States expanded per call into the engine: limits, progress, Ctrl-C and the CLI's hard
# deadline are looked at between calls, so a call is kept to about a tenth of a second.
BUDGET = (1 << 12, 1 << 14, 1 << 22)  # least, first, most
ENGINE = "explicit"  # the engine a Result names: the compiled search is the explicit one


class Unrepresentable(Exception):
    """A value the packing has no room for (a deep RCU nesting): the per-state search goes on."""


def run(
    engine: Engine,
    c: Compiled,
    limits: Limits,
    progress: Callable[[Stats], None] | None,
    workers: int,
    t0: float,
    reduction: Reduction | None = None,
    symmetry: bool = False,
) -> Result:
    """Search with the compiled engine for the properties `c` was compiled for. Raises
    Unrepresentable when a value does not fit its packing."""
    from .explore import describe_blocked

    lib = engine.lib
    info = (ctypes.c_int64 * 16)()
    m = c.model
    enabled = enabled_checks(m, c.props)
    on = (ctypes.c_uint8 * max(len(m.errors), 1))(*[int(e in enabled) for e in range(len(m.errors))])
    at = data = None
    if reduction is not None:
        at_l, data_l = ample_tables(m, reduction)
        at = (ctypes.c_int64 * max(len(at_l), 1))(*at_l)
        data = (ctypes.c_int64 * max(len(data_l), 1))(*data_l)
    sym = engine.symmetry if symmetry and not isinstance(engine.symmetry, str) else None
    symmetric = sym is not None
    lib.mc_select(on, int(c.check_lock_order), at, data, int(symmetric))
    max_bytes = 0
    if limits.max_memory is not None:
        max_bytes = max(limits.max_memory - resident_bytes(), 1 << 20)
    ctx = lib.mc_new(
        -1 if limits.max_states is None else limits.max_states,
        -1 if limits.max_depth is None else limits.max_depth,
        max_bytes,
        int(reduction is not None),
        workers,
        int(c.check_deadlock),
    )
    if not ctx:
        raise MemoryError("the compiled engine could not reserve its store")

    def stats() -> Stats:
        lib.mc_info(ctx, info)
        return Stats(info[0], info[1], info[2], time.monotonic() - t0)

    def path_to(i: int) -> list[tuple[int, int]]:
        out = []
        link = (ctypes.c_int64 * 3)()
        while i > 0:
            lib.mc_link(ctx, i, link)
            out.append((link[1], link[2]))
            i = link[0]
        out.reverse()
        return out

    def chain_to(i: int) -> list[int]:
        out = [i]
        link = (ctypes.c_int64 * 3)()
        while i > 0:
            lib.mc_link(ctx, i, link)
            i = link[0]
            out.append(i)
        out.reverse()
        return out

    def state(i: int) -> tuple[int, ...]:
        v = (ctypes.c_int64 * len(c.model.slots))()
        lib.mc_state(ctx, i, v)
        return tuple(v)

    def where() -> str:
        st = stats()
        return f"after {st.states} states (complete to depth {st.depth})"

    try:
        status = ST_RUNNING
        budget = BUDGET[1]
        while status == ST_RUNNING:
            if limits.over_memory():
                return Result(UNKNOWN, stats(), reason=f"{limits.memory_reason()} {where()}", engine=ENGINE)
            if limits.over_time(t0):
                return Result(
                    UNKNOWN, stats(), reason=f"--timeout {limits.timeout:g}s reached {where()}", engine=ENGINE
                )
            try:
                began = time.monotonic()
                status = lib.mc_run(ctx, budget)
                took = time.monotonic() - began
                if took < 0.05:
                    budget = min(budget * 2, BUDGET[2])
                elif took > 0.2:
                    budget = max(budget // 2, BUDGET[0])
            except KeyboardInterrupt:
                return Result(UNKNOWN, stats(), reason=f"interrupted {where()}", engine=ENGINE)
            if status == ST_RUNNING and progress is not None:
                progress(stats())
        st = stats()
        lib.mc_info(ctx, info)
        if status == ST_UNREPRESENTABLE:
            bad = info[10]
            raise Unrepresentable(
                f"slot {c.model.slots[bad].name} took a value" if bad >= 0 else "an intermediate value went past int64"
            )
        coverage = _coverage(engine, enabled, status == ST_DONE)
        no_group = isinstance(engine.symmetry, str) and engine.symmetry.startswith("no thread declaration")
        notes = () if no_group else (_symmetry_note(engine.symmetry, symmetric),)
        if status == ST_VIOLATION:
            err, i, tid = info[4], info[5], info[6]
            path = path_to(i) + ([(tid, info[7])] if tid >= 0 else [])
            site = c.errors[err]
            if symmetric:
                chain = [state(j) for j in chain_to(i)]
                path, _, concrete_site = _concrete(c, lib, chain, path, site)
                site = concrete_site or site
            v = Violation(site.kind, site.name, site.message, site, tuple(path), tid >= 0)
            return Result(VIOLATED, Stats(info[8], info[9], len(path), st.seconds), v, engine=ENGINE, notes=notes)
        if status == ST_DEADLOCK:
            i = info[5]
            path, end = path_to(i), state(i)
            if symmetric:
                path, end, _ = _concrete(c, lib, [state(j) for j in chain_to(i)], path, None)
            detail = describe_blocked(c, end)
            v = Violation("deadlock", "deadlock", "deadlock: no thread can move", None, tuple(path), False, detail)
            return Result(VIOLATED, st, v, engine=ENGINE, notes=notes)
        if sym is not None:
            coverage = _orbit_coverage(sym, coverage)
        if status == ST_DONE:
            _lock_edges(engine, c)
            return Result(HOLDS, st, engine=ENGINE, coverage=coverage, notes=notes)
        if status == ST_MAX_STATES:
            reason = f"--max-states {limits.max_states} reached (complete to depth {st.depth})"
        elif status == ST_MAX_DEPTH:
            reason = (
                f"--max-depth {limits.max_depth} reached: every state within {st.depth} steps was explored "
                "and none violates a property"
            )
        elif status == ST_MEMORY:
            reason = f"--max-memory {format_size(limits.max_memory or 0)} reached by the state store {where()}"
        else:
            reason = (
                f"the state store is full (at most {info[13]:,} states fit in --max-memory, and never "
                f"more than 2^32) {where()}"
            )
        return Result(UNKNOWN, st, reason=reason, engine=ENGINE, coverage=coverage, notes=notes)
    finally:
        lib.mc_free(ctx)


def _coverage(engine: Engine, enabled: set[int], complete: bool) -> Coverage:
    cov = engine.lib.mc_cov()
    nodes: set[tuple[int, int]] = set()
    sites: set[int] = set()
    for k, (ns, ss) in enumerate(engine.marks):
        if cov[k]:
            nodes.update(ns)
            sites.update(ss)
    return Coverage(frozenset(n for n in nodes if n[1] >= 0), frozenset(sites & enabled), complete)


def _lock_edges(engine: Engine, c: Compiled) -> None:
    """Copy the lock-order edges the search found into `c.lock_edges` (least witness kept)."""
    edges = engine.lib.mc_edges()
    nc, nsub = len(engine.classes), engine.max_sub + 1
    for held in range(nc):
        for sub in range(nsub):
            for acq in range(nc):
                w = edges[(held * nsub + sub) * nc + acq]
                if not w:
                    continue
                tid, err = (w - 1) >> 24, (w - 1) & 0xFFFFFF
                name = f"{engine.classes[held]}/{sub}" if sub else engine.classes[held]
                key = (name, engine.classes[acq])
                seen = c.lock_edges.get(key)
                if seen is None or (tid, err) < seen:
                    c.lock_edges[key] = (tid, err)


def _symmetry_note(sym: Symmetry | str, used: bool) -> str:
    if isinstance(sym, str):
        return f"symmetry: none ({sym})"
    if not used:
        return "symmetry: off (--no-symmetry)"
    return "symmetry: states counted up to permutations of " + ", ".join(
        f"{g.decl}[0..{len(g.threads) - 1}]" for g in sym.groups
    )


def _canon(lib: ctypes.CDLL, s: tuple[int, ...]) -> tuple[int, ...]:
    v = (ctypes.c_int64 * len(s))(*s)
    lib.mc_canonical(v)
    return tuple(v)


def _concrete(
    c: Compiled,
    lib: ctypes.CDLL,
    chain: list[tuple[int, ...]],
    path: list[tuple[int, int]],
    site: ir.ErrorSite | None,
) -> tuple[list[tuple[int, int]], tuple[int, ...], ir.ErrorSite | None]:
    """A run through states equal, up to symmetry, to the stored `chain`: the search stores
    one state per orbit, so its path names the threads of the canonical states. Each step is
    found again from the concrete state (its successor has the next stored state as its
    canonical form); a failing last step is the one failing at the same site."""
    from .explore import RCU_THREAD

    s = c.model.initial_state()
    out: list[tuple[int, int]] = []
    where = None if site is None else (site.kind, site.name, site.span)
    for k, _ in enumerate(path):
        failing = k == len(chain) - 1
        found: tuple[int, int, tuple[int, ...], ir.ErrorSite | None] | None = None
        for tid, (pcslot, table) in enumerate(c.tables):
            r = table[s[pcslot]](s)
            outs = [] if r is None else [r] if type(r) is not list else r
            for b, x in enumerate(outs):
                if failing and type(x) is int:
                    e = c.errors[x]
                    if (e.kind, e.name, e.span) == where:
                        found = (tid, b, s, e)
                elif not failing and type(x) is tuple and _canon(lib, x) == chain[k + 1]:
                    found = (tid, b, x, None)
                if found:
                    break
            if found:
                break
        if found is None and not failing and c.rcu_steps is not None:
            for b, x in c.rcu_steps(s):
                if _canon(lib, x) == chain[k + 1]:
                    found = (RCU_THREAD, b, x, None)
                    break
        if found is None:
            raise AssertionError(f"step {k + 1} of a counterexample found up to symmetry has no concrete match")
        out.append((found[0], found[1]))
        s = found[2]
        if found[3] is not None:
            site = found[3]
    return out, s, site


def _orbit_coverage(sym: Symmetry, cov: Coverage) -> Coverage:
    """What the search covered, for every thread: a node one instance of a group executed in
    some state, each other instance executes in the permuted state, which is reachable too.
    (The instances share their error sites, so the sites evaluated need no mapping.)"""
    group_of = {t: g for g in sym.groups for t in g.threads}
    nodes = set(cov.nodes)
    for t, n in cov.nodes:
        if t in group_of:
            nodes.update((u, n) for u in group_of[t].threads)
    return dataclasses.replace(cov, nodes=frozenset(nodes))
