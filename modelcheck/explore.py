"""Stage 5, explore: exhaustive breadth-first search over a `Compiled` model.

States are tuples of small ints kept in one dict (state -> index) with parent
links in flat lists, so the first violation found is at the smallest depth and
its trace is rebuilt by following parents. Bounds end the search with UNKNOWN,
never HOLDS. After a complete search the lock-order graph gathered on the way
is checked for cycles with networkx.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import ir
from .codegen import Compiled, address, format_slot
from .coverage import Coverage, finish, marked, reset
from .graphs import simple_cycles
from .por import Reduction

HOLDS, PROVED, VIOLATED, UNKNOWN = "HOLDS", "PROVED", "VIOLATED", "UNKNOWN"


@dataclass(frozen=True)
class Limits:
    """Search bounds; None means unbounded."""

    max_states: int | None = None
    max_depth: int | None = None
    timeout: float | None = None
    max_memory: int | None = None  # bytes of resident memory of this process
    started: float | None = None  # time.monotonic() when the run began: --timeout counts from there

    def over_time(self, t0: float) -> bool:
        """True when --timeout has passed since the run began (or since `t0`)."""
        return (
            self.timeout is not None
            and time.monotonic() - (t0 if self.started is None else self.started) > self.timeout
        )

    def over_memory(self) -> bool:
        """True when the process uses more memory than --max-memory."""
        return self.max_memory is not None and resident_bytes() > self.max_memory

    def memory_reason(self) -> str:
        """The UNKNOWN reason when over_memory() is true."""
        return f"--max-memory {format_size(self.max_memory or 0)} reached ({format_size(resident_bytes())} in use)"


def resident_bytes() -> int:
    """The resident memory of this process, from /proc/self/statm (peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def format_size(n: int) -> str:
    """Bytes as 1.5G, 300M or 12K."""
    for unit, size in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n}B"


@dataclass(frozen=True)
class Stats:
    states: int
    transitions: int
    depth: int
    seconds: float


@dataclass(frozen=True)
class Violation:
    """What was violated, where, and the path (thread, branch) that reaches it."""

    kind: str
    name: str
    message: str
    site: ir.ErrorSite | None
    path: tuple[tuple[int, int], ...]  # transitions from the initial state; the last one fails if `failing_step`
    failing_step: bool
    detail: tuple[str, ...] = ()


@dataclass(frozen=True)
class Result:
    """The verdict of one search."""

    verdict: str
    stats: Stats
    violation: Violation | None = None
    reason: str = ""
    engine: str = "explicit"
    notes: tuple[str, ...] = ()  # further lines for the report (lemmas proved, ...)
    coverage: Coverage | None = None  # what a search that found no violation executed and checked


RCU_THREAD = -1  # thread id used in paths for the RCU callback steps
# Past BUILD_AFTER stored states the compiled engine is built in the background (or loaded
# from the cache); past NATIVE_AFTER the search waits for it and hands over. The hand-over
# point depends on the state count only, so the report of a run never depends on timing.
BUILD_AFTER = 1_000
NATIVE_AFTER = 3_000


