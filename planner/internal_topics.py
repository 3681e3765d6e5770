"""A join's internal topics as ksqlDB creates them: which sides it repartitions, in which key
format, and the names Kafka Streams gives the repartition topics and the changelogs of the
state stores.

The join's key format (ksqlDB's KLIP-33): the format the left side prefers, else the right
side's. A side that must be re-keyed (not keyed by its join expression) prefers none, a
nested join prefers its own join's format, a source its key format. When neither side has a
preference: the key format of the first source that has a key (not NONE), else the default
key format (ksql.persistence.default.format.key).

A side is then repartitioned into the join's key format when it must be re-keyed, when that
format's schemas come from Schema Registry (AVRO, PROTOBUF, JSON_SR: two topics' key schema
ids differ, so equal keys would not be equal bytes), or when its source's key format (format,
properties, features, window) differs. A nested join a side need not repartition takes the
join's format; otherwise it resolves its own. A foreign-key join repartitions its right
table only when that table's key format is a Schema Registry one, into the left table's key
format.

Names: the last join's operators are named `Join` (`LeftSourceKeyed`, `RightSourceKeyed`,
`KafkaTopic_Left`, `KafkaTopic_Right` for its sides), each nested join's with one more `L_`.
A stream side re-keyed for a stream-stream join is written to `Join-left-repartition` or
`Join-right-repartition`, for a stream-table join to `Join-repartition`; a re-keyed table to
`<side>SourceKeyed-SelectKey-repartition` and materialized in
`<side>SourceKeyed-Materialize-changelog`; a joined table source is materialized in
`KafkaTopic_<side>-Reduce-changelog`. A stream-stream join's two window stores are named by
Kafka Streams' processor counter (`KSTREAM-JOINTHIS-0000000008-store`): the counter advances
as the topology is built, by the processors each operator adds (the costs below), a
stream-table join building its table side first.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.joins import JoinPlan, JoinSource, JoinStep
from planner.typing import infer_type
from sqlengine import catalog as C
from sqlengine import types as T

SCHEMA_REGISTRY_FORMATS = frozenset({"AVRO", "PROTOBUF", "JSON_SR"})
DEFAULT_KEY_FORMAT_CONFIG = "ksql.persistence.default.format.key"

# Kafka Streams processor names a ksqlDB operator takes from the topology's counter.
_SOURCE_NAMES = {"STREAM": 4, "TABLE": 8}
_REPARTITION_NAMES = {"STREAM": 4, "TABLE": 4}
_STREAM_STREAM_JOIN_NAMES = 4  # the two window stores' processors, then two more
_JOIN_NAMES = 2  # a stream-table or table-table join


@dataclass(frozen=True)
class KeyFormat:
    """A key format as ksqlDB compares them: format with properties, features, window."""

    format: C.Format
    features: tuple[str, ...] = ()
    window: C.WindowInfo | None = None

    @property
    def schema_registry(self) -> bool:
        return self.format.name in SCHEMA_REGISTRY_FORMATS


@dataclass(frozen=True)
class InternalTopic:
    """One internal topic of a query, named after the query's topic prefix."""

    name: str
    key_format: KeyFormat
    key_type: T.SqlType  # of the join key, its only key column
    value_format: C.Format
    source: C.DataSource  # whose topic's partitions it has
    changelog: bool  # a state store's (compacted), else a repartition topic


def source_key_format(source: C.DataSource) -> KeyFormat:
    return KeyFormat(source.key_format, tuple(source.key_features), source.window)


class _Resolver:
    """Resolves the key formats of a join plan's steps as ksqlDB's join nodes do, noting
    each side it repartitions (step index, 'left' | 'right') and the format it writes."""

    def __init__(self, jp: JoinPlan, default_key_format: str) -> None:
        self.jp = jp
        self.default = KeyFormat(C.Format(default_key_format.upper()))
        self.repartitioned: dict[tuple[int, str], KeyFormat] = {}

    def _sides(self, k: int) -> list[tuple[str, bool, int | None, JoinSource]]:
        """(side, re-keyed, nested step, leftmost source) of step k (0-based)."""
        step = self.jp.steps[k]
        nested = k - 1 if k > 0 else None
        left_source = self.jp.sources[0]
        right_source = self.jp.sources[step.right]
        return [
            ("left", not step.left_keyed, nested, left_source),
            ("right", not step.right_keyed, None, right_source),
        ]

    def preferred(self, k: int) -> KeyFormat | None:
        for _, rekeyed, nested, js in self._sides(k):
            if rekeyed:
                continue
            return self.preferred(nested) if nested is not None else source_key_format(js.source)
        return None

    def resolve(self, k: int) -> None:
        step = self.jp.steps[k]
        if step.shape == "FOREIGN_KEY":
            right = self.jp.sources[step.right].source
            if right.key_format.name in SCHEMA_REGISTRY_FORMATS:
                self.repartitioned[(k, "right")] = source_key_format(self.jp.sources[0].source)
            return
        self.set_format(k, self.preferred(k) or self._default(k))

    def _default(self, k: int) -> KeyFormat:
        for js in self.jp.sources[: self.jp.steps[k].right + 1]:
            if js.source.key_format.name != "NONE":
                return source_key_format(js.source)
        return self.default

    def set_format(self, k: int, fmt: KeyFormat) -> None:
        for side, rekeyed, nested, js in self._sides(k):
            if rekeyed or fmt.schema_registry:
                self.repartitioned[(k, side)] = fmt
                if nested is not None:
                    self.resolve(nested)
            elif nested is not None:
                preferred = self.preferred(nested)
                if preferred is None or preferred == fmt:
                    self.set_format(nested, fmt)
                else:
                    self.repartitioned[(k, side)] = fmt
                    self.resolve(nested)
            elif fmt != source_key_format(js.source):
                self.repartitioned[(k, side)] = fmt


