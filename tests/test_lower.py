"""Stage 3: the step model (one shared access per step) and the state layout."""

from __future__ import annotations

import pytest

from modelcheck.codegen import compile_model
from modelcheck.explore import Limits, explore
from modelcheck.ir_text import format_model

from .helpers import model_of, steps

GLOBALS = """
struct obj { l: spinlock, v: int[0..3], ghost g: bool }
pool objs: obj[2]
shared a: int[0..3]
shared b: int[0..3]
shared p: ref objs = objs[0]
ghost seen: int[0..3]
"""


def thread(body: str, extra: str = "") -> str:
    return GLOBALS + extra + "thread t {\n    var x: int[0..3]\n    var q: ref objs\n" + body + "\n}\n"


def test_one_shared_access_is_one_step() -> None:
    assert steps(thread("x = a")) == 1
    assert steps(thread("a = 1")) == 1
    assert steps(thread("a = x + 1")) == 1


def test_a_statement_with_two_accesses_takes_two_steps_reads_first() -> None:
    assert steps(thread("a = b")) == 2
    assert steps(thread("x = a + b")) == 2
    assert steps(thread("if a == b { x = 1 }")) == 2


def test_local_and_ghost_work_joins_the_step_before_it() -> None:
    assert steps(thread("x = a\nx = x + 1\nseen = x\nq = p")) == 2
    assert steps(thread("x = a\np.g = true")) == 2  # reading p is an access; the ghost write is not


def test_atomic_block_is_one_step() -> None:
    assert steps(thread("atomic {\n a = b\n b = a\n x = a\n}")) == 1


def test_lock_through_a_shared_pointer_reads_the_pointer_first() -> None:
    assert steps(thread("spin_lock(p.l)\nspin_unlock(p.l)")) == 4
    assert steps(thread("q = p\nspin_lock(q.l)\nspin_unlock(q.l)")) == 3


def test_leading_local_code_is_folded_into_the_initial_state() -> None:
    m = model_of(thread("x = 2\nif x == 2 { a = x }"))
    (t,) = m.threads
    assert len(t.yields) == 1
    init = dict(zip([s.name for s in m.slots], m.initial_state(), strict=True))
    assert init["t.x"] == 2 and init["t.pc"] == 0


def test_short_circuit_keeps_the_right_operand_conditional() -> None:
    # q is null, so reading q.v would be a null dereference: && must not evaluate it.
    text = thread("if q != null && q.v == 1 && a == 1 { x = 1 }")
    from .helpers import run

    assert run(text).verdict == "HOLDS"


def test_branch_on_two_reads_uses_both_values() -> None:
    from .helpers import run

    text = GLOBALS + "invariant never: !(a == 1)\nthread t {\n if a == b { a = 1 }\n}\n"
    result = run(text)
    assert result.verdict == "VIOLATED" and result.violation is not None
    assert result.violation.name == "never"


def test_proc_locals_are_reset_after_the_call() -> None:
    text = (
        GLOBALS + "proc get() -> int[0..3] {\n var y: int[0..3] = a\n return y\n}\n"
        "thread t {\n var x: int[0..3] = get()\n}\n"
    )
    m = model_of(text)
    dump = format_model(m)
    assert "t.get.y" in dump
    slot = [s.name for s in m.slots].index("t.get.y")
    exit_resets = [line for line in dump.splitlines() if line.strip() == f"[{slot}] := 0"]
    assert exit_resets


def test_pool_objects_are_laid_out_with_a_status_slot() -> None:
    m = model_of(thread("skip"))
    names = [s.name for s in m.slots]
    assert names.index("objs[1].<status>") - names.index("objs[0].<status>") == 4
    assert {s.kind for s in m.slots if s.name.endswith(".l")} == {"lock"}


# Issue 9, class 1: a proc's return value was copied before the inlined call ran, inside
# atomic { } and in conditions, so the caller read 0. Each variant uses the value after the call.
GET = """
shared x: int[0..2]
shared y: int[0..4]
proc get() -> int[0..2] { return x }
thread u { x = 2 }
"""
USES_OF_A_RETURN_VALUE = {
    "assign in atomic": "thread t { atomic { y = get() } }\ninvariant zero: y == 0",
    "assert in atomic": "thread t { atomic { assert zero: get() == 0 } }",
    "assert": "thread t { assert zero: get() == 0 }",
    "BUG_ON in atomic": "thread t { atomic { BUG_ON(get() != 0) } }",
    "if in atomic": "thread t { atomic { if get() == 2 { y = 1 } } }\ninvariant zero: y == 0",
    "WRITE_ONCE argument in atomic": "thread t { atomic { WRITE_ONCE(y, get()) } }\ninvariant zero: y == 0",
    "fetch_add argument in atomic": "thread t { atomic { fetch_add(y, get()) } }\ninvariant zero: y == 0",
    "nested call in atomic": "proc twice() -> int[0..4] { return get() + get() }\n"
    "thread t { atomic { y = twice() } }\ninvariant zero: y == 0",
}


@pytest.mark.parametrize("use", sorted(USES_OF_A_RETURN_VALUE))
def test_a_proc_return_value_is_used_after_the_call(use: str) -> None:
    from modelcheck.reference import reference_check

    model = model_of(GET + USES_OF_A_RETURN_VALUE[use])
    result = explore(compile_model(model), Limits())
    assert result.verdict == "VIOLATED", use
    assert result.violation is not None and result.violation.kind in ("invariant", "assert")
    ref = reference_check(model)
    first = ref.first()
    assert first is not None and len(result.violation.path) == first[1]
