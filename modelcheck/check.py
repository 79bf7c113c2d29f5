"""Stage 2, check: `syntax.Spec` -> `semantics.CheckedSpec`.

Resolves names, checks types and statement structure, fixes params to their
values (defaults overridden by `-D NAME=VALUE`), folds constants, and reports
every user error as a Diagnostic with a span and, where it helps, a hint.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from . import semantics as T
from . import syntax as S
from .diagnostics import Diagnostic, Span, SpecError, did_you_mean
from .graphs import simple_cycles

#: Property kinds a violation can have; `expect` may name a kind or a property.
PROPERTY_KINDS = (
    "invariant",
    "lemma",
    "assert",
    "requires",
    "guarded_by",
    "deadlock",
    "lock_misuse",
    "lock_order",
    "use_after_free",
    "null_deref",
    "bounds",
    "overflow",
)

# name -> (lock kind, operation)
LOCK_OPS: dict[str, tuple[str, str]] = {
    "spin_lock": ("spinlock", "acquire"),
    "spin_lock_nested": ("spinlock", "acquire"),
    "spin_unlock": ("spinlock", "release"),
    "spin_trylock": ("spinlock", "try"),
    "mutex_lock": ("mutex", "acquire"),
    "mutex_unlock": ("mutex", "release"),
    "mutex_trylock": ("mutex", "try"),
    # folio_lock() sleeps on PG_locked: a folio's lock is a `mutex` field of the folio
    "folio_lock": ("mutex", "acquire"),
    "folio_unlock": ("mutex", "release"),
    "folio_trylock": ("mutex", "try"),
    "down_write": ("rwsem", "acquire"),
    "up_write": ("rwsem", "release"),
    "down_write_trylock": ("rwsem", "try"),
    "down_read": ("rwsem", "acquire_read"),
    "up_read": ("rwsem", "release_read"),
    "down_read_trylock": ("rwsem", "try_read"),
}
ACCESS_OPS = ("READ_ONCE", "WRITE_ONCE", "cmpxchg", "xchg", "fetch_add", "fetch_sub")
OTHER_BUILTINS = (
    "rcu_read_lock",
    "rcu_read_unlock",
    "synchronize_rcu",
    "free",
    "free_rcu",
    "alloc",
    "BUG_ON",
    "lockdep_assert_held",
    "lockdep_is_held",
    "live",
    "freed",
)
BUILTINS = tuple(LOCK_OPS) + ACCESS_OPS + OTHER_BUILTINS
# Builtins that may appear inside an expression (they yield a value).
VALUE_BUILTINS = {
    "folio_trylock",
    "spin_trylock",
    "mutex_trylock",
    "down_write_trylock",
    "down_read_trylock",
    "READ_ONCE",
    "cmpxchg",
    "xchg",
    "fetch_add",
    "fetch_sub",
    "alloc",
    "lockdep_is_held",
    "live",
    "freed",
}
PURE_BUILTINS = {"lockdep_is_held", "live", "freed"}


def check(spec: S.Spec, defines: Mapping[str, str] | None = None) -> T.CheckedSpec:
    """Check a parsed spec under param overrides; raise SpecError listing every error."""
    checker = _Checker(spec, dict(defines or {}))
    result = checker.run()
    if checker.diags:
        raise SpecError(_dedupe(checker.diags), spec.source)
    assert result is not None
    return result


def param_domain(spec: S.Spec, name: str) -> list[str] | None:
    """The values a param can take, as -D strings, if small and finite (for `test`)."""
    for d in spec.decls:
        if isinstance(d, S.ParamDecl) and d.name == name:
            if isinstance(d.type, S.BoolType):
                return ["false", "true"]
            if isinstance(d.type, S.InlineEnumType):
                return list(d.type.members)
            if isinstance(d.type, S.NamedType):
                for e in spec.decls:
                    if isinstance(e, S.EnumDecl) and e.name == d.type.name:
                        return list(e.members)
            if isinstance(d.type, S.IntType):
                lo, hi = _literal(d.type.lo), _literal(d.type.hi)
                if lo is not None and hi is not None and hi - lo < 16:
                    return [str(v) for v in range(lo, hi + 1)]
            return None
    return None


def _literal(e: S.Expr) -> int | None:
    """The value of an integer literal, possibly negated."""
    if isinstance(e, S.IntLit):
        return e.value
    if isinstance(e, S.Unary) and e.op == "-" and isinstance(e.operand, S.IntLit):
        return -e.operand.value
    return None


def _dedupe(diags: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple[Span, str]] = set()
    out = []
    for d in sorted(diags, key=lambda d: (d.span.line, d.span.col, d.message)):
        if (d.span, d.message) not in seen:
            seen.add((d.span, d.message))
            out.append(d)
    return out


class _Abort(Exception):
    """Stop checking the current declaration after an error was recorded."""


@dataclass
class _Scope:
    """Name scope for one thread or proc body."""

    owner: str
    locals: dict[str, T.VarSym] = field(default_factory=dict)
    order: list[T.VarSym] = field(default_factory=list)
    bound: dict[str, T.VarSym] = field(default_factory=dict)
    labels: set[str] = field(default_factory=set)
    in_thread: bool = True
    ret: T.Type = T.VOID
    in_property: bool = False
    in_contract: bool = False  # a field contract: a property evaluated in the accessing thread
    pure: bool = False  # a fn or lemma: only its parameters, params and constants


def _text(source: str, span: Span) -> str:
    """The source text of a span, on one line, for traces."""
    lines = source.splitlines()
    if not (1 <= span.line <= len(lines)):
        return ""
    if span.end_line == span.line:
        return lines[span.line - 1][span.col - 1 : span.end_col - 1].strip()
    return lines[span.line - 1][span.col - 1 :].split("//")[0].strip().rstrip("{").strip()


class _Checker:
    def __init__(self, spec: S.Spec, defines: dict[str, str]) -> None:
        self.spec = spec
        self.defines = defines
        self.diags: list[Diagnostic] = []
        self.params: dict[str, tuple[T.Type, int]] = {}
        self.enums: dict[str, T.EnumT] = {}
        self.structs: dict[str, T.StructT] = {}
        self.struct_decls: dict[str, S.StructDecl] = {}
        self.pools: dict[str, T.Pool] = {}
        self.globals: dict[str, T.VarSym] = {}
        self.global_inits: dict[str, T.TExpr | None] = {}
        self.threads: dict[str, S.ThreadDecl] = {}
        self.thread_counts: dict[str, int | None] = {}
        self.thread_locals: dict[str, dict[str, T.VarSym]] = {}
        self.proc_decls: dict[str, S.ProcDecl] = {}
        self.procs: dict[str, T.Proc] = {}
        self.asserts: set[str] = set()
        self.bits: dict[str, T.BitsT] = {}
        self.fn_decls: dict[str, S.FnDecl] = {}
        self.fns: dict[str, tuple[tuple[T.VarSym, ...], T.TExpr]] = {}
        self._fn_stack: list[str] = []
        self._bad_fns: set[str] = set()
        self.contract_props: set[str] = set()

    # ------------------------------------------------------------ reporting
    def err(self, span: Span, code: str, message: str, hint: str = "") -> _Abort:
        self.diags.append(Diagnostic(span, code, message, hint))
        return _Abort()

    # ------------------------------------------------------------ driver
    def run(self) -> T.CheckedSpec | None:
        decls = self.spec.decls
        self._check_duplicates(decls)
        for d in decls:
            try:
                if isinstance(d, S.ParamDecl):
                    self._param(d)
                elif isinstance(d, S.EnumDecl):
                    if len(set(d.members)) != len(d.members):
                        raise self.err(d.span, "name", f"enum '{d.name}' lists a member twice")
                    self.enums[d.name] = T.EnumT(d.name, d.members)
            except _Abort:
                pass
        for d in decls:
            if isinstance(d, S.BitsDecl):
                with contextlib.suppress(_Abort):
                    self._bits(d)
            elif isinstance(d, S.FnDecl):
                self.fn_decls[d.name] = d
        unknown = sorted(set(self.defines) - set(self.params))
        for name in unknown:
            self.err(
                Span("<command line>", 0, 0, 0, 0),
                "define",
                f"-D {name}: no param named '{name}'",
                did_you_mean(name, list(self.params)),
            )
        for d in decls:
            if isinstance(d, S.StructDecl):
                self.struct_decls[d.name] = d
        for d in decls:
            if isinstance(d, S.StructDecl):
                with contextlib.suppress(_Abort):
                    self._struct(d, ())
        for d in decls:
            try:
                if isinstance(d, S.PoolDecl):
                    self._pool(d)
                elif isinstance(d, S.VarDecl):
                    self._global(d)
                elif isinstance(d, S.ThreadDecl):
                    self.threads[d.name] = d
                elif isinstance(d, S.ProcDecl):
                    self.proc_decls[d.name] = d
            except _Abort:
                pass
        self._struct_contracts()
        for d in decls:
            if (
                isinstance(d, S.VarDecl)
                and d.init is not None
                and d.name in self.globals
                and self.globals[d.name].span == d.span
            ):
                try:
                    sym = self.globals[d.name]
                    self.global_inits[d.name] = self.const_expr(d.init, sym.type)
                except _Abort:
                    pass
        self._check_recursion()
        for name, d in self.threads.items():
            try:
                self.thread_counts[name] = None if d.count is None else self.const_int(d.count, lo=1)
            except _Abort:
                self.thread_counts[name] = None
        procs = []
        for d in decls:
            if isinstance(d, S.ProcDecl):
                with contextlib.suppress(_Abort):
                    procs.append(self._proc(d))
        threads = []
        for d in decls:
            if isinstance(d, S.ThreadDecl):
                with contextlib.suppress(_Abort):
                    threads.append(self._thread(d))
        invariants = []
        for d in decls:
            if isinstance(d, S.InvariantDecl):
                try:
                    scope = _Scope(owner="", in_thread=False, in_property=True)
                    e = self.expr(d.expr, scope, T.BOOL)
                    self.expect_type(e, T.BOOL, d.expr.span)
                    self._no_effects(e, "an invariant")
                    invariants.append(T.Invariant(d.name, e, d.span))
                except _Abort:
                    pass
        lemmas = []
        for d in decls:
            if isinstance(d, S.FnDecl):
                with contextlib.suppress(_Abort):
                    self._fn(d.name, d.span)
            elif isinstance(d, S.LemmaDecl):
                with contextlib.suppress(_Abort):
                    lemmas.append(self._lemma(d))
        init: list[T.TStmt] = []
        for d in decls:
            if isinstance(d, S.InitDecl):
                init.extend(self._init(d))
        if not threads and not self.diags:
            self.err(
                Span(self.spec.file, 1, 1, 1, 1),
                "structure",
                "the spec declares no thread",
                "add `thread NAME { ... }`: the checker explores the interleavings of threads",
            )
        expects = []
        prop_names = {i.name for i in invariants} | self.asserts | self.contract_props
        prop_names |= {d.name for d in decls if isinstance(d, (S.LemmaDecl, S.InvariantDecl))}
        for d in decls:
            if isinstance(d, S.ExpectDecl):
                with contextlib.suppress(_Abort):
                    expects.append(self._expect(d, prop_names))
        if self.diags:
            return None
        return T.CheckedSpec(
            file=self.spec.file,
            source=self.spec.source,
            params=tuple((n, t, v) for n, (t, v) in self.params.items()),
            globals=tuple(T.Global(v, self.global_inits.get(n)) for n, v in self.globals.items()),
            pools=tuple(self.pools.values()),
            threads=tuple(threads),
            procs=tuple(procs),
            invariants=tuple(invariants),
            expects=tuple(expects),
            init=tuple(init),
            lemmas=tuple(lemmas),
            asserts=tuple(sorted(self.asserts)),
        )

    def _check_duplicates(self, decls: tuple[S.Decl, ...]) -> None:
        seen: dict[str, Span] = {}
        for d in decls:
            if isinstance(d, (S.ExpectDecl, S.InitDecl)):
                continue
            name = d.name
            if name in seen:
                self.err(d.span, "name", f"'{name}' is already declared at {seen[name]}")
            elif name in BUILTINS or name in T.LOCK_KINDS or name in ("bool", "int"):
                self.err(d.span, "name", f"'{name}' is a builtin name and cannot be redeclared")
            else:
                seen[name] = d.span
        members: dict[str, str] = {}
        for d in decls:
            if isinstance(d, S.EnumDecl):
                for m in d.members:
                    if m in seen:
                        self.err(d.span, "name", f"enum member '{m}' clashes with the declaration at {seen[m]}")
                    members[m] = d.name

    # ------------------------------------------------------------ params and constants
    def _param(self, d: S.ParamDecl) -> None:
        ty = self.type_(d.type)
        if not isinstance(ty, (T.BoolT, T.IntT, T.EnumT)):
            raise self.err(d.type.span, "type", f"a param must be bool, a bounded int or an enum, not {ty}")
        value = self.const_value(d.default, ty)
        self.params[d.name] = (ty, value)
        if d.name in self.defines:
            value = self._parse_define(d, ty, self.defines[d.name])
        self.params[d.name] = (ty, value)

    def _parse_define(self, d: S.ParamDecl, ty: T.Type, raw: str) -> int:
        where = Span("<command line>", 0, 0, 0, 0)
        text = raw.strip()
        if isinstance(ty, T.BoolT):
            if text.lower() in ("true", "1", "yes", "on"):
                return 1
            if text.lower() in ("false", "0", "no", "off"):
                return 0
            raise self.err(where, "define", f"-D {d.name}={raw}: expected a bool", "use true or false")
        if isinstance(ty, T.EnumT):
            if text in ty.members:
                return ty.members.index(text)
            raise self.err(
                where,
                "define",
                f"-D {d.name}={raw}: expected one of {', '.join(ty.members)}",
                did_you_mean(text, list(ty.members)),
            )
        assert isinstance(ty, T.IntT)
        try:
            value = int(text, 0)
        except ValueError:
            raise self.err(where, "define", f"-D {d.name}={raw}: expected an integer") from None
        if ty.lo is not None and ty.hi is not None and not ty.lo <= value <= ty.hi:
            raise self.err(where, "define", f"-D {d.name}={raw}: out of range {ty}")
        return value

    def const_value(self, e: S.Expr, expected: T.Type | None = None) -> int:
        te = self.const_expr(e, expected)
        if not isinstance(te, T.TConst):
            raise self.err(e.span, "const", "expected a constant of a scalar type")
        return te.value

    def const_int(self, e: S.Expr, lo: int | None = None) -> int:
        te = self.const_expr(e, T.INT)
        if not isinstance(te, T.TConst) or not isinstance(te.ty, T.IntT):
            raise self.err(e.span, "type", f"expected an integer constant, found {te.ty}")
        if lo is not None and te.value < lo:
            raise self.err(e.span, "const", f"expected an integer >= {lo}, found {te.value}")
        return te.value

    def const_expr(self, e: S.Expr, expected: T.Type | None = None) -> T.TExpr:
        scope = _Scope(owner="", in_thread=False)
        te = self.expr(e, scope, expected)
        folded = _fold(te)
        if expected is not None:
            self.expect_type(folded, expected, e.span)
        if not _is_constant(folded):
            raise self.err(e.span, "const", "this value must be a constant (literals and params only)")
        return folded

    # ------------------------------------------------------------ types
    def type_(self, t: S.TypeExpr, path: tuple[str, ...] = ()) -> T.Type:
        if isinstance(t, S.BoolType):
            return T.BOOL
        if isinstance(t, S.IntType):
            lo = self.const_int(t.lo)
            hi = self.const_int(t.hi)
            if hi < lo:
                raise self.err(t.span, "type", f"empty int range {lo}..{hi}")
            return T.IntT(lo, hi)
        if isinstance(t, S.InlineEnumType):
            if len(set(t.members)) != len(t.members):
                raise self.err(t.span, "name", "an enum member is listed twice")
            name = "{" + ", ".join(t.members) + "}"
            return T.EnumT(name, t.members)
        if isinstance(t, S.RefType):
            if t.pool not in {d.name for d in self.spec.decls if isinstance(d, S.PoolDecl)}:
                pools = [d.name for d in self.spec.decls if isinstance(d, S.PoolDecl)]
                raise self.err(t.span, "name", f"'{t.pool}' is not a pool", did_you_mean(t.pool, pools))
            return T.RefT(t.pool)
        if isinstance(t, S.ArrayType):
            elem = self.type_(t.elem, path)
            size = self.const_int(t.size, lo=1)
            return T.ArrayT(elem, size)
        assert isinstance(t, S.NamedType)
        if t.name in T.LOCK_KINDS:
            return T.LockT(t.name)
        if t.name in self.enums:
            return self.enums[t.name]
        if t.name in self.bits:
            return self.bits[t.name]
        if t.name in self.struct_decls:
            if t.name in path:
                raise self.err(t.span, "type", f"struct '{t.name}' contains itself")
            return self._struct(self.struct_decls[t.name], path)
        choices = ["bool", "int[lo..hi]", *T.LOCK_KINDS, *self.enums, *self.struct_decls, *self.bits]
        raise self.err(t.span, "name", f"unknown type '{t.name}'", did_you_mean(t.name, choices))

    def _struct(self, d: S.StructDecl, path: tuple[str, ...]) -> T.StructT:
        if d.name in self.structs:
            return self.structs[d.name]
        fields = []
        names: set[str] = set()
        for f in d.fields:
            if f.name in names:
                raise self.err(f.span, "name", f"field '{f.name}' is declared twice in struct '{d.name}'")
            names.add(f.name)
            ty = self.type_(f.type, (*path, d.name))
            default = None
            if f.default is not None:
                default = self.const_expr(f.default, ty)
            if f.ghost and _contains_lock(ty):
                raise self.err(f.span, "type", "a ghost field cannot hold a lock")
            fields.append(T.FieldInfo(f.name, ty, default, None, None, f.span, f.ghost))
        st = T.StructT(d.name, tuple(fields))
        self.structs[d.name] = st
        return st

    def _struct_contracts(self) -> None:
        """Resolve `guarded_by` / `requires` now that every global is known."""
        for name, d in self.struct_decls.items():
            st = self.structs.get(name)
            if st is None:
                continue
            new_fields = []
            for f, info in zip(d.fields, st.fields, strict=True):
                guard = req = None
                scope = _Scope(owner="", in_thread=False, in_property=True, in_contract=True)
                try:
                    if f.guarded_by is not None:
                        guard = self._contract_expr(f.guarded_by, st, scope)
                        if not isinstance(guard.ty, T.LockT):
                            raise self.err(f.guarded_by.span, "lock", f"guarded_by names {guard.ty}, not a lock")
                        self.contract_props.add(f"{name}.{f.name}.guarded_by")
                    if f.requires is not None:
                        req = self._contract_expr(f.requires, st, scope)
                        self.expect_type(req, T.BOOL, f.requires.span)
                        self._no_effects(req, "a requires contract")
                        self.contract_props.add(f"{name}.{f.name}.requires")
                except _Abort:
                    pass
                new_fields.append(T.FieldInfo(info.name, info.type, info.default, guard, req, info.span, info.ghost))
            # StructT compares by name only, so replacing its fields in place keeps identity.
            object.__setattr__(st, "fields", tuple(new_fields))

    def _contract_expr(self, e: S.Expr, st: T.StructT, scope: _Scope) -> T.TExpr:
        self._self_struct = st
        try:
            return self.expr(e, scope, None)
        finally:
            self._self_struct = None

    _self_struct: T.StructT | None = None

    def _pool(self, d: S.PoolDecl) -> None:
        if d.struct not in self.structs:
            raise self.err(
                d.span, "name", f"'{d.struct}' is not a struct", did_you_mean(d.struct, list(self.struct_decls))
            )
        size = self.const_int(d.size, lo=1)
        allocated = size if d.allocated is None else self.const_int(d.allocated, lo=0)
        if allocated > size:
            assert d.allocated is not None
            raise self.err(d.allocated.span, "const", f"allocated {allocated} exceeds the pool size {size}")
        self.pools[d.name] = T.Pool(d.name, self.structs[d.struct], size, allocated, d.span)

    def _global(self, d: S.VarDecl) -> None:
        if d.name in self.globals:
            return  # reported as a duplicate declaration
        ty = self.type_(d.type)
        if isinstance(ty, T.LockT) and d.init is not None:
            raise self.err(d.init.span, "type", "a lock cannot be initialised", "locks start unlocked")
        if d.kind == "ghost" and _contains_lock(ty):
            raise self.err(d.span, "type", "a ghost variable cannot hold a lock")
        self.globals[d.name] = T.VarSym(d.name, d.kind, ty, d.span)

    def _check_recursion(self) -> None:
        edges = [
            (name, callee)
            for name, d in self.proc_decls.items()
            for callee in sorted(_called_names(d.body))
            if callee in self.proc_decls
        ]
        cycles = simple_cycles(edges)
        if cycles:
            cycle = cycles[0]
            d = self.proc_decls[cycle[0]]
            self.err(
                d.span,
                "structure",
                f"proc '{cycle[0]}' is recursive ({' -> '.join([*cycle, cycle[0]])})",
                "procs are inlined at their call sites, so they cannot recurse",
            )

    # ------------------------------------------------------------ threads and procs
    def _collect_locals(self, body: tuple[S.Stmt, ...], scope: _Scope, extra: dict[str, T.VarSym]) -> None:
        for st in _walk_stmts(body):
            if isinstance(st, S.VarStmt):
                if st.name in scope.locals or st.name in extra:
                    raise self.err(st.span, "name", f"local '{st.name}' is declared twice")
                if st.name in self.globals:
                    raise self.err(st.span, "name", f"local '{st.name}' shadows the shared variable of that name")
                if st.type is not None:
                    ty = self.type_(st.type)
                elif st.init is not None:
                    ty = self._infer_local_type(st.init, scope)
                else:
                    raise self.err(st.span, "type", f"local '{st.name}' needs a type or an initial value")
                if _contains_lock(ty):
                    raise self.err(
                        st.span,
                        "type",
                        "a local variable cannot hold a lock",
                        "declare the lock as `lock NAME: kind` or as a struct field",
                    )
                sym = T.VarSym(st.name, "local", ty, st.span, scope.owner)
                scope.locals[st.name] = sym
                scope.order.append(sym)
            elif isinstance(st, S.LabelStmt):
                if st.name in scope.labels:
                    raise self.err(st.span, "name", f"label '{st.name}' is declared twice")
                scope.labels.add(st.name)

    def _infer_local_type(self, init: S.Expr, scope: _Scope) -> T.Type:
        te = self.expr(init, scope, None)
        ty = te.ty
        if isinstance(ty, T.IntT):
            if isinstance(te, T.TConst):
                raise self.err(
                    init.span,
                    "type",
                    "cannot infer the range of an int local",
                    "declare it with a type: `var x: int[0..3] = ...`",
                )
            if ty.lo is None:
                raise self.err(
                    init.span,
                    "type",
                    "cannot infer the range of an int local",
                    "declare it with a type: `var x: int[0..3] = ...`",
                )
        if isinstance(ty, (T.NullT, T.VoidT, T.PoolT)):
            raise self.err(
                init.span,
                "type",
                f"cannot infer a local's type from {ty}",
                "declare it with a type: `var t: ref POOL = null`",
            )
        return ty

    def _thread(self, d: S.ThreadDecl) -> T.Thread:
        scope = _Scope(owner=d.name, in_thread=True)
        self._collect_locals(d.body, scope, {})
        self.thread_locals[d.name] = dict(scope.locals)
        body = self.block(d.body, scope, in_atomic=False, loops=0)
        return T.Thread(d.name, self.thread_counts.get(d.name), tuple(scope.order), body, d.span)

    def _proc(self, d: S.ProcDecl) -> T.Proc:
        scope = _Scope(owner=d.name, in_thread=True)
        params = []
        for p in d.params:
            ty = self.type_(p.type)
            sym = T.VarSym(p.name, "local", ty, p.span, d.name)
            if p.name in scope.locals:
                raise self.err(p.span, "name", f"parameter '{p.name}' is declared twice")
            scope.locals[p.name] = sym
            params.append(sym)
        scope.ret = T.VOID if d.ret is None else self.type_(d.ret)
        if _contains_lock(scope.ret):
            raise self.err(d.span, "type", "a proc cannot return a lock")
        self._collect_locals(d.body, scope, {})
        body = self.block(d.body, scope, in_atomic=False, loops=0)
        locals_ = tuple(s for s in scope.order)
        proc = T.Proc(d.name, tuple(params), scope.ret, locals_, body, d.span)
        self.procs[d.name] = proc
        return proc

    def _init(self, d: S.InitDecl) -> list[T.TStmt]:
        scope = _Scope(owner="init", in_thread=False)
        out: list[T.TStmt] = []
        bad = [st for st in _walk_stmts(d.body) if not isinstance(st, (S.AssignStmt, S.IfStmt))]
        for st in bad:
            self.err(
                st.span,
                "structure",
                "init { } may only assign (and branch on params)",
                "the initial state is built before any thread runs",
            )
        if bad:
            return out
        for init_stmt in d.body:
            with contextlib.suppress(_Abort):
                out.extend(self.stmt(init_stmt, scope, in_atomic=True, loops=0, first=False))
        for t in out:
            for sub in _stmt_exprs(t):
                self._no_effects(sub, "init { }")
        return out

    def _bits(self, d: S.BitsDecl) -> None:
        names: set[str] = set()
        fields = []
        for f in d.fields:
            if f.name in names:
                raise self.err(f.span, "name", f"bit field '{f.name}' is declared twice")
            names.add(f.name)
            if not 0 <= f.lo <= f.hi < 64:
                raise self.err(f.span, "type", f"bit field '{f.name}' @{f.lo}..{f.hi} is outside bits 0..63")
            fields.append((f.name, f.lo, f.hi - f.lo + 1))
        self.bits[d.name] = T.BitsT(d.name, tuple(fields))

    def _fn(self, name: str, span: Span) -> tuple[tuple[T.VarSym, ...], T.TExpr]:
        """A pure function's parameters and typed body, checked once."""
        if name in self.fns:
            return self.fns[name]
        if name in self._bad_fns:
            raise _Abort()  # already reported
        d = self.fn_decls[name]
        if name in self._fn_stack:
            self._bad_fns.update(self._fn_stack)
            raise self.err(span, "structure", f"fn '{name}' is recursive ({' -> '.join([*self._fn_stack, name])})")
        self._fn_stack.append(name)
        try:
            scope = _Scope(owner=name, in_thread=False, in_property=True, pure=True)
            params = []
            for p in d.params:
                sym = T.VarSym(p.name, "local", self.type_(p.type), p.span, name)
                scope.locals[p.name] = sym
                params.append(sym)
            ret = self.type_(d.ret)
            body = self.expr(d.body, scope, ret)
            self.expect_type(body, ret, d.body.span)
            self._no_effects(body, "a fn")
        finally:
            self._fn_stack.pop()
        self.fns[name] = (tuple(params), _fold(body))
        return self.fns[name]

    def _lemma(self, d: S.LemmaDecl) -> T.Lemma:
        scope = _Scope(owner=d.name, in_thread=False, in_property=True, pure=True)
        params = []
        for p in d.params:
            ty = self.type_(p.type)
            if not isinstance(ty, (T.BoolT, T.IntT, T.BitsT, T.EnumT)) or (isinstance(ty, T.IntT) and ty.lo is None):
                raise self.err(
                    p.span, "type", f"a lemma parameter must be bool, a bounded int, an enum or bits, not {ty}"
                )
            sym = T.VarSym(p.name, "lemma", ty, p.span, d.name)
            scope.locals[p.name] = sym
            params.append(sym)
        expr = self.expr(d.expr, scope, T.BOOL)
        self.expect_type(expr, T.BOOL, d.expr.span)
        self._no_effects(expr, "a lemma")
        return T.Lemma(d.name, tuple(params), expr, d.span)

    def _expect(self, d: S.ExpectDecl, prop_names: set[str]) -> T.Expect:
        prop = d.prop or ""
        valid = set(PROPERTY_KINDS) | prop_names
        if prop and prop not in valid:
            raise self.err(d.span, "name", f"'{prop}' is not a property of this spec", did_you_mean(prop, valid))
        active = True
        if d.when is not None:
            active = bool(self.const_value(d.when, T.BOOL))
        return T.Expect(d.kind, prop, active, d.span)

    # ------------------------------------------------------------ statements
    def block(self, body: tuple[S.Stmt, ...], scope: _Scope, in_atomic: bool, loops: int) -> tuple[T.TStmt, ...]:
        out: list[T.TStmt] = []
        for i, st in enumerate(body):
            with contextlib.suppress(_Abort):
                first = self._atomic_fresh if in_atomic else i == 0
                out.extend(self.stmt(st, scope, in_atomic, loops, first=first))
            if in_atomic and not isinstance(st, S.SkipStmt):
                self._atomic_fresh = False
        return tuple(out)

    # True until the current atomic { } block has done anything: only then may it block.
    _atomic_fresh = False

    def _proc_facts(self, name: str, seen: frozenset[str] = frozenset()) -> tuple[Span | None, Span | None]:
        """Where a proc (or a proc it calls) may block, and where it loops, if anywhere."""
        blocks = loops = None
        d = self.proc_decls[name]
        for st in _walk_stmts(d.body):
            if isinstance(st, (S.WhileStmt, S.GotoStmt, S.ChooseStmt)):
                loops = loops or st.span
            if isinstance(st, S.AwaitStmt):
                blocks = blocks or st.span
        for call in _calls(d.body):
            callee = call.func.name if isinstance(call.func, S.Name) else ""
            kind = LOCK_OPS.get(callee, ("", ""))[1]
            if kind in ("acquire", "acquire_read") or callee == "synchronize_rcu":
                blocks = blocks or call.span
            elif callee in self.proc_decls and callee not in seen and callee != name:
                b, lo = self._proc_facts(callee, seen | {name})
                blocks, loops = blocks or b, loops or lo
        return blocks, loops

    def stmt(self, st: S.Stmt, scope: _Scope, in_atomic: bool, loops: int, first: bool) -> list[T.TStmt]:
        src = self.spec.source
        if isinstance(st, S.VarStmt):
            sym = scope.locals[st.name]
            if st.init is None:  # keeps its value; every local starts at its type's default
                return []
            value = self.expr(st.init, scope, sym.type)
            self.expect_type(value, sym.type, st.init.span)
            return [T.TAssign(st.span, T.TVar(st.span, sym.type, sym), value, _text(src, st.span))]
        if isinstance(st, S.AssignStmt):
            target = self.lvalue(st.target, scope)
            value = self.expr(st.value, scope, target.ty)
            self.expect_type(value, target.ty, st.value.span)
            if _contains_lock(target.ty):
                raise self.err(
                    st.target.span,
                    "type",
                    "locks cannot be assigned",
                    "use spin_lock/spin_unlock (or the mutex/rwsem operations)",
                )
            return [T.TAssign(st.span, target, value, _text(src, st.span))]
        if isinstance(st, S.CallStmt):
            return self._call_stmt(st, scope, in_atomic, first)
        if isinstance(st, S.IfStmt):
            cond = self.expr(st.cond, scope, T.BOOL)
            self.expect_type(cond, T.BOOL, st.cond.span)
            if in_atomic:
                self._atomic_fresh = False  # the branches run after the condition
            then = self.block(st.then, scope, in_atomic, loops)
            orelse = self.block(st.orelse, scope, in_atomic, loops)
            return [T.TIf(st.span, cond, then, orelse, _text(src, st.span))]
        if isinstance(st, S.WhileStmt):
            if in_atomic:
                raise self.err(
                    st.span,
                    "structure",
                    "while is not allowed inside atomic { }",
                    "an atomic step must end; unroll the loop or move it out of the block",
                )
            cond = self.expr(st.cond, scope, T.BOOL)
            self.expect_type(cond, T.BOOL, st.cond.span)
            body = self.block(st.body, scope, in_atomic, loops + 1)
            return [T.TWhile(st.span, cond, body, _text(src, st.span))]
        if isinstance(st, S.GotoStmt):
            if in_atomic:
                raise self.err(st.span, "structure", "goto is not allowed inside atomic { }")
            if st.label not in scope.labels:
                raise self.err(
                    st.span, "name", f"no label '{st.label}' in '{scope.owner}'", did_you_mean(st.label, scope.labels)
                )
            return [T.TGoto(st.span, st.label)]
        if isinstance(st, S.LabelStmt):
            if in_atomic:
                raise self.err(st.span, "structure", "labels are not allowed inside atomic { }")
            return [T.TLabel(st.span, st.name)]
        if isinstance(st, S.ReturnStmt):
            if in_atomic:
                raise self.err(st.span, "structure", "return is not allowed inside atomic { }")
            if st.value is None:
                if not isinstance(scope.ret, T.VoidT):
                    raise self.err(st.span, "type", f"'{scope.owner}' must return a value of type {scope.ret}")
                return [T.TReturn(st.span, None, "return")]
            if isinstance(scope.ret, T.VoidT):
                raise self.err(st.value.span, "type", f"'{scope.owner}' does not return a value")
            value = self.expr(st.value, scope, scope.ret)
            self.expect_type(value, scope.ret, st.value.span)
            return [T.TReturn(st.span, value, _text(src, st.span))]
        if isinstance(st, S.AtomicStmt):
            if not in_atomic:
                self._atomic_fresh = True
            body = self.block(st.body, scope, True, loops)
            return [T.TAtomic(st.span, body)]
        if isinstance(st, S.ChooseStmt):
            if in_atomic:
                raise self.err(st.span, "structure", "choose is not allowed inside atomic { }")
            return [T.TChoose(st.span, tuple(self.block(b, scope, in_atomic, loops) for b in st.branches))]
        if isinstance(st, S.AwaitStmt):
            if in_atomic and not first:
                raise self.err(
                    st.span,
                    "structure",
                    "await may only be the first statement of atomic { }",
                    "a step blocks as a whole or not at all",
                )
            cond = self.expr(st.cond, scope, T.BOOL)
            self.expect_type(cond, T.BOOL, st.cond.span)
            self._no_effects(cond, "an await condition")
            return [T.TAwait(st.span, cond, _text(src, st.span))]
        if isinstance(st, S.AssertStmt):
            cond = self.expr(st.cond, scope, T.BOOL)
            self.expect_type(cond, T.BOOL, st.cond.span)
            name = st.name or "assert"
            self.asserts.add(name)
            return [T.TAssert(st.span, name, cond, _text(src, st.span))]
        if isinstance(st, S.SkipStmt):
            return []
        if isinstance(st, S.BreakStmt):
            if loops == 0:
                raise self.err(st.span, "structure", "break outside a while loop")
            return [T.TBreak(st.span)]
        if isinstance(st, S.ContinueStmt):
            if loops == 0:
                raise self.err(st.span, "structure", "continue outside a while loop")
            return [T.TContinue(st.span)]
        raise AssertionError(f"unhandled statement {st!r}")  # pragma: no cover

    def _call_stmt(self, st: S.CallStmt, scope: _Scope, in_atomic: bool, first: bool) -> list[T.TStmt]:
        call = st.call
        src = self.spec.source
        text = _text(src, st.span)
        if isinstance(call.func, S.Name) and call.func.name == "lockdep_assert_held":
            held = self.expr(S.Call(call.span, S.Name(call.func.span, "lockdep_is_held"), call.args), scope, T.BOOL)
            self.asserts.add("lockdep_assert_held")
            return [T.TAssert(st.span, "lockdep_assert_held", held, text)]
        if isinstance(call.func, S.Name) and call.func.name == "BUG_ON":
            args = self._positional(call, 1)
            cond = self.expr(args[0], scope, T.BOOL)
            self.expect_type(cond, T.BOOL, args[0].span)
            self.asserts.add("BUG_ON")
            return [T.TAssert(st.span, "BUG_ON", T.TUnary(cond.span, T.BOOL, "!", cond), text, kernel=True)]
        e = self.expr(call, scope, None, statement=True)
        if in_atomic and isinstance(e, T.TProcCall):
            blocks, loops = self._proc_facts(e.proc)
            if loops is not None:
                raise self.err(
                    st.span,
                    "structure",
                    f"proc '{e.proc}' uses while, goto or choose (at {loops}), "
                    "so it cannot be called inside atomic { }",
                )
            if blocks is not None:
                raise self.err(
                    st.span,
                    "structure",
                    f"proc '{e.proc}' may block (at {blocks}), so it cannot be called inside atomic {{ }}",
                    "only the first statement of an atomic block may block",
                )
        if isinstance(e, T.TBuiltin):
            kind = LOCK_OPS.get(e.name, ("", ""))[1]
            blocking = kind in ("acquire", "acquire_read") or e.name == "synchronize_rcu"
            if in_atomic and blocking and not first:
                raise self.err(
                    st.span,
                    "structure",
                    f"{e.name} may only be the first statement of atomic {{ }}",
                    "a step blocks as a whole or not at all",
                )
            if e.name in PURE_BUILTINS:
                raise self.err(st.span, "structure", f"the value of {e.name}() is unused")
        return [T.TEval(st.span, e, text)]

    # ------------------------------------------------------------ expressions
    def expect_type(self, e: T.TExpr, want: T.Type, span: Span) -> None:
        if not _assignable(want, e.ty):
            raise self.err(span, "type", f"expected {want}, found {e.ty}")
        if isinstance(want, T.IntT) and want.lo is not None and isinstance(e, T.TConst):
            assert want.hi is not None
            if not want.lo <= e.value <= want.hi:
                raise self.err(span, "type", f"{e.value} is out of range for {want}")

    def lvalue(self, e: S.Expr, scope: _Scope) -> T.TExpr:
        te = self.expr(e, scope, None)
        if not _is_lvalue(te):
            raise self.err(
                e.span, "type", "cannot assign to this expression", "assign to a variable, a field or an array element"
            )
        root = _lvalue_root(te)
        if scope.in_property:
            raise self.err(e.span, "structure", "a property cannot assign")
        if isinstance(root, T.TVar) and root.var.kind == "bound":
            raise self.err(e.span, "type", "cannot assign to a quantified variable")
        return te

    def _positional(self, call: S.Call, n: int) -> list[S.Expr]:
        name = call.func.name if isinstance(call.func, S.Name) else "call"
        args = []
        for a in call.args:
            if isinstance(a, S.KwArg):
                raise self.err(a.span, "type", f"{name}() takes no keyword arguments")
            args.append(a)
        if len(args) != n:
            raise self.err(call.span, "type", f"{name}() takes {n} argument{'s' if n != 1 else ''}, {len(args)} given")
        return args

    def expr(self, e: S.Expr, scope: _Scope, expected: T.Type | None, statement: bool = False) -> T.TExpr:
        if isinstance(e, S.IntLit):
            return T.TConst(e.span, T.IntT(e.value, e.value), e.value)
        if isinstance(e, S.BoolLit):
            return T.TConst(e.span, T.BOOL, int(e.value))
        if isinstance(e, S.NullLit):
            return T.TConst(e.span, T.NullT(), 0)
        if isinstance(e, S.SelfLit):
            if not scope.in_thread or scope.owner not in self.threads:
                raise self.err(e.span, "structure", "'self' is only meaningful inside a thread")
            count = self.thread_counts.get(scope.owner)
            hi = 0 if count is None else count - 1
            return T.TSelf(e.span, T.IntT(0, hi))
        if isinstance(e, S.Name):
            return self._name(e, scope, expected)
        if isinstance(e, S.FieldAccess):
            return self._field(e, scope)
        if isinstance(e, S.IndexAccess):
            return self._index(e, scope)
        if isinstance(e, S.Unary) and e.op == "~":
            operand = self.expr(e.operand, scope, None)
            if isinstance(operand.ty, T.BitsT):  # within the 64 bits
                ones = T.TConst(e.span, operand.ty, T.MASK64)
                return _fold(T.TBinary(e.span, operand.ty, "^", operand, ones))
            if not isinstance(operand.ty, T.IntT):
                raise self.err(e.operand.span, "type", f"'~' needs bits or an int, found {operand.ty}")
            return _fold(
                T.TBinary(e.span, T.INT, "-", T.TUnary(e.span, T.INT, "-", operand), T.TConst(e.span, T.INT, 1))
            )
        if isinstance(e, S.Unary):
            operand = self.expr(e.operand, scope, T.BOOL if e.op == "!" else T.INT)
            if e.op == "!":
                self.expect_type(operand, T.BOOL, e.operand.span)
                return _fold(T.TUnary(e.span, T.BOOL, "!", operand))
            if not isinstance(operand.ty, T.IntT):
                raise self.err(e.operand.span, "type", f"expected int, found {operand.ty}")
            return _fold(T.TUnary(e.span, T.INT, "-", operand))
        if isinstance(e, S.Binary):
            return self._binary(e, scope)
        if isinstance(e, S.Call):
            return self._call(e, scope, expected, statement)
        if isinstance(e, S.Quant):
            if e.pool not in self.pools:
                raise self.err(e.span, "name", f"'{e.pool}' is not a pool", did_you_mean(e.pool, list(self.pools)))
            if e.var in scope.bound or e.var in scope.locals:
                raise self.err(e.span, "name", f"'{e.var}' is already bound here")
            sym = T.VarSym(e.var, "bound", T.RefT(e.pool), e.span)
            scope.bound[e.var] = sym
            try:
                body = self.expr(e.body, scope, T.BOOL)
                self.expect_type(body, T.BOOL, e.body.span)
            finally:
                del scope.bound[e.var]
            return T.TQuant(e.span, T.BOOL, e.kind, sym, e.pool, body)
        raise AssertionError(f"unhandled expression {e!r}")  # pragma: no cover

    def _name(self, e: S.Name, scope: _Scope, expected: T.Type | None) -> T.TExpr:
        n = e.name
        if n in scope.bound:
            sym = scope.bound[n]
            return T.TVar(e.span, sym.type, sym)
        if n in scope.locals:
            sym = scope.locals[n]
            return T.TVar(e.span, sym.type, sym)
        if self._self_struct is not None:
            f = self._self_struct.field(n)
            if f is not None:
                return T.TField(e.span, f.type, T.TSelfObj(e.span, self._self_struct), n, f.ghost)
        if n in self.globals:
            if scope.pure:
                raise self.err(
                    e.span,
                    "structure",
                    f"a fn or lemma cannot read the shared variable '{n}'",
                    "pass it as a parameter",
                )
            sym = self.globals[n]
            return T.TVar(e.span, sym.type, sym)
        if n in self.params:
            ty, value = self.params[n]
            return T.TConst(e.span, ty, value)
        if n in self.pools:
            p = self.pools[n]
            return T.TConst(e.span, T.PoolT(n, p.struct, p.size), 0)
        if n in self.threads and scope.in_property:
            return T.TConst(e.span, T.VOID, -1)  # resolved by _field/_index on a thread
        enum = self._enum_member(n, expected)
        if enum is not None:
            return T.TConst(e.span, enum, enum.members.index(n))
        owners = sorted({en.name for en in self._enum_types() if n in en.members})
        if len(owners) > 1:
            raise self.err(
                e.span,
                "name",
                f"'{n}' is a member of several enums ({', '.join(owners)})",
                "compare or assign it where the enum is known, e.g. `x == " + n + "` with x of that enum",
            )
        choices = [*scope.locals, *self.globals, *self.params, *self.pools, *self._all_enum_members()]
        if n in self.threads:
            raise self.err(
                e.span,
                "name",
                f"thread '{n}' cannot be used as a value here",
                "properties may read a thread's locals as `thread.var`",
            )
        raise self.err(e.span, "name", f"name '{n}' is not defined", did_you_mean(n, choices))

    def _bare_enum_member(self, e: S.Expr, scope: _Scope) -> bool:
        """A bare name that can only be an enum member, whose enum the context must tell."""
        if not isinstance(e, S.Name):
            return False
        n = e.name
        if n in scope.bound or n in scope.locals or n in self.globals or n in self.params or n in self.pools:
            return False
        return n in self._all_enum_members()

    def _all_enum_members(self) -> list[str]:
        members: list[str] = []
        for en in self._enum_types():
            members.extend(en.members)
        return members

    def _enum_types(self) -> Iterator[T.EnumT]:
        yield from self.enums.values()
        seen: set[str] = set()
        for st in self.structs.values():
            for f in st.fields:
                for ty in _component_types(f.type):
                    if isinstance(ty, T.EnumT) and ty.name not in self.enums and ty.name not in seen:
                        seen.add(ty.name)
                        yield ty
        for g in self.globals.values():
            for ty in _component_types(g.type):
                if isinstance(ty, T.EnumT) and ty.name not in self.enums and ty.name not in seen:
                    seen.add(ty.name)
                    yield ty
        for ty, _ in self.params.values():
            if isinstance(ty, T.EnumT) and ty.name not in self.enums and ty.name not in seen:
                seen.add(ty.name)
                yield ty

    def _enum_member(self, n: str, expected: T.Type | None) -> T.EnumT | None:
        if isinstance(expected, T.EnumT) and n in expected.members:
            return expected
        found = [en for en in self._enum_types() if n in en.members]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            uniq = {en.name: en for en in found}
            if len(uniq) == 1:
                return found[0]
        return None

    def _field(self, e: S.FieldAccess, scope: _Scope) -> T.TExpr:
        if (
            isinstance(e.base, S.Call)
            and isinstance(e.base.func, S.Name)
            and e.base.func.name == "READ_ONCE"
            and len(e.base.args) == 1
            and not isinstance(e.base.args[0], S.KwArg)
        ):
            # READ_ONCE(x).f reads the one field: it is READ_ONCE(x.f)
            inner = S.FieldAccess(e.span, e.base.args[0], e.name)
            return self.expr(S.Call(e.span, e.base.func, (inner,)), scope, None)
        if scope.in_property and isinstance(e.base, (S.Name, S.IndexAccess)):
            tl = self._thread_local(e, scope)
            if tl is not None:
                return tl
        base = self.expr(e.base, scope, None)
        ty = base.ty
        if isinstance(ty, T.BitsT):
            lo, width = self._bit_field(ty, e.name, e.span)
            shifted = T.TBinary(e.span, T.INT, ">>", base, T.TConst(e.span, T.INT, lo))
            value = T.TBinary(
                e.span, T.IntT(0, (1 << width) - 1), "&", shifted, T.TConst(e.span, T.INT, (1 << width) - 1)
            )
            if width == 1:
                return _fold(T.TBinary(e.span, T.BOOL, "!=", value, T.TConst(e.span, T.INT, 0)))
            return _fold(value)
        struct: T.StructT | None = None
        if isinstance(ty, T.StructT):
            struct = ty
        elif isinstance(ty, T.RefT):
            struct = self.pools[ty.pool].struct
        if struct is None:
            raise self.err(e.span, "type", f"{ty} has no fields", "fields belong to structs and refs to pool objects")
        f = struct.field(e.name)
        if f is None:
            raise self.err(
                e.span,
                "name",
                f"struct '{struct.name}' has no field '{e.name}'",
                did_you_mean(e.name, [x.name for x in struct.fields]),
            )
        if isinstance(base, T.TConst) and isinstance(ty, T.RefT) and base.value == 0:
            raise self.err(e.span, "type", "dereference of null")
        return T.TField(e.span, f.type, base, e.name, f.ghost)

    def _thread_local(self, e: S.FieldAccess, scope: _Scope) -> T.TExpr | None:
        base = e.base
        instance = 0
        if isinstance(base, S.IndexAccess) and isinstance(base.base, S.Name) and base.base.name in self.threads:
            name = base.base.name
            instance = self.const_int(base.index, lo=0)
            count = self.thread_counts.get(name)
            if count is None or instance >= count:
                raise self.err(base.span, "bounds", f"thread '{name}' has no instance {instance}")
        elif isinstance(base, S.Name) and base.name in self.threads and base.name not in scope.locals:
            name = base.name
            if self.thread_counts.get(name) is not None:
                raise self.err(base.span, "name", f"'{name}' has several instances: name one, as {name}[0]")
        else:
            return None
        d = self.threads[name]
        if name not in self.thread_locals:
            sub = _Scope(owner=name)
            self._collect_locals(d.body, sub, {})
            self.thread_locals[name] = dict(sub.locals)
        sym = self.thread_locals[name].get(e.name)
        if sym is None:
            raise self.err(
                e.span,
                "name",
                f"thread '{name}' has no local '{e.name}'",
                did_you_mean(e.name, list(self.thread_locals[name])),
            )
        return T.TThreadLocal(e.span, sym.type, name, instance, sym)

    def _index(self, e: S.IndexAccess, scope: _Scope) -> T.TExpr:
        base = self.expr(e.base, scope, None)
        index = self.expr(e.index, scope, T.INT)
        if not isinstance(index.ty, T.IntT):
            raise self.err(e.index.span, "type", f"an index must be an int, found {index.ty}")
        if isinstance(base.ty, T.PoolT):
            size = base.ty.size
            if isinstance(index, T.TConst) and not 0 <= index.value < size:
                raise self.err(
                    e.index.span, "bounds", f"index {index.value} is out of range for pool '{base.ty.name}' of {size}"
                )
            return T.TPoolElem(e.span, T.RefT(base.ty.name), base.ty.name, index)
        if isinstance(base.ty, T.ArrayT):
            if isinstance(index, T.TConst) and not 0 <= index.value < base.ty.size:
                raise self.err(e.index.span, "bounds", f"index {index.value} is out of range for {base.ty}")
            return T.TIndex(e.span, base.ty.elem, base, index)
        raise self.err(e.span, "type", f"{base.ty} cannot be indexed")

    def _binary(self, e: S.Binary, scope: _Scope) -> T.TExpr:
        op = e.op
        if op in ("&&", "||", "==>"):
            left = self.expr(e.left, scope, T.BOOL)
            right = self.expr(e.right, scope, T.BOOL)
            self.expect_type(left, T.BOOL, e.left.span)
            self.expect_type(right, T.BOOL, e.right.span)
            return _fold(T.TBinary(e.span, T.BOOL, op, left, right))
        if op in ("==", "!="):
            if self._bare_enum_member(e.left, scope) and not self._bare_enum_member(e.right, scope):
                right = self.expr(e.right, scope, None)
                left = self.expr(e.left, scope, right.ty)
            else:
                left = self.expr(e.left, scope, None)
                right = self.expr(e.right, scope, left.ty)
            if not (_assignable(left.ty, right.ty) or _assignable(right.ty, left.ty)):
                raise self.err(e.span, "type", f"cannot compare {left.ty} with {right.ty}")
            if _contains_lock(left.ty):
                raise self.err(e.span, "type", "locks cannot be compared")
            return _fold(T.TBinary(e.span, T.BOOL, op, left, right))
        if op in ("&", "|", "^", "<<", ">>"):
            left = self.expr(e.left, scope, None)
            right = self.expr(e.right, scope, None)
            for side, sub in ((left, e.left), (right, e.right)):
                if not isinstance(side.ty, (T.IntT, T.BitsT)):
                    raise self.err(sub.span, "type", f"'{op}' needs bits or int operands, found {side.ty}")
            bits = left.ty if isinstance(left.ty, T.BitsT) else right.ty if isinstance(right.ty, T.BitsT) else None
            if op in ("<<", ">>"):
                bits = left.ty if isinstance(left.ty, T.BitsT) else None
            result: T.TExpr = T.TBinary(e.span, bits or T.INT, op, left, right)
            if bits is not None and op == "<<":
                result = T.TBinary(e.span, bits, "&", result, T.TConst(e.span, bits, T.MASK64))
            return _fold(result)
        left = self.expr(e.left, scope, T.INT)
        right = self.expr(e.right, scope, T.INT)
        for side, sub in ((left, e.left), (right, e.right)):
            if not isinstance(side.ty, T.IntT):
                raise self.err(sub.span, "type", f"'{op}' needs int operands, found {side.ty}")
        if op in ("<", "<=", ">", ">="):
            return _fold(T.TBinary(e.span, T.BOOL, op, left, right))
        return _fold(T.TBinary(e.span, T.INT, op, left, right))

    def _call(self, e: S.Call, scope: _Scope, expected: T.Type | None, statement: bool) -> T.TExpr:
        if not isinstance(e.func, S.Name):
            raise self.err(e.func.span, "type", "only builtins, procs and struct names can be called")
        name = e.func.name
        if name in self.structs:
            return self._construct(e, self.structs[name], scope)
        if name in self.bits:
            return self._build_bits(e, self.bits[name], scope)
        if name in self.fn_decls:
            params, body = self._fn(name, e.span)
            args = self._positional(e, len(params))
            mapping: dict[T.VarSym, T.TExpr] = {}
            for psym, arg in zip(params, args, strict=True):
                targ = self.expr(arg, scope, psym.type)
                self.expect_type(targ, psym.type, arg.span)
                mapping[psym] = targ
            return _fold(_substitute(body, mapping))
        if name in self.proc_decls:
            if scope.in_property or not scope.in_thread:
                raise self.err(e.span, "structure", "procs can only be called from threads and procs")
            pd = self.proc_decls[name]
            args = self._positional(e, len(pd.params))
            targs = []
            for p, a in zip(pd.params, args, strict=True):
                pty = self.type_(p.type)
                ta = self.expr(a, scope, pty)
                self.expect_type(ta, pty, a.span)
                if _contains_lock(pty) and not _is_lvalue(ta):
                    raise self.err(a.span, "lock", "a lock argument must name a lock")
                targs.append(ta)
            ret = T.VOID if pd.ret is None else self.type_(pd.ret)
            if not statement and isinstance(ret, T.VoidT):
                raise self.err(e.span, "type", f"proc '{name}' returns no value")
            return T.TProcCall(e.span, ret, name, tuple(targs))
        if name in ("BUG_ON", "lockdep_assert_held"):
            raise self.err(e.span, "structure", f"{name} is a statement, not a value")
        if name not in BUILTINS:
            choices = [*BUILTINS, *self.proc_decls, *self.structs]
            raise self.err(
                e.func.span, "name", f"'{name}' is not a builtin, proc or struct", did_you_mean(name, choices)
            )
        if scope.in_property and name not in PURE_BUILTINS:
            raise self.err(e.span, "structure", f"{name}() has an effect and cannot appear in a property")
        if not statement and name not in VALUE_BUILTINS:
            raise self.err(e.span, "structure", f"{name}() is a statement, not a value")
        if name == "lockdep_is_held" and scope.in_property and not scope.in_contract:
            raise self.err(
                e.span,
                "structure",
                "lockdep_is_held() asks about the running thread, and a property has none",
                "state it inside the thread with lockdep_assert_held()",
            )
        if name in LOCK_OPS or name == "lockdep_is_held":
            kind = LOCK_OPS[name][0] if name in LOCK_OPS else None
            nargs = 2 if name == "spin_lock_nested" else 1
            args = self._positional(e, nargs)
            lock = self.expr(args[0], scope, None)
            if not isinstance(lock.ty, T.LockT) or not _is_lvalue(lock):
                raise self.err(args[0].span, "lock", f"{name}() needs a {kind or 'lock'}, found {lock.ty}")
            if kind is not None and lock.ty.kind != kind:
                ops = sorted(n for n, (k, _) in LOCK_OPS.items() if k == lock.ty.kind)
                raise self.err(
                    args[0].span,
                    "lock",
                    f"{name}() needs a {kind}, but this is a {lock.ty.kind}",
                    "for a " + lock.ty.kind + " use " + ", ".join(ops),
                )
            lock_args: tuple[T.TExpr, ...] = (lock,)
            if nargs == 2:
                lock_args = (lock, T.TConst(args[1].span, T.INT, self.const_int(args[1], lo=0)))
            ty: T.Type = (
                T.BOOL if LOCK_OPS.get(name, ("", "try"))[1].startswith("try") or name == "lockdep_is_held" else T.VOID
            )
            return T.TBuiltin(e.span, ty, name, lock_args)
        if name in ("rcu_read_lock", "rcu_read_unlock", "synchronize_rcu"):
            self._positional(e, 0)
            return T.TBuiltin(e.span, T.VOID, name, ())
        if name in ("free", "free_rcu", "live", "freed"):
            args = self._positional(e, 1)
            r = self.expr(args[0], scope, None)
            if not isinstance(r.ty, T.RefT):
                raise self.err(args[0].span, "type", f"{name}() needs a ref to a pool object, found {r.ty}")
            return T.TBuiltin(e.span, T.VOID if name.startswith("free") and name != "freed" else T.BOOL, name, (r,))
        if name == "alloc":
            args = self._positional(e, 1)
            if not isinstance(args[0], S.Name) or args[0].name not in self.pools:
                raise self.err(
                    args[0].span,
                    "type",
                    "alloc() needs a pool name",
                    did_you_mean(getattr(args[0], "name", ""), list(self.pools)),
                )
            return T.TBuiltin(e.span, T.RefT(args[0].name), name, ())
        # access ops: first argument is a location
        nargs = {"READ_ONCE": 1, "WRITE_ONCE": 2, "cmpxchg": 3, "xchg": 2, "fetch_add": 2, "fetch_sub": 2}[name]
        args = self._positional(e, nargs)
        loc = self.expr(args[0], scope, None)
        if not _is_lvalue(loc):
            raise self.err(args[0].span, "type", f"{name}() needs a variable, field or element")
        if _contains_lock(loc.ty):
            raise self.err(args[0].span, "lock", f"{name}() cannot access a lock")
        rest = []
        for a in args[1:]:
            ta = self.expr(a, scope, loc.ty)
            self.expect_type(ta, loc.ty if name not in ("fetch_add", "fetch_sub") else T.INT, a.span)
            rest.append(ta)
        if name in ("fetch_add", "fetch_sub") and not isinstance(loc.ty, T.IntT):
            raise self.err(args[0].span, "type", f"{name}() needs an int location, found {loc.ty}")
        if name in ("cmpxchg", "xchg") and isinstance(loc.ty, (T.StructT, T.ArrayT)):
            # whole-entry compare-and-exchange of a struct is allowed: it is one word in the kernel
            pass
        rty: T.Type = T.VOID if name == "WRITE_ONCE" else loc.ty
        return T.TBuiltin(e.span, rty, name, (loc, *rest))

    def _bit_field(self, bt: T.BitsT, name: str, span: Span) -> tuple[int, int]:
        """The lowest bit and the width of a named field of a bits type."""
        found = bt.field(name)
        if found is None:
            raise self.err(
                span, "name", f"bits '{bt.name}' has no field '{name}'", did_you_mean(name, [x[0] for x in bt.fields])
            )
        return found[1], found[2]

    def _build_bits(self, e: S.Call, bt: T.BitsT, scope: _Scope) -> T.TExpr:
        """`pte64(present: true, pfn: 5)` or `pte64(0x8000000000000002)`."""
        if len(e.args) == 1 and not isinstance(e.args[0], S.KwArg):
            raw = self.expr(e.args[0], scope, None)
            if not isinstance(raw.ty, (T.IntT, T.BitsT)):
                raise self.err(e.args[0].span, "type", f"{bt.name}() of {raw.ty}")
            return _fold(T.TBinary(e.span, bt, "&", raw, T.TConst(e.span, bt, T.MASK64)))
        acc: T.TExpr = T.TConst(e.span, bt, 0)
        for a in e.args:
            if not isinstance(a, S.KwArg):
                raise self.err(a.span, "type", f"{bt.name}() takes named fields, or one raw value")
            lo, width = self._bit_field(bt, a.name, a.span)
            value = self.expr(a.value, scope, T.BOOL if width == 1 else T.INT)
            if not isinstance(value.ty, (T.BoolT, T.IntT)):
                raise self.err(a.value.span, "type", f"field '{a.name}' takes a bool or an int, found {value.ty}")
            masked = T.TBinary(a.span, T.INT, "&", value, T.TConst(a.span, T.INT, (1 << width) - 1))
            placed = T.TBinary(a.span, bt, "<<", masked, T.TConst(a.span, T.INT, lo))
            acc = T.TBinary(e.span, bt, "|", acc, placed)
        return _fold(acc)

    def _construct(self, e: S.Call, st: T.StructT, scope: _Scope) -> T.TExpr:
        given: dict[str, T.TExpr] = {}
        positional = 0
        for a in e.args:
            if isinstance(a, S.KwArg):
                f = st.field(a.name)
                if f is None:
                    raise self.err(
                        a.span,
                        "name",
                        f"struct '{st.name}' has no field '{a.name}'",
                        did_you_mean(a.name, [x.name for x in st.fields]),
                    )
                if a.name in given:
                    raise self.err(a.span, "name", f"field '{a.name}' is given twice")
                value = self.expr(a.value, scope, f.type)
                self.expect_type(value, f.type, a.value.span)
                given[a.name] = value
            else:
                if positional >= len(st.fields):
                    raise self.err(a.span, "type", f"struct '{st.name}' has only {len(st.fields)} fields")
                f = st.fields[positional]
                value = self.expr(a, scope, f.type)
                self.expect_type(value, f.type, a.span)
                given[f.name] = value
                positional += 1
        fields = []
        for f in st.fields:
            if _contains_lock(f.type):
                raise self.err(e.span, "type", f"struct '{st.name}' holds a lock and cannot be built as a value")
            if f.name in given:
                fields.append(given[f.name])
            elif f.default is not None:
                fields.append(f.default)
            else:
                fields.append(_default(f.type, e.span))
        return T.TStruct(e.span, st, tuple(fields))

    def _no_effects(self, e: T.TExpr, what: str) -> None:
        for sub in _subexprs(e):
            if isinstance(sub, T.TBuiltin) and sub.name not in PURE_BUILTINS:
                raise self.err(sub.span, "structure", f"{sub.name}() cannot appear in {what}")
            if isinstance(sub, T.TProcCall):
                raise self.err(sub.span, "structure", f"a proc call cannot appear in {what}")


