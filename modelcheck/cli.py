"""The command line: a thin layer over `api` that parses arguments and prints.

`main(argv, stdout, stderr) -> int` is the whole interface, so tests call it
directly. Exit codes: 0 holds, 1 violated, 2 error in the input (spec, -D value,
command line, trace file), 3 unknown (a bound was hit), 70 internal error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from . import __version__, api
from .diagnostics import SpecError
from .explore import HOLDS, UNKNOWN, VIOLATED, Limits
from .render import render_result
from .trace import dump_itf, to_itf

EXIT_HOLDS, EXIT_VIOLATED, EXIT_INPUT, EXIT_UNKNOWN, EXIT_INTERNAL = 0, 1, 2, 3, 70
COMMANDS = ("check", "test", "replay", "dump", "export")


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{self.prog}: error: {message}")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="modelcheck", description="Explore every interleaving of a .spec and check its properties.")
    p.add_argument("--version", action="version", version=f"modelcheck {__version__}")
    sub = p.add_subparsers(dest="command")
    c = sub.add_parser("check", help="check one spec (the default command)")
    c.add_argument("spec")
    c.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME=VALUE", help="override a param")
    c.add_argument(
        "--property",
        "-p",
        action="append",
        default=[],
        metavar="NAME",
        help="check only this property or property kind (repeatable)",
    )
    c.add_argument("--max-states", type=int, metavar="N")
    c.add_argument("--max-depth", type=int, metavar="N")
    c.add_argument("--timeout", type=float, metavar="SECONDS")
    c.add_argument("--trace-out", metavar="FILE", help="write the counterexample as ITF JSON")
    c.add_argument(
        "--engine",
        choices=("explicit", "bmc", "prove"),
        default="explicit",
        help="explicit: every interleaving (default); bmc: z3 bounded model checking to --depth; "
        "prove: k-induction with z3 (k up to --depth), for runs of any length",
    )
    c.add_argument(
        "--no-reduction",
        dest="reduce",
        action="store_false",
        help="explore every interleaving one by one (partial-order reduction is on by default)",
    )
    c.add_argument(
        "--depth", type=int, default=30, metavar="K", help="the bound of bmc, the largest k of prove (default 30)"
    )
    t = sub.add_parser("test", help="check every spec's expect clauses")
    t.add_argument("paths", nargs="+")
    t.add_argument("--max-states", type=int, metavar="N")
    t.add_argument("--timeout", type=float, metavar="SECONDS")
    t.add_argument(
        "--strict",
        action="store_true",
        help="fail an `expect holds` whose property was never evaluated (VACUOUS)",
    )
    r = sub.add_parser("replay", help="re-execute a saved trace and confirm its violation")
    r.add_argument("trace")
    d = sub.add_parser("dump", help="print a pipeline stage (ast, ir, code)")
    d.add_argument("spec")
    d.add_argument("--stage", choices=("ast", "ir", "code"), default="ir")
    d.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME=VALUE")
    e = sub.add_parser("export", help="write the model in another tool's language (--promela: SPIN)")
    e.add_argument("--promela", action="store_true", required=True, help="write Promela for SPIN")
    e.add_argument("spec")
    e.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME=VALUE", help="override a param")
    e.add_argument(
        "--property",
        "-p",
        action="append",
        default=[],
        metavar="NAME",
        help="translate only this property (repeatable)",
    )
    e.add_argument("-o", dest="output", metavar="FILE", help="write to FILE (default: standard output)")
    return p


def _defines(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise _UsageError(f"modelcheck: error: -D {item}: expected NAME=VALUE")
        name, value = item.split("=", 1)
        out[name.strip()] = value
    return out


def main(argv: list[str], stdout: TextIO, stderr: TextIO) -> int:
    """Run the command line; return the exit code."""
    if (
        (
            argv
            and argv[0] not in COMMANDS
            and not argv[0].startswith("-")
            or (argv and argv[0].startswith("-D") and len(argv) > 1)
        )
        or argv
        and argv[0].startswith("-")
        and argv[0] not in ("-h", "--help", "--version")
    ):
        argv = ["check", *argv]
    try:
        args = _parser().parse_args(argv)
    except _UsageError as exc:
        stderr.write(f"{exc}\n")
        return EXIT_INPUT
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0)
    if args.command is None:
        _parser().print_usage(stderr)
        return EXIT_INPUT
    try:
        if args.command == "check":
            return _check(args, stdout, stderr)
        if args.command == "test":
            return _test(args, stdout, stderr)
        if args.command == "replay":
            outcome = api.replay(args.trace)
            stdout.write(("REPLAY OK: " if outcome.confirmed else "REPLAY FAILED: ") + outcome.message + "\n")
            return EXIT_VIOLATED if outcome.confirmed else EXIT_INPUT
        if args.command == "dump":
            return _dump(args, stdout)
        if args.command == "export":
            return _export(args, stdout, stderr)
    except _UsageError as exc:
        stderr.write(f"{exc}\n")
        return EXIT_INPUT
    except SpecError as exc:
        stderr.write(exc.render() + "\n")
        return EXIT_INPUT
    raise AssertionError(args.command)  # pragma: no cover


def _check(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    defines = _defines(args.defines)
    limits = Limits(args.max_states, args.max_depth, args.timeout)
    run = api.run_check(
        args.spec, defines, args.property or None, limits, engine=args.engine, depth=args.depth, reduce=args.reduce
    )
    params = ", ".join(f"{n}={v}" for n, v in run.model.params)
    threads = ", ".join(t.name for t in run.model.threads)
    header = [
        f"modelcheck {__version__}: {args.spec}" + (f" ({params})" if params else ""),
        f"threads: {threads}; engine: "
        + {
            "explicit": "explicit (breadth-first, exhaustive"
            + (", partial-order reduction)" if args.reduce else ", no reduction)"),
            "bmc": f"bmc (z3, depth {args.depth})",
            "prove": f"prove (z3 k-induction, k <= {args.depth})",
        }[args.engine],
        "properties: " + (", ".join(args.property) if args.property else "all"),
    ]
    stdout.write(render_result(run.result, run.trace, header))
    if run.result.verdict == VIOLATED and args.trace_out and run.result.violation is not None:
        if run.trace is None:
            stderr.write("modelcheck: this violation has no trace to write\n")
        else:
            data = to_itf(run.compiled, run.result.violation, run.trace, args.spec, run.params)
            Path(args.trace_out).write_text(dump_itf(data), encoding="utf-8")
            stdout.write(f"trace written to {args.trace_out} (replay: modelcheck replay {args.trace_out})\n")
    return {HOLDS: EXIT_HOLDS, "PROVED": EXIT_HOLDS, VIOLATED: EXIT_VIOLATED, UNKNOWN: EXIT_UNKNOWN}[run.result.verdict]


def _spec_files(paths: list[str]) -> list[str]:
    out: list[str] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            out.extend(sorted(str(f) for f in path.rglob("*.spec")))
        else:
            out.append(p)
    return out


def _test(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    limits = Limits(args.max_states, None, args.timeout)
    passed = failed = errors = vacuous = 0
    files = _spec_files(args.paths)
    if not files:
        raise _UsageError("modelcheck test: error: no .spec files found")
    for f in files:
        try:
            outcomes = api.test_spec(f, limits)
        except SpecError as exc:
            stderr.write(exc.render() + "\n")
            stdout.write(f"ERROR {f}: the spec does not check\n")
            errors += 1
            continue
        if not outcomes:
            stdout.write(f"SKIP  {f}: no expect clauses\n")
        for o in outcomes:
            setting = " ".join(f"{k}={v}" for k, v in o.params.items())
            what = f"expect {o.kind}" + (f" {o.prop}" if o.prop else "")
            ok = o.passed and not (o.vacuous and args.strict)
            mark = ("VACUOUS " if o.vacuous else "PASS ") if ok else "FAIL "
            stdout.write(
                f"{mark}{f}:{o.line} [{setting or 'defaults'}] {what}: {o.verdict}, "
                f"{o.stats.states:,} states, {o.stats.seconds:.2f} s" + (f" - {o.detail}" if o.detail else "") + "\n"
            )
            passed += ok
            failed += not ok
            vacuous += o.vacuous and ok
    stdout.write(
        f"{passed} passed"
        + (f" ({vacuous} vacuous)" if vacuous else "")
        + f", {failed} failed"
        + (f", {errors} errors" if errors else "")
        + "\n"
    )
    if errors:
        return EXIT_INPUT
    return EXIT_HOLDS if failed == 0 else EXIT_VIOLATED


def _dump(args: argparse.Namespace, stdout: TextIO) -> int:
    spec, checked, model = api.load(args.spec, _defines(args.defines))
    if args.stage == "ast":
        for d in spec.decls:
            stdout.write(f"{d!r}\n")
    elif args.stage == "ir":
        from .ir_text import format_model

        stdout.write(format_model(model))
    else:
        from .codegen import compile_model

        stdout.write(compile_model(model).source)
    return EXIT_HOLDS


def _export(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from .promela import NotTranslatable, to_promela

    if args.output is not None and Path(args.output).resolve() == Path(args.spec).resolve():
        raise _UsageError(f"modelcheck export: error: -o {args.output} would overwrite the spec")
    _, _, model = api.load(args.spec, _defines(args.defines))
    if args.property:
        api._validate_props(model, args.property)  # noqa: SLF001 - the same check as `check -p`
    try:
        text = to_promela(model, args.property or None)
    except NotTranslatable as exc:
        stderr.write(
            f"{exc.where or args.spec}: error: cannot be translated to Promela exactly: {exc.reason} [promela]\n"
            + (
                "  hint: SPIN's ints are 32 bits; `modelcheck check` has no such limit\n"
                if "bits" in exc.reason
                else ""
            )
        )
        return EXIT_INPUT
    if args.output is None:
        stdout.write(text)
        return EXIT_HOLDS
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _UsageError(f"modelcheck export: error: cannot write {args.output}: {exc.strerror}") from exc
    return EXIT_HOLDS


def entry() -> int:
    """Console-script entry point."""
    try:
        return main(sys.argv[1:], sys.stdout, sys.stderr)
    except KeyboardInterrupt:
        sys.stderr.write("modelcheck: interrupted\n")
        return EXIT_UNKNOWN
    except BrokenPipeError:
        return EXIT_HOLDS
    except Exception as exc:  # noqa: BLE001 - last-resort report of an internal error
        import traceback

        sys.stderr.write("modelcheck: internal error (this is a bug in modelcheck, not in your spec):\n")
        traceback.print_exception(exc, file=sys.stderr)
        return EXIT_INTERNAL
