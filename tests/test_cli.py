"""The command line, end to end through main(argv, stdout, stderr)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from modelcheck.cli import main

from .conftest import ROOT

REMAP = str(ROOT / "specs" / "remap.spec")


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_fixed_remap_holds_with_counts() -> None:
    code, out, err = cli(REMAP)
    assert code == 0, err
    assert "HOLDS: every property holds in every interleaving" in out
    assert " states, " in out and " transitions, " in out


def test_buggy_remap_prints_cpu_columns_and_exits_1() -> None:
    code, out, _ = cli("-D", "RECHECK_PMD=false", REMAP)
    assert code == 1
    assert "Assertion BUG_ON failed." in out
    assert "remap.spec:88:9" in out
    header = next(line for line in out.splitlines() if "| mover" in line)
    assert "| zap" in header
    assert "write dst_pmd = null" in out
    assert "!! 88: BUG_ON" in out


def test_property_selection_and_trace_roundtrip(tmp_path: Path) -> None:
    trace = tmp_path / "t.json"
    code, out, _ = cli(REMAP, "-D", "RECHECK_PMD=false", "-p", "page_table.pte.requires", "--trace-out", str(trace))
    assert code == 1 and "requires" in out and trace.exists()
    data = json.loads(trace.read_text())
    assert data["#meta"]["format"] == "ITF" and data["vars"] and len(data["states"]) >= 2
    code, out, _ = cli("replay", str(trace))
    assert code == 1 and out.startswith("REPLAY OK")


def test_replay_rejects_a_trace_that_no_longer_matches(tmp_path: Path) -> None:
    trace = tmp_path / "t.json"
    cli(REMAP, "-D", "RECHECK_PMD=false", "--trace-out", str(trace))
    data = json.loads(trace.read_text())
    data["#meta"]["modelcheck"]["params"]["RECHECK_PMD"] = "true"
    trace.write_text(json.dumps(data))
    code, out, _ = cli("replay", str(trace))
    assert code == 2 and out.startswith("REPLAY FAILED")


def test_unknown_when_a_bound_is_hit() -> None:
    code, out, _ = cli(REMAP, "--max-states", "50")
    assert code == 3 and "UNKNOWN: --max-states 50 reached" in out and "HOLDS" not in out


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["nosuch.spec"], "nosuch.spec: error: cannot read spec"),
        (["-D", "RECHECK=false", REMAP], "no param named 'RECHECK'"),
        (["-D", "RECHECK_PMD", REMAP], "expected NAME=VALUE"),
        (["-p", "no_pte_lots", REMAP], "did you mean 'no_pte_lost'?"),
        (["check"], "the following arguments are required: spec"),
    ],
)
def test_input_errors_exit_2_without_traceback(argv: list[str], fragment: str) -> None:
    code, out, err = cli(*argv)
    assert code == 2
    assert fragment in err
    assert "Traceback" not in err + out


def test_spec_errors_show_file_line_col_caret_and_hint(tmp_path: Path) -> None:
    spec = tmp_path / "bad.spec"
    spec.write_text("lock m: mutex\nthread t {\n    spin_lock(m)\n}\n")
    code, _, err = cli(str(spec))
    assert code == 2
    assert f"{spec}:3:15: error: spin_lock() needs a spinlock, but this is a mutex [lock]" in err
    assert "    spin_lock(m)\n" in err and "^" in err
    assert "hint: for a mutex use" in err and "mutex_lock" in err


def test_test_command_reports_each_expectation() -> None:
    code, out, _ = cli("test", REMAP)
    assert code == 0
    assert "[RECHECK_PMD=false RACER=zap] expect violation BUG_ON: VIOLATED" in out
    assert out.strip().endswith("8 passed, 0 failed")


def test_test_command_fails_when_an_expectation_fails(tmp_path: Path) -> None:
    spec = tmp_path / "wrong.spec"
    spec.write_text("shared x: bool\nthread t { x = true }\ninvariant never: !x\nexpect holds never\n")
    code, out, _ = cli("test", str(spec))
    assert code == 1 and out.startswith("FAIL ") and "0 passed, 1 failed" in out


def test_dump_stages() -> None:
    code, out, _ = cli("dump", "--stage", "ir", REMAP)
    assert code == 0 and "thread mover" in out and "slot" in out
    code, out, _ = cli("dump", "--stage", "code", REMAP)
    assert code == 0 and "def t0_pc0(s):" in out


def test_output_is_deterministic() -> None:
    a = cli("-D", "RECHECK_PMD=false", REMAP)[1]
    b = cli("-D", "RECHECK_PMD=false", REMAP)[1]
    strip = [line for line in a.splitlines() if " s" not in line[-3:]]
    assert [line for line in b.splitlines() if " s" not in line[-3:]] == strip


# ---------------------------------------------------------------- robustness (issue 9)


@pytest.mark.parametrize(
    ("option", "value", "fragment"),
    [
        ("--max-states", "-1", "expected a number >= 0"),
        ("--max-depth", "-3", "expected a number >= 0"),
        ("--depth", "-1", "expected a number >= 0"),
        ("--timeout", "nan", "finite number of seconds > 0"),
        ("--timeout", "inf", "finite number of seconds > 0"),
        ("--timeout", "-2", "finite number of seconds > 0"),
        ("--max-memory", "12Q", "a size such as 500M"),
    ],
)
def test_bad_option_values_exit_2_with_a_message(option: str, value: str, fragment: str) -> None:
    code, out, err = cli(REMAP, f"{option}={value}")
    assert code == 2 and fragment in err and option in err and out == ""


def test_trace_out_to_a_directory_or_a_missing_directory_exits_2(tmp_path: Path) -> None:
    for target, fragment in ((tmp_path, "is a directory"), (tmp_path / "no" / "t.json", "no directory")):
        code, out, err = cli(REMAP, "-D", "RECHECK_PMD=false", "--trace-out", str(target))
        assert code == 2 and fragment in err and "Traceback" not in err


def test_trace_out_never_overwrites_the_spec(tmp_path: Path) -> None:
    spec = tmp_path / "remap.spec"
    text = Path(REMAP).read_text()
    spec.write_text(text)
    code, _, err = cli(str(spec), "-D", "RECHECK_PMD=false", "--trace-out", str(tmp_path / "." / "remap.spec"))
    assert code == 2 and "is the spec being checked" in err
    assert spec.read_text() == text


def test_trace_out_is_written_atomically_and_an_unwritable_one_exits_2(tmp_path: Path) -> None:
    trace = tmp_path / "t.json"
    trace.write_text("old")
    code, out, _ = cli(REMAP, "-D", "RECHECK_PMD=false", "--trace-out", str(trace))
    assert code == 1 and json.loads(trace.read_text())["#meta"]["format"] == "ITF"
    assert [p.name for p in tmp_path.iterdir()] == ["t.json"]  # no temporary file left behind
    # /proc/self takes no new files, not even from root: the write itself fails
    code, _, err = cli(REMAP, "-D", "RECHECK_PMD=false", "--trace-out", "/proc/self/t.json")
    assert code == 2 and "--trace-out /proc/self/t.json" in err and "Traceback" not in err


def test_max_memory_below_the_current_use_stops_with_unknown() -> None:
    code, out, _ = cli(REMAP, "--max-memory", "1M")
    assert code == 3 and "UNKNOWN: --max-memory 1M reached" in out and "HOLDS" not in out


def test_nesting_past_the_limit_is_a_diagnostic(tmp_path: Path) -> None:
    spec = tmp_path / "deep.spec"
    cases = {
        "x = " + " + ".join(["1"] * 700): "700 operators deep",
        "x = " + "-" * 1000 + "1": "51 operators deep",
        "var i: int[0..1]\n" + "if i == 0 {\n" * 200 + "x = 1\n" + "}\n" * 200: "blocks nest 51 deep",
    }
    for body, fragment in cases.items():
        spec.write_text(f"shared x: int[-1000..1000]\nthread t {{\n{body}\n}}\n")
        code, _, err = cli(str(spec))
        assert code == 2 and fragment in err and "[limit]" in err and "Traceback" not in err
        assert f"{spec}:" in err


def _good_trace(tmp_path: Path) -> tuple[Path, dict[str, object]]:
    spec = tmp_path / "remap.spec"
    spec.write_text(Path(REMAP).read_text())
    trace = tmp_path / "t.json"
    code, _, err = cli(str(spec), "-D", "RECHECK_PMD=false", "--trace-out", str(trace))
    assert code == 1, err
    return trace, json.loads(trace.read_text())


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: [], "the top level is not an object"),
        (lambda d: {"#meta": []}, '"modelcheck" object'),
        (lambda d: d["#meta"]["modelcheck"].update(spec=3), '"spec" is not a file name'),
        (lambda d: d["#meta"]["modelcheck"].update(params=[1]), '"params" is not an object'),
        (lambda d: d["#meta"]["modelcheck"].update(path="0/1"), '"path" is not a list'),
        (lambda d: d["#meta"]["modelcheck"].update(path=[[0, -1]]), '"path" is not a list'),
        (lambda d: d["#meta"]["modelcheck"].update(violation="x"), '"violation" has no'),
        (lambda d: d.update(states=[1, 2]), '"states" is not a list of objects'),
        (lambda d: d.update(vars=5), '"vars" is not a list of names'),
    ],
)
def test_replay_of_json_of_the_wrong_shape_exits_2(tmp_path: Path, change: object, fragment: str) -> None:
    trace, data = _good_trace(tmp_path)
    changed = change(data)  # type: ignore[operator]
    trace.write_text(json.dumps(data if changed is None else changed))
    code, out, err = cli("replay", str(trace))
    assert code == 2 and fragment in err and "Traceback" not in err


def test_replay_never_shows_a_file_that_is_not_a_spec(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    trace, data = _good_trace(tmp_path)
    data["#meta"]["modelcheck"]["spec"] = str(secret)  # type: ignore[index]
    trace.write_text(json.dumps(data))
    code, out, err = cli("replay", str(trace))
    assert code == 2 and "not a .spec file" in err and "root:x" not in out + err


def test_replay_finds_the_spec_next_to_the_trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trace, _ = _good_trace(tmp_path)
    moved = tmp_path / "moved"
    moved.mkdir()
    for name in ("remap.spec", "t.json"):
        (tmp_path / name).rename(moved / name)
    monkeypatch.chdir(ROOT)
    code, out, err = cli("replay", str(moved / "t.json"))
    assert code == 1 and out.startswith("REPLAY OK"), err


def test_control_characters_from_a_spec_are_escaped_on_the_terminal(tmp_path: Path) -> None:
    spec = tmp_path / "a\x1b[2Jb.spec"  # a file name the header echoes
    spec.write_text("shared x: int[0..1]\nthread t {\n    x = 1\n    assert ok: x == 0\n}\n")
    code, out, err = cli(str(spec))
    assert code == 1 and "\x1b" not in out and "a\\x1b[2Jb.spec" in out
    spec.write_text("shared x: int[0..1]\nthread t {\n    x = 2   // \x1b[31m red\n}\n")
    code, out, err = cli(str(spec))
    assert code == 2 and "\x1b" not in err and "// \\x1b[31m red" in err


def test_timeout_stops_a_stage_that_does_not_watch_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """--timeout covers the whole run: when it passes in a stage with no clock of its own
    (here the alarm is raised at once instead of after the timeout), the answer is UNKNOWN."""
    import signal

    from modelcheck import api

    def stuck(*args: object, **kwargs: object) -> None:
        signal.raise_signal(signal.SIGALRM)
        raise AssertionError("the alarm did not stop the run")

    monkeypatch.setattr(api, "run_check", stuck)
    out, err = io.StringIO(), io.StringIO()
    assert main(["--timeout", "5", str(ROOT / "specs" / "remap.spec")], out, err) == 3
    assert out.getvalue().startswith("UNKNOWN: --timeout 5s reached")
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
