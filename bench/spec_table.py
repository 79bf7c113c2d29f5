"""Print, as Markdown, every library spec's expectations with verdicts, states and times.

Usage: python bench/spec_table.py [specs/*.spec]   (docs/specs.md quotes its output)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from modelcheck import api


def main(paths: list[str]) -> None:
    """Print one table per spec and a summary row per spec."""
    summary = []
    for path in paths:
        t0 = time.perf_counter()
        outcomes = api.test_spec(path)
        wall = time.perf_counter() - t0
        print(f"### {Path(path).stem}\n")
        print("| params | expect | verdict | states | search |")
        print("| --- | --- | --- | --- | --- |")
        for o in outcomes:
            params = " ".join(f"{k}={v}" for k, v in o.params.items()) or "defaults"
            what = o.kind + (f" {o.prop}" if o.prop else "")
            mark = "" if o.passed else " (FAILED)"
            print(f"| {params} | {what} | {o.verdict}{mark} | {o.stats.states:,} | {o.stats.seconds:.2f} s |")
        biggest = max(o.stats.states for o in outcomes)
        summary.append((Path(path).stem, len(outcomes), all(o.passed for o in outcomes), biggest, wall))
        print()
    print("| spec | expectations | all pass | largest search (states) | `modelcheck test` time |")
    print("| --- | --- | --- | --- | --- |")
    for name, n, ok, biggest, wall in summary:
        print(f"| {name} | {n} | {'yes' if ok else 'NO'} | {biggest:,} | {wall:.2f} s |")


if __name__ == "__main__":
    main(sys.argv[1:] or sorted(str(p) for p in Path("specs").glob("*.spec")))
