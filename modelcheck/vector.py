"""Stage 5b, explore in bulk: breadth-first search a chunk of states at a time with numpy.

`explore` (the per-state search) hands a search over to `continue_search` once it
has grown past `explore.BULK_AFTER` states. From then on a chunk of a level is a
matrix (one column per state, one row per slot); each thread's step at each pc is
applied to all the states at that pc at once by interpreting the IR on rows, the
successors are bit-packed into one or a few 64-bit words from the slots' declared
ranges, and de-duplicated exactly (whole keys are compared) in an open-addressing
index. Per state only the key and the parent's number are kept; a counterexample is
rebuilt by following parents (the step between two states is found again by expanding
the first), and rendered by replaying that path with the generated code. Once there is
more than a chunk to expand, a forked worker expands chunks ahead while this process
stores their successors.

Partial-order reduction uses the same tables as `explore` (see `por`): every step
is computed; a state whose ample thread passes the cycle proviso keeps only that
thread's successors.

`supported(model)` says why a model cannot be run this way (pools and RCU, slots
without a bounded range); such models stay with the per-state search.
"""

from __future__ import annotations

import dataclasses
import itertools
import mmap
import multiprocessing
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection

import numpy as np

from . import ir
from .codegen import Compiled, enabled_checks
from .coverage import Coverage
from .explore import HOLDS, UNKNOWN, VIOLATED, Limits, Result, Stats, Violation, describe_blocked
from .ir_text import format_expr
from .por import Reduction
from .ranges import Ranges, widest_in_model

FORK = "fork" in multiprocessing.get_all_start_methods()
CHUNK = 1 << 16  # frontier rows expanded together: bounds the working memory
AHEAD = 2  # chunks handed to the worker before their successors are stored
RESERVE = 1 << 26  # states the store's arrays reserve up front; pages are only touched when used
_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)


FP_BITS = 5  # hash bits kept in each index entry: most probes that miss compare no key
FP_MASK = np.uint32((1 << FP_BITS) - 1)
MAX_STATES = 1 << (32 - FP_BITS)


class StoreFull(Exception):
    """More states than the bulk store can number."""


class InternalError(Exception):
    """The bulk engine met a state it cannot represent: a bug, never a verdict."""


INT64 = (-(1 << 63), (1 << 63) - 1)


def supported(model: ir.Model) -> str | None:
    """None if the bulk engine can run the model, else why not.

    The bulk engine computes in int64 and packs each slot into at most 63 bits of a word, so
    it refuses a model unless the interval analysis (`ranges`) bounds every slot and every
    intermediate value of its steps and invariants within int64; the per-state search,
    which computes on unbounded ints, goes on with such models."""
    if model.uses_rcu or model.pools:
        return "pools and RCU are explored per state"
    if len(model.threads) > 255 or any(t.end_pc >= 1 << 16 for t in model.threads):
        return "more than 255 threads or 65,535 steps in a thread"
    ranges = Ranges(model)
    for j, s in enumerate(model.slots):
        r = ranges.slot(j)
        if r is None:
            return f"slot {s.name} has no bounded range"
        if r[0] < INT64[0] or r[1] > INT64[1] or (r[1] - r[0]).bit_length() > 63:
            return f"slot {s.name} has a range [{r[0]}, {r[1]}] past 64-bit integers"
    widest = widest_in_model(model)
    if widest.magnitude < 0 or widest.magnitude > INT64[1]:
        assert widest.expr is not None
        return f"{format_expr(widest.expr)} can reach values past 64-bit integers"
    return None


def _ranges(model: ir.Model) -> list[tuple[int, int] | None]:
    r = Ranges(model)
    return [r.slot(j) for j in range(len(model.slots))]


# ---------------------------------------------------------------- packing


def _constants(model: ir.Model) -> dict[int, int]:
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
class Packing:
    """Where each slot lives in the packed key: word, shift, offset and width."""

    word: np.ndarray
    shift: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    words: int
    width: np.ndarray  # hi - lo: the largest packed value
    mask: np.ndarray  # the field's bit mask, before shifting

    @staticmethod
    def of(model: ir.Model) -> Packing:
        ranges = _ranges(model)
        for c, v in _constants(model).items():
            ranges[c] = (v, v)
        assert all(r is not None for r in ranges)
        lo = np.array([r[0] for r in ranges if r is not None])
        hi = np.array([r[1] for r in ranges if r is not None])
        bits = [int(x).bit_length() for x in hi - lo]
        word, shift = [0] * len(bits), [0] * len(bits)
        used: list[int] = []  # bits used per word: first fit, widest fields first
        for c in sorted(range(len(bits)), key=lambda c: (-bits[c], c)):
            if not bits[c]:
                continue
            w = next((w for w, u in enumerate(used) if u + bits[c] <= 64), len(used))
            if w == len(used):
                used.append(0)
            word[c], shift[c] = w, used[w]
            used[w] += bits[c]
        return Packing(
            np.array(word),
            np.array(shift, np.uint64),
            lo,
            hi,
            max(1, len(used)),
            (hi - lo).astype(np.uint64),
            np.array([(1 << b) - 1 for b in bits], np.uint64),
        )

    def pack(self, v: np.ndarray) -> np.ndarray:
        """States (slots x n) -> packed keys (words x n); checks every value is in range."""
        out = np.zeros((self.words, v.shape[1]), np.uint64)
        for c in range(len(v)):
            self._set_field(out, c, v[c])
        return out

    def _set_field(self, keys_t: np.ndarray, c: int, v: np.ndarray) -> None:
        """Write slot `c`'s values `v` into the keys (words x n)."""
        u = (v - self.lo[c]).view(np.uint64)
        bad = u > self.width[c]  # a value below the range wraps to a huge one
        if bad.any():
            k = int(np.argmax(bad))
            raise InternalError(f"slot {c} holds {v[k]}, outside its range [{self.lo[c]}, {self.hi[c]}]")
        if not self.mask[c]:
            return
        w, sh = int(self.word[c]), np.uint64(self.shift[c])
        keys_t[w] &= ~(self.mask[c] << sh)
        keys_t[w] |= u << sh

    def update(self, keys_t: np.ndarray, r: _Rows) -> np.ndarray:
        """The keys (words x n) of the states in `r`, which differ from the states packed in
        `keys_t` (words x n, changed in place) only in the slots `r` wrote."""
        if r.dirty is None:
            return self.pack(r.states())
        for c in sorted(r.dirty):
            self._set_field(keys_t, c, r.cols[c])
        return keys_t

    def unpack(self, k: np.ndarray) -> np.ndarray:
        """Packed keys (words x n) -> states (slots x n)."""
        raw = k[self.word]
        raw >>= self.shift[:, None]
        raw &= self.mask[:, None]
        out = raw.view(np.int64)
        out += self.lo[:, None]
        return out