# ---------------------------------------------------------------- helpers


def _walk_stmts(body: tuple[S.Stmt, ...]) -> Iterator[S.Stmt]:
    for st in body:
        yield st
        if isinstance(st, S.IfStmt):
            yield from _walk_stmts(st.then)
            yield from _walk_stmts(st.orelse)
        elif isinstance(st, (S.WhileStmt, S.AtomicStmt)):
            yield from _walk_stmts(st.body)
        elif isinstance(st, S.ChooseStmt):
            for b in st.branches:
                yield from _walk_stmts(b)


def _called_names(body: tuple[S.Stmt, ...]) -> set[str]:
    return {call.func.name for call in _calls(body) if isinstance(call.func, S.Name)}


def _stmt_exprs(st: T.TStmt) -> Iterator[T.TExpr]:
    if isinstance(st, T.TAssign):
        yield st.target
        yield st.value
    elif isinstance(st, T.TIf):
        yield st.cond
        for s in (*st.then, *st.orelse):
            yield from _stmt_exprs(s)


def _calls(body: tuple[S.Stmt, ...]) -> list[S.Call]:
    return [node for st in body for node in S.walk_nodes(st) if isinstance(node, S.Call)]


def _subexprs(e: T.TExpr) -> Iterator[T.TExpr]:
    yield e
    for k in e.__dataclass_fields__:
        v = getattr(e, k)
        if isinstance(v, tuple):
            for x in v:
                if hasattr(x, "ty"):
                    yield from _subexprs(x)
        elif hasattr(v, "ty") and hasattr(v, "span") and k != "ty":
            yield from _subexprs(v)


