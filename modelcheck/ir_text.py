"""A deterministic text form of the IR, for `modelcheck dump --stage ir` and golden tests."""

from __future__ import annotations

from . import ir


def format_expr(e: ir.Expr) -> str:
    """One IR expression as text."""
    if isinstance(e, ir.Const):
        return str(e.value)
    if isinstance(e, ir.Load):
        return f"[{format_addr(e.addr)}]"
    if isinstance(e, ir.Un):
        return f"{e.op}{format_expr(e.a)}"
    if isinstance(e, ir.Bin):
        return f"({format_expr(e.a)} {e.op} {format_expr(e.b)})"
    if isinstance(e, ir.Guarded):
        return f"check#{e.error}({format_expr(e.cond)}; {format_expr(e.expr)})"
    if isinstance(e, ir.Held):
        return f"held_by_{e.thread}([{format_addr(e.addr)}])"
    return type(e).__name__


def format_addr(a: ir.Addr) -> str:
    """An address as `base + stride*expr`."""
    parts = [str(a.base)] + [f"{k}*{format_expr(x)}" for k, x in a.terms]
    return " + ".join(parts)


def format_model(m: ir.Model) -> str:
    """The layout, every thread's steps and the invariants."""
    out = [f"model {m.file}"]
    for n, v in m.params:
        out.append(f"param {n} = {v}")
    for i, s in enumerate(m.slots):
        out.append(f"slot {i:3} {s.kind:12} {s.name} = {s.init}")
    for t in m.threads:
        out.append(f"thread {t.name} (pc slot {t.pc_slot}, {len(t.yields)} steps)")
        pcs = {y: k for k, y in enumerate(t.yields)}
        for node in t.nodes:
            tag = f"pc{pcs[node.id]}" if node.id in pcs else "   "
            out.append(f"  {tag:5} n{node.id} {node.span.line}:{node.span.col} {node.text}")
            for op in node.ops:
                out.append(f"          {_op(op)}")
            if node.cond is not None:
                post = "".join(f"; {_op(op)}" for op in node.post)
                out.append(f"          if {format_expr(node.cond)}{post} -> n{node.then} else n{node.orelse}")
            elif node.choices:
                out.append("          choose " + " ".join(f"n{c}" for c in node.choices))
            elif node.end:
                out.append("          end")
            elif node.next is not None:
                out.append(f"          -> n{node.next}")
    for inv in m.invariants:
        out.append(f"invariant {inv.name}: {format_expr(inv.expr)}")
    for i, e in enumerate(m.errors):
        out.append(f"error #{i} {e.kind} {e.name} at {e.span}: {e.message}")
    return "\n".join(out) + "\n"


def _op(op: ir.Op) -> str:
    if isinstance(op, ir.Set):
        return f"[{format_addr(op.addr)}] := {format_expr(op.value)}"
    if isinstance(op, (ir.Check, ir.Await)):
        return f"{type(op).__name__.lower()} {format_expr(op.cond)}"
    fields = ", ".join(f"{k}={getattr(op, k)!r}" for k in op.__dataclass_fields__)
    return f"{type(op).__name__}({fields})"
