"""Planning joins: the joined sources and their scope, each join step's criteria and kind,
ksqlDB's rules for which joins are allowed (with its error messages), and the result key.

A joined row lays the sources' rows side by side (each as `source_scope` lays it out), after
two leading columns: the result's ROWTIME and its join key. Joins are left-deep: step k joins
the result of sources 0..k-1 (its `left_expr`) to source k (its `right_expr`). A side not
keyed by its join expression is re-keyed in process, which is ksqlDB's repartition.
"""

from __future__ import annotations

from dataclasses import dataclass

from grammar import ast
from grammar.printer import format_expr
from grammar.rewrite import walk
from planner.aggregation import _qualify as qualify
from planner.errors import PARSER_PREPARING, PlanError, type_name
from planner.scope import Column, Scope, source_scope
from planner.typing import infer_type
from sqlengine import catalog as C
from sqlengine import types as T

JOIN_ROWTIME = "$ROWTIME"
JOIN_KEY = "$KEY"
SYNTHETIC_KEY = "ROWKEY"
# Kafka Streams' legacy retention of join windows when no GRACE PERIOD is given.
LEGACY_RETENTION_MS = 24 * 3_600_000

_JOIN_TEXT = {
    "INNER": "[INNER] JOIN",
    "LEFT": "LEFT [OUTER] JOIN",
    "RIGHT": "RIGHT [OUTER] JOIN",
    "FULL": "[FULL] OUTER JOIN",
}


@dataclass
class JoinSource:
    source: C.DataSource
    alias: str
    offset: int  # where its row starts in a joined body
    width: int


@dataclass
class JoinStep:
    kind: str  # INNER | LEFT | RIGHT | FULL
    shape: str  # STREAM_STREAM | STREAM_TABLE | TABLE_TABLE | FOREIGN_KEY
    right: int  # index of the right source
    left_expr: ast.Expr  # over the body of sources[:right]
    right_expr: ast.Expr  # over the body (reads only the right source)
    within: ast.Within | None
    # Is each side keyed by its join expression already (else ksqlDB re-keys it)?
    left_keyed: bool = True
    right_keyed: bool = True

    @property
    def result_kind(self) -> str:
        return "TABLE" if self.shape in ("TABLE_TABLE", "FOREIGN_KEY") else "STREAM"

    def window_ms(self) -> tuple[int, int, int, bool]:
        """(before, after, grace, explicit grace) of a stream-stream join."""
        assert self.within is not None
        before, after = self.within.before.millis, self.within.after.millis
        if self.within.grace is not None:
            return before, after, self.within.grace.millis, True
        return before, after, max(0, LEGACY_RETENTION_MS - before - after), False


@dataclass
class JoinPlan:
    sources: list[JoinSource]
    steps: list[JoinStep]
    body_scope: Scope  # the sources' columns over a body (offset 0)
    row_scope: Scope  # (ROWTIME, key, body...): what WHERE and SELECT read
    key_type: T.SqlType
    viable_keys: list[ast.Expr]  # source columns equal to the key (empty: synthetic key)
    synthetic_key: str | None

    @property
    def result_kind(self) -> str:
        return self.steps[-1].result_kind

    @property
    def foreign_key(self) -> bool:
        """Is the result a foreign-key join's (keyed by the left table's key columns)?"""
        return self.steps[-1].shape == "FOREIGN_KEY"


def _flatten(rel: ast.Relation) -> tuple[list[ast.SourceRef], list[ast.Join]]:
    if isinstance(rel, ast.SourceRef):
        return [rel], []
    refs, joins = _flatten(rel.left)
    return [*refs, rel.right], [*joins, rel]


