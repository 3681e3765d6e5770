"""The logical plan: what a query computes, independent of how operators run it.

Each node states its output schema as `Scope` columns (name, type, row index). Rows flowing
out of every node share one layout: index 0 is ROWTIME, then the node's key columns, then
its value columns. Source nodes also carry ROWPARTITION and ROWOFFSET (indexes 1 and 2).
EXPLAIN prints the tree with `explain()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from grammar import ast
from grammar.printer import format_expr
from planner.scope import Column
from sqlengine.catalog import DataSource, Format, WindowInfo

if TYPE_CHECKING:
    from planner.aggregation import AggregationPlan


@dataclass
class PlanNode:
    columns: list[Column]  # the columns the next node can refer to
    key_names: list[str] = field(default_factory=list)

    def children(self) -> list[PlanNode]:
        return []

    def describe(self) -> str:
        return type(self).__name__

    def explain(self, depth: int = 0) -> str:
        schema = ", ".join(
            f"{c.name} {c.type}{' KEY' if c.name in self.key_names else ''}"
            for c in self.columns
            if c.index > 0
        )
        line = f"{'  ' * depth}> [ {self.describe()} ] | Schema: {schema}"
        return "\n".join([line] + [child.explain(depth + 1) for child in self.children()])


@dataclass
class SourceNode(PlanNode):
    source: DataSource | None = None
    alias: str = ""

    def describe(self) -> str:
        assert self.source is not None
        return f"SOURCE {self.source.kind.lower()} {self.source.name} AS {self.alias}"


@dataclass
class FilterNode(PlanNode):
    input: PlanNode | None = None
    predicate: ast.Expr | None = None

    def children(self) -> list[PlanNode]:
        return [self.input] if self.input else []

    def describe(self) -> str:
        assert self.predicate is not None
        return f"FILTER {format_expr(self.predicate)}"


@dataclass
class AggregateNode(PlanNode):
    """GROUP BY [WINDOW]: rows out are (ROWTIME, keys..., results..., [WINDOWSTART, WINDOWEND])."""

    input: PlanNode | None = None
    aggregation: AggregationPlan | None = None

    def children(self) -> list[PlanNode]:
        return [self.input] if self.input else []

    def describe(self) -> str:
        assert self.aggregation is not None
        agg = self.aggregation
        keys = ", ".join(format_expr(k.expr) for k in agg.keys)
        calls = ", ".join(format_expr(c.call) for c in agg.calls)
        window = f" WINDOW {agg.window.kind}" if agg.window is not None else ""
        return f"AGGREGATE {calls} GROUP BY {keys}{window}"


@dataclass
class ProjectNode(PlanNode):
    """Computes the output key and value columns. `exprs` are in output order (keys first)."""

    input: PlanNode | None = None
    exprs: list[ast.Expr] = field(default_factory=list)

    def children(self) -> list[PlanNode]:
        return [self.input] if self.input else []

    def describe(self) -> str:
        return "PROJECT"


@dataclass
class SinkSpec:
    name: str
    kind: str  # STREAM | TABLE
    topic: str
    key_format: Format
    value_format: Format
    partitions: int
    wrap_single_value: bool | None = None
    timestamp_column: str | None = None
    timestamp_format: str | None = None
    window: WindowInfo | None = None

    @property
    def session_windows(self) -> bool:
        return self.window is not None and self.window.kind == "SESSION"


@dataclass
class SinkNode(PlanNode):
    input: PlanNode | None = None
    sink: SinkSpec | None = None

    def children(self) -> list[PlanNode]:
        return [self.input] if self.input else []

    def describe(self) -> str:
        assert self.sink is not None
        return f"SINK {self.sink.kind.lower()} {self.sink.name} -> topic {self.sink.topic}"


@dataclass
class JoinNode(PlanNode):
    """Joins the result of `left` with the source `right` (n-way joins are left-deep)."""

    left: PlanNode | None = None
    right: PlanNode | None = None
    kind: str = "INNER"  # INNER | LEFT | RIGHT | FULL
    shape: str = ""  # STREAM_STREAM | STREAM_TABLE | TABLE_TABLE | FOREIGN_KEY
    criteria: str = ""

    def children(self) -> list[PlanNode]:
        return [n for n in (self.left, self.right) if n is not None]

    def describe(self) -> str:
        return f"JOIN {self.kind} {self.shape.lower().replace('_', '-')} ON {self.criteria}"
