"""Typed AST of streamdb's SQL dialect (ksqlDB's statement language).

One small frozen dataclass per node. The parser (grammar.parser) builds these; the planner
consumes them. Identifiers are already normalised: unquoted names upper-cased, backquoted
names kept as written. Every node carries its source position (1-based line and column) so
errors can point at it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal as PyDecimal

from sqlengine import types as T


@dataclass(frozen=True)
class Node:
    line: int = field(default=0, kw_only=True, compare=False, repr=False)
    column: int = field(default=0, kw_only=True, compare=False, repr=False)


# ---------------------------------------------------------------------------- types


@dataclass(frozen=True)
class TypeRef(Node):
    """A type as written: a concrete SqlType, or the name of a custom type (CREATE TYPE)."""

    sql_type: T.SqlType | None = None
    custom_name: str | None = None


# ---------------------------------------------------------------------------- expressions


class Expr(Node):
    """Base of expression nodes."""


@dataclass(frozen=True)
class Literal(Expr):
    """A constant. `type` is None only for NULL. Numbers typed as ksqlDB types them:
    an integer literal that fits 32 bits is INTEGER, else BIGINT; `1.50` is DECIMAL(3, 2);
    `1.5E2` is DOUBLE."""

    value: bool | int | float | PyDecimal | str | bytes | None
    type: T.SqlType | None


@dataclass(frozen=True)
class ColumnRef(Expr):
    """`name` or `source.name` (source is an alias or a stream/table name)."""

    name: str
    source: str | None = None


@dataclass(frozen=True)
class Dereference(Expr):
    """`base->field` on a STRUCT."""

    base: Expr
    field_name: str


@dataclass(frozen=True)
class Subscript(Expr):
    """`base[index]`: 1-based array index (negative from the end) or map key."""

    base: Expr
    index: Expr


@dataclass(frozen=True)
class IntervalUnit(Expr):
    """A time unit passed as a function argument, e.g. TIMESTAMPADD(SECONDS, 5, ts).
    `unit` is upper-cased and singular: MILLISECOND, SECOND, MINUTE, HOUR, DAY, ..."""

    unit: str


@dataclass(frozen=True)
class Lambda(Expr):
    """`x => body` or `(x, y) => body`. Parameters shadow columns inside the body."""

    params: tuple[str, ...]
    body: Expr


@dataclass(frozen=True)
class FunctionCall(Expr):
    """A scalar, aggregate or table function call. `COUNT(*)` has star=True and no args."""

    name: str
    args: tuple[Expr, ...]
    star: bool = False
    distinct: bool = False


@dataclass(frozen=True)
class BinaryOp(Expr):
    """Arithmetic (+ - * / %), comparison (= <> < <= > >=, IS DISTINCT FROM as
    'IS DISTINCT FROM', 'IS NOT DISTINCT FROM'), logical (AND, OR) and `||`."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class UnaryOp(Expr):
    """`-x`, `+x`, `NOT x`."""

    op: str
    operand: Expr


@dataclass(frozen=True)
class Like(Expr):
    value: Expr
    pattern: Expr
    escape: str | None = None
    negated: bool = False


@dataclass(frozen=True)
class Between(Expr):
    value: Expr
    low: Expr
    high: Expr
    negated: bool = False


@dataclass(frozen=True)
class InList(Expr):
    value: Expr
    items: tuple[Expr, ...]
    negated: bool = False


@dataclass(frozen=True)
class IsNull(Expr):
    value: Expr
    negated: bool = False


@dataclass(frozen=True)
class WhenClause(Node):
    condition: Expr
    result: Expr


@dataclass(frozen=True)
class Case(Expr):
    """Searched CASE (operand None) or simple CASE operand WHEN value THEN ..."""

    operand: Expr | None
    whens: tuple[WhenClause, ...]
    default: Expr | None = None


@dataclass(frozen=True)
class Cast(Expr):
    expr: Expr
    target: TypeRef


