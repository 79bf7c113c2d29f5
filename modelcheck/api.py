"""The library facade: every pipeline stage, the check, the spec test runner, replay.

Nothing here prints; callers (the CLI, tests) render what it returns.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from . import coverage, ir
from . import semantics as T
from . import syntax as S
from .check import PROPERTY_KINDS, check, param_domain
from .codegen import Compiled, compile_model
from .diagnostics import Diagnostic, Span, SpecError
from .explore import HOLDS, RCU_THREAD, UNKNOWN, VIOLATED, Limits, Result, Stats, Violation, explore
from .lower import lower
from .parse import read_spec
from .por import analyse

__all__ = ["load", "run_check", "test_spec", "replay", "param_settings", "read_spec"]
from .trace import Trace, build_trace


@dataclass(frozen=True)
class CheckRun:
    """One search: what was compiled, the result, and the trace if violated."""

    spec: S.Spec
    checked: T.CheckedSpec
    model: ir.Model
    compiled: Compiled
    result: Result
    trace: Trace | None
    params: dict[str, str]


def load(path: str, defines: Mapping[str, str] | None = None) -> tuple[S.Spec, T.CheckedSpec, ir.Model]:
    """Parse, check and lower a spec file."""
    spec = read_spec(path)
    checked = check(spec, defines)
    try:
        return spec, checked, lower(checked)
    except SpecError as exc:  # init { } failures are found while lowering
        exc.source = exc.source or spec.source
        raise


def run_check(
    path: str,
    defines: Mapping[str, str] | None = None,
    props: list[str] | None = None,
    limits: Limits | None = None,
    progress: Callable[[Stats], None] | None = None,
    engine: str = "explicit",
    depth: int = 30,
    reduce: bool = True,
    symmetry: bool = True,
    workers: int | None = None,
) -> CheckRun:
    """Check a spec for the selected properties (all by default) with one engine:
    "explicit" explores every interleaving (with partial-order reduction unless `reduce`
    is false, symmetry reduction unless `symmetry` is false, on `workers` threads: every
    core by default); "bmc" searches all runs up to `depth` steps with z3."""
    limits = limits or Limits()
    if limits.started is None:
        limits = dataclasses.replace(limits, started=time.monotonic())
    spec, checked, model = load(path, defines)
    if props:
        _validate_props(model, props)
    compiled = compile_model(model, props or None)
    if limits.over_time(0.0) or limits.over_memory():
        result = _stopped(limits, "while the spec was compiled; no state was explored")
    else:
        result = search(model, compiled, props or None, limits, engine, depth, progress, reduce, symmetry, workers)
    trace = None
    if result.verdict == VIOLATED and result.violation is not None and result.violation.path:
        trace = build_trace(compiled, result.violation)
    params = {n: v for n, v in model.params}
    return CheckRun(spec, checked, model, compiled, result, trace, params)


def _stopped(limits: Limits, when: str) -> Result:
    """UNKNOWN: --timeout or --max-memory was reached before the search began."""
    if limits.over_memory():
        return Result(UNKNOWN, Stats(0, 0, 0, 0.0), reason=f"{limits.memory_reason()} {when}")
    return Result(UNKNOWN, Stats(0, 0, 0, 0.0), reason=f"--timeout {limits.timeout:g}s reached {when}")


def _remaining(limits: Limits) -> float | None:
    """What is left of --timeout (the engines that take a duration get this)."""
    if limits.timeout is None:
        return None
    spent = 0.0 if limits.started is None else time.monotonic() - limits.started
    return max(limits.timeout - spent, 0.001)


def search(
    model: ir.Model,
    compiled: Compiled,
    props: list[str] | None,
    limits: Limits,
    engine: str = "explicit",
    depth: int = 30,
    progress: Callable[[Stats], None] | None = None,
    reduce: bool = True,
    symmetry: bool = True,
    workers: int | None = None,
) -> Result:
    """Prove the selected lemmas with z3, then search the state space with the chosen engine."""
    import dataclasses
    import time

    t0 = time.monotonic()
    deadline = None if limits.timeout is None else (limits.started or t0) + limits.timeout
    notes: list[str] = []
    unknown: list[str] = []
    selected = [lm for lm in model.lemmas if props is None or lm.name in props or "lemma" in props]
    if selected:
        from .smt import prove_lemmas

        refuted = []
        for lr in prove_lemmas(model, [lm.name for lm in selected], deadline=deadline):
            if lr.verdict == "REFUTED":
                refuted.append(lr)
            elif lr.verdict == "UNKNOWN":
                unknown.append(f"lemma {lr.name}: z3 said unknown ({lr.reason})")
        if refuted:
            first = refuted[0]
            lemma = next(lm for lm in selected if lm.name == first.name)
            shown = ", ".join(f"{n} = {v}" for n, v in first.values) or "no values: it is false"
            detail = [f"{n} = {val}" for n, val in first.values] or ["it is false (it has no parameters)"]
            detail += [
                f"also refuted: lemma {lr.name} at {next(lm.span for lm in selected if lm.name == lr.name)}"
                for lr in refuted[1:]
            ]
            v = Violation(
                "lemma",
                first.name,
                f"lemma {first.name} is refuted by {shown}",
                model.errors[lemma.error],
                (),
                False,
                tuple(detail),
            )
            return Result(VIOLATED, Stats(0, 0, 0, 0.0), v, engine="z3")
        proved = len(selected) - len(unknown)
        if proved:
            notes.append(f"lemmas: {proved} proved by z3 for every value of their parameters")
    left = None if deadline is None else max(0.0, deadline - time.monotonic())  # the lemmas took the rest
    if engine == "bmc":
        from .smt import bmc

        result = bmc(compiled, depth, left, max_memory=limits.max_memory)
    elif engine == "prove":
        from .smt import prove

        result = prove(compiled, depth, left, max_memory=limits.max_memory)
    else:
        result = explicit_search(model, compiled, props, limits, progress, reduce, symmetry, workers)
    if unknown and result.verdict in (HOLDS, "PROVED"):
        return dataclasses.replace(
            result, verdict="UNKNOWN", reason="; ".join(unknown), notes=tuple(notes) + result.notes
        )
    return dataclasses.replace(result, notes=tuple(notes) + result.notes) if notes else result


def explicit_search(
    model: ir.Model,
    compiled: Compiled,
    props: list[str] | None,
    limits: Limits,
    progress: Callable[[Stats], None] | None,
    reduce: bool,
    symmetry: bool = True,
    workers: int | None = None,
) -> Result:
    """The explicit search, reduced by default. A counterexample found with reduction is
    searched again without it, to its depth, for the shortest one."""
    import dataclasses

    if not reduce:
        return explore(compiled, limits, progress, workers=workers, symmetry=symmetry)
    reduction = analyse(model, props)
    if limits.over_time(time.monotonic()) or limits.over_memory():
        return _stopped(limits, "while the steps were analysed for partial-order reduction; no state was explored")
    result = explore(compiled, limits, progress, reduction, workers=workers, symmetry=symmetry)
    v = result.violation
    if result.verdict != VIOLATED or v is None or not v.path:
        return result
    bound = len(v.path) + 1
    full = explore(
        compiled,
        dataclasses.replace(limits, max_depth=min(bound, limits.max_depth or bound)),
        progress,
        workers=workers,
        symmetry=symmetry,
    )
    if full.verdict != VIOLATED:  # a timeout: keep the reduced search's counterexample
        note = f"this counterexample may not be the shortest: the search without reduction ended with {full.reason}"
        return dataclasses.replace(result, notes=result.notes + (note,))
    st = dataclasses.replace(full.stats, seconds=result.stats.seconds + full.stats.seconds)
    note = (
        f"partial-order reduction found a {len(v.path)}-step counterexample after {result.stats.states:,} states; "
        f"the shortest was then searched without reduction"
    )
    return dataclasses.replace(full, stats=st, notes=full.notes + (note,))


def _validate_props(model: ir.Model, props: list[str]) -> None:
    from .diagnostics import did_you_mean

    valid = set(PROPERTY_KINDS) | {name for _, name in model.properties}
    for p in props:
        if p not in valid:
            raise SpecError(
                [
                    Diagnostic(
                        Span("<command line>", 0, 0, 0, 0),
                        "usage",
                        f"--property {p}: no such property",
                        did_you_mean(p, valid),
                    )
                ]
            )


# ---------------------------------------------------------------- spec tests


@dataclass(frozen=True)
class ExpectOutcome:
    """The result of checking one `expect` clause under one param setting."""

    spec: str
    params: dict[str, str]
    kind: str
    prop: str
    line: int
    passed: bool
    verdict: str
    detail: str
    stats: Stats
    # an `expect holds` that passed although none of its property's checks was evaluated
    vacuous: bool = False


def param_settings(spec: S.Spec) -> list[dict[str, str]]:
    """Every combination of the spec's bool and enum params and of the params in `when` clauses."""
    names: list[str] = []
    params = [d for d in spec.decls if isinstance(d, S.ParamDecl)]
    in_when = set()
    for d in spec.decls:
        if isinstance(d, S.ExpectDecl) and d.when is not None:
            in_when.update(_names_in(d.when))
    for p in params:
        finite = isinstance(p.type, (S.BoolType, S.InlineEnumType)) or (
            isinstance(p.type, S.NamedType) and param_domain(spec, p.name) is not None
        )
        if finite or p.name in in_when:
            names.append(p.name)
    domains = []
    for n in names:
        dom = param_domain(spec, n)
        if dom is None:
            decl = next(p for p in params if p.name == n)
            raise SpecError(
                [
                    Diagnostic(
                        decl.span,
                        "structure",
                        f"param '{n}' in a `when` clause must be a bool, "
                        "an enum or a small int range so `modelcheck test` can try every value",
                    )
                ],
                spec.source,
            )
        domains.append(dom)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*domains)]


