"""User-facing diagnostics: source spans, error codes and their rendering.

Every error a user can cause is a `Diagnostic` with a stable code from `CODES`;
the pipeline raises `SpecError` carrying one or more of them. Internal errors are
ordinary Python exceptions and are never dressed up as diagnostics.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Stable error codes. Never renumber or reuse a code; add new ones at the end.
CODES: dict[str, str] = {
    "file": "the spec file cannot be read",
    "syntax": "the text does not parse",
    "name": "a name is not defined, or defined twice",
    "type": "an expression has the wrong type",
    "const": "a value that must be known before the search is not a constant",
    "define": "a -D NAME=VALUE override is malformed or names no param",
    "structure": "a statement is used where it is not allowed",
    "lock": "a lock operation is applied to something that is not a lock of that kind",
    "usage": "the command line is malformed",
    "trace": "a trace file is malformed or does not match its spec",
    "bounds": "a constant index is out of range",
    "init": "init { } fails: a null dereference, an index or a value out of range",
    "promela": "the model cannot be exported to Promela exactly (values past 32 bits, ...)",
}


@dataclass(frozen=True, order=True)
class Span:
    """A region of a source file: 1-based line and column, end exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    """One user error: where, what, which code, and an optional hint."""

    span: Span
    code: str
    message: str
    hint: str = ""

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unregistered diagnostic code {self.code!r}")

    def render(self, source: str | None = None) -> str:
        """Render as `file:line:col: error: message [code]` plus caret line and hint."""
        where = str(self.span) if self.span.line > 0 else self.span.file
        head = f"{where}: error: {self.message} [{self.code}]"
        lines = [head]
        if source is not None and self.span.line > 0:
            text_lines = source.splitlines()
            if self.span.line <= len(text_lines):
                src = text_lines[self.span.line - 1].expandtabs(1)
                lines.append(f"    {src}")
                width = 1
                if self.span.end_line == self.span.line and self.span.end_col > self.span.col:
                    width = self.span.end_col - self.span.col
                lines.append("    " + " " * (self.span.col - 1) + "^" * width)
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


class SpecError(Exception):
    """Raised by a pipeline stage for errors in user input; carries diagnostics."""

    def __init__(self, diagnostics: list[Diagnostic], source: str | None = None) -> None:
        super().__init__("; ".join(f"{d.span}: {d.message}" for d in diagnostics))
        self.diagnostics = diagnostics
        self.source = source

    def render(self) -> str:
        """Render every diagnostic with the source line under it."""
        return "\n".join(d.render(self.source) for d in self.diagnostics)


def error(span: Span, code: str, message: str, hint: str = "") -> SpecError:
    """Build a SpecError holding a single diagnostic."""
    return SpecError([Diagnostic(span, code, message, hint)])


def did_you_mean(name: str, choices: list[str] | set[str] | tuple[str, ...]) -> str:
    """A hint naming the closest valid choice, or listing the valid choices."""
    import difflib

    ordered = sorted(set(choices))
    close = difflib.get_close_matches(name, ordered, n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    if ordered and len(ordered) <= 12:
        return "valid choices: " + ", ".join(ordered)
    return ""