def explore(
    c: Compiled,
    limits: Limits = Limits(),
    progress: Callable[[Stats], None] | None = None,
    reduction: Reduction | None = None,
    engine: str = "auto",
    workers: int | None = None,
    symmetry: bool = True,
) -> Result:
    """Search every interleaving; return HOLDS, VIOLATED (shortest) or UNKNOWN.

    With a `reduction` (see `por`), a state where one thread's step is independent of
    everything the others can still do explores that step alone; the verdict is the
    same but a counterexample may be longer than the shortest one.

    `engine`: "python" searches per state with the generated Python; "native" with the
    compiled engine (`native`), waiting for the compiler; "auto" starts in Python and,
    past `NATIVE_AFTER` states, hands the search over to the compiled engine (when the
    model allows it and there is a C compiler). `workers`: threads of the compiled engine
    (default: every core). `symmetry`: the compiled engine stores one state per orbit of
    the permutations of identical thread instances where `symmetry` finds that sound; the
    per-state search never reduces by symmetry.

    A HOLDS or UNKNOWN result carries the search's `coverage`."""
    reset(c)
    notes: tuple[str, ...] = ()
    if engine == "native":
        from . import native

        why = native.supported(c.model) or native.compiler_missing()
        builder = None if why else native.builder_for(c.model)
        result: Result | str | None = None
        if builder is not None and builder.wait() is not None:
            result = _native(c, builder, limits, progress, workers, reduction, symmetry)
        why = why or (result if isinstance(result, str) else builder.error if builder is not None else None)
        if not isinstance(result, Result):
            notes = (f"searched per state in Python: {why}",) if why else ()
            result = _explore(c, limits, progress, reduction, None, workers)
    else:
        fallback: list[str] = []
        result = _explore(c, limits, progress, reduction, engine == "auto", workers, symmetry, fallback)
        notes = tuple(fallback)
    assert isinstance(result, Result)
    if notes:
        result = dataclasses.replace(result, notes=result.notes + notes)
    if result.verdict not in (HOLDS, UNKNOWN):
        return result
    nodes, sites = marked(c)
    if result.coverage is not None:  # the compiled engine's part
        nodes |= result.coverage.nodes
        sites |= result.coverage.sites
    return dataclasses.replace(result, coverage=finish(c, nodes, sites, result.verdict == HOLDS))


def _native(
    c: Compiled,
    builder: Any,
    limits: Limits,
    progress: Any,
    workers: int | None,
    reduction: Reduction | None,
    symmetry: bool,
) -> Result | str:
    """The search by the compiled engine, or why it cannot go on (a value it cannot pack)."""
    from . import native

    engine = builder.wait()
    t0 = time.monotonic()
    n = workers or os.cpu_count() or 1
    try:
        result = native.run(engine, c, limits, progress, n, t0, reduction, symmetry)
        if result.verdict == VIOLATED and n > 1 and result.violation is not None and result.violation.path:
            # which of the shortest counterexamples a level holds first depends on the workers'
            # timing: one worker searches again, to that depth, for the one a single thread finds
            bound = len(result.violation.path) + 1
            again = native.run(
                engine, c, dataclasses.replace(limits, max_depth=bound), progress, 1, t0, reduction, symmetry
            )
            if again.verdict == VIOLATED:
                result = again
        if result.verdict == HOLDS and c.check_lock_order:
            cycle = lock_order_cycle(c)
            if cycle is not None:
                return Result(VIOLATED, result.stats, cycle)
        return result
    except native.Unrepresentable as exc:
        return f"{exc}: the compiled engine has no room for it"