def _names_in(e: S.Expr) -> list[str]:
    return [node.name for node in S.walk_nodes(e) if isinstance(node, S.Name)]


def test_spec(path: str, limits: Limits | None = None) -> list[ExpectOutcome]:
    """Check every `expect` clause of a spec under every relevant param setting."""
    spec = read_spec(path)
    outcomes = []
    for setting in param_settings(spec):
        checked = check(spec, setting)
        model = lower(checked)
        for ex in checked.expects:
            if not ex.active:
                continue
            props = [ex.prop] if ex.prop else None
            compiled = compile_model(model, props)
            result = search(model, compiled, props, limits or Limits(), "explicit", 0)
            shown = {n: v for n, v in model.params if n in setting}
            vacuous = False
            if ex.kind == "holds":
                passed = result.verdict in (HOLDS, "PROVED")
                detail = "" if passed else _why(result)
                cov = result.coverage
                if passed and cov is not None and coverage.vacuous(compiled, cov, ex.prop):
                    vacuous = True
                    what = f"no check of {ex.prop}" if ex.prop else "none of the spec's properties"
                    detail = f"vacuous: {what} was ever evaluated"
                elif passed and cov is not None and cov.unevaluated:
                    n = len(cov.unevaluated)
                    detail = f"{n} check{'s' if n > 1 else ''} never evaluated (see modelcheck check)"
            else:
                v = result.violation
                passed = result.verdict == VIOLATED and v is not None and (not ex.prop or ex.prop in (v.kind, v.name))
                detail = _why(result) if result.verdict != HOLDS else "no violation found"
                if passed and v is not None:
                    detail = f"{v.kind} {v.name}: {v.message}"
                    if result.violation and result.violation.path:
                        detail += f" ({len(result.violation.path)} steps)"
            outcomes.append(
                ExpectOutcome(
                    path, shown, ex.kind, ex.prop, ex.span.line, passed, result.verdict, detail, result.stats, vacuous
                )
            )
    return outcomes


