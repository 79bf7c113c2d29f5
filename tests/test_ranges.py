"""The interval analysis: every value an operator can compute lies in the interval it gives."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelcheck import semantics as T
from modelcheck.ranges import SHIFT_MAX, binary_range, signed_bits

OPS = ["+", "-", "*", "/", "%", "<<", ">>", "&", "|", "^", "<", "==", "&&"]
Drawn = tuple[tuple[int, int], int]  # an interval and a value in it
BOUND = st.one_of(st.integers(-40, 40), st.integers(-(1 << 70), 1 << 70))


@st.composite
def interval_and_value(draw: st.DrawFn) -> tuple[tuple[int, int], int]:
    a, b = sorted((draw(BOUND), draw(BOUND)))
    return (a, b), draw(st.integers(a, b))


@pytest.mark.parametrize("op", OPS)
@settings(max_examples=60)
@given(x=interval_and_value(), y=interval_and_value())
def test_every_result_lies_in_the_interval(
    op: str, x: tuple[tuple[int, int], int], y: tuple[tuple[int, int], int]
) -> None:
    (ia, a), (ib, b) = x, y
    if op in ("/", "%") and b == 0:
        return  # a division by zero fails the step: no value
    if op in ("<<", ">>") and not 0 <= b <= SHIFT_MAX:
        return  # a shift count out of range fails the step: no value
    value = T.BINARY_OPS[op](a, b)
    lo, hi = binary_range(op, ia, ib)
    assert lo <= value <= hi, (op, ia, ib, a, b, value)
    assert signed_bits(lo, hi) >= signed_bits(value, value)


def test_signed_bits_hold_both_ends() -> None:
    assert signed_bits(0, 1) == 2
    assert signed_bits(-1, 0) == 1
    assert signed_bits(-128, 127) == 8
    assert signed_bits(0, 1 << 63) == 65
