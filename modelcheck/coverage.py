"""What a search covered: the statements it executed and the checks it evaluated.

A HOLDS is only as strong as the checks behind it: a `BUG_ON` in a branch that never
runs holds trivially. Both explorers record, cheaply, which CFG nodes of each thread
executed and which error sites were evaluated at least once (the per-state search
through marks the generated code sets, `Compiled.cov`; the compiled search through the
same marks in C, `native`). `finish` turns that into a `Coverage`, and
`unreached`, `unevaluated` and `vacuous` answer the questions the report and
`modelcheck test` ask (docs/language.md, "Coverage").

Coverage is exact in one direction: a node reported unreached is executed by no step
of the explored graph, and a site reported never evaluated is checked by none (a
`BUG_ON(c)` counts as evaluated when `c` is, its failing branch aside). Invariants are
evaluated in every stored state. After a bound (UNKNOWN) coverage is partial.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace

from . import ir
from .codegen import ALWAYS_ON, Compiled

#: kinds of check that the report lists when they were never evaluated
LISTED_KINDS = ("assert", "requires", "guarded_by", "lock_misuse", "use_after_free")
#: properties of the whole graph, or proved by z3, not checks at a site: never vacuous
NEVER_VACUOUS = ("deadlock", "lock_order", "lemma")
#: the properties a spec declares itself
DECLARED_KINDS = ("invariant", "assert", "requires", "guarded_by")


@dataclass(frozen=True)
class Unreached:
    """Statements of one or more thread instances that never ran: a run of source lines."""

    threads: tuple[str, ...]
    file: str
    first: int
    last: int
    texts: tuple[str, ...]

    def describe(self) -> str:
        """`file:10-12: text; text` with the texts in source order."""
        lines = f"{self.first}" if self.first == self.last else f"{self.first}-{self.last}"
        text = "; ".join(self.texts)
        if len(text) > 72:
            text = text[:69] + "..."
        return f"{self.file}:{lines}: {text}"


@dataclass(frozen=True)
class Coverage:
    """The nodes a search executed and the error sites it evaluated; for reports, the
    statements never reached and the listed checks never evaluated (`unreached`, `unevaluated`)."""

    nodes: frozenset[tuple[int, int]]  # (thread index, node id)
    sites: frozenset[int]  # error ids
    complete: bool  # False when a bound cut the search short: the sets are a lower bound
    unreached: tuple[Unreached, ...] = ()
    unevaluated: tuple[ir.ErrorSite, ...] = ()


def marked(c: Compiled) -> tuple[set[tuple[int, int]], set[int]]:
    """The nodes and sites behind the marks the generated code has set since `reset`."""
    nodes: set[tuple[int, int]] = set()
    sites: set[int] = set()
    for hit, (ns, ss) in zip(c.cov, c.cov_marks, strict=True):
        if hit:
            nodes.update(ns)
            sites.update(ss)
    return nodes, sites


def reset(c: Compiled) -> None:
    """Clear the marks (in place: the generated code holds the list)."""
    c.cov[:] = [0] * len(c.cov)


def finish(
    c: Compiled,
    nodes: Iterable[tuple[int, int]],
    sites: Iterable[int],
    complete: bool,
) -> Coverage:
    """The coverage of a search that executed `nodes` and evaluated `sites` (raw, from the
    engines): adds the code lowering ran into the initial state, the invariants (evaluated
    in the initial state and every state stored after it) and the BUG_ONs whose condition ran."""
    m = c.model
    done = set(nodes)
    for t in m.threads:
        nid: int | None = t.entry
        chain = set()
        while nid is not None and nid not in chain:  # the empty nodes before the first statement
            chain.add(nid)
            n = t.nodes[nid]
            if n.ops or n.cond is not None or n.choices or n.end:
                break
            done.add((t.index, nid))
            nid = n.next
        done.update((t.index, k) for k in t.prerun)
    evaluated = set(sites) | set(c.state_sites)
    failing = _unconditional_failures(m)
    if failing:
        spans = {t.nodes[k].span for t in m.threads for (ti, k) in done if ti == t.index}
        evaluated.update(e for e in failing if m.errors[e].span in spans)
    cov = Coverage(frozenset(done), frozenset(evaluated), complete)
    return replace(cov, unreached=tuple(unreached(c, cov)), unevaluated=tuple(unevaluated(c, cov)))


def _unconditional_failures(m: ir.Model) -> set[int]:
    """Sites checked only by a check that always fails (the branch a `BUG_ON` takes when
    its condition is true): evaluated whenever a node of their statement runs."""
    out = set()
    other = set()
    for t in m.threads:
        for n in t.nodes:
            for op in n.ops:
                if isinstance(op, ir.Check):
                    if isinstance(op.cond, ir.Const) and op.cond.value == 0:
                        out.add(op.error)
                    else:
                        other.add(op.error)
    return out - other


def checked_sites(c: Compiled) -> list[int]:
    """The error sites some generated code checks (switched-off properties excluded), in order."""
    m = c.model
    out: set[int] = set(c.state_sites)
    for _, sites in c.cov_marks:
        out.update(sites)
    out.update(_unconditional_failures(m) & _enabled(c))
    return sorted(out)


def _enabled(c: Compiled) -> set[int]:
    props = c.props
    return {
        i
        for i, e in enumerate(c.model.errors)
        if props is None or e.kind in ALWAYS_ON or e.kind in props or e.name in props
    }


def unreached(c: Compiled, cov: Coverage) -> list[Unreached]:
    """The statements no explored step executed, per thread, as runs of consecutive lines;
    instances of a thread array with the same runs are listed together."""
    per_thread: dict[str, list[Unreached]] = {}
    for t in c.model.threads:
        items: dict[tuple[str, int], list[str]] = {}
        text = _statement_texts(t)
        # every end of the thread (its last line, a `return`) is one statement, "end of thread",
        # listed last (it sits on the declaration's line)
        finished = any(t.nodes[k].end for (ti, k) in cov.nodes if ti == t.index)
        ends = [] if finished else [Unreached((t.name,), t.span.file, t.span.line, t.span.line, ("end of thread",))]
        # a statement of a proc inlined twice has a node per call: it ran if one of them did
        ran = {(t.nodes[k].span, text[k]) for (ti, k) in cov.nodes if ti == t.index}
        for n in t.nodes:
            if (t.index, n.id) in cov.nodes or (n.span, text[n.id]) in ran:
                continue
            if not (n.ops or n.cond is not None or n.choices or n.end):
                continue  # joins and labels: nothing runs there
            if _always_fails(n):
                continue  # BUG_ON's failing branch: its statement is covered by its condition
            if n.end:
                continue
            texts = items.setdefault((n.span.file, n.span.line), [])
            if text[n.id] not in texts:
                texts.append(text[n.id])
        runs: list[Unreached] = []
        for (file, line), texts in sorted(items.items()):
            last = runs[-1] if runs else None
            if last is not None and last.file == file and last.last + 1 >= line:
                runs[-1] = Unreached((t.name,), file, last.first, line, last.texts + tuple(texts))
            else:
                runs.append(Unreached((t.name,), file, line, line, tuple(texts)))
        per_thread[t.name] = runs + ends
    grouped: list[Unreached] = []
    seen: dict[tuple[tuple[str, int, int, tuple[str, ...]], ...], int] = {}
    for name, runs in per_thread.items():
        key = tuple((u.file, u.first, u.last, u.texts) for u in runs)
        if not runs:
            continue
        if key in seen:
            start = seen[key]
            for k in range(len(runs)):
                u = grouped[start + k]
                grouped[start + k] = Unreached((*u.threads, name), u.file, u.first, u.last, u.texts)
            continue
        seen[key] = len(grouped)
        grouped.extend(runs)
    return grouped


def _statement_texts(t: ir.ThreadIR) -> list[str]:
    """Each node's statement text; the arms of a condition that run code of their own (local
    assignments join the arm's node) are told apart: `if a == 1 (when false)`."""
    out = [n.text for n in t.nodes]
    for p in t.nodes:
        if p.then is None or p.orelse is None:
            continue
        a, b = t.nodes[p.then], t.nodes[p.orelse]
        if a.id != b.id and (a.span, a.text) == (b.span, b.text):
            out[a.id], out[b.id] = f"{a.text} (when true)", f"{b.text} (when false)"
    return out