def _why(result: Result) -> str:
    if result.verdict == VIOLATED and result.violation is not None:
        v = result.violation
        where = f" at {v.site.span}" if v.site else ""
        return f"{v.kind} {v.name}: {v.message}{where}"
    if result.reason:
        return result.reason
    return result.verdict


# ---------------------------------------------------------------- replay


def _trace_problem(data: object) -> str:
    """What makes decoded JSON unusable as a modelcheck ITF trace; "" when it is usable."""

    def is_int(x: object) -> bool:
        return isinstance(x, int) and not isinstance(x, bool)

    if not isinstance(data, dict):
        return "the top level is not an object"
    meta = data.get("#meta")
    mc = meta.get("modelcheck") if isinstance(meta, dict) else None
    if not isinstance(mc, dict):
        return 'no "#meta"."modelcheck" object'
    if not isinstance(mc.get("spec"), str) or not mc["spec"]:
        return '"spec" is not a file name'
    params = mc.get("params")
    if not isinstance(params, dict) or not all(isinstance(v, (str, int)) for v in params.values()):
        return '"params" is not an object of names and values'
    path = mc.get("path")
    if not isinstance(path, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(is_int(x) for x in p) and p[1] >= 0 for p in path
    ):
        return '"path" is not a list of [thread, branch] pairs of numbers'
    v = mc.get("violation")
    if not isinstance(v, dict) or not isinstance(v.get("name"), str) or not isinstance(v.get("kind"), str):
        return '"violation" has no "name" and "kind"'
    if not isinstance(data.get("vars"), list) or not all(isinstance(n, str) for n in data["vars"]):
        return '"vars" is not a list of names'
    states = data.get("states")
    if not isinstance(states, list) or not all(isinstance(st, dict) for st in states):
        return '"states" is not a list of objects'
    return ""