def _resolve_sources(refs: list[ast.SourceRef], catalog: C.Catalog) -> list[JoinSource]:
    out: list[JoinSource] = []
    offset = 0
    for ref in refs:
        source = catalog.source(ref.name)
        if source is None:
            raise PlanError(f"{ref.name} does not exist.")
        for prior in out:
            if prior.source.name == source.name:
                if len(refs) == 2:
                    raise PlanError(
                        f"Can not join '{source.name}' to '{source.name}': self joins are not "
                        "yet supported."
                    )
                raise PlanError(
                    "N-way joins do not support multiple occurrences of the same source. "
                    f"Source: '{source.name}'"
                )
        alias = ref.alias or ref.name
        width = len(source_columns(source, alias, 0))
        out.append(JoinSource(source, alias, offset, width))
        offset += width
    kafka = [s.source.name for s in out if s.source.value_format.name == "KAFKA"]
    if kafka:
        raise PlanError(
            f"Source(s) {', '.join(kafka)} are using the 'KAFKA' value format. This format does "
            "not yet support JOIN."
        )
    return out


def source_columns(source: C.DataSource, alias: str, offset: int) -> list[Column]:
    return [
        Column(c.name, c.type, c.index + offset, alias) for c in source_scope(source, alias).columns
    ]


def _check_windows(sources: list[JoinSource]) -> None:
    left = sources[0]
    for right in sources[1:]:
        lw, rw = left.source.window, right.source.window
        if (lw is None) != (rw is None):
            windowed, plain = (left, right) if lw is not None else (right, left)
            kind = windowed.source.window.kind  # type: ignore[union-attr]
            raise PlanError(
                "Can not join windowed source to non-windowed source.\n"
                f"`{windowed.source.name}` is {kind} windowed\n`{plain.source.name}` is not windowed"
            )
        if lw is not None and rw is not None and (lw.kind == "SESSION") != (rw.kind == "SESSION"):
            raise PlanError(
                "Incompatible windowed sources.\n"
                f"Left source: {lw.kind}\nRight source: {rw.kind}\n"
                "Session windowed sources can only be joined to other session windowed sources, "
                "and may still not result in expected behaviour as session bounds must be an exact "
                "match for the join to work\nHopping and tumbling windowed sources can only be "
                "joined to other hopping and tumbling windowed sources"
            )


def check_qualifiers(exprs: list[ast.Expr], aliases: set[str]) -> None:
    for expr in exprs:
        for e in walk(expr):
            if isinstance(e, ast.ColumnRef) and e.source is not None and e.source not in aliases:
                raise PlanError(
                    f"'{e.source}' is not a valid stream/table name or alias.",
                    preparing=PARSER_PREPARING,
                )


def _referenced(expr: ast.Expr, scope: Scope) -> set[str]:
    """The aliases of the sources an expression reads."""
    found: set[str] = set()
    for e in walk(expr):
        if isinstance(e, ast.ColumnRef):
            try:
                col = scope.resolve_ref(e)
            except PlanError as exc:
                raise exc.in_clause("JOIN ON") from exc
            if col.source is not None:
                found.add(col.source)
    return found


def _key_columns(js: JoinSource) -> list[ast.Expr]:
    return [ast.ColumnRef(c.name, js.alias) for c in js.source.key_columns]


def _single_key(js: JoinSource) -> list[ast.Expr]:
    """The key a PK join can use: a source's only key column (none when it has several)."""
    keys = _key_columns(js)
    return keys if len(keys) == 1 else []


@dataclass
class _Key:
    """The key of a partial join result: the expressions equal to it; synthetic when none is
    a source column."""

    exprs: list[ast.Expr]
    synthetic: bool