# ---------------------------------------------------------------- the store


def key_hash(keys: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each key (words x n), for the store's index."""
    h = keys[0] * _M1
    for w in range(1, len(keys)):
        h ^= h >> np.uint64(31)
        h = (h ^ keys[w]) * _M1
    h ^= h >> np.uint64(29)
    h *= _M2
    h ^= h >> np.uint64(32)
    return h


def _shared_zeros(rows: int, words: int) -> np.ndarray:
    """A zeroed rows x words array in memory shared with processes forked later, so they
    see what this one stores. Pages are only taken as they are written."""
    buf = mmap.mmap(-1, rows * words * 8)  # anonymous, MAP_SHARED
    return np.frombuffer(buf, np.uint64).reshape(rows, words)


class Store:
    """Every stored state's key and parent, with an exact open-addressing index.

    Stored keys are rows (states x words): comparing one is one cache line. A batch of
    keys being computed is word-major (words x n)."""

    def __init__(self, words: int, capacity: int = RESERVE) -> None:
        self.n = 0
        self.keys = _shared_zeros(capacity, words)
        self.generation = 0  # bumped when the keys move: a forked worker no longer sees them
        self.parent = np.zeros(capacity, np.uint32)
        # per entry: (state number + 1) << FP_BITS | the key's fingerprint; 0 is empty
        self.table = np.zeros(1 << 16, np.uint32)

    def load(self, keys: np.ndarray, parent: np.ndarray) -> None:
        """Take distinct states, numbered in the order given, into an empty store."""
        n = keys.shape[1]
        self._grow(n)
        self.keys[:n], self.parent[:n] = keys.T, parent
        self.n = n
        self._reindex()

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """The stored keys of states `ids`, word-major (words x n)."""
        return np.ascontiguousarray(np.take(self.keys, ids, axis=0).T)

    def span(self, lo: int, hi: int) -> np.ndarray:
        """The stored keys of states lo..hi-1, word-major (words x n)."""
        return np.ascontiguousarray(self.keys[lo:hi].T)

    def _same(self, slot: np.ndarray, keys: np.ndarray, items: np.ndarray) -> np.ndarray:
        got = np.take(self.keys, slot, axis=0)  # np.take: much faster than keys[slot] for rows
        eq = got[:, 0] == keys[0, items]
        for w in range(1, len(keys)):
            eq &= got[:, w] == keys[w, items]
        return eq

    def _probe(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each hash's first slot in the index, its probe stride (double hashing: odd, so
        every slot is reached) and the fingerprint its entry carries."""
        pos = (h & np.uint64(len(self.table) - 1)).astype(np.int64)
        stride = ((h >> np.uint64(32)) | np.uint64(1)).astype(np.int64) & (len(self.table) - 1)
        return pos, stride, (h >> np.uint64(64 - FP_BITS)).astype(np.uint32)

    def insert(
        self, keys: np.ndarray, parent: np.ndarray, hashes: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Add keys (words x m) not stored yet, merging duplicates: (numbers, first-seen mask)."""
        m = keys.shape[1]
        self._grow(self.n + m)
        mask = len(self.table) - 1
        pos, stride, fp = self._probe(key_hash(keys) if hashes is None else hashes)
        out = np.full(m, -1, np.int64)
        new = np.zeros(m, bool)
        pend = np.arange(m)
        while pend.size:
            e = self.table[pos[pend]]
            free = e == 0
            taken, e = pend[~free], e[~free]
            # only an entry with the same fingerprint can hold the same key: compare those
            maybe = np.nonzero((e & FP_MASK) == fp[taken])[0]
            slot = (e[maybe] >> FP_BITS).astype(np.int64) - 1
            eq = self._same(slot, keys, taken[maybe])
            out[taken[maybe[eq]]] = slot[eq]
            moving = np.ones(len(taken), bool)
            moving[maybe[eq]] = False
            moving = taken[moving]
            pos[moving] = (pos[moving] + stride[moving]) & mask
            claim = pend[free]
            if claim.size:
                # Claim the free slots: one claimant per slot wins (numpy assigns a repeated
                # index from the last value, in order); the others compare with it next round.
                tag = ((claim + 1) << FP_BITS).astype(np.uint32) | fp[claim]
                self.table[pos[claim]] = tag
                won = self.table[pos[claim]] == tag
                win, lost = claim[won], claim[~won]
                ids = np.arange(self.n, self.n + len(win))
                self.keys[ids] = keys[:, win].T
                self.parent[ids] = parent[win]
                self.table[pos[win]] = ((ids + 1) << FP_BITS).astype(np.uint32) | fp[win]
                out[win] = ids
                new[win] = True
                self.n += len(win)
                pend = np.concatenate([moving, lost])
            else:
                pend = moving
        return out, new

    def _grow(self, need: int) -> None:
        if need >= MAX_STATES:
            raise StoreFull(f"the bulk store holds at most {MAX_STATES - 1:,} states")
        if need > len(self.keys):
            cap = max(need, len(self.keys) * 3 // 2)
            keys = _shared_zeros(cap, self.keys.shape[1])
            keys[: self.n] = self.keys[: self.n]
            self.keys = keys
            self.generation += 1
            parent = np.zeros(cap, np.uint32)
            parent[: self.n] = self.parent[: self.n]
            self.parent = parent
        if need * 10 > len(self.table) * 7:
            size = len(self.table)
            while need * 10 > size * 7:
                size *= 2
            self.table = np.zeros(size, np.uint32)
            self._reindex()

    def _reindex(self) -> None:
        """Index every stored key (distinct) in the empty table, a slice at a time."""
        mask = len(self.table) - 1
        for lo in range(0, self.n, 1 << 20):
            ids = np.arange(lo, min(self.n, lo + (1 << 20)))
            pos, stride, fp = self._probe(key_hash(self.span(lo, lo + len(ids))))
            entry = ((ids + 1) << FP_BITS).astype(np.uint32) | fp
            pend = np.arange(len(ids))
            while pend.size:
                free = self.table[pos[pend]] == 0
                claim = pend[free]
                self.table[pos[claim]] = entry[claim]
                won = self.table[pos[claim]] == entry[claim]
                pend = np.concatenate([pend[~free], claim[~won]])
                pos[pend] = (pos[pend] + stride[pend]) & mask

    def chain(self, i: int) -> list[int]:
        """The states from the initial one to state `i`, by parents."""
        out = [i]
        while i > 0:
            i = int(self.parent[i])
            out.append(i)
        out.reverse()
        return out

    def nbytes(self) -> int:
        """Bytes of the store in use: keys and parents of the stored states, and the index."""
        per_state = self.keys.shape[1] * 8 + self.parent.itemsize
        return self.n * per_state + self.table.nbytes


# ---------------------------------------------------------------- steps on columns


class _Rows:
    """A batch of states taking one step: rows `src` of the frontier matrix `s` (slots x n),
    the slots written so far, and the first violation of each row (-1: none).

    Slots are gathered from `s` only when read; written ones live in `cols`. A write or
    read through a computed address turns the batch into a full matrix (`full`)."""

    def __init__(self, s: np.ndarray, src: np.ndarray) -> None:
        self.s = s
        self.src = src
        self.err = np.full(len(src), -1, np.int64)
        self.cols: dict[int, np.ndarray] = {}  # every written slot, and slots read so far
        self.dirty: set[int] | None = set()  # slots written so far; None: any (see `full`)
        self.full: np.ndarray | None = None

    def col(self, a: int) -> np.ndarray:
        if self.full is not None:
            return self.full[a]
        x = self.cols.get(a)
        if x is None:
            x = self.cols[a] = self.s[a, self.src]
        return x

    def put(self, a: int, value: np.ndarray | int) -> None:
        if isinstance(value, int) or value.ndim == 0:
            value = np.full(len(self.src), value, np.int64)
        if self.full is not None:
            self.full[a] = value
        else:
            self.cols[a] = value
            if self.dirty is not None:
                self.dirty.add(a)

    def states(self, sel: np.ndarray | None = None) -> np.ndarray:
        """The whole states (slots x rows) of the selected rows."""
        if self.full is not None:
            return self.full if sel is None else self.full[:, sel]
        src = self.src if sel is None else self.src[sel]
        out = self.s[:, src]
        for a in self.dirty or ():
            out[a] = self.cols[a] if sel is None else self.cols[a][sel]
        return out

    def materialize(self) -> np.ndarray:
        if self.full is None:
            self.full = self.states()
            self.cols = {}
            self.dirty = None
        return self.full

    def take(self, sel: np.ndarray) -> _Rows:
        r = _Rows(self.s, self.src[sel])
        r.err = self.err[sel]
        if self.full is not None:
            r.full = self.full[:, sel]
            r.dirty = None
        else:
            assert self.dirty is not None
            r.dirty = set(self.dirty)
            r.cols = {a: self.cols[a][sel] for a in self.dirty}
        return r


class _Steps:
    """Interprets one thread's steps on batches of rows."""

    def __init__(self, c: Compiled) -> None:
        self.c = c
        self.m = c.model
        self.enabled = enabled_checks(self.m, c.props)
        self.lock_order = c.check_lock_order
        self.edges = c.lock_edges
        self.spin_slots = [lk.addr for lk in self.m.locks if lk.kind == "spinlock"]
        self.nslots = len(self.m.slots)
        self.has_invariants = any(inv.error in self.enabled for inv in self.m.invariants)
        # coverage: the nodes some row executed, the sites some live row evaluated
        self.nodes_hit: set[tuple[int, int]] = set()
        self.sites_hit: set[int] = set()

    def hit_site(self, err: int, live: np.ndarray) -> None:
        if err not in self.sites_hit and live.any():
            self.sites_hit.add(err)

    def hit_node(self, t: ir.ThreadIR, nid: int, r: _Rows) -> None:
        if (t.index, nid) not in self.nodes_hit and (r.err < 0).any():
            self.nodes_hit.add((t.index, nid))

    def take_marks(self) -> tuple[set[tuple[int, int]], set[int]]:
        """The coverage marks since the last call."""
        out = self.nodes_hit, self.sites_hit
        self.nodes_hit, self.sites_hit = set(), set()
        return out

    # ------------------------------------------------------------ expressions
    def addr(self, a: ir.Addr, r: _Rows, live: np.ndarray) -> np.ndarray | int:
        if not a.terms:
            return a.base
        x = np.full(len(r.src), a.base, np.int64)
        for k, e in a.terms:
            x = x + k * self.ev(e, r, live)
        return np.clip(x, 0, self.nslots - 1)  # rows past a failed bounds check hold garbage

    def load(self, r: _Rows, a: np.ndarray | int) -> np.ndarray:
        if isinstance(a, int):
            return r.col(a)
        return r.materialize()[a, np.arange(len(r.src))]

    def ev(self, e: ir.Expr, r: _Rows, live: np.ndarray) -> np.ndarray:
        n = len(r.src)
        if isinstance(e, ir.Const):
            return np.full(n, e.value, np.int64)
        if isinstance(e, ir.Load):
            return self.load(r, self.addr(e.addr, r, live))
        if isinstance(e, ir.Un):
            a = self.ev(e.a, r, live)
            return (a == 0).astype(np.int64) if e.op == "!" else -a
        if isinstance(e, ir.Bin):
            op = e.op
            a = self.ev(e.a, r, live)
            if op in ("&&", "||", "==>"):
                go = (a != 0) if op != "||" else (a == 0)
                b = self.ev(e.b, r, live & go) != 0
                if op == "&&":
                    return ((a != 0) & b).astype(np.int64)
                if op == "||":
                    return ((a != 0) | b).astype(np.int64)
                return ((a == 0) | b).astype(np.int64)
            b = self.ev(e.b, r, live)
            if op in ("/", "%"):
                safe = np.where(b == 0, 1, b)
                q = np.abs(a) // np.abs(safe)
                q = np.where((a >= 0) == (safe >= 0), q, -q)
                return q if op == "/" else a - safe * q
            return _BIN[op](a, b).astype(np.int64)
        if isinstance(e, ir.Guarded):
            if e.error in self.enabled:
                self.hit_site(e.error, live)
                cond = self.ev(e.cond, r, live) != 0
                self.fail(r, live & ~cond, e.error)
            return self.ev(e.expr, r, live)
        if isinstance(e, ir.Held):
            lock = self.addr(e.addr, r, live)
            me = e.thread + 1
            held: np.ndarray = (self.load(r, lock) & ir.OWNER_MASK) == me
            if e.kind == "rwsem" and not e.write:
                held |= ((self.load(r, lock + 1) >> e.thread) & 1) == 1
            return held.astype(np.int64)
        raise InternalError(f"expression {e!r} is explored per state")

    @staticmethod
    def fail(r: _Rows, bad: np.ndarray, err: int) -> None:
        bad = bad & (r.err < 0)
        r.err[bad] = err

    def spin_held(self, r: _Rows, me: int) -> np.ndarray:
        out = np.zeros(len(r.src), bool)
        for a in self.spin_slots:
            out |= (r.col(a) & ir.OWNER_MASK) == me
        return out

    # ------------------------------------------------------------ steps
    def run(
        self, t: ir.ThreadIR, pc: int, s: np.ndarray, rows: np.ndarray
    ) -> tuple[list[tuple[np.ndarray, int, _Rows]], list[tuple[np.ndarray, int, np.ndarray]]]:
        """Take thread t's step at pc from the given rows of s: (successors, violations),
        each a list of (source rows, branch, the successors | error ids)."""
        self.succ: list[tuple[np.ndarray, int, _Rows]] = []
        self.errs: list[tuple[np.ndarray, int, np.ndarray]] = []
        self.pcs = {y: i for i, y in enumerate(t.yields)}
        node = t.nodes[t.yields[pc]]
        r = _Rows(s, rows)
        if node.choices:
            self.hit_node(t, node.id, r)
            for k, ch in enumerate(node.choices):
                b = r.take(np.ones(len(rows), bool))
                self.cont(t, ch, b, False, k)
        else:
            self.cont(t, t.yields[pc], r, True, 0)
        return self.succ, self.errs

    def settle(self, r: _Rows, branch: int) -> _Rows:
        """Report rows that failed; continue with the others."""
        bad = r.err >= 0
        if bad.any():
            self.errs.append((r.src[bad], branch, r.err[bad]))
            return r.take(~bad)
        return r

    def emit(self, t: ir.ThreadIR, r: _Rows, pc: int, branch: int) -> None:
        r = self.settle(r, branch)
        if len(r.src):
            self.store(r, t.pc_slot, pc)
            for slot, value in t.resets[pc] if t.resets else ():
                self.store(r, slot, value)
            if r.dirty is not None:  # keep only what the successors changed
                r.cols = {a: r.cols[a] for a in r.dirty}
            self.succ.append((r.src, branch, r))

    def cont(self, t: ir.ThreadIR, nid: int, r: _Rows, first: bool, branch: int) -> None:
        if not len(r.src):
            return
        node = t.nodes[nid]
        if not first and nid in self.pcs:
            self.emit(t, r, self.pcs[nid], branch)
            return
        if node.end:
            self.hit_node(t, nid, r)
            self.thread_end(t, r)
            self.emit(t, r, t.end_pc, branch)
            return
        ops = list(node.ops)
        if first:
            k = 0
            while k < len(ops) and isinstance(ops[k], ir.Check):
                k += 1
            if k < len(ops) and isinstance(ops[k], (ir.Await, ir.Acquire)):
                for op in ops[:k]:
                    self.op(t, op, r)
                r = self.settle(r, branch)
                r = self.guard(t, ops[k], r)
                ops = ops[k + 1 :]
        self.hit_node(t, nid, r)
        for op in ops:
            self.op(t, op, r)
        r = self.settle(r, branch)
        if not len(r.src):
            return
        if node.cond is not None:
            assert node.then is not None and node.orelse is not None
            c = self.ev(node.cond, r, r.err < 0) != 0
            for op in node.post:
                self.op(t, op, r)
            ok = r.err < 0
            if not ok.all():
                self.errs.append((r.src[~ok], branch, r.err[~ok]))
                r, c = r.take(ok), c[ok]
            self.cont(t, node.then, r.take(c), False, branch)
            self.cont(t, node.orelse, r.take(~c), False, branch)
            return
        if node.next is None:
            self.thread_end(t, r)
            self.emit(t, r, t.end_pc, branch)
            return
        self.cont(t, node.next, r, False, branch)

    def guard(self, t: ir.ThreadIR, op: ir.Op, r: _Rows) -> _Rows:
        me = t.index + 1
        live = np.ones(len(r.src), bool)
        if isinstance(op, ir.Await):
            ok = self.ev(op.cond, r, live) != 0
            # a failing check inside an await condition is reported whether or not it blocks
            return r.take(ok | (r.err >= 0))
        assert isinstance(op, ir.Acquire)
        a = self.addr(op.addr, r, live)
        o = self.load(r, a)
        rw = op.kind == "rwsem"
        rd = self.load(r, a + 1) if rw else None
        held_err, sleep_err = op.errors
        owner = o & ir.OWNER_MASK
        bit = 1 << t.index
        if held_err in self.enabled:
            mine = owner == me
            blocked = (o != 0) & (owner != me)
            if rw:
                assert rd is not None
                mine = mine | ((rd & bit) != 0)
                if op.mode == "w":
                    blocked = blocked | ((rd & ~bit) != 0)
        else:
            mine = np.zeros(len(r.src), bool)
            blocked = o != 0
            if rw and op.mode == "w":
                assert rd is not None
                blocked = blocked | (rd != 0)
        go = ~blocked | (r.err >= 0)  # a failing address is reported, not waited on
        r = r.take(go)
        mine, a = mine[go], a if isinstance(a, int) else a[go]
        if held_err in self.enabled:
            self.hit_site(held_err, r.err < 0)
        self.fail(r, mine, held_err)
        if op.kind != "spinlock" and sleep_err in self.enabled:
            self.hit_site(sleep_err, r.err < 0)
            self.fail(r, self.spin_held(r, me), sleep_err)
        live = r.err < 0
        if self.lock_order:
            self.edge(t, op, r, live)
        if op.mode == "w":
            value = me | (op.subclass << ir.OWNER_BITS)
            self.store(r, a, np.where(live, value, self.load(r, a)))
        else:
            self.store(r, a + 1, self.load(r, a + 1) | bit)
        return r

    def edge(self, t: ir.ThreadIR, op: ir.Acquire, r: _Rows, live: np.ndarray) -> None:
        me = t.index + 1
        for lk in self.m.locks:
            owner = r.col(lk.addr)[live]
            mine = (owner & ir.OWNER_MASK) == me
            subs = set((owner[mine] >> ir.OWNER_BITS).tolist())
            if lk.kind == "rwsem" and ((r.col(lk.addr + 1)[live] >> t.index) & 1).any():
                subs.add(0)
            for sub in sorted(subs):
                cls = f"{lk.lock_class}/{sub}" if sub else lk.lock_class
                self.edges.setdefault((cls, op.lock_class), (t.index, op.errors[0]))

    def store(self, r: _Rows, a: np.ndarray | int, value: np.ndarray | int) -> None:
        if isinstance(a, int):
            r.put(a, value)
        else:
            r.materialize()[a, np.arange(len(r.src))] = value

    def op(self, t: ir.ThreadIR, op: ir.Op, r: _Rows) -> None:
        if not len(r.src):
            return
        me = t.index + 1
        bit = 1 << t.index
        live = r.err < 0
        if isinstance(op, ir.Set):
            a = self.addr(op.addr, r, live)
            value = self.ev(op.value, r, live)
            self.store(r, a, value)
        elif isinstance(op, ir.Check):
            if op.error in self.enabled:
                self.hit_site(op.error, live)
                self.fail(r, live & (self.ev(op.cond, r, live) == 0), op.error)
            else:  # not selected, but its reads are still made
                self.ev(op.cond, r, live)
        elif isinstance(op, ir.TryAcquire):
            a = self.addr(op.addr, r, live)
            rw = op.kind == "rwsem"
            free = self.load(r, a) == 0
            if op.mode == "w":
                if rw:
                    free &= self.load(r, a + 1) == 0
                self.store(r, a, np.where(free, me, self.load(r, a)))
            else:
                self.store(r, a + 1, np.where(free, self.load(r, a + 1) | bit, self.load(r, a + 1)))
            self.store(r, self.addr(op.dest, r, live), free.astype(np.int64))
        elif isinstance(op, ir.Release):
            if op.error in self.enabled:
                self.hit_site(op.error, live)
            a = self.addr(op.addr, r, live)
            if op.mode == "w":
                if op.error in self.enabled:
                    self.fail(r, live & ((self.load(r, a) & ir.OWNER_MASK) != me), op.error)
                self.store(r, a, 0)
            else:
                if op.error in self.enabled:
                    self.fail(r, live & ((self.load(r, a + 1) & bit) == 0), op.error)
                self.store(r, a + 1, self.load(r, a + 1) & ~bit)
        else:
            raise InternalError(f"operation {op!r} is explored per state")

    def thread_end(self, t: ir.ThreadIR, r: _Rows) -> None:
        me = t.index + 1
        locks = {lk.addr: lk for lk in self.m.locks}
        for addr, err in t.end_errors:
            if err not in self.enabled or addr < 0:
                continue
            self.hit_site(err, r.err < 0)
            bad = (r.col(addr) & ir.OWNER_MASK) == me
            if locks[addr].kind == "rwsem":
                bad |= ((r.col(addr + 1) >> t.index) & 1) == 1
            self.fail(r, bad, err)

    def invariant(self, v: np.ndarray) -> np.ndarray:
        """The violated invariant's (or failing check's) error id per row, -1 if none."""
        r = _Rows(v, np.arange(v.shape[1]))
        for inv in self.m.invariants:
            if inv.error in self.enabled:
                ok = self.ev(inv.expr, r, r.err < 0) != 0
                self.fail(r, ~ok, inv.error)
        return r.err


_BIN: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "==": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "&": np.bitwise_and,
    "|": np.bitwise_or,
    "^": np.bitwise_xor,
    # counts are checked to lie in 0..64; by 64, the result fits in int64 only for 0 (`<<`)
    # and is 0 or -1 (`>>`), as by 63, which numpy defines on every platform
    "<<": lambda a, b: np.left_shift(a, np.clip(b, 0, 63)),
    ">>": lambda a, b: np.right_shift(a, np.clip(b, 0, 63)),
}


# ---------------------------------------------------------------- the search


@dataclass
class Handover:
    """Where the per-state search stopped: every state so far, in order, and the frontier."""

    states: list[tuple[int, ...]]
    parent: list[int]
    via: list[tuple[int, int]]
    frontier: list[int]
    depth: int
    transitions: int
    t0: float


def continue_search(
    c: Compiled,
    h: Handover,
    limits: Limits,
    progress: Callable[[Stats], None] | None,
    reduction: Reduction | None,
) -> Result:
    """Go on with a breadth-first search in bulk, a chunk of states at a time; same
    verdicts as `explore`. Once there is more than a chunk to expand, a forked worker
    expands chunks ahead while this process stores their successors."""
    search = _Search(c, h, limits, progress, reduction)
    try:
        result = search.run()
    finally:
        search.close()
    if result.verdict in (HOLDS, UNKNOWN):
        return dataclasses.replace(result, coverage=search.coverage(result.verdict == HOLDS))
    return result


@dataclass
class _Expanded:
    """One chunk of a level, expanded: every successor with its key, and what went wrong.
    Rows are positions in the chunk."""

    src: np.ndarray  # per successor: its source row
    step: np.ndarray  # per successor: thread << 8 | branch
    key: np.ndarray  # words x successors
    hash: np.ndarray
    ample: np.ndarray | None  # per row: the thread explored alone, or -1 (with reduction)
    error: tuple[int, int, int, int] | None  # (row, thread, branch, error id): the first
    stuck: int | None  # a deadlocked row
    edges: list[tuple[tuple[str, str], tuple[int, int]]]  # lock-order edges seen first here
    marks: tuple[set[tuple[int, int]], set[int]]  # coverage: nodes executed, sites evaluated


class _Worker:
    """A forked process that expands chunks: `submit` the keys of one, `result` is it."""

    def __init__(self, search: _Search) -> None:
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, search), daemon=True)
        self.proc.start()
        child.close()
        self.generation = search.store.generation

    def submit(self, lo: int, hi: int) -> None:
        self.conn.send((lo, hi))

    def result(self) -> _Expanded:
        out = self.conn.recv()
        if isinstance(out, str):
            raise InternalError(f"the expansion worker failed:\n{out}")
        return out

    def close(self) -> None:
        # it may be blocked sending a chunk nobody will read (a bound was hit): just stop it
        self.proc.terminate()
        self.proc.join()
        self.conn.close()