def _component_types(ty: T.Type) -> Iterator[T.Type]:
    yield ty
    if isinstance(ty, T.ArrayT):
        yield from _component_types(ty.elem)
    elif isinstance(ty, T.StructT):
        for f in ty.fields:
            yield from _component_types(f.type)


def _contains_lock(ty: T.Type) -> bool:
    return any(isinstance(t, T.LockT) for t in _component_types(ty))


def _assignable(want: T.Type, got: T.Type) -> bool:
    if isinstance(want, T.IntT):
        return isinstance(got, T.IntT)
    if isinstance(want, T.BitsT):
        return isinstance(got, T.IntT) or got == want
    if isinstance(want, T.RefT):
        return isinstance(got, T.NullT) or got == want
    if isinstance(want, T.NullT):
        return isinstance(got, (T.NullT, T.RefT))
    return want == got


def _is_lvalue(e: T.TExpr) -> bool:
    if isinstance(e, T.TVar):
        return e.var.kind in ("shared", "ghost", "local")
    if isinstance(e, T.TField):
        return isinstance(e.base.ty, T.RefT) or _is_lvalue(e.base) or isinstance(e.base, T.TSelfObj)
    if isinstance(e, T.TIndex):
        return _is_lvalue(e.base)
    return False


def _lvalue_root(e: T.TExpr) -> T.TExpr:
    while isinstance(e, (T.TField, T.TIndex)):
        if isinstance(e, T.TField) and isinstance(e.base.ty, T.RefT):
            return e.base
        e = e.base
    return e