def _always_fails(n: ir.Node) -> bool:
    return any(isinstance(op, ir.Check) and isinstance(op.cond, ir.Const) and op.cond.value == 0 for op in n.ops)


def unevaluated(c: Compiled, cov: Coverage, kinds: Collection[str] = LISTED_KINDS) -> list[ir.ErrorSite]:
    """The checks of the given kinds that the generated code makes somewhere but the search
    never evaluated, in source order, one per site."""
    out = []
    seen = set()
    for e in checked_sites(c):
        site = c.model.errors[e]
        if e in cov.sites or site.kind not in kinds:
            continue
        key = (site.kind, site.name, site.message, site.span)
        if key not in seen:
            seen.add(key)
            out.append(site)
    out.sort(key=lambda s: (s.span.file, s.span.line, s.span.col, s.kind, s.message))
    return out


def vacuous(c: Compiled, cov: Coverage, prop: str) -> bool:
    """True when an `expect holds` of property `prop` (a name or a kind) rests on nothing:
    the search evaluated none of its checks. For `prop == ""` (every property), when the
    spec declares properties (invariants, asserts, BUG_ONs, contracts) and none of them
    was evaluated. Deadlock, lock order and lemmas are never vacuous: they are properties
    of the whole graph, or proved by z3."""
    m = c.model
    if prop in NEVER_VACUOUS or any(lm.name == prop for lm in m.lemmas):
        return False
    errors = m.errors
    if prop:
        relevant = [e for e in checked_sites(c) if prop in (errors[e].kind, errors[e].name)]
    else:
        relevant = [e for e in checked_sites(c) if errors[e].kind in DECLARED_KINDS]
        if not relevant:
            return False
    return not any(e in cov.sites for e in relevant)