def _serve(conn: Connection, search: _Search) -> None:
    try:
        while (span := conn.recv()) is not None:
            conn.send(search.expand(search.store.span(*span)))
    except (KeyboardInterrupt, EOFError):
        pass
    except Exception:  # noqa: BLE001 - reported to the parent as an internal error
        conn.send(traceback.format_exc())


class _Search:
    def __init__(
        self,
        c: Compiled,
        h: Handover,
        limits: Limits,
        progress: Callable[[Stats], None] | None,
        reduction: Reduction | None,
    ) -> None:
        self.c, self.limits, self.progress = c, limits, progress
        m = c.model
        self.pk = pk = Packing.of(m)
        n0 = len(h.states)
        cap = max(RESERVE, 2 * n0) if limits.max_states is None else max(limits.max_states, n0) + CHUNK * 64
        self.store = Store(pk.words, cap)
        keys = pk.pack(np.array(h.states, np.int64).T)
        parent = np.array(h.parent, np.int64).clip(0).astype(np.uint32)
        self.store.load(keys, parent)
        self.steps = _Steps(c)
        self.por = _PorTables(m, reduction) if reduction is not None else None
        lo = len(h.states) - len(h.frontier)
        if h.frontier != list(range(lo, len(h.states))):
            raise InternalError("the per-state search handed over a frontier that is not its last states")
        self.starts = {h.depth: lo, h.depth + 1: len(h.states)}  # level -> number of its first state
        self.cursor, self.issue_level = lo, h.depth  # the next state to hand out, and its level
        self.depth, self.transitions, self.t0 = h.depth, h.transitions, h.t0
        self.end = np.array([t.end_pc for t in m.threads])
        self.pc_cols = [t.pc_slot for t in m.threads]
        self.worker: _Worker | None = None
        self.nodes_hit: set[tuple[int, int]] = set()
        self.sites_hit: set[int] = set()

    def covered(self, marks: tuple[set[tuple[int, int]], set[int]]) -> None:
        self.nodes_hit |= marks[0]
        self.sites_hit |= marks[1]

    def coverage(self, complete: bool) -> Coverage:
        """What the bulk search executed and evaluated (raw: `explore` adds its own part)."""
        return Coverage(frozenset(self.nodes_hit), frozenset(self.sites_hit), complete)

    def stats(self) -> Stats:
        return Stats(self.store.n, self.transitions, self.depth, time.monotonic() - self.t0)

    def expand(self, keys_t: np.ndarray) -> _Expanded:
        """Every step of every thread from the states with these keys (words x n)."""
        pk, steps, threads = self.pk, self.steps, self.c.model.threads
        s = pk.unpack(keys_t)
        n = keys_t.shape[1]
        moved = np.zeros((len(threads), n), bool)
        srcs, stepids, keys = [], [], []
        error: tuple[int, int, int, int] | None = None
        known = len(self.c.lock_edges)
        for tid, t in enumerate(threads):
            pcs = s[t.pc_slot]
            order = np.argsort(pcs.astype(np.uint16), kind="stable")  # a radix sort
            bounds = np.cumsum(np.bincount(pcs, minlength=t.end_pc + 1)).tolist()
            for pc in range(t.end_pc):
                at = order[(bounds[pc - 1] if pc else 0) : bounds[pc]]
                if not len(at):
                    continue
                succ, errs = steps.run(t, pc, s, at)
                for src, branch, rs in succ:
                    moved[tid, src] = True
                    srcs.append(src)
                    keys.append(pk.update(keys_t[:, src], rs))
                    stepids.append(np.full(len(src), (tid << 8) | branch, np.uint16))
                for src, branch, err in errs:
                    moved[tid, src] = True
                    k = int(np.argmin(src))
                    if error is None or src[k] < error[0]:
                        error = (int(src[k]), tid, branch, int(err[k]))
        stuck = ~moved.any(axis=0) & (s[self.pc_cols] != self.end[:, None]).any(axis=0)
        key = np.concatenate(keys, axis=1) if keys else np.zeros((pk.words, 0), np.uint64)
        return _Expanded(
            np.concatenate(srcs) if srcs else np.zeros(0, np.int64),
            np.concatenate(stepids) if stepids else np.zeros(0, np.uint16),
            key,
            key_hash(key),
            self.por.ample(s, moved) if self.por is not None else None,
            error,
            int(np.nonzero(stuck)[0][0]) if stuck.any() and self.c.check_deadlock else None,
            list(self.c.lock_edges.items())[known:],
            steps.take_marks(),
        )

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None

    def run(self) -> Result:
        """Expand chunks of states in the order they were stored (breadth first): a chunk
        never spans two levels, so the states of each level are numbered together. The
        worker expands ahead, into the next level as soon as a chunk of it is stored, while
        this process stores successors."""
        store, limits = self.store, self.limits
        error: tuple[int, int, int, int] | None = None  # (state number, thread, branch, error id)
        bad_state: tuple[int, int] | None = None  # (state number, error id)
        pending: deque[tuple[int, int, int]] = deque()  # chunks the worker expands: (lo, hi, level)
        try:
            while True:
                self.feed(pending)
                if pending:
                    lo, hi, level = pending.popleft()
                    assert self.worker is not None
                    x = self.worker.result()
                    for edge, witness in x.edges:
                        self.c.lock_edges.setdefault(edge, witness)
                else:
                    chunk = self.next_chunk()
                    if chunk is None:
                        break
                    lo, hi, level = chunk
                    x = self.expand(store.span(lo, hi))
                self.covered(x.marks)
                self.depth = level
                if limits.max_depth is not None and level >= limits.max_depth:
                    return Result(
                        UNKNOWN,
                        self.stats(),
                        reason=f"--max-depth {limits.max_depth} reached: every state "
                        f"within {level} steps was explored and none violates a property",
                    )
                if x.stuck is not None:
                    return self.deadlock(lo + x.stuck)
                if x.error is not None and error is None:
                    row, tid, branch, err = x.error
                    error = (lo + row, tid, branch, err)
                if error is None and bad_state is None and len(x.src):
                    kept, ids, new = self.store_successors(x, lo, self.starts[level + 1])
                    self.transitions += len(kept)
                    if self.steps.has_invariants and new.any():
                        bad = self.steps.invariant(self.pk.unpack(x.key[:, kept[new]]))
                        self.covered(self.steps.take_marks())
                        hit = np.nonzero(bad >= 0)[0]
                        if hit.size:
                            bad_state = (int(ids[new][hit[0]]), int(bad[hit[0]]))
                # after a violation the level is only searched for a shorter deadlock
                if hi == self.starts[level + 1]:  # the level is done
                    if error is not None:
                        i, tid, branch, err = error
                        return self.violated(err, (*self.path_to(i), (tid, branch)), True)
                    if bad_state is not None:
                        i, err = bad_state
                        return self.violated(err, self.path_to(i), False)
                    self.starts[level + 2] = store.n
                if limits.max_states is not None and store.n >= limits.max_states:
                    return Result(
                        UNKNOWN,
                        self.stats(),
                        reason=f"--max-states {limits.max_states} reached (complete to depth {level})",
                    )
                if limits.over_memory():
                    return Result(
                        UNKNOWN,
                        self.stats(),
                        reason=f"{limits.memory_reason()} after {store.n} states (complete to depth {level})",
                    )
                if limits.over_time(self.t0):
                    return Result(
                        UNKNOWN,
                        self.stats(),
                        reason=f"--timeout {limits.timeout:g}s reached after {store.n} states "
                        f"(complete to depth {level})",
                    )
                if self.progress is not None:
                    self.progress(self.stats())
        except KeyboardInterrupt:
            return Result(
                UNKNOWN, self.stats(), reason=f"interrupted after {store.n} states (complete to depth {self.depth})"
            )
        except StoreFull as full:
            return Result(UNKNOWN, self.stats(), reason=f"{full} (complete to depth {self.depth})")
        per_state = store.nbytes() / max(1, store.n)
        return Result(HOLDS, self.stats(), notes=(f"bulk search: {per_state:.0f} bytes per state stored",))

    def next_chunk(self, least: int = CHUNK) -> tuple[int, int, int] | None:
        """The next states to expand, (lo, hi, level), or None until more are stored.

        A level's end is known once the level before it is stored; until then chunks of it
        are handed out once `least` states of it are there."""
        while True:
            end = self.starts.get(self.issue_level + 1)
            if end is not None and self.cursor == end:
                self.issue_level += 1
                continue
            hi = min(self.cursor + CHUNK, self.store.n if end is None else end)
            if hi <= self.cursor or (end is None and hi - self.cursor < least):
                return None
            chunk = (self.cursor, hi, self.issue_level)
            self.cursor = hi
            return chunk

    def feed(self, pending: deque[tuple[int, int, int]]) -> None:
        """Keep the worker AHEAD chunks ahead, forking it once there is more than a chunk
        to expand (and again if the store's keys moved)."""
        if self.worker is not None and self.worker.generation != self.store.generation:
            if pending:
                return
            self.close()
        if self.worker is None:
            if not FORK or self.store.n - self.cursor <= CHUNK:
                return
            self.worker = _Worker(self)
        # an idle worker gets a smaller chunk rather than none: the states of a level found
        # last are then expanded sooner, and this process waits less at each level's end
        while len(pending) < AHEAD and (chunk := self.next_chunk(CHUNK if pending else CHUNK // 8)) is not None:
            self.worker.submit(chunk[0], chunk[1])
            pending.append(chunk)

    def store_successors(self, x: _Expanded, lo: int, stored: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Add the successors of the chunk of states numbered from `lo` to the store: (which
        were kept, their numbers, new ones). States below `stored` are at most as deep as
        the chunk's.

        With reduction, a state's ample successors go in first (with the successors of the
        states that have no ample thread); if one was already stored at this depth or less,
        the state is expanded in full (the cycle proviso)."""
        store = self.store

        def put(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return store.insert(x.key[:, idx], (lo + x.src[idx]).astype(np.uint32), x.hash[idx])

        if x.ample is None:
            everything = np.arange(len(x.src))
            return (everything, *put(everything))
        amp = x.ample[x.src]
        # every successor of a state with no ample thread, and the ample successors
        mine = (x.step >> 8).astype(np.int64) == amp
        first = np.nonzero(mine | (amp < 0))[0]
        ids1, new1 = put(first)
        ample = mine[first]
        full = np.zeros(len(x.ample), bool)
        full[x.src[first[ample & ~new1 & (ids1 < stored)]]] = True
        rest = np.nonzero(~mine & (amp >= 0) & full[x.src])[0]
        if not rest.size:
            return first, ids1, new1
        ids2, new2 = put(rest)
        return np.concatenate([first, rest]), np.concatenate([ids1, ids2]), np.concatenate([new1, new2])

    def path_to(self, i: int) -> tuple[tuple[int, int], ...]:
        """The (thread, branch) steps from the initial state to state `i`: each found by
        expanding the state before it again."""
        ids = self.store.chain(i)
        out = []
        for a, b in itertools.pairwise(ids):
            x = self.expand(self.store.span(a, a + 1))
            match = (x.key == self.store.span(b, b + 1)).all(axis=0)
            if not match.any():
                raise InternalError(f"state {b} is stored with parent {a}, which has no step to it")
            st = int(x.step[int(np.argmax(match))])
            out.append((st >> 8, st & 0xFF))
        return tuple(out)

    def violated(self, err: int, path: tuple[tuple[int, int], ...], failing: bool) -> Result:
        site = self.c.errors[err]
        viol = Violation(site.kind, site.name, site.message, site, path, failing)
        st = self.stats()
        return Result(VIOLATED, Stats(st.states, st.transitions, len(path), st.seconds), viol)

    def deadlock(self, i: int) -> Result:
        state = tuple(int(x) for x in self.pk.unpack(self.store.rows(np.array([i])))[:, 0])
        v = Violation(
            "deadlock",
            "deadlock",
            "deadlock: no thread can move",
            None,
            self.path_to(i),
            False,
            describe_blocked(self.c, state),
        )
        return Result(VIOLATED, self.stats(), v)


class _PorTables:
    """`por.Reduction` as arrays: which thread, if any, is ample in each row."""

    def __init__(self, m: ir.Model, red: Reduction) -> None:
        self.pc_cols = list(red.pc_slots)
        n = len(m.threads)
        self.elig = []
        self.conf: list[list[np.ndarray | None]] = []
        for i, t in enumerate(m.threads):
            row = red.conflicts[i]
            self.elig.append(np.array([row[p] is not None for p in range(t.end_pc)] + [False]))
            per_j: list[np.ndarray | None] = [None] * n
            for j, u in enumerate(m.threads):
                if j == i:
                    continue
                tab = np.zeros((t.end_pc + 1, u.end_pc + 1), bool)
                for p in range(t.end_pc):
                    c = row[p]
                    for pj, mask in c or ():
                        if pj == u.pc_slot:
                            tab[p, :] = [(mask >> q) & 1 == 1 for q in range(u.end_pc + 1)]
                per_j[j] = tab
            self.conf.append(per_j)

    def ample(self, s: np.ndarray, moved: np.ndarray) -> np.ndarray:
        """Per state (slots x n), the thread whose step may be explored alone, or -1."""
        amp = np.full(s.shape[1], -1, np.int64)
        for i, col in enumerate(self.pc_cols):
            # only the rows still open, where thread i's step is eligible, are looked at
            rows = np.nonzero(self.elig[i][s[col]] & moved[i] & (amp < 0))[0]
            pcs = s[col, rows]
            for j, tab in enumerate(self.conf[i]):
                if tab is not None and rows.size:
                    free = ~tab[pcs, s[self.pc_cols[j], rows]]
                    rows, pcs = rows[free], pcs[free]
            amp[rows] = i
        return amp
