"""Checking a QTT case's expectations: output records per topic, and `post` conditions."""

from __future__ import annotations

import base64
import json
import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson

from grammar import ast
from grammar.parser import ParseError, parse
from sqlengine import serde, types
from sqlengine.catalog import DataSource
from sqlengine.log.base import Record
from sqlengine.schema_registry import SchemaRegistry
from sqlengine.sink import format_info
from sqlengine.testing.cases import read_corpus_json
from sqlengine.windowed_keys import split_windowed_key

if TYPE_CHECKING:
    from sqlengine.engine import Engine


class CaseFailure(Exception):
    pass


def _source_for_topic(engine: Engine, topic: str) -> DataSource | None:
    """The source whose schema reads a topic: a query's sink if there is one, else the first."""
    found = None
    for source in engine.catalog.sources.values():
        if source.topic == topic:
            if source.created_by_query is not None:
                return source
            found = found or source
    return found


def read_topic(engine: Engine, topic: str) -> list[Record]:
    info = engine.log.topic(topic)
    if info is None:
        return []
    records: list[Record] = []
    for p in range(info.partitions):
        offset = 0
        while True:
            batch = engine.log.read(topic, p, offset)
            if not len(batch):
                break
            records.extend(batch.records())
            offset = batch.next_offset
    return records


def _decode_schema_format(
    source: DataSource, raw: bytes, registry: SchemaRegistry | None, *, is_key: bool
) -> Any:
    """A schema format's record as the JSON-like value its writer schema decodes."""
    fmt = source.key_format if is_key else source.value_format
    cols = [(c.name, c.type) for c in (source.key_columns if is_key else source.value_columns)]
    decoded = serde.schema_decoder(format_info(fmt), cols, is_key=is_key, registry=registry)(raw)
    if isinstance(decoded, dict):
        return _doubles_as_floats(decoded, types.Struct([types.Field(n, t) for n, t in cols]))
    return _doubles_as_floats(decoded, cols[0][1]) if len(cols) == 1 else decoded


def _doubles_as_floats(value: Any, sql_type: types.SqlType) -> Any:
    """A schema format's record with its DOUBLEs as floats, as upstream reads them through
    the schema (JSON_SR's text numbers too): compared by value, not by how they were written."""
    if value is None:
        return None
    if sql_type.base is types.Base.DOUBLE:
        return float(value) if isinstance(value, Decimal | int) else value
    if isinstance(sql_type, types.Array) and isinstance(value, list):
        return [_doubles_as_floats(v, sql_type.element) for v in value]
    if isinstance(sql_type, types.Map) and isinstance(value, dict):
        return {k: _doubles_as_floats(v, sql_type.value) for k, v in value.items()}
    if isinstance(sql_type, types.Struct) and isinstance(value, dict):
        by_name = {f.name.upper(): f.type for f in sql_type.fields}
        return {
            k: _doubles_as_floats(v, by_name[k.upper()]) if k.upper() in by_name else v
            for k, v in value.items()
        }
    return value


def _decode_key(
    source: DataSource | None, raw: bytes | None, registry: SchemaRegistry | None = None
) -> Any:
    if raw is None:
        return None
    if source is not None and source.key_format.name in serde.SCHEMA_FORMATS:
        return _decode_schema_format(source, raw, registry, is_key=True)
    if source is None or source.key_format.name == "JSON":
        return _json_exact(raw)
    if source.key_format.name == "DELIMITED":
        return raw.decode()
    cols = [(c.name, c.type) for c in source.key_columns]
    if not cols:
        return raw.decode(errors="replace")
    values = serde.make_deserializer(format_info(source.key_format), cols, is_key=True)(raw)
    if values is None:
        return None
    if len(cols) == 1:
        return serde.value_to_json(values[0], cols[0][1])
    return {n: serde.value_to_json(v, t) for (n, t), v in zip(cols, values, strict=True)}


def _split_window(
    source: DataSource | None, raw: bytes | None
) -> tuple[bytes | None, dict[str, Any] | None]:
    """A windowed key's inner bytes and its window as the corpus writes it."""
    if raw is None or source is None or source.window is None:
        return raw, None
    session = source.window.kind == "SESSION"
    inner, start, end = split_windowed_key(raw, session, source.window.size_ms)
    return inner, {"start": start, "end": end, "type": "session" if session else "time"}


def _decode_value(
    source: DataSource | None, raw: bytes | None, registry: SchemaRegistry | None = None
) -> Any:
    if raw is None:
        return None
    if source is not None and source.value_format.name in serde.SCHEMA_FORMATS:
        return _decode_schema_format(source, raw, registry, is_key=False)
    if source is None or source.value_format.name == "JSON":
        return _json_exact(raw)
    if source.value_format.name == "DELIMITED":
        return raw.decode()
    cols = [(c.name, c.type) for c in source.value_columns]
    if len(cols) == 1 and source.value_format.name == "KAFKA":
        values = serde.make_deserializer(
            format_info(source.value_format), cols, is_key=False, wrap_single=False
        )(raw)
        return None if values is None else serde.value_to_json(values[0], cols[0][1])
    return raw.decode(errors="replace")


