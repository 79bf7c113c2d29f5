"""Every ```spec example in docs/*.md is a complete spec that checks, and every output a
document states for a `$ modelcheck` command is what the command prints.

Each block is written to its own file and must load without diagnostics
(`api.load`); if it has `expect` clauses, every expectation must pass under
`modelcheck test` (`api.test_spec`). Fragments that are not complete specs are
written as ```text blocks in the document and are not checked here.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from modelcheck import api
from modelcheck.diagnostics import SpecError

from .conftest import ROOT

DOC = ROOT / "docs" / "language.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
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


BLOCKS = [(f"docs/{d.name}:{line}", src) for d in DOCS for line, src in _spec_blocks(d.read_text(encoding="utf-8"))]
IDS = [f"block-{k}-{where.removeprefix('docs/')}" for k, (where, _) in enumerate(BLOCKS, 1)]


def test_the_document_has_examples() -> None:
    assert len(BLOCKS) >= 20, "docs/language.md should carry an example per construct"


@pytest.mark.parametrize(("line", "source"), BLOCKS, ids=IDS)
def test_doc_example_checks(line: str, source: str, tmp_path: Path) -> None:
    path = tmp_path / "example.spec"
    path.write_text(source, encoding="utf-8")
    try:
        _, checked, _ = api.load(str(path))
    except SpecError as exc:
        pytest.fail(f"{line}: the example does not check:\n{exc.render()}")
    assert checked.threads, f"{line}: an example must declare a thread"
    if not checked.expects:
        return
    outcomes = api.test_spec(str(path))
    failed = [o for o in outcomes if not o.passed]
    assert not failed, f"{line}: expectations failed:\n" + "\n".join(
        f"  example line {o.line} {o.params or 'defaults'}: expect {o.kind} {o.prop}: {o.verdict} - {o.detail}"
        for o in failed
    )


# ---------------------------------------------------------------- stated outputs

TIME = re.compile(r"\d+\.\d\d s\b")


def _text_blocks(text: str) -> list[tuple[int, str, str]]:
    """(line, block, the nearest ```spec block before it) for each ```text block that runs
    `$ modelcheck`."""
    out: list[tuple[int, str, str]] = []
    lines = text.splitlines()
    last_spec = ""
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        lang, start = m.group(2), i
        j = i + 1
        while not FENCE.match(lines[j]):
            j += 1
        body = "\n".join(lines[i + 1 : j]) + "\n"
        if lang == "spec":
            last_spec = body
        elif lang == "text" and "$ modelcheck" in body:
            out.append((start + 1, body, last_spec))
        i = j + 1
    return out


def _commands(block: str, spec: str) -> tuple[dict[str, str], list[tuple[list[str], list[str]]]]:
    """The files a block shows with `$ cat` (else: the spec before it, under the name the
    commands use) and each `$ modelcheck` command with its stated output lines."""
    files: dict[str, str] = {}
    cmds: list[tuple[list[str], list[str]]] = []
    current: list[str] | None = None
    cat: str | None = None
    for line in block.splitlines():
        if line.startswith("$ cat "):
            cat, current = line.split()[2], None
            files[cat] = ""
        elif line.startswith("$ modelcheck"):
            cat, current = None, []
            cmds.append((line.split()[2:], current))
        elif cat is not None:
            files[cat] += line + "\n"
        elif current is not None:
            current.append(line)
    for argv, _ in cmds:
        name = argv[-1]
        files.setdefault(name, spec)
    return files, cmds


def _matches(expected: list[str], actual: list[str]) -> bool:
    """The stated lines appear in order from the first line on; a `...` line stands for any
    lines (the output may go on after the last stated line)."""
    segments: list[list[str]] = [[]]
    while expected and not expected[-1].strip():
        expected = expected[:-1]
    for line in expected:
        if line.strip() == "...":
            segments.append([])
        else:
            segments[-1].append(line.rstrip())
    pos = 0
    for k, seg in enumerate(segments):
        if not seg:
            continue
        anchored = k == 0
        found = -1
        for p in range(pos, len(actual) - len(seg) + 1):
            if actual[p : p + len(seg)] == seg:
                found = p
                break
            if anchored:
                break
        if found < 0:
            return False
        pos = found + len(seg)
    return True


OUTPUTS = [(f"docs/{d.name}:{ln}", b, sp) for d in DOCS for ln, b, sp in _text_blocks(d.read_text(encoding="utf-8"))]


def test_the_document_states_outputs() -> None:
    assert len(OUTPUTS) >= 8


@pytest.mark.parametrize(("line", "block", "spec"), OUTPUTS, ids=[w.removeprefix("docs/") for w, _, _ in OUTPUTS])
def test_doc_stated_output_matches(
    line: str, block: str, spec: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelcheck.cli import main

    files, cmds = _commands(block, spec)
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for argv, expected in cmds:
        out, err = io.StringIO(), io.StringIO()
        main(argv, out, err)
        actual = [TIME.sub("0.00 s", x).rstrip() for x in (out.getvalue() + err.getvalue()).splitlines()]
        assert _matches(expected, actual), f"{line}: `modelcheck {' '.join(argv)}` prints\n" + "\n".join(actual)
