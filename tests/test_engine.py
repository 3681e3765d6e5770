"""The engine end to end on the real embedded log: DDL, persistent queries, restarts, errors."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from sqlengine import results as R
from sqlengine.engine import Engine
from sqlengine.runtime import QueryFailure
from sqlengine.testing.compare import read_topic

ORDERS = (
    "CREATE STREAM orders (order_id INT KEY, customer_id INT, total_amount DOUBLE) "
    "WITH (kafka_topic='orders', value_format='JSON', partitions=1);"
)
BIG_ORDERS = (
    "CREATE STREAM big_orders AS SELECT order_id, customer_id, total_amount * 2 AS doubled "
    "FROM orders WHERE total_amount >= 1000;"
)


def _insert_orders(engine: Engine, start: int, count: int) -> None:
    for i in range(start, start + count):
        engine.execute(
            f"INSERT INTO orders (order_id, customer_id, total_amount) VALUES ({i}, {i % 7}, {i}.5);"
        )


def _values(engine: Engine, topic: str) -> list[dict]:
    return [orjson.loads(r.value) for r in read_topic(engine, topic)]


def test_csas_filters_and_projects(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(ORDERS + BIG_ORDERS)
    _insert_orders(engine, 999, 3)
    engine.run_until_idle()
    assert _values(engine, "BIG_ORDERS") == [
        {"CUSTOMER_ID": 1000 % 7, "DOUBLED": 2001.0},
        {"CUSTOMER_ID": 1001 % 7, "DOUBLED": 2003.0},
    ]
    rows = engine.execute("SELECT * FROM big_orders;")[0]
    assert isinstance(rows, R.Rows)
    assert [r[0] for r in rows.rows] == [1000, 1001]
    engine.close()


def test_restart_resumes_without_reemitting_or_skipping(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(ORDERS + BIG_ORDERS)
    _insert_orders(engine, 1000, 5)
    engine.run_until_idle()
    engine.close()

    engine = Engine(tmp_path)  # the catalog and the query come back from the command topic
    assert "BIG_ORDERS" in engine.catalog.sources
    assert list(engine.executor.running) == ["CSAS_BIG_ORDERS_0"]
    _insert_orders(engine, 2000, 5)
    engine.run_until_idle()
    keys = [int.from_bytes(r.key, "big", signed=True) for r in read_topic(engine, "BIG_ORDERS")]
    assert keys == [1000, 1001, 1002, 1003, 1004, 2000, 2001, 2002, 2003, 2004]
    engine.close()


def test_bad_record_goes_to_processing_log_and_query_keeps_running(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(ORDERS + BIG_ORDERS)
    engine.log.append_batch("orders", [b"1"], [b"{not json"], [0])
    _insert_orders(engine, 1000, 1)
    engine.run_until_idle()
    assert len(_values(engine, "BIG_ORDERS")) == 1
    assert [e.kind for e in engine.plog.entries] == ["DESERIALIZATION_ERROR"]
    engine.close()


def test_failing_expression_yields_null_and_logs(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(
        "CREATE STREAM nums (id INT KEY, a INT, b INT) WITH (kafka_topic='nums', value_format='JSON', partitions=1);"
        "CREATE STREAM ratios AS SELECT id, a / b AS q FROM nums;"
        "INSERT INTO nums (id, a, b) VALUES (1, 6, 0);"
        "INSERT INTO nums (id, a, b) VALUES (2, 6, 3);"
    )
    engine.run_until_idle()
    assert _values(engine, "RATIOS") == [{"Q": None}, {"Q": 2}]
    assert [e.kind for e in engine.plog.entries] == ["RECORD_PROCESSING_ERROR"]
    engine.close()


def test_statement_errors_name_statement_and_position(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(ORDERS)
    with pytest.raises(R.StatementError) as err:
        engine.execute("CREATE STREAM x AS SELECT order_id, nope FROM orders;")
    assert "NOPE" in err.value.message and "cannot be resolved" in err.value.message
    assert err.value.statement.startswith("CREATE STREAM x")
    with pytest.raises(R.StatementError) as err:
        engine.execute("SELECT * FROM orders\nWHERE WHERE;")
    assert err.value.line == 2
    engine.close()


def test_drop_and_terminate(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(ORDERS + BIG_ORDERS)
    with pytest.raises(R.StatementError, match="The following queries read from this source"):
        engine.execute("DROP STREAM orders;")
    engine.execute("TERMINATE CSAS_BIG_ORDERS_0;")
    engine.execute("DROP STREAM big_orders DELETE TOPIC;")
    engine.execute("DROP STREAM orders;")
    assert engine.catalog.sources == {}
    assert engine.log.topic("BIG_ORDERS") is None
    engine.close()
    assert Engine(tmp_path).catalog.sources == {}


def test_show_describe_explain(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(ORDERS + BIG_ORDERS)
    streams = engine.execute("SHOW STREAMS;")[0]
    assert isinstance(streams, R.SourceList)
    assert [s.name for s in streams.sources] == ["BIG_ORDERS", "ORDERS"]
    desc = engine.execute("DESCRIBE big_orders;")[0]
    assert isinstance(desc, R.SourceDescriptionResult)
    assert desc.columns[0] == ("ORDER_ID", "INT", "KEY")
    plan = engine.execute("EXPLAIN CSAS_BIG_ORDERS_0;")[0]
    assert isinstance(plan, R.ExplainResult)
    assert "FILTER" in plan.plan and "SOURCE stream ORDERS" in plan.plan
    topics = engine.execute("SHOW TOPICS;")[0]
    assert isinstance(topics, R.TopicList)
    assert [t for t, _ in topics.topics] == ["BIG_ORDERS", "orders"]
    engine.close()


def test_variables_and_run_script(tmp_path: Path) -> None:
    script = tmp_path / "script.sql"
    script.write_text(
        "CREATE STREAM ${name} (v STRING) WITH (kafka_topic='t', value_format='JSON', partitions=1);"
    )
    engine = Engine(tmp_path / "data")
    engine.execute("DEFINE name = 'scripted';")
    engine.execute(f"RUN SCRIPT '{script}';")
    assert "SCRIPTED" in engine.catalog.sources
    engine.close()


def _records(engine: Engine, topic: str) -> list[tuple[bytes | None, dict | None, int]]:
    return [
        (r.key, None if r.value is None else orjson.loads(r.value), r.timestamp)
        for r in read_topic(engine, topic)
    ]


def test_null_values_pass_a_projection_and_fail_a_stream_filter(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(
        "CREATE STREAM s (k STRING KEY, v INT) WITH (kafka_topic='s', format='JSON', partitions=1);"
        "CREATE STREAM projected AS SELECT k, v FROM s;"
        "CREATE STREAM filtered AS SELECT k, v FROM s WHERE v > 0;"
    )
    engine.log.append_batch("s", [b'"a"', b'"b"'], [b'{"V": 1}', None], [1, 2])
    engine.run_until_idle()
    assert _records(engine, "PROJECTED") == [(b'"a"', {"V": 1}, 1), (b'"b"', None, 2)]
    assert _records(engine, "FILTERED") == [(b'"a"', {"V": 1}, 1)]
    engine.close()


def test_table_filter_turns_rejected_rows_into_tombstones(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(
        "CREATE TABLE t (k STRING PRIMARY KEY, v INT) "
        "WITH (kafka_topic='t', format='JSON', partitions=1);"
        "CREATE TABLE big AS SELECT k, v FROM t WHERE v > 10;"
    )
    keys = [b'"a"', b'"b"', b'"a"', None]
    values = [b'{"V": 20}', b'{"V": 5}', None, b'{"V": 30}']
    engine.log.append_batch("t", keys, values, [1, 2, 3, 4])
    engine.run_until_idle()
    # The record without a key is dropped: a table row needs one.
    assert _records(engine, "BIG") == [
        (b'"a"', {"V": 20}, 1),
        (b'"b"', None, 2),
        (b'"a"', None, 3),
    ]
    engine.close()


def test_sink_timestamp_column_sets_record_time_and_drops_negative(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(
        "CREATE STREAM s (k STRING KEY, ts BIGINT) WITH (kafka_topic='s', format='JSON', partitions=1);"
        "CREATE STREAM stamped WITH (timestamp='ts') AS SELECT k, ts FROM s;"
        "INSERT INTO s (k, ts) VALUES ('a', 42);"
        "INSERT INTO s (k, ts) VALUES ('b', -2);"
    )
    engine.run_until_idle()
    assert _records(engine, "STAMPED") == [(b'"a"', {"TS": 42}, 42)]
    with pytest.raises(R.StatementError, match="Timestamp column, `V`, should be LONG"):
        engine.execute("CREATE STREAM bad WITH (timestamp='v') AS SELECT k, 1 AS v FROM s;")
    engine.close()


def test_invalid_source_timestamp_fails_query_when_configured(tmp_path: Path) -> None:
    engine = Engine(tmp_path, config={"ksql.timestamp.throw.on.invalid": "true"})
    engine.execute(
        "CREATE STREAM s (k STRING KEY, ts BIGINT) "
        "WITH (kafka_topic='s', format='JSON', partitions=1, timestamp='ts');"
        "CREATE STREAM copy AS SELECT * FROM s;"
        "INSERT INTO s (k, ts) VALUES ('a', -1);"
    )
    with pytest.raises(QueryFailure, match="TimestampExtractor"):
        engine.run_until_idle()
    assert engine.catalog.queries["CSAS_COPY_0"].state == "ERROR"
    assert engine.executor.running == {}
    engine.close()


def test_header_columns_are_read_in_schema_order(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(
        "CREATE STREAM s (k STRING KEY, h BYTES HEADER('x'), v INT, hs "
        "ARRAY<STRUCT<key STRING, value BYTES>> HEADERS) "
        "WITH (kafka_topic='s', value_format='JSON', partitions=1);"
        "CREATE STREAM out AS SELECT k, v, LEN(h) AS n, hs FROM s;"
    )
    engine.log.append_batch("s", [b"a"], [b'{"V": 7}'], [0], [(("x", b"\x01\x02"),)])
    engine.run_until_idle()
    assert _values(engine, "OUT") == [{"V": 7, "N": 2, "HS": [{"KEY": "x", "VALUE": "AQI="}]}]
    with pytest.raises(R.StatementError, match="Cannot insert into HEADER columns: H"):
        engine.execute("INSERT INTO s (k, h) VALUES ('a', NULL);")
    with pytest.raises(R.StatementError, match="Cannot insert into S because it has header"):
        engine.execute("INSERT INTO s SELECT * FROM s;")
    engine.close()


def test_source_streams_are_read_only(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(
        "CREATE SOURCE STREAM s (k STRING KEY, v INT) "
        "WITH (kafka_topic='s', value_format='JSON', partitions=1);"
    )
    failures = {
        "INSERT INTO s (k, v) VALUES ('a', 1);": "Cannot insert values into read-only stream: S",
        "DROP STREAM s DELETE TOPIC;": "Cannot delete topic for read-only source: S",
        "ALTER STREAM s ADD COLUMN w INT;": "ALTER operations are not supported on source",
        "CREATE OR REPLACE STREAM s (k STRING KEY) WITH (kafka_topic='s', format='JSON');": (
            "CREATE OR REPLACE is not supported on source streams"
        ),
    }
    for sql, message in failures.items():
        with pytest.raises(R.StatementError, match=message):
            engine.execute(sql)
    engine.close()


def test_alter_adds_value_columns(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(ORDERS + "ALTER STREAM orders ADD COLUMN note STRING;")
    assert engine.catalog.sources["ORDERS"].schema_text().endswith("NOTE STRING")
    with pytest.raises(R.StatementError, match="A column with the same name already exists"):
        engine.execute("ALTER STREAM orders ADD COLUMN note INT;")
    engine.execute(BIG_ORDERS)
    with pytest.raises(R.StatementError, match="not supported for CREATE ... AS statements"):
        engine.execute("ALTER STREAM big_orders ADD COLUMN x INT;")
    engine.close()


def test_insert_values_errors(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(ORDERS)
    failures = {
        "INSERT INTO orders (order_id, customer_id) VALUES (1);": (
            "Expected number columns and values to match: 2, 1"
        ),
        "INSERT INTO orders VALUES (1);": "Expected a value for each column",
        "INSERT INTO orders (order_id, ROWOFFSET) VALUES (1, 2);": (
            "Inserting into column `ROWOFFSET` is not allowed."
        ),
        "INSERT INTO orders (order_id, customer_id) VALUES (1, foo.bar);": (
            "'FOO' is not a valid stream/table name or alias."
        ),
        'INSERT INTO "orders" (order_id) VALUES (1);': "Did you mean ORDERS?",
    }
    for sql, message in failures.items():
        with pytest.raises(R.StatementError, match=message):
            engine.execute(sql)
    engine.close()


def test_a_failing_query_stops_alone_in_the_error_state(tmp_path: Path) -> None:
    engine = Engine(tmp_path, config={"ksql.streams.cache.max.bytes.buffering": "0"})
    engine.execute(
        "CREATE STREAM prices (id INT KEY, p DECIMAL(4, 1)) "
        "WITH (kafka_topic='prices', value_format='JSON', partitions=1);"
        "CREATE TABLE totals AS SELECT id, SUM(p) AS total FROM prices GROUP BY id;"
        "CREATE STREAM copies AS SELECT id, p FROM prices;"
    )
    engine.execute("INSERT INTO prices (id, p) VALUES (1, 600.0);")
    engine.run_until_idle()
    engine.execute("INSERT INTO prices (id, p) VALUES (1, 600.0);")  # SUM overflows DECIMAL(4,1)
    with pytest.raises(QueryFailure, match="Exception caught in process"):
        engine.run_until_idle()
    engine.execute("INSERT INTO prices (id, p) VALUES (2, 1.5);")
    engine.run_until_idle()  # the other query goes on; the failed one is no longer run
    states = {q.query_id: q.state for q in engine.catalog.queries.values()}
    assert states == {"CTAS_TOTALS_0": "ERROR", "CSAS_COPIES_1": "RUNNING"}
    assert len(read_topic(engine, "COPIES")) == 3
    assert len(read_topic(engine, "TOTALS")) == 1
    engine.close()


def test_custom_types_nest_inside_struct_array_and_map(tmp_path: Path) -> None:
    """ksqlDB's CREATE TYPE example: a custom type used as a STRUCT field's type (and an
    ARRAY's element, a MAP's value) is replaced by its definition; an unknown one is named."""
    engine = Engine(tmp_path)
    engine.execute(
        "CREATE TYPE ADDRESS AS STRUCT<number INTEGER, street VARCHAR>;"
        "CREATE STREAM people (id INT KEY, home STRUCT<addr ADDRESS>, past ARRAY<ADDRESS>, "
        "named MAP<STRING, ADDRESS>) WITH (kafka_topic='p', value_format='JSON', partitions=1);"
    )
    address = "STRUCT<NUMBER INT, STREET STRING>"
    people = engine.catalog.source("PEOPLE")
    assert [str(c.type) for c in people.value_columns] == [
        f"STRUCT<ADDR {address}>",
        f"ARRAY<{address}>",
        f"MAP<STRING, {address}>",
    ]
    with pytest.raises(R.StatementError, match="Unknown type: NOWHERE"):
        engine.execute(
            "CREATE STREAM q (id INT KEY, x STRUCT<a NOWHERE>) "
            "WITH (kafka_topic='q', value_format='JSON', partitions=1);"
        )
    engine.close()