@dataclass(frozen=True)
class ReplayOutcome:
    confirmed: bool
    message: str
    run: CheckRun | None


def replay(trace_path: str) -> ReplayOutcome:
    """Re-execute a saved ITF trace against its spec and confirm the violation."""
    where = Span(trace_path, 0, 0, 0, 0)
    try:
        data = json.loads(Path(trace_path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SpecError([Diagnostic(where, "trace", f"not a modelcheck ITF trace: {exc}")]) from None
    problem = _trace_problem(data)
    if problem:
        raise SpecError([Diagnostic(where, "trace", f"not a modelcheck ITF trace: {problem}")])
    meta = data["#meta"]["modelcheck"]
    spec_path = Path(meta["spec"])
    if not spec_path.is_absolute():
        spec_path = Path(trace_path).parent / spec_path
    if spec_path.suffix != ".spec":
        raise SpecError(
            [Diagnostic(where, "trace", f"the trace names {str(spec_path)!r} as its spec, which is not a .spec file")]
        )
    params = {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in meta["params"].items()}
    path = [(a, b) for a, b in meta["path"]]
    expected = meta["violation"]
    states = data["states"]
    spec, checked, model = load(str(spec_path), params)
    compiled = compile_model(model, [expected["name"]])
    s = model.initial_state()
    names = [sl.name for sl in model.slots]
    if data.get("vars") != names:
        return ReplayOutcome(False, "the spec's state variables differ from the trace's: the spec has changed", None)
    from .trace import _itf_value

    def same(k: int, st: tuple[int, ...]) -> bool:
        return all(states[k].get(n) == _itf_value(model, i, st[i]) for i, n in enumerate(names))

    if not same(0, s):
        return ReplayOutcome(False, "the initial state differs from the trace's", None)
    from .codegen import rcu_objects

    for k, (tid, branch) in enumerate(path):
        if tid == RCU_THREAD:
            if compiled.rcu_steps is None or branch >= len(rcu_objects(model)):
                return ReplayOutcome(False, f"step {k + 1}: no RCU callback {branch}", None)
            options = dict(compiled.rcu_steps(s))
            if branch not in options:
                return ReplayOutcome(False, f"step {k + 1}: RCU callback {branch} is not enabled", None)
            s = options[branch]
        else:
            if not 0 <= tid < len(model.threads):
                return ReplayOutcome(False, f"step {k + 1}: no thread {tid}", None)
            pcslot, table = compiled.tables[tid]
            r = table[s[pcslot]](s)
            if isinstance(r, list):
                r = r[branch] if branch < len(r) else None
            if r is None:
                return ReplayOutcome(False, f"step {k + 1}: {model.threads[tid].name} cannot move here", None)
            if isinstance(r, int):
                err = compiled.errors[r]
                if k == len(path) - 1 and err.name == expected["name"]:
                    return ReplayOutcome(
                        True,
                        f"confirmed: step {k + 1} ({model.threads[tid].name}) violates "
                        f"{err.name}: {err.message} at {err.span}",
                        None,
                    )
                return ReplayOutcome(False, f"step {k + 1} fails with {err.name} instead", None)
            s = r
        if k + 1 < len(states) and not same(k + 1, s):
            return ReplayOutcome(False, f"step {k + 1}: the state differs from the trace's", None)
    bad = compiled.invariant(s)
    if bad is not None and compiled.errors[bad].name == expected["name"]:
        err = compiled.errors[bad]
        return ReplayOutcome(True, f"confirmed: after {len(path)} steps {err.name} is violated ({err.span})", None)
    stuck = all(table[s[pc]](s) is None for pc, table in compiled.tables) and not compiled.done(s)
    if expected["kind"] == "deadlock" and stuck:
        return ReplayOutcome(True, f"confirmed: after {len(path)} steps no thread can move", None)
    return ReplayOutcome(False, f"the trace ends without violating {expected['name']}", None)