def plan_joins(query: ast.Query, catalog: C.Catalog) -> JoinPlan:
    refs, joins = _flatten(query.from_)
    sources = _resolve_sources(refs, catalog)
    _check_windows(sources)
    columns = [c for js in sources for c in source_columns(js.source, js.alias, js.offset)]
    body = Scope(columns)
    aliases = {js.alias for js in sources}
    check_qualifiers([j.criteria for j in joins], aliases)
    first = sources[0]
    key = _Key(_single_key(first), False)
    kind = first.source.kind
    steps: list[JoinStep] = []
    key_type: T.SqlType = T.STRING
    sides = [_criteria(join, k, sources, body) for k, join in enumerate(joins, start=1)]
    for k, (join, (left_expr, right_expr)) in enumerate(zip(joins, sides, strict=True), start=1):
        step, key_type = _plan_step(join, k, left_expr, right_expr, sources, kind, key)
        if step.kind == "FULL":
            key = _Key([], True)
        elif step.shape == "FOREIGN_KEY":
            key = _Key(_single_key(first), False)  # the result keeps the left table's key
        else:
            prior = key.exprs if left_expr in key.exprs else []
            exprs = [*prior, *(e for e in (left_expr, right_expr) if e not in prior)]
            key = _Key(exprs, not any(isinstance(e, ast.ColumnRef) for e in exprs))
        kind = step.result_kind
        steps.append(step)
    viable = [e for e in key.exprs if isinstance(e, ast.ColumnRef)]
    synthetic = _synthetic_name(sources) if key.synthetic else None
    head = [
        Column(JOIN_ROWTIME, T.BIGINT, 0),
        Column(C.ROWTIME, T.BIGINT, 0),  # an unqualified ROWTIME: the result's time
        Column(synthetic or JOIN_KEY, key_type, 1),
    ]
    row = Scope(head + [Column(c.name, c.type, c.index + 2, c.source) for c in columns])
    return JoinPlan(sources, steps, body, row, key_type, viable, synthetic)


def _synthetic_name(sources: list[JoinSource]) -> str:
    names = {c.name for js in sources for c in js.source.columns}
    name, n = SYNTHETIC_KEY, 0
    while name in names:
        n += 1
        name = f"{SYNTHETIC_KEY}_{n}"
    return name


def _criteria(
    join: ast.Join, k: int, sources: list[JoinSource], body: Scope
) -> tuple[ast.Expr, ast.Expr]:
    """The criteria's (left, right) expressions, qualified: the left reads the sources
    before source k, the right reads source k."""
    crit = join.criteria
    if isinstance(crit, ast.BinaryOp) and crit.op.upper() == "AND":
        raise PlanError(
            "Invalid join condition: joins on multiple conditions are not yet supported. "
            f"Got {format_expr(crit)}."
        )
    if not (isinstance(crit, ast.BinaryOp) and crit.op == "="):
        raise PlanError(f"Unsupported join expression: {format_expr(crit)}")
    scope = Scope([c for c in body.columns if c.index < sources[k].offset + sources[k].width])
    refs = [_referenced(crit.left, scope), _referenced(crit.right, scope)]
    for side, found in zip((crit.left, crit.right), refs, strict=True):
        if len(found) != 1:
            raise PlanError(
                f"Invalid comparison expression '{format_expr(side)}' in join "
                f"'{format_expr(crit)}'. Each side of the join comparision must contain "
                "references from exactly one source."
            )
    (lsrc,), (rsrc,) = refs
    if lsrc == rsrc:
        raise PlanError(
            "Each side of the join must reference exactly one source and not the same source. "
            f"Left side references `{lsrc}` and right references `{rsrc}`"
        )
    right = sources[k]
    if right.alias not in (lsrc, rsrc):
        raise PlanError(
            f"A join criteria is expected to reference the source (`{right.alias}`) in the FROM "
            f"clause, instead the right source references `{rsrc}` and the left source "
            f"references `{lsrc}`"
        )
    left_expr, right_expr = qualify(crit.left, scope), qualify(crit.right, scope)
    return (right_expr, left_expr) if lsrc == right.alias else (left_expr, right_expr)


