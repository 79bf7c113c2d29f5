"""The spec library: every spec under specs/ meets all its `expect` clauses, for every
param setting `modelcheck test` tries, and its buggy variants come with a trace."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelcheck import api

from .conftest import ROOT

SPECS = sorted((ROOT / "specs").glob("*.spec"))


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_library_spec_meets_its_expectations(path: Path) -> None:
    outcomes = api.test_spec(str(path))
    kinds = {o.kind for o in outcomes}
    assert kinds == {"holds", "violation"}, f"{path.name} must state a fixed and a buggy verdict"
    failed = [o for o in outcomes if not o.passed]
    assert not failed, "\n".join(f"line {o.line} {o.params}: expect {o.kind} {o.prop}: {o.detail}" for o in failed)


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_library_spec_header_cites_its_source(path: Path) -> None:
    head = "\n".join(path.read_text().splitlines()[:40])
    assert head.startswith("//"), "a spec starts with a comment naming what it models"
    assert any(word in head for word in ("commit", "Message-ID", "@", "CVE")), "cite the commit or mail"
