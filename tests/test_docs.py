"""Every ```spec example in docs/language.md is a complete spec that checks.

Each block is written to its own file and must load without diagnostics
(`api.load`); if it has `expect` clauses, every expectation must pass under
`modelcheck test` (`api.test_spec`). Fragments that are not complete specs are
written as ```text blocks in the document and are not checked here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modelcheck import api
from modelcheck.diagnostics import SpecError

from .conftest import ROOT

DOC = ROOT / "docs" / "language.md"
FENCE = re.compile(r"^(\s*)```(\S*)\s*$")


def _spec_blocks(text: str) -> list[tuple[int, str]]:
    """(line of the opening fence, block text) for every ```spec block."""
    blocks: list[tuple[int, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        lang, start = m.group(2), i
        body: list[str] = []
        i += 1
        while i < len(lines) and not FENCE.match(lines[i]):
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise AssertionError(f"{DOC.name}:{start + 1}: unterminated code block")
        i += 1  # the closing fence
        if lang == "spec":
            blocks.append((start + 1, "\n".join(body) + "\n"))
    return blocks


BLOCKS = _spec_blocks(DOC.read_text(encoding="utf-8"))
IDS = [f"block-{k}-line-{line}" for k, (line, _) in enumerate(BLOCKS, 1)]


def test_the_document_has_examples() -> None:
    assert len(BLOCKS) >= 20, "docs/language.md should carry an example per construct"


@pytest.mark.parametrize(("line", "source"), BLOCKS, ids=IDS)
def test_doc_example_checks(line: int, source: str, tmp_path: Path) -> None:
    path = tmp_path / f"language_md_line_{line}.spec"
    path.write_text(source, encoding="utf-8")
    try:
        _, checked, _ = api.load(str(path))
    except SpecError as exc:
        pytest.fail(f"docs/language.md:{line}: the example does not check:\n{exc.render()}")
    assert checked.threads, f"docs/language.md:{line}: an example must declare a thread"
    if not checked.expects:
        return
    outcomes = api.test_spec(str(path))
    failed = [o for o in outcomes if not o.passed]
    assert not failed, f"docs/language.md:{line}: expectations failed:\n" + "\n".join(
        f"  line {line + o.line} {o.params or 'defaults'}: expect {o.kind} {o.prop}: {o.verdict} - {o.detail}"
        for o in failed
    )
