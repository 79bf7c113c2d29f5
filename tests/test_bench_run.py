"""bench/run cannot rot: it runs end to end on the smallest classic model, its report has the
CPU and ratio columns, and its parsing of modelcheck's report survives new lines in it."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from tests.spin_oracle import spin_available

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "bench" / "run"


def load_bench() -> ModuleType:
    """bench/run as a module (it has no .py suffix)."""
    loader = importlib.machinery.SourceFileLoader("bench_run", str(RUN))
    spec = importlib.util.spec_from_loader("bench_run", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module  # dataclasses look their module up
    loader.exec_module(module)
    return module


def test_stats_are_read_whatever_else_the_report_says() -> None:
    bench = load_bench()
    report = (
        "modelcheck 0.2.0: x.spec (N=3)\n"
        "threads: p[0], p[1]; engine: compiled (symmetry, 2 workers)\n"
        "HOLDS: every property holds in every interleaving (exhaustive search)\n"
        "  symmetry: 6 permutations\n"
        "  1,234 states, 5,678 transitions, depth 12, 0.25 s (4,936 states/s), 21 bytes/state\n"
    )
    assert bench.parse_stats(report) == ("HOLDS", 1234, 5678, 0.25)
    assert bench.parse_stats("VIOLATED\n  7 states, 9 transitions, depth 3, 0.00 s\n") == ("VIOLATED", 7, 9, 0.0)
    assert bench.parse_stats("modelcheck: error\n") is None


def test_only_selects_by_name_or_by_name_and_params() -> None:
    bench = load_bench()
    chosen, _ = bench.models(quick=True)
    labels = {m.label for m in chosen}
    assert {"peterson ITER=20", "filter N=3 ITER=2", "skip_swapcache NFAULT=4"} <= labels
    assert "mcs N=5 ITER=2" not in labels  # 27M states: not in --quick
    assert all(m.spec.is_file() and m.pml is not None and m.pml.is_file() for m in chosen)


def test_bench_runs_end_to_end_on_the_smallest_model(tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    cmd = [sys.executable, str(RUN), "--quick", "--no-tlc", "--only", "^peterson ITER=20$", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False, timeout=600)  # noqa: S603
    assert proc.returncode == 0, proc.stderr
    report = out.read_text()
    assert "| CPU s |" in report and "| states/CPU-s |" in report and "CPU ÷ SPIN NR / POR" in report
    table = [line.split(" | ") for line in report.splitlines() if line.startswith("| peterson ITER=20 |")]
    rows = [row for row in table if len(row) == 18]  # the group's table, not the targets' summary
    tools = [row[1] for row in rows]
    assert tools[:3] == ["modelcheck cold", "modelcheck", "modelcheck --no-reduction"]
    for row in rows:
        assert row[2] == "HOLDS" and row[3] == "12,882"
        assert float(row[6]) > 0  # CPU s
    if spin_available():
        assert "SPIN -DNOREDUCE" in tools and "SPIN (POR)" in tools
        assert "states differ" not in report
        assert rows[tools.index("modelcheck --no-reduction")][16] == "= / ="  # states ÷ SPIN: equal to both
