"""Name resolution: the columns an expression can read, and where each sits in the row
(`source_scope`: a source's rows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grammar import ast
from planner.errors import ENGINE_PREPARING, PlanError
from sqlengine import catalog as C
from sqlengine import types as T


@dataclass(frozen=True)
class Column:
    """A readable column. `index` is its position in the row tuple; `source` the alias or
    stream/table name that qualifies it (None for columns of a single unnamed input)."""

    name: str
    type: T.SqlType
    index: int
    source: str | None = None


class Scope:
    def __init__(self, columns: Sequence[Column]) -> None:
        self.columns: list[Column] = list(columns)
        self._by_name: dict[str, list[Column]] = {}
        for c in self.columns:
            self._by_name.setdefault(c.name, []).append(c)

    def resolve(self, name: str, source: str | None = None) -> Column:
        candidates = self._by_name.get(name, [])
        if source is not None:
            candidates = [c for c in candidates if c.source == source]
        elif len(candidates) > 1:
            # An input's own (unqualified) column wins over its sources' columns of the same
            # name: a join's ROWTIME is its result's time.
            candidates = [c for c in candidates if c.source is None] or candidates
        if not candidates:
            shown = name if source is None else f"{source}.{name}"
            raise PlanError(f"column '{shown}' cannot be resolved.", "column")
        if len(candidates) > 1:
            options = " or ".join(f"{c.source}.{c.name}" for c in candidates)
            raise PlanError(
                f"Column '{name}' is ambiguous. Could be {options}.",
                "plain",
                preparing=ENGINE_PREPARING,
            )
        return candidates[0]

    def resolve_ref(self, ref: ast.ColumnRef) -> Column:
        """`resolve` of a column reference; an error is located at the reference."""
        try:
            return self.resolve(ref.name, ref.source)
        except PlanError as exc:
            raise exc.located(ref.line, ref.column) from None


def source_scope(source: C.DataSource, alias: str) -> Scope:
    """Columns of a source as rows carry them: ROWTIME, ROWPARTITION, ROWOFFSET, then keys,
    then values and header columns in schema order, then the record's headers as read (carried
    to the sink, as Kafka Streams forwards headers; its name is not a valid identifier). A
    windowed source's rows carry their window's bounds before the headers."""
    cols = [Column(name, t, i, alias) for i, (name, t) in enumerate(C.PSEUDO_COLUMNS)]
    base = len(cols)
    cols += [Column(c.name, c.type, base + i, alias) for i, c in enumerate(source.columns)]
    if source.window is not None:
        n = len(cols)
        cols += [
            Column(C.WINDOWSTART, T.BIGINT, n, alias),
            Column(C.WINDOWEND, T.BIGINT, n + 1, alias),
        ]
    cols.append(Column(C.RAW_HEADERS, C.HEADERS_TYPE, len(cols), alias))
    return Scope(cols)
