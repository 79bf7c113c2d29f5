"""Stage 3: the step model (one shared access per step) and the state layout."""

from __future__ import annotations

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
