"""The spec corpus, sorted by expected result.

- tests/corpus/ok/*.spec: every `expect` clause passes under `modelcheck test`.
- tests/corpus/static_error/*.spec: the expected diagnostics are written inline, as
  `// error[CODE]: message fragment` at the end of the line the error points at.
- tests/corpus/violation/*.spec: every `expect` passes, the default check is VIOLATED,
  its rendered report matches the golden NAME.trace.txt (update with --update-goldens),
  and the ITF trace of the counterexample replays.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from modelcheck import api
from modelcheck.cli import main
from modelcheck.diagnostics import SpecError

from .conftest import CORPUS, ROOT

EXPECTED_ERROR = re.compile(r"//\s*error\[([a-z-]+)\]:\s*(.*?)\s*$")


def _specs(kind: str) -> list[Path]:
    return sorted((CORPUS / kind).glob("*.spec"))


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


@pytest.mark.parametrize("path", _specs("ok"), ids=_ids(_specs("ok")))
def test_ok_specs_meet_their_expectations(path: Path) -> None:
    outcomes = api.test_spec(str(path))
    assert outcomes, f"{path.name} has no expect clause"
    failed = [o for o in outcomes if not o.passed]
    assert not failed, "\n".join(f"line {o.line} {o.params}: expect {o.kind} {o.prop}: {o.detail}" for o in failed)


@pytest.mark.parametrize("path", _specs("static_error"), ids=_ids(_specs("static_error")))
def test_static_errors_are_reported_where_written(path: Path) -> None:
    expected = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        m = EXPECTED_ERROR.search(line)
        if m:
            expected.append((lineno, m.group(1), m.group(2)))
    assert expected, f"{path.name} declares no expected error"
    with pytest.raises(SpecError) as info:
        api.load(str(path))
    got = [(d.span.line, d.code, d.message) for d in info.value.diagnostics]
    for lineno, code, fragment in expected:
        assert any(g[0] == lineno and g[1] == code and fragment in g[2] for g in got), (
            f"expected {code} '{fragment}' on line {lineno}; got {got}"
        )
    assert len(got) == len(expected), f"unexpected extra diagnostics: {got}"
    rendered = info.value.render()
    assert "Traceback" not in rendered
    for d in info.value.diagnostics:
        assert f"{path}:{d.span.line}:{d.span.col}: error:" in rendered


@pytest.mark.parametrize("path", _specs("violation"), ids=_ids(_specs("violation")))
def test_violations_match_golden_traces(path: Path, update_goldens: bool) -> None:
    outcomes = api.test_spec(str(path))
    assert outcomes and all(o.passed for o in outcomes), [o for o in outcomes if not o.passed]
    out, err = io.StringIO(), io.StringIO()
    rel = str(path.relative_to(ROOT))
    import os

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        code = main([rel], out, err)
    finally:
        os.chdir(cwd)
    assert code == 1, err.getvalue()
    text = re.sub(r"\d+\.\d\d s\b", "X.XX s", out.getvalue())
    golden = path.with_suffix(".trace.txt")
    if update_goldens or not golden.exists():
        golden.write_text(text)
        if not update_goldens:
            pytest.fail(f"wrote missing golden {golden.name}; review it and re-run")
    assert text == golden.read_text()


@pytest.mark.parametrize(
    "path", [*_specs("violation"), ROOT / "specs" / "remap.spec"], ids=[*_ids(_specs("violation")), "remap"]
)
def test_every_counterexample_replays(path: Path, tmp_path: Path) -> None:
    defines = {"RECHECK_PMD": "false"} if path.name == "remap.spec" else {}
    for setting in [defines] if defines else api.param_settings(api.read_spec(str(path))) or [{}]:
        run = api.run_check(str(path), setting)
        if run.result.verdict != "VIOLATED" or run.trace is None:
            continue
        from modelcheck.trace import dump_itf, to_itf

        assert run.result.violation is not None
        trace_file = tmp_path / "trace.json"
        trace_file.write_text(dump_itf(to_itf(run.compiled, run.result.violation, run.trace, str(path), run.params)))
        outcome = api.replay(str(trace_file))
        assert outcome.confirmed, outcome.message