def _explore(
    c: Compiled,
    limits: Limits,
    progress: Callable[[Stats], None] | None,
    reduction: Reduction | None,
    handover: bool | None,
    workers: int | None,
    symmetry: bool = True,
    fallback: list[str] | None = None,
) -> Result:
    t0 = time.monotonic()
    init = c.model.initial_state()
    index: dict[tuple[int, ...], int] = {init: 0}
    states = [init]
    parent = [-1]
    via: list[tuple[int, int]] = [(0, 0)]
    transitions = 0
    depth = 0
    tables = c.tables
    invariant = c.invariant
    rcu_steps = c.rcu_steps
    ntables = list(enumerate(tables))
    # Try the thread that made the last step first: among the shortest paths to a state,
    # the one found first then has fewer context switches.
    orders = [ntables[k : k + 1] + ntables[:k] + ntables[k + 1 :] for k in range(len(ntables))]
    orders.append(ntables)  # after an RCU callback step

    def stats() -> Stats:
        return Stats(len(states), transitions, depth, time.monotonic() - t0)

    def path_to(i: int) -> list[tuple[int, int]]:
        out = []
        while i > 0:
            out.append(via[i])
            i = parent[i]
        out.reverse()
        return out

    def violated(err: int, i: int, extra: tuple[int, int] | None) -> Result:
        site = c.errors[err]
        path = path_to(i) + ([extra] if extra is not None else [])
        v = Violation(site.kind, site.name, site.message, site, tuple(path), extra is not None and extra[0] != -2)
        st = stats()
        return Result(VIOLATED, Stats(st.states, st.transitions, len(path), st.seconds), v)

    bad = invariant(init)
    if bad is not None:
        return violated(bad, 0, None)
    frontier = [0]
    expanded = 0
    builder: Any = None
    fallback = fallback if fallback is not None else []
    try:
        while frontier:
            if handover and builder is None and len(states) >= BUILD_AFTER:
                from . import native

                if native.supported(c.model) is None and native.compiler() is not None:
                    builder = native.builder_for(c.model)
                else:
                    handover = False
            if builder is not None and len(states) >= NATIVE_AFTER:
                builder.wait()
                got = _native(c, builder, limits, progress, workers, reduction, symmetry) if builder.engine else None
                if isinstance(got, Result):
                    return got
                why = got or builder.error
                if why:
                    fallback.append(f"searched per state in Python: {why}")
                builder, handover = None, False
            if limits.max_depth is not None and depth >= limits.max_depth:
                return Result(
                    UNKNOWN,
                    stats(),
                    reason=f"--max-depth {limits.max_depth} reached: every state "
                    f"within {depth} steps was explored and none violates a property",
                )
            nxt: list[int] = []
            stored = len(states)  # states below this index are at most `depth` steps deep
            # A violation one step past this level is kept until the level is done: a deadlock
            # later in the level is shorter. After one is found, states are only checked for that.
            pending: Result | None = None
            for i in frontier:
                s = states[i]
                expanded += 1
                if expanded & 1023 == 0:
                    if limits.over_memory():
                        return Result(
                            UNKNOWN,
                            stats(),
                            reason=f"{limits.memory_reason()} after {len(states)} states (complete to depth {depth})",
                        )
                    if limits.over_time(t0):
                        if pending is not None:
                            return pending
                        return Result(
                            UNKNOWN,
                            stats(),
                            reason=f"--timeout {limits.timeout:g}s reached after "
                            f"{len(states)} states (complete to depth {depth})",
                        )
                    if progress is not None:
                        progress(stats())
                moved = False
                order = orders[via[i][0]]
                reduced = False
                ample_tid, ample = -1, None  # the ample thread and its step's result
                if reduction is not None:
                    for tid in reduction.ample(s):
                        pcslot, table = tables[tid]
                        ample = table[s[pcslot]](s)
                        if ample is None:
                            continue
                        # cycle proviso: a step back into the stored states gets the full expansion
                        if type(ample) is tuple:
                            reduced = index.get(ample, stored) >= stored
                        elif type(ample) is list:
                            reduced = all(type(x) is tuple and index.get(x, stored) >= stored for x in ample)
                        if reduced:
                            order = [(tid, tables[tid])]
                        ample_tid = tid
                        break
                for tid, (pcslot, table) in order:
                    r = ample if tid == ample_tid else table[s[pcslot]](s)
                    if r is None:
                        continue
                    moved = True
                    if pending is not None:
                        break
                    succs: Any
                    if type(r) is tuple:
                        succs = ((0, r),)
                    elif type(r) is list:
                        succs = tuple(enumerate(r))
                    else:
                        pending = violated(r, i, (tid, 0))
                        break
                    for branch, t in succs:
                        if type(t) is not tuple:
                            pending = violated(t, i, (tid, branch))
                            break
                        transitions += 1
                        if t in index:
                            continue
                        j = len(states)
                        index[t] = j
                        states.append(t)
                        parent.append(i)
                        via.append((tid, branch))
                        bad = invariant(t)
                        if bad is not None:
                            pending = violated(bad, j, None)
                            break
                        nxt.append(j)
                        if limits.max_states is not None and len(states) >= limits.max_states:
                            return Result(
                                UNKNOWN,
                                stats(),
                                reason=f"--max-states {limits.max_states} reached (complete to depth {depth})",
                            )
                    if pending is not None:
                        break
                if rcu_steps is not None and not reduced:
                    for k, t in rcu_steps(s):
                        moved = True
                        if pending is not None:
                            break
                        transitions += 1
                        if t in index:
                            continue
                        j = len(states)
                        index[t] = j
                        states.append(t)
                        parent.append(i)
                        via.append((RCU_THREAD, k))
                        bad = invariant(t)
                        if bad is not None:
                            pending = violated(bad, j, None)
                            break
                        nxt.append(j)
                        if limits.max_states is not None and len(states) >= limits.max_states:
                            return Result(
                                UNKNOWN,
                                stats(),
                                reason=f"--max-states {limits.max_states} reached (complete to depth {depth})",
                            )
                if not moved and c.check_deadlock and not c.done(s):
                    detail = describe_blocked(c, s)
                    v = Violation(
                        "deadlock", "deadlock", "deadlock: no thread can move", None, tuple(path_to(i)), False, detail
                    )
                    return Result(VIOLATED, stats(), v)
            if pending is not None:
                return pending
            frontier = nxt
            if frontier:
                depth += 1
    except KeyboardInterrupt:
        return Result(UNKNOWN, stats(), reason=f"interrupted after {len(states)} states (complete to depth {depth})")
    if c.check_lock_order:
        cycle = lock_order_cycle(c)
        if cycle is not None:
            return Result(VIOLATED, stats(), cycle)
    return Result(HOLDS, stats())