def _json_exact(raw: bytes) -> Any:
    """A JSON record with its numbers as written: a DECIMAL keeps its scale (3.40), a DOUBLE
    its text (1.0E12), as upstream reads a record with BigDecimal for floats."""
    return read_corpus_json(raw)


def _same_number(expected: int | float | Decimal, actual: int | float | Decimal) -> bool:
    """A number as upstream's comparator checks it against the record's: an INT or BIGINT
    and a DOUBLE decoded from a schema format by value; a number read from JSON text (a
    DECIMAL, or a DOUBLE as Java prints it: 1.0E12) or a DECIMAL by value and scale, where
    an integer written in the corpus matches only a number with no decimal places."""
    if isinstance(expected, float):
        expected = Decimal(repr(expected))
    if isinstance(actual, float):
        return float(expected) == actual
    if isinstance(actual, int):
        return expected == actual
    exponent = actual.as_tuple().exponent
    if isinstance(expected, int):
        return isinstance(exponent, int) and exponent >= 0 and expected == actual
    return expected == actual and expected.as_tuple().exponent == exponent


def _same(expected: Any, actual: Any) -> bool:
    """JSON equality with numbers compared as upstream does (`_same_number`)."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual or expected == actual and type(expected) is type(actual)
    if isinstance(expected, str) and isinstance(actual, Decimal):
        # The corpus writes decimals as their text: equal by value and scale, as BigDecimal.
        try:
            written = Decimal(expected)
        except ArithmeticError:
            return False
        return written == actual and written.as_tuple().exponent == actual.as_tuple().exponent
    if isinstance(expected, int | float | Decimal) and isinstance(actual, int | float | Decimal):
        return _same_number(expected, actual)
    if isinstance(expected, dict) and isinstance(actual, dict):
        # As upstream's comparator: an expected field missing (or NULL) under its own name is
        # looked up upper-cased.
        return len(expected) == len(actual) and all(
            _same(v, actual.get(k) if actual.get(k) is not None else actual.get(k.upper()))
            for k, v in expected.items()
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            _same(e, a) for e, a in zip(expected, actual, strict=True)
        )
    return expected == actual


def _shown(value: Any) -> str:
    return orjson.dumps(_plain(value), default=str).decode()


def _plain(value: Any) -> Any:
    """`value` with its Decimals as JSON numbers, for messages."""
    if isinstance(value, Decimal):
        return (
            int(value)
            if value == value.to_integral_value() and "." not in str(value)
            else float(value)
        )
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def compare_outputs(engine: Engine, outputs: list[dict[str, Any]]) -> None:
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for out in outputs:
        by_topic.setdefault(out["topic"], []).append(out)
    for topic, expected in by_topic.items():
        source = _source_for_topic(engine, topic)
        registry = engine.schema_registry
        actual = read_topic(engine, topic)
        for i, exp in enumerate(expected):
            if i >= len(actual):
                raise CaseFailure(
                    f"topic {topic}: expected {len(expected)} records, got {len(actual)}; "
                    f"missing #{i}: key={exp.get('key')!r} value={exp.get('value')!r}"
                )
            rec = actual[i]
            raw_key, window = _split_window(source, rec.key)
            key = _decode_key(source, raw_key, registry)
            value = _decode_value(source, rec.value, registry)
            problems = []
            # As upstream: a windowed record must state its window, an unwindowed one none.
            if exp.get("window") != window:
                problems.append(f"window {exp.get('window')!r} != {window!r}")
            if not _same(exp.get("key"), key):
                problems.append(f"key {exp.get('key')!r} != {key!r}")
            if not _same(exp.get("value"), value):
                problems.append(f"value {exp.get('value')!r} != {value!r}")
            if "timestamp" in exp and exp["timestamp"] != rec.timestamp:
                problems.append(f"timestamp {exp['timestamp']} != {rec.timestamp}")
            # A record with no headers listed must have none.
            got = [
                {"KEY": k, "VALUE": None if v is None else base64.b64encode(v).decode()}
                for k, v in rec.headers
            ]
            if got != exp.get("headers", []):
                problems.append(f"headers {exp.get('headers', [])!r} != {got!r}")
            if problems:
                # ksqlDB's test runner's words, then what differs.
                raise CaseFailure(
                    f"Topic '{topic}', message {i}: Expected <{_shown(exp.get('key'))}, "
                    f"{_shown(exp.get('value'))}> with timestamp={exp.get('timestamp')} but was "
                    f"<{_shown(key)}, {_shown(value)}> with timestamp={rec.timestamp} ("
                    + "; ".join(problems)
                    + ")"
                )
        if len(actual) > len(expected):
            extra = actual[len(expected)]
            raise CaseFailure(
                f"topic {topic}: expected {len(expected)} records, got {len(actual)}; first extra: "
                f"key={_decode_key(source, extra.key, registry)!r} "
                f"value={_decode_value(source, extra.value, registry)!r}"
            )


def _normalized_schema(text: str) -> list[tuple[str, str, str | None]]:
    """Parse `A INT KEY, B STRING` into comparable (name, type, constraint) triples; a key
    may be written KEY or PRIMARY KEY (the corpus prints either for tables)."""
    try:
        stmt = parse(f"CREATE STREAM X ({text}) WITH (kafka_topic='x', value_format='J');")[0]
    except ParseError:
        stmt = parse(f"CREATE TABLE X ({text}) WITH (kafka_topic='x', value_format='J');")[0]
    assert isinstance(stmt, ast.CreateSource)
    out = []
    for e in stmt.elements:
        constraint = "KEY" if e.constraint in ("KEY", "PRIMARY KEY") else e.constraint
        out.append((e.name, str(e.type.sql_type or e.type.custom_name), constraint))
    return out


def _check_topic_formats(engine: Engine, exp: dict[str, Any]) -> None:
    """A `post` topic's key and value formats (name and features) as the source over the
    topic has them, and the schemas registered for it, as upstream checks them."""
    source = _source_for_topic(engine, exp["name"])
    for side, is_key in (("key", True), ("value", False)):
        want = exp.get(f"{side}Format")
        if want is not None and source is not None:
            fmt = source.key_format if is_key else source.value_format
            features = source.key_features if is_key else source.value_features
            name = want.get("format") if isinstance(want, dict) else want
            if name is not None and name.upper() != fmt.name:
                raise CaseFailure(f"post: topic {exp['name']} {side} format {fmt.name} != {name}")
            wanted = sorted(want.get("features", [])) if isinstance(want, dict) else []
            if wanted != sorted(features):
                raise CaseFailure(
                    f"post: topic {exp['name']} {side} features {features} != {wanted}"
                )
        schema = exp.get(f"{side}Schema")
        if schema is not None:
            registered = engine.schema_registry.latest(f"{exp['name']}-{side}")
            if registered is None or not _same_schema(schema, registered.schema):
                shown = None if registered is None else registered.schema
                raise CaseFailure(
                    f"post: topic {exp['name']} {side} schema {shown!r} != {schema!r}"
                )


def _same_schema(expected: Any, registered: str) -> bool:
    """A registered schema against the corpus's: JSON schemas (AVRO, JSON_SR) as parsed
    JSON, PROTOBUF as text with blank lines and surrounding spaces ignored."""
    if isinstance(expected, dict | list):
        try:
            return read_corpus_json(registered) == expected
        except json.JSONDecodeError:
            return False

    def lines(text: str) -> list[str]:
        return [line.strip() for line in text.strip().splitlines() if line.strip()]

    return lines(str(expected)) == lines(registered)


def check_post(
    engine: Engine, post: dict[str, Any] | None, partitions: dict[str, int] | None = None
) -> None:
    """A case's `post` conditions; `partitions`: a topic's partition count as upstream's test
    harness reports it, where it differs from the topic's own."""
    if not post:
        return
    for exp in post.get("sources", []):
        source = engine.catalog.source(exp["name"])
        if source is None:
            raise CaseFailure(f"post: source {exp['name']} does not exist")
        if "type" in exp and exp["type"].upper() != source.kind:
            raise CaseFailure(f"post: {source.name} is a {source.kind}, expected {exp['type']}")
        if "schema" in exp:
            want = _normalized_schema(exp["schema"])  # in column order, as upstream
            got = _normalized_schema(source.schema_text())
            if want != got:
                raise CaseFailure(
                    f"post: {source.name} schema {source.schema_text()!r} != {exp['schema']!r}"
                )
        if "isSource" in exp and exp["isSource"] != source.is_source:
            raise CaseFailure(f"post: {source.name} isSource is {source.is_source}")
        for side, features in (
            ("keyFeatures", source.key_features),
            ("valueFeatures", source.value_features),
        ):
            if side in exp and sorted(exp[side]) != features:
                raise CaseFailure(f"post: {source.name} {side} {features} != {exp[side]}")
        for side, fmt in (("keyFormat", source.key_format), ("valueFormat", source.value_format)):
            # Written as the format's name, or as {"format": name, "properties": {...}}.
            want = exp.get(side)
            name = want.get("format") if isinstance(want, dict) else want
            if name is not None and name.upper() != fmt.name:
                raise CaseFailure(f"post: {source.name} {side} {fmt.name} != {want}")
    topics = post.get("topics") or {}
    names = {t.name: t for t in engine.log.topics()}
    for exp in topics.get("topics", []):
        info = names.get(exp["name"])
        if info is None:
            raise CaseFailure(f"post: topic {exp['name']} does not exist")
        count = (partitions or {}).get(info.name, info.partitions)
        if "partitions" in exp and exp["partitions"] != count:
            raise CaseFailure(
                f"post: topic {exp['name']} has {count} partitions, expected {exp['partitions']}"
            )
        _check_topic_formats(engine, exp)
    blacklist = topics.get("blacklist")
    if blacklist:
        for name in names:
            if re.fullmatch(blacklist, name):
                raise CaseFailure(f"post: topic {name} matches blacklist {blacklist}")