def join_internal_topics(jp: JoinPlan, config: dict[str, str]) -> list[InternalTopic]:
    """The internal topics ksqlDB creates for a query's joins, in topology order."""
    resolver = _Resolver(jp, config.get(DEFAULT_KEY_FORMAT_CONFIG, "KAFKA"))
    resolver.resolve(len(jp.steps) - 1)
    return _Namer(jp, resolver.repartitioned).topics()


class _Namer:
    def __init__(self, jp: JoinPlan, repartitioned: dict[tuple[int, str], KeyFormat]) -> None:
        self.jp = jp
        self.repartitioned = repartitioned
        self.counter = 0
        self.out: list[InternalTopic] = []

    def topics(self) -> list[InternalTopic]:
        self._build(len(self.jp.steps) - 1)
        return self.out

    def _add(self, name: str, fmt: KeyFormat, js: JoinSource, *, changelog: bool, k: int) -> None:
        key_type = infer_type(self.jp.steps[k].right_expr, self.jp.body_scope) or T.STRING
        topic = InternalTopic(name, fmt, key_type, js.source.value_format, js.source, changelog)
        self.out.append(topic)

    def _build(self, k: int) -> None:
        step = self.jp.steps[k]
        prefix = "L_" * (len(self.jp.steps) - 1 - k)
        if step.shape == "STREAM_TABLE":
            self._side(k, step, "right", prefix)
            self._side(k, step, "left", prefix)
            self.counter += _JOIN_NAMES
            return
        self._side(k, step, "left", prefix)
        self._side(k, step, "right", prefix)
        if step.shape != "STREAM_STREAM":
            self.counter += _JOIN_NAMES
            return
        this = "OUTERTHIS" if step.kind in ("RIGHT", "FULL") else "JOINTHIS"
        other = "OUTEROTHER" if step.kind in ("LEFT", "FULL") else "JOINOTHER"
        fmt = self._join_format(k)
        for offset, (name, side) in enumerate(((this, 0), (other, step.right))):
            store = f"KSTREAM-{name}-{self.counter + offset:010d}-store-changelog"
            self._add(store, fmt, self.jp.sources[side], changelog=True, k=k)
        self.counter += _STREAM_STREAM_JOIN_NAMES

    def _join_format(self, k: int) -> KeyFormat:
        """The key format of step k's stores: a repartitioned side's, else the left source's."""
        for side in ("left", "right"):
            if (k, side) in self.repartitioned:
                return self.repartitioned[(k, side)]
        return source_key_format(self.jp.sources[0].source)

    def _side(self, k: int, step: JoinStep, side: str, prefix: str) -> None:
        js = self.jp.sources[0] if side == "left" else self.jp.sources[step.right]
        kind = js.source.kind if side == "right" or k == 0 else self.jp.steps[k - 1].result_kind
        if side == "left" and k > 0:
            self._build(k - 1)
        else:
            self.counter += _SOURCE_NAMES[js.source.kind]
        fmt = self.repartitioned.get((k, side))
        capital = side.capitalize()
        if kind == "TABLE":
            source_fmt = source_key_format(js.source)
            if not (side == "left" and k > 0):
                reduce = f"{prefix}KafkaTopic_{capital}-Reduce-changelog"
                self._add(reduce, source_fmt, js, changelog=True, k=k)
            if fmt is not None:
                keyed = f"{prefix}{capital}SourceKeyed"
                self._add(f"{keyed}-SelectKey-repartition", fmt, js, changelog=False, k=k)
                self._add(f"{keyed}-Materialize-changelog", fmt, js, changelog=True, k=k)
                self.counter += _REPARTITION_NAMES["TABLE"]
            return
        if fmt is not None:
            suffix = f"-{side}" if step.shape == "STREAM_STREAM" else ""
            self._add(f"{prefix}Join{suffix}-repartition", fmt, js, changelog=False, k=k)
            self.counter += _REPARTITION_NAMES["STREAM"]
