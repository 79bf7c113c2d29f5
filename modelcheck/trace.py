"""Counterexample traces: rebuilt from a violation's path, exported as ITF JSON.

A `Trace` is data first: each step names its thread, source span and statement,
and lists the shared values it read and wrote. `render` draws it; `to_itf`
writes the ITF format (with modelcheck's replay data under `#meta`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from . import ir
from .codegen import Compiled, compile_model, format_slot, rcu_objects
from .diagnostics import Span
from .explore import RCU_THREAD, Violation

HIDDEN_KINDS = ("pc", "rcu_depth", "gp_wait")


@dataclass(frozen=True)
class TraceStep:
    """One atomic step of a counterexample."""

    thread: str
    tid: int
    branch: int
    span: Span | None
    text: str
    reads: tuple[tuple[str, str], ...]
    writes: tuple[tuple[str, str], ...]
    failed: bool  # this step is the one that violates the property


@dataclass(frozen=True)
class Trace:
    """A counterexample: the steps and the states between them."""

    threads: tuple[str, ...]
    steps: tuple[TraceStep, ...]
    states: tuple[tuple[int, ...], ...]  # states[0] initial; states[k+1] after steps[k] unless it failed

    @property
    def preemptions(self) -> int:
        """How often a step's thread differs from the previous step's while that one could go on."""
        count = 0
        for a, b in zip(self.steps, self.steps[1:], strict=False):
            if a.tid != b.tid:
                count += 1
        return count

    def replay_key(self) -> str:
        """The path as thread/branch numbers, e.g. `0/0/1/1:2`."""
        parts = []
        for s in self.steps:
            t = "r" if s.tid == RCU_THREAD else str(s.tid)
            parts.append(t if s.branch == 0 else f"{t}:{s.branch}")
        return "/".join(parts)


def build_trace(c: Compiled, violation: Violation) -> Trace:
    """Re-execute a violation's path with read logging on and collect every step."""
    model = c.model
    traced = compile_model(model, c.props, traced=True)
    s = model.initial_state()
    states = [s]
    steps = []
    objs = rcu_objects(model)
    for k, (tid, branch) in enumerate(violation.path):
        last = k == len(violation.path) - 1
        if tid == RCU_THREAD:
            pool, idx = objs[branch]
            assert traced.rcu_steps is not None
            t = dict(traced.rcu_steps(s))[branch]
            steps.append(
                TraceStep(
                    "rcu",
                    tid,
                    branch,
                    None,
                    f"RCU callback frees {pool}[{idx}] (grace period over)",
                    (),
                    _writes(model, s, t),
                    False,
                )
            )
            s = t
            states.append(s)
            continue
        thread = model.threads[tid]
        pc = s[thread.pc_slot]
        node = thread.nodes[thread.yields[pc]]
        traced.reads.clear()
        traced.writes.clear()
        traced.resets.clear()
        r = traced.tables[tid][1][pc](s)
        reads = tuple(
            dict.fromkeys(
                (model.slots[i].name, format_slot(model, i, x))
                for i, x in traced.reads
                if model.slots[i].kind not in ("local", "status", "rcu_mask", *HIDDEN_KINDS)
            )
        )
        if isinstance(r, list):
            r = r[branch]
        text = node.text
        if node.choices:
            text = f"choose: branch {branch + 1} of {len(node.choices)}"
        if not isinstance(r, tuple):
            site = traced.errors[r] if isinstance(r, int) else None
            span = node.span
            if site is not None and site.span != thread.span:  # "ends holding ...": keep the last statement
                span = site.span
            if span.line != node.span.line:
                text = _source_line(model.source, span.line) or text
            if node.choices:
                text = f"[choose: branch {branch + 1} of {len(node.choices)}] {text}"
            steps.append(TraceStep(thread.name, tid, branch, span, text, reads, (), True))
            break
        shown = list(r)
        for i, before in traced.resets:  # a dead local's reset is bookkeeping, not a store
            shown[i] = before
        same = [i for i in traced.writes if s[i] == shown[i]]  # stores that did not change the value
        writes = _writes(model, s, tuple(shown), same)
        steps.append(
            TraceStep(thread.name, tid, branch, node.span, text, reads, writes, last and violation.failing_step)
        )
        s = r
        states.append(s)
    return Trace(tuple(t.name for t in model.threads), tuple(steps), tuple(states))


def _writes(
    model: ir.Model, a: tuple[int, ...], b: tuple[int, ...], same: list[int] | None = None
) -> tuple[tuple[str, str], ...]:
    """The slots a step wrote: those it changed, and the logged stores of an unchanged value."""
    written = {i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y} | set(same or ())
    out = []
    for i in sorted(written):
        slot = model.slots[i]
        internal = "<tmp" in slot.name or "<ret" in slot.name
        if slot.kind not in HIDDEN_KINDS and not internal:
            out.append((_short(model, i), format_slot(model, i, b[i])))
    return tuple(out)


def _source_line(source: str, line: int) -> str:
    lines = source.splitlines()
    return lines[line - 1].split("//")[0].strip() if 1 <= line <= len(lines) else ""


def _short(model: ir.Model, i: int) -> str:
    s = model.slots[i]
    if s.kind == "local" and s.thread >= 0:
        prefix = model.threads[s.thread].name + "."
        if s.name.startswith(prefix):
            return s.name[len(prefix) :]
    return s.name


# ---------------------------------------------------------------- ITF


def _itf_value(model: ir.Model, slot: int, value: int) -> Any:
    s = model.slots[slot]
    from . import semantics as T

    if isinstance(s.ty, T.BoolT):
        return bool(value)
    if s.kind in ("lock", "lock_readers", "rcu_mask", "gp_wait") or isinstance(s.ty, (T.EnumT, T.RefT)):
        return format_slot(model, slot, value)
    return value


def to_itf(c: Compiled, violation: Violation, trace: Trace, spec_path: str, params: dict[str, str]) -> dict[str, Any]:
    """The trace in the ITF JSON format, with what `replay` needs under #meta."""
    model = c.model
    names = [s.name for s in model.slots]
    states = []
    for k, st in enumerate(trace.states):
        entry: dict[str, Any] = {"#meta": {"index": k}}
        if k > 0:
            step = trace.steps[k - 1]
            entry["#meta"].update(
                {"thread": step.thread, "action": step.text, "location": str(step.span) if step.span else ""}
            )
        for i, name in enumerate(names):
            entry[name] = _itf_value(model, i, st[i])
        states.append(entry)
    last = trace.steps[-1] if trace.steps else None
    return {
        "#meta": {
            "format": "ITF",
            "format-description": "https://apalache-mc.org/docs/adr/015adr-trace.html",
            "source": spec_path,
            "description": f"{violation.kind} {violation.name}: {violation.message}",
            "modelcheck": {
                "spec": spec_path,
                "params": params,
                "violation": {"kind": violation.kind, "name": violation.name, "message": violation.message},
                "path": [list(p) for p in violation.path],
                "failing_step": violation.failing_step,
                "replay_key": trace.replay_key(),
                "failing_action": last.text if last and last.failed else "",
            },
        },
        "vars": names,
        "states": states,
    }


def dump_itf(data: dict[str, Any]) -> str:
    """Serialise ITF data deterministically."""
    return json.dumps(data, indent=1, sort_keys=False) + "\n"