def _default(ty: T.Type, span: Span) -> T.TExpr:
    if isinstance(ty, T.StructT):
        return T.TStruct(
            span, ty, tuple(f.default if f.default is not None else _default(f.type, span) for f in ty.fields)
        )
    if isinstance(ty, T.IntT):
        return T.TConst(span, ty, _int_default(ty))
    if isinstance(ty, T.ArrayT):
        return T.TStruct(span, T.StructT("[]", ()), tuple(_default(ty.elem, span) for _ in range(ty.size)))
    return T.TConst(span, ty, 0)


def _int_default(ty: T.IntT) -> int:
    """0 when the range holds it, else the bound nearest to 0."""
    if ty.lo is not None and ty.lo > 0:
        return ty.lo
    if ty.hi is not None and ty.hi < 0:
        return ty.hi
    return 0


def _substitute(e: T.TExpr, mapping: dict[T.VarSym, T.TExpr]) -> T.TExpr:
    """Replace parameters by arguments in a fn body (fns are pure, so this is inlining)."""
    import dataclasses

    if isinstance(e, T.TVar) and e.var in mapping:
        return mapping[e.var]
    changes: dict[str, object] = {}
    for k in e.__dataclass_fields__:
        if k in ("ty", "span"):
            continue
        v = getattr(e, k)
        if isinstance(v, tuple) and v and all(hasattr(x, "ty") and hasattr(x, "span") for x in v):
            changes[k] = tuple(_substitute(x, mapping) for x in v)
        elif hasattr(v, "ty") and hasattr(v, "span") and not isinstance(v, T.VarSym):
            changes[k] = _substitute(v, mapping)
    return dataclasses.replace(e, **changes) if changes else e  # type: ignore[arg-type]


