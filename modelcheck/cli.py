"""The command line: a thin layer over `api` that parses arguments and prints.

`main(argv, stdout, stderr) -> int` is the whole interface, so tests call it
directly. Exit codes: 0 holds, 1 violated, 2 error in the input (spec, -D value,
command line, trace file), 3 unknown (a bound was hit), 70 internal error.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from . import __version__, api
from .diagnostics import SpecError
from .explore import HOLDS, UNKNOWN, VIOLATED, Limits, default_max_memory
from .render import render_result
from .trace import dump_itf, to_itf

EXIT_HOLDS, EXIT_VIOLATED, EXIT_INPUT, EXIT_UNKNOWN, EXIT_INTERNAL = 0, 1, 2, 3, 70
COMMANDS = ("check", "test", "replay", "dump", "export")


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{self.prog}: error: {message}")


def _count(text: str) -> int:
    """A non-negative whole number (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def _seconds(text: str) -> float:
    """A finite, positive number of seconds (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds > 0, got {text}")
    return value


_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _size(text: str) -> int:
    """A memory size such as 500M or 4G (argparse type)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([BKMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if m is None or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"expected a size such as 500M or 4G, got {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


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
    c.add_argument("--max-states", type=_count, metavar="N")
    c.add_argument("--max-depth", type=_count, metavar="N")
    c.add_argument("--timeout", type=_seconds, metavar="SECONDS", help="for the whole run, compilation included")
    c.add_argument(
        "--max-memory",
        type=_size,
        metavar="SIZE",
        help="stop with UNKNOWN past this much memory, e.g. 500M or 4G (default: 60%% of the machine's)",
    )
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
        "--no-symmetry",
        dest="symmetry",
        action="store_false",
        help="count states that differ only by a permutation of identical thread instances (thread NAME[N]) "
        "apart (symmetry reduction is on by default where it is sound)",
    )
    c.add_argument(
        "--workers",
        type=_count,
        metavar="N",
        help="threads of the compiled search (default: every core; 1 for a run that uses one core)",
    )
    c.add_argument(
        "--depth", type=_count, default=30, metavar="K", help="the bound of bmc, the largest k of prove (default 30)"
    )
    t = sub.add_parser("test", help="check every spec's expect clauses")
    t.add_argument("paths", nargs="+")
    t.add_argument("--max-states", type=_count, metavar="N")
    t.add_argument("--timeout", type=_seconds, metavar="SECONDS")
    t.add_argument("--max-memory", type=_size, metavar="SIZE", help="as for check")
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
    if args.trace_out:
        _check_trace_out(args.trace_out, args.spec)
    limits = Limits(args.max_states, args.max_depth, args.timeout, _memory(args.max_memory))
    try:
        with _hard_deadline(args.timeout):
            run = api.run_check(
                args.spec,
                defines,
                args.property or None,
                limits,
                engine=args.engine,
                depth=args.depth,
                reduce=args.reduce,
                symmetry=args.symmetry,
                workers=args.workers,
            )
    except _OutOfTime:
        stdout.write(
            f"UNKNOWN: --timeout {args.timeout:g}s reached before the search could report "
            "(while parsing, checking, lowering or compiling the spec, or within one step)\n"
        )
        return EXIT_UNKNOWN
    params = ", ".join(f"{n}={v}" for n, v in run.model.params)
    threads = ", ".join(t.name for t in run.model.threads)
    header = [
        f"modelcheck {__version__}: {args.spec}" + (f" ({params})" if params else ""),
        f"threads: {threads}; engine: "
        + {
            "explicit": "explicit (breadth-first, exhaustive"
            + (", partial-order reduction" if args.reduce else ", no reduction")
            + (")" if args.symmetry else ", no symmetry)"),
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
            # relative to the trace's directory, where `replay` looks for it
            spec = os.path.relpath(Path(args.spec).resolve(), Path(args.trace_out).resolve().parent)
            data = to_itf(run.compiled, run.result.violation, run.trace, spec, run.params)
            try:
                _write_atomically(Path(args.trace_out), dump_itf(data))
            except OSError as exc:
                stderr.write(f"modelcheck: error: --trace-out {args.trace_out}: {exc.strerror or exc}\n")
                return EXIT_INPUT
            stdout.write(f"trace written to {args.trace_out} (replay: modelcheck replay {args.trace_out})\n")
    return {HOLDS: EXIT_HOLDS, "PROVED": EXIT_HOLDS, VIOLATED: EXIT_VIOLATED, UNKNOWN: EXIT_UNKNOWN}[run.result.verdict]


class _OutOfTime(Exception):
    """--timeout passed in a stage that does not watch the clock itself."""


@contextlib.contextmanager
def _hard_deadline(timeout: float | None) -> Iterator[None]:
    """Stop the run a little after --timeout wherever it is. The engines stop themselves at
    --timeout with what they covered; this catches the stages before them (parsing, lowering,
    compiling a very long thread) and a single step that never returns."""
    if timeout is None or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise _OutOfTime

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, timeout * 1.1 + 0.5)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _memory(size: int | None) -> int | None:
    return default_max_memory() if size is None else size


def _check_trace_out(target: str, spec: str) -> None:
    """Refuse a --trace-out that cannot be written or that is an input of the run."""
    path = Path(target)
    where = f"modelcheck: error: --trace-out {target}"
    if path.is_dir():
        raise _UsageError(f"{where}: is a directory")
    if not path.parent.is_dir():
        raise _UsageError(f"{where}: no directory {str(path.parent)!r}")
    if path.exists() and path.resolve() == Path(spec).resolve():
        raise _UsageError(f"{where}: is the spec being checked; choose another file")
    if path.exists() and not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        raise _UsageError(f"{where}: not writable")


def _write_atomically(path: Path, text: str) -> None:
    """Write through a temporary file in the same directory, then rename it over `path`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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
    limits = Limits(args.max_states, None, args.timeout, _memory(args.max_memory))
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
