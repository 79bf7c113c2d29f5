"""Grammar-driven fuzzing: any text the grammar generates goes through every stage and
ends either in a result or in a SpecError, never in another exception."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from lark import Lark

from modelcheck.check import check
from modelcheck.codegen import compile_model
from modelcheck.diagnostics import SpecError
from modelcheck.explore import Limits, explore
from modelcheck.lower import lower
from modelcheck.parse import grammar_text, parse

_GRAMMAR = Lark(grammar_text(), parser="lalr", lexer="basic")
_NAMES = ["a", "b", "t", "x", "l", "m", "objs", "retry", "f", "p", "s"]
SPECS = from_lark(
    _GRAMMAR,
    explicit={"_NL": st.just("\n"), "NAME": st.sampled_from(_NAMES), "INT": st.sampled_from(["0", "1", "2"])},
)


def _pipeline(text: str) -> None:
    try:
        explore(compile_model(lower(check(parse(text, "fuzz.spec")))), Limits(max_states=200))
    except SpecError as exc:
        assert exc.diagnostics
        assert all(d.render(text) for d in exc.diagnostics)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(SPECS)
def test_generated_specs_never_crash(text: str) -> None:
    _pipeline(text)


@pytest.mark.slow
@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(SPECS)
def test_generated_specs_never_crash_long(text: str) -> None:
    _pipeline(text)