def _is_constant(e: T.TExpr) -> bool:
    if isinstance(e, T.TConst):
        return True
    if isinstance(e, T.TStruct):
        return all(_is_constant(f) for f in e.fields)
    if isinstance(e, T.TPoolElem):
        return isinstance(e.index, T.TConst)
    return False


def _fold(e: T.TExpr) -> T.TExpr:
    """Fold operators over constants (params are constants)."""
    if isinstance(e, T.TUnary) and isinstance(e.operand, T.TConst):
        v = e.operand.value
        return T.TConst(e.span, T.BOOL if e.op == "!" else T.IntT(-v, -v), int(not v) if e.op == "!" else -v)
    if isinstance(e, T.TPoolElem) and isinstance(e.index, T.TConst):
        return T.TConst(e.span, e.ty, e.index.value + 1)
    if not isinstance(e, T.TBinary):
        return e
    left, right, op = e.left, e.right, e.op
    if isinstance(left, T.TConst) and op in ("&&", "||", "==>"):
        if op == "&&":
            return right if left.value else left
        if op == "||":
            return left if left.value else right
        return right if left.value else T.TConst(e.span, T.BOOL, 1)
    if not (isinstance(left, T.TConst) and isinstance(right, T.TConst)):
        return e
    a, b = left.value, right.value
    if op in ("/", "%") and b == 0 or op in ("<<", ">>") and not 0 <= b <= T.SHIFT_MAX:
        return e  # fails when it runs
    value = T.BINARY_OPS[op](a, b)
    if isinstance(e.ty, T.BitsT):
        return T.TConst(e.span, e.ty, value & T.MASK64)
    ty = T.BOOL if e.ty == T.BOOL else T.IntT(value, value)
    return T.TConst(e.span, ty, value)
