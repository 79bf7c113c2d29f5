"""Stage 6, render: results and traces as text for a terminal or a review mail.

A counterexample is drawn as CPU columns, one column per thread and one row per
step, the way races are written up on the mailing lists: each row has the
source line, the statement, and the shared values it read and wrote.
"""

from __future__ import annotations

import textwrap

from .coverage import Coverage
from .explore import HOLDS, UNKNOWN, VIOLATED, Result
from .trace import Trace

COLUMN = 38
COVERAGE_LINES = 10  # per list; the rest is counted


def describe_coverage(cov: Coverage) -> list[str]:
    """The statements never reached and the checks never evaluated (nothing when all were)."""
    out: list[str] = []
    partial = "" if cov.complete else " (in the part searched before the bound)"
    if cov.unreached:
        out.append(f"never reached{partial}:")
        out.extend(_capped([f"  {', '.join(u.threads)}: {u.describe()}" for u in cov.unreached]))
    if cov.unevaluated:
        out.append(f"never evaluated{partial}:")
        lines = []
        for site in cov.unevaluated:
            if site.kind == "assert" and site.message.startswith("assertion ") and site.message.endswith(" failed"):
                lines.append(f"  {site.span}: {site.message[len('assertion ') : -len(' failed')]}")
            else:
                lines.append(f"  {site.span}: {site.name}: {site.message}")
        out.extend(_capped(lines))
    return out


def _capped(lines: list[str]) -> list[str]:
    if len(lines) <= COVERAGE_LINES:
        return lines
    return lines[: COVERAGE_LINES - 1] + [f"  ... and {len(lines) - COVERAGE_LINES + 1} more"]


def describe_violation_head(result: Result) -> list[str]:
    """The lines that name the violated property and where it is declared."""
    v = result.violation
    assert v is not None
    lines = []
    if v.kind == "invariant":
        lines.append(f"Invariant {v.name} is violated.")
    elif v.kind == "assert":
        lines.append(f"Assertion {v.name} failed.")
    elif v.kind == "deadlock":
        lines.append("Deadlock: no thread can move, and not every thread has finished.")
    elif v.kind == "lock_order":
        lines.append("Lock order violated: " + v.message + ".")
    else:
        lines.append(f"Property {v.name} is violated ({v.kind}): {v.message}.")
    if v.site is not None:
        where = "declared at" if v.kind == "invariant" else "at"
        lines.append(f"  {where} {v.site.span}")
    for d in v.detail:
        lines.append(f"  {d}")
    return lines


def render_result(result: Result, trace: Trace | None, header: list[str]) -> str:
    """The whole report for one check."""
    out = list(header)
    s = result.stats
    counts = f"{s.states:,} states, {s.transitions:,} transitions, depth {s.depth}, {s.seconds:.2f} s"
    if result.engine == "bmc":
        counts = f"searched every run up to depth {s.depth} with z3, {s.seconds:.2f} s"
    if result.verdict == VIOLATED and result.violation is not None and result.violation.kind == "lemma":
        out.append("VIOLATED")
        out.append(f"Lemma {result.violation.name} is refuted by z3.")
        if result.violation.site is not None:
            out.append(f"  declared at {result.violation.site.span}")
        out.append("  counterexample:")
        out.extend(f"    {d}" for d in result.violation.detail)
        return "\n".join(out) + "\n"
    if result.verdict == "PROVED":
        out.append(f"PROVED: {result.reason}")
        out.append(f"  {s.seconds:.2f} s")
        return "\n".join(out) + "\n"
    if result.verdict == HOLDS:
        out.append("HOLDS: every property holds in every interleaving (exhaustive search)")
        out.append(f"  {counts}")
        out.extend(f"  {n}" for n in result.notes)
        if result.coverage is not None:
            out.extend(describe_coverage(result.coverage))
    elif result.verdict == UNKNOWN:
        out.append(f"UNKNOWN: {result.reason}")
        out.append(f"  {counts}; a bound was hit, so this is not a proof")
        if result.coverage is not None:
            out.extend(describe_coverage(result.coverage))
    else:
        assert result.verdict == VIOLATED
        out.append("VIOLATED")
        out.extend(describe_violation_head(result))
        out.append(f"  {counts}")
        if trace is not None and trace.steps:
            out.append("")
            out.append(
                f"Counterexample: {len(trace.steps)} steps, {trace.preemptions} context switches "
                f"(replay key {trace.replay_key()})"
            )
            out.append(render_trace(trace))
    return "\n".join(out) + "\n"


def render_trace(trace: Trace) -> str:
    """The trace as CPU columns."""
    threads = [t for t in trace.threads if any(s.thread == t for s in trace.steps)]
    if any(s.thread == "rcu" for s in trace.steps):
        threads.append("rcu")
    col = {t: i for i, t in enumerate(threads)}
    width = COLUMN
    num_w = len(str(len(trace.steps))) + 1
    head = " " * num_w + " | " + " | ".join(t.ljust(width) for t in threads)
    rule = "-" * num_w + "-+-" + "-+-".join("-" * width for _ in threads)
    lines = [head.rstrip(), rule]
    for k, step in enumerate(trace.steps, 1):
        cell: list[str] = []
        loc = f"{step.span.line}: " if step.span else ""
        mark = "!! " if step.failed else ""
        cell.extend(textwrap.wrap(f"{mark}{loc}{step.text}", width, subsequent_indent="    ") or [""])
        for name, value in step.reads:
            cell.extend(textwrap.wrap(f"  read  {name} = {value}", width, subsequent_indent="      "))
        for name, value in _group_fields(step.writes):
            cell.extend(textwrap.wrap(f"  write {name} = {value}", width, subsequent_indent="      "))
        for row, text in enumerate(cell):
            cols = [" " * width] * len(threads)
            cols[col[step.thread]] = text.ljust(width)
            num = str(k) if row == 0 else ""
            lines.append((num.rjust(num_w) + " | " + " | ".join(cols)).rstrip())
    return "\n".join(lines)


def _group_fields(items: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """Writes to several fields of one struct, as one `s = {f: v, g: w}` entry."""
    out: list[tuple[str, str]] = []
    k = 0
    while k < len(items):
        name, value = items[k]
        parent = name.rsplit(".", 1)[0] if "." in name else ""
        j = k
        while j + 1 < len(items) and parent and items[j + 1][0].rsplit(".", 1)[0] == parent:
            j += 1
        if j > k:
            fields = ", ".join(f"{n.rsplit('.', 1)[1]}: {v}" for n, v in items[k : j + 1])
            out.append((parent, "{" + fields + "}"))
        else:
            out.append((name, value))
        k = j + 1
    return out