def describe_blocked(c: Compiled, s: tuple[int, ...]) -> tuple[str, ...]:
    """One line per unfinished thread: what it waits for and who holds it."""
    m = c.model
    out = []
    for t, end in zip(m.threads, c.end_pcs, strict=True):
        pc = s[t.pc_slot]
        if pc == end:
            continue
        node = t.nodes[t.yields[pc]]
        op = node.ops[0] if node.ops else None
        where = f"{node.span}: {node.text}"
        if isinstance(op, ir.Acquire):
            a = address(op.addr, s)
            lock = next((lk.name for lk in m.locks if lk.addr == a), m.slots[a].name)
            holders = []
            if s[a]:
                holders.append(m.threads[(s[a] & ir.OWNER_MASK) - 1].name)
            if op.kind == "rwsem" and op.mode == "w":
                holders += [x.name for x in m.threads if (s[a + 1] >> x.index) & 1]
            held = " and ".join(holders) if holders else "nobody"
            out.append(f"{t.name} waits for {lock} (held by {held}) at {where}")
        elif isinstance(op, ir.SyncRcuWait):
            readers = format_slot(m, t.gp_slot, s[t.gp_slot])
            out.append(f"{t.name} waits in synchronize_rcu() for readers {readers} at {where}")
        else:
            out.append(f"{t.name} waits at {where}")
    return tuple(out)


def lock_order_cycle(c: Compiled) -> Violation | None:
    """A cycle in the lock-class order graph of all explored runs, if any."""
    cycles = simple_cycles(c.lock_edges)
    if not cycles:
        return None
    cycle = cycles[0]
    lines = []
    for k, a in enumerate(cycle):
        b = cycle[(k + 1) % len(cycle)]
        tid, err = c.lock_edges[(a, b)]
        lines.append(f"{c.model.threads[tid].name} takes {b} while holding {a} at {c.errors[err].span}")
    if len(cycle) == 1:
        kind = next((lk.kind for lk in c.model.locks if lk.lock_class == cycle[0].split("/")[0]), "")
        hint = " (annotate the second acquisition: spin_lock_nested(lock, 1))" if kind == "spinlock" else ""
        msg = f"lock class {cycle[0]} is taken while already holding a lock of the same class{hint}"
    else:
        msg = "lock-order cycle " + " -> ".join([*cycle, cycle[0]]) + ": a potential ABBA deadlock"
    return Violation("lock_order", "lock_order", msg, None, (), False, tuple(lines))


def default_max_memory() -> int | None:
    """60% of the machine's memory (MemTotal in /proc/meminfo); None where it is unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024 * 6 // 10
    except (OSError, ValueError, IndexError):
        pass
    return None