@dataclass(frozen=True)
class ArrayConstructor(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class MapConstructor(Expr):
    entries: tuple[tuple[Expr, Expr], ...]


@dataclass(frozen=True)
class StructConstructor(Expr):
    fields: tuple[tuple[str, Expr], ...]


# ---------------------------------------------------------------------------- queries


@dataclass(frozen=True)
class SelectColumn(Node):
    expr: Expr
    alias: str | None = None


@dataclass(frozen=True)
class SelectStar(Node):
    """`*` (source None) or `alias.*`."""

    source: str | None = None


@dataclass(frozen=True)
class SelectStructAll(Node):
    """`struct_expr->*`: every field of a struct as its own column."""

    expr: Expr


SelectItem = SelectColumn | SelectStar | SelectStructAll


@dataclass(frozen=True)
class Duration(Node):
    """A duration as written (`10 SECONDS`), with its value in milliseconds."""

    value: int
    unit: str  # singular upper-case: MILLISECOND, SECOND, MINUTE, HOUR, DAY

    @property
    def millis(self) -> int:
        return self.value * UNIT_MILLIS[self.unit]


UNIT_MILLIS: dict[str, int] = {
    "NANOSECOND": 0,
    "MICROSECOND": 0,
    "MILLISECOND": 1,
    "SECOND": 1000,
    "MINUTE": 60_000,
    "HOUR": 3_600_000,
    "DAY": 86_400_000,
    "WEEK": 7 * 86_400_000,
}


@dataclass(frozen=True)
class Window(Node):
    """WINDOW TUMBLING/HOPPING/SESSION (...)."""

    kind: str  # TUMBLING | HOPPING | SESSION
    size: Duration  # SIZE, or the inactivity gap of a SESSION window
    advance: Duration | None = None
    retention: Duration | None = None
    grace: Duration | None = None


@dataclass(frozen=True)
class SourceRef(Node):
    """A stream or table in FROM / JOIN, with its optional alias."""

    name: str
    alias: str | None = None


@dataclass(frozen=True)
class Within(Node):
    """WITHIN n UNIT or WITHIN (before, after), with optional GRACE PERIOD."""

    before: Duration
    after: Duration
    grace: Duration | None = None


@dataclass(frozen=True)
class Join(Node):
    kind: str  # INNER | LEFT | RIGHT | FULL
    left: Relation
    right: SourceRef | SubqueryRef
    criteria: Expr
    within: Within | None = None


@dataclass(frozen=True)
class SubqueryRef(Node):
    """`(SELECT ...) alias` in FROM / JOIN: pull queries only."""

    query: Query
    alias: str


Relation = SourceRef | SubqueryRef | Join


@dataclass(frozen=True)
class OrderItem(Node):
    """One ORDER BY term. `nulls_first` None: NULLs last (first only when written)."""

    expr: Expr
    descending: bool = False
    nulls_first: bool | None = None


@dataclass(frozen=True)
class OrderBy(Node):
    """ORDER BY items; its position is the ORDER keyword's."""

    items: tuple[OrderItem, ...]


@dataclass(frozen=True)
class Query(Node):
    select: tuple[SelectItem, ...]
    from_: Relation
    window: Window | None = None
    where: Expr | None = None
    group_by: tuple[Expr, ...] = ()
    partition_by: tuple[Expr, ...] | None = None  # () for `PARTITION BY ()`
    having: Expr | None = None
    emit: str | None = None  # CHANGES | FINAL | None (a pull query when not persistent)
    limit: int | None = None
    # Pull queries only (SQL beyond ksqlDB's, answered by DuckDB):
    distinct: bool = False
    order_by: OrderBy | None = None
    offset: int | None = None

    @property
    def analytic(self) -> bool:
        """Whether it uses a clause only pull queries answered by DuckDB have."""
        return (
            self.distinct
            or self.order_by is not None
            or self.offset is not None
            or _has_subquery(self.from_)
        )


def _has_subquery(rel: Relation) -> bool:
    if isinstance(rel, Join):
        return _has_subquery(rel.left) or _has_subquery(rel.right)
    return isinstance(rel, SubqueryRef)


# ---------------------------------------------------------------------------- statements


@dataclass(frozen=True)
class Statement(Node):
    """Base of statements. `text` is the statement's own SQL text, without the `;`."""

    text: str = field(default="", kw_only=True, compare=False, repr=False)


@dataclass(frozen=True)
class TableElement(Node):
    name: str
    type: TypeRef
    constraint: str | None = None  # KEY | PRIMARY KEY | HEADERS | HEADER
    header_key: str | None = None  # the 'k' of HEADER('k')


@dataclass(frozen=True)
class CreateSource(Statement):
    """CREATE [OR REPLACE] [SOURCE] STREAM|TABLE [IF NOT EXISTS] name (elements) WITH (...)."""

    kind: str  # STREAM | TABLE
    name: str
    elements: tuple[TableElement, ...]
    properties: dict[str, Literal]
    or_replace: bool = False
    if_not_exists: bool = False
    is_source: bool = False


@dataclass(frozen=True)
class CreateAsSelect(Statement):
    """CREATE [OR REPLACE] STREAM|TABLE [IF NOT EXISTS] name WITH (...) AS query."""

    kind: str
    name: str
    query: Query
    properties: dict[str, Literal]
    or_replace: bool = False
    if_not_exists: bool = False


@dataclass(frozen=True)
class InsertInto(Statement):
    target: str
    query: Query
    properties: dict[str, Literal] = field(default_factory=dict)


@dataclass(frozen=True)
class InsertValues(Statement):
    target: str
    columns: tuple[str, ...] | None
    values: tuple[Expr, ...]


@dataclass(frozen=True)
class SelectStatement(Statement):
    """A bare query: a push query (EMIT CHANGES) or a pull query."""

    query: Query


@dataclass(frozen=True)
class DropSource(Statement):
    kind: str
    name: str
    if_exists: bool = False
    delete_topic: bool = False


@dataclass(frozen=True)
class AlterSource(Statement):
    """ALTER STREAM|TABLE name ADD [COLUMN] col type, ..."""

    kind: str
    name: str
    added: tuple[TableElement, ...]


@dataclass(frozen=True)
class Terminate(Statement):
    query_id: str | None  # None means TERMINATE ALL


@dataclass(frozen=True)
class PauseResume(Statement):
    action: str  # PAUSE | RESUME
    query_id: str | None  # None means ALL


@dataclass(frozen=True)
class Show(Statement):
    """SHOW|LIST STREAMS|TABLES|QUERIES|TOPICS|PROPERTIES|FUNCTIONS|TYPES|VARIABLES."""

    what: str
    extended: bool = False
    all_topics: bool = False


@dataclass(frozen=True)
class Describe(Statement):
    """DESCRIBE name [EXTENDED]; DESCRIBE STREAMS|TABLES [EXTENDED] has name None and `what`."""

    name: str | None
    extended: bool = False
    what: str | None = None  # STREAMS | TABLES when describing all of them


@dataclass(frozen=True)
class DescribeFunction(Statement):
    name: str


@dataclass(frozen=True)
class Explain(Statement):
    """EXPLAIN <statement> or EXPLAIN <query id>."""

    statement: Statement | None = None
    query_id: str | None = None


@dataclass(frozen=True)
class Print(Statement):
    topic: str
    from_beginning: bool = False
    interval: int | None = None
    limit: int | None = None


@dataclass(frozen=True)
class SetProperty(Statement):
    name: str
    value: str


@dataclass(frozen=True)
class UnsetProperty(Statement):
    name: str


@dataclass(frozen=True)
class DefineVariable(Statement):
    name: str
    value: str


@dataclass(frozen=True)
class UndefineVariable(Statement):
    name: str


@dataclass(frozen=True)
class RunScript(Statement):
    path: str


@dataclass(frozen=True)
class CreateType(Statement):
    name: str
    type: TypeRef
    if_not_exists: bool = False


@dataclass(frozen=True)
class DropType(Statement):
    name: str
    if_exists: bool = False


@dataclass(frozen=True)
class CreateConnector(Statement):
    """CREATE SOURCE|SINK CONNECTOR [IF NOT EXISTS] name WITH (...): Kafka Connect's property
    names, as written (case kept)."""

    kind: str  # SOURCE | SINK
    name: str
    properties: dict[str, Literal]
    if_not_exists: bool = False


@dataclass(frozen=True)
class DropConnector(Statement):
    name: str
    if_exists: bool = False


@dataclass(frozen=True)
class DescribeConnector(Statement):
    name: str


@dataclass(frozen=True)
class AssertTopic(Statement):
    topic: str
    properties: dict[str, Literal] = field(default_factory=dict)
    exists: bool = True
    timeout: Duration | None = None


@dataclass(frozen=True)
class AssertSchema(Statement):
    subject: str | None = None
    schema_id: int | None = None
    exists: bool = True
    timeout: Duration | None = None
