"""Small helpers for the unit tests: check a spec given as text."""

from __future__ import annotations

from collections.abc import Mapping

from modelcheck.check import check
from modelcheck.codegen import compile_model
from modelcheck.explore import Limits, Result, explore
from modelcheck.ir import Model
from modelcheck.lower import lower
from modelcheck.parse import parse


def model_of(text: str, defines: Mapping[str, str] | None = None) -> Model:
    """Parse, check and lower spec text."""
    return lower(check(parse(text, "t.spec"), defines))


def run(
    text: str, defines: Mapping[str, str] | None = None, props: list[str] | None = None, limits: Limits | None = None
) -> Result:
    """Explore spec text; return the result."""
    return explore(compile_model(model_of(text, defines), props), limits or Limits())


def steps(text: str, thread: int = 0) -> int:
    """How many atomic steps (pc values) a thread has."""
    return len(model_of(text).threads[thread].yields)