def _plan_step(
    join: ast.Join,
    k: int,
    left_expr: ast.Expr,
    right_expr: ast.Expr,
    sources: list[JoinSource],
    left_kind: str,
    key: _Key,
) -> tuple[JoinStep, T.SqlType]:
    crit = join.criteria
    assert isinstance(crit, ast.BinaryOp)
    right = sources[k]
    scope = Scope(
        [c for js in sources[: k + 1] for c in source_columns(js.source, js.alias, js.offset)]
    )
    written = [qualify(crit.left, scope), qualify(crit.right, scope)]
    left_alias = next(iter(_referenced(left_expr, scope)))
    ltype, rtype = infer_type(written[0], scope), infer_type(written[1], scope)
    if ltype != rtype:
        raise PlanError(
            "Invalid join condition: types don't match. Got "
            f"{format_expr(written[0])}{{{type_name(ltype)}}} = "
            f"{format_expr(written[1])}{{{type_name(rtype)}}}."
        )
    got = f"Got {format_expr(written[0])} = {format_expr(written[1])}."
    shape = _shape(join, left_kind, right, left_alias, right_expr, got)
    if shape == "TABLE_TABLE" and not any(left_expr == e for e in key.exprs):
        if join.kind in ("RIGHT", "FULL"):
            raise PlanError(f"{join.kind} OUTER JOIN on a foreign key is not supported")
        if k > 1:
            raise PlanError(
                "Invalid join condition: foreign-key table-table joins are not supported as part "
                f"of n-way joins. {got}"
            )
        shape = "FOREIGN_KEY"
    _check_key_type(left_expr, infer_type(left_expr, scope))
    windowed = sources[0].source.window is not None
    if windowed and shape == "FOREIGN_KEY":
        raise PlanError("Foreign-key table-table joins are not supported on windowed tables.")
    keyed = any(left_expr == e for e in key.exprs) and right_expr in _single_key(right)
    if windowed and not keyed:
        raise PlanError(
            "Implicit repartitioning of windowed sources is not supported. "
            "See https://github.com/confluentinc/ksql/issues/4385."
        )
    left_keyed = any(left_expr == e for e in key.exprs)
    step = JoinStep(
        join.kind,
        shape,
        k,
        left_expr,
        right_expr,
        join.within,
        left_keyed,
        right_expr in _single_key(right),
    )
    return step, ltype if ltype is not None else T.STRING


def _shape(
    join: ast.Join,
    left_kind: str,
    right: JoinSource,
    left_alias: str,
    right_expr: ast.Expr,
    got: str,
) -> str:
    text = f"{left_alias} {_JOIN_TEXT[join.kind]} {right.alias}"
    right_kind = right.source.kind
    if left_kind == "TABLE" and right_kind == "STREAM":
        raise PlanError(
            "Invalid join order: table-stream joins are not supported; only stream-table joins. "
            f"Got {text}."
        )
    on_right_key = right_expr in _single_key(right)
    if left_kind == "STREAM" and right_kind == "STREAM":
        if join.within is None:
            raise PlanError(
                "Stream-Stream joins must have a WITHIN clause specified. None was provided. To "
                "learn about how to specify a WITHIN clause with a stream-stream join, please "
                "visit: https://docs.confluent.io/current/ksql/docs/syntax-reference.html"
                "#create-stream-as-select"
            )
        return "STREAM_STREAM"
    pair = "Stream-Table" if left_kind == "STREAM" else "Table-Table"
    if join.within is not None:
        raise PlanError(
            f"A window definition was provided for a {pair} join. These joins are not windowed. "
            "Please drop the window definition (ie. the WITHIN clause) and try to execute your "
            f"{pair} join again."
        )
    if left_kind == "STREAM":
        if join.kind in ("FULL", "RIGHT"):
            name = "full-outer" if join.kind == "FULL" else "right-outer"
            raise PlanError(
                f"Invalid join type: {name} join not supported for stream-table join. Got {text}."
            )
        if not on_right_key:
            raise PlanError(
                "Invalid join condition: stream-table joins require to join on the table's "
                f"primary key. {got}"
            )
        return "STREAM_TABLE"
    if not on_right_key:
        raise PlanError(
            "Invalid join condition: table-table joins require to join on the primary key of the "
            f"right input table. {got}"
        )
    return "TABLE_TABLE"


def _check_key_type(expr: ast.Expr, t: T.SqlType | None) -> None:
    def has_map(x: T.SqlType | None) -> bool:
        if isinstance(x, T.Map):
            return True
        if isinstance(x, T.Array):
            return has_map(x.element)
        if isinstance(x, T.Struct):
            return any(has_map(f.type) for f in x.fields)
        return False

    if has_map(t):
        name = (
            f"{expr.source}_{expr.name}" if isinstance(expr, ast.ColumnRef) else format_expr(expr)
        )
        raise PlanError(
            "Map keys, including types that contain maps, are not supported as they may lead to "
            "unexpected behavior due to inconsistent serialization. Key column name: "
            f"`{name}`. Column type: {type_name(t)}. See "
            "https://github.com/confluentinc/ksql/issues/6621 for more."
        )
