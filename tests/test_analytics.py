"""Analytical pull queries on DuckDB, checked against expectations computed here in Python
over the same inserted rows: aggregates, GROUP BY with NULL keys, joins with missing keys,
ORDER BY with NULLs and ties, DECIMAL and TIMESTAMP columns, windowed tables; ksqlDB's
refusals with the switch off and for persistent queries; the REST API over a real server."""

from __future__ import annotations

import datetime
import random
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from ksqldb import KSQLdbClient

from server.serve import background_server
from sqlengine.engine import Engine
from sqlengine.results import StatementError
from tests.test_server import TIMEOUT, answering

EPOCH_SECONDS = 1_700_000_000
WINDOW_MS = 60_000
CUSTOMERS = {"a": "Alice", "b": "Bob", "d": "Dora"}  # "c" and NULL have no customer row


def _orders(count: int) -> list[dict[str, Any]]:
    """Deterministic orders: some NULL customers, quantities and amounts; repeated values
    (ties) in every column ORDER BY uses."""
    rng = random.Random(11)
    rows = []
    for i in range(count):
        rows.append(
            {
                "ID": i,
                "CUST": rng.choice(["a", "b", "c", None]),
                "QTY": rng.choice([None, 1, 2, 3, 5, 8]),
                "AMOUNT": rng.choice([None, Decimal("1.50"), Decimal("2.25"), Decimal("10.05")]),
                "TS": (EPOCH_SECONDS + rng.randrange(0, 300)) * 1000,
            }
        )
    return rows


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    return f"'{value}'" if isinstance(value, str) else str(value)


def _timestamp(ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    return "'" + moment.strftime("%Y-%m-%dT%H:%M:%S") + "'"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, list[dict]]]:
    engine = Engine(tmp_path_factory.mktemp("analytics"))
    rows = _orders(120)
    script = [
        "CREATE STREAM orders (id INT KEY, cust STRING, qty INT, amount DECIMAL(10, 2), "
        "ts TIMESTAMP) WITH (kafka_topic='orders', value_format='JSON', partitions=2, "
        "timestamp='ts');",
        "CREATE TABLE customers (cust STRING PRIMARY KEY, name STRING) "
        "WITH (kafka_topic='customers', value_format='JSON', partitions=1);",
        "CREATE TABLE per_cust AS SELECT cust, COUNT(*) AS n, SUM(qty) AS qty "
        "FROM orders WHERE cust IS NOT NULL GROUP BY cust;",
        "CREATE TABLE names AS SELECT * FROM customers;",
        "CREATE TABLE per_minute AS SELECT cust, COUNT(*) AS n FROM orders "
        "WINDOW TUMBLING (SIZE 60 SECONDS) WHERE cust IS NOT NULL GROUP BY cust;",
    ]
    script += [
        f"INSERT INTO orders (id, cust, qty, amount, ts) VALUES ({r['ID']}, "
        f"{_literal(r['CUST'])}, {_literal(r['QTY'])}, {_literal(r['AMOUNT'])}, "
        f"{_timestamp(r['TS'])});"
        for r in rows
    ]
    script += [
        f"INSERT INTO customers (cust, name) VALUES ('{k}', '{v}');" for k, v in CUSTOMERS.items()
    ]
    engine.execute("\n".join(script))
    engine.run_until_idle()
    try:
        yield engine, rows
    finally:
        engine.close()


def _pull(engine: Engine, sql: str, properties: dict[str, str] | None = None):
    return engine.execute(sql, properties)[0]


def test_aggregates_without_group_by_over_a_stream(data: tuple[Engine, list[dict]]) -> None:
    engine, rows = data
    result = _pull(
        engine,
        "SELECT COUNT(*), COUNT(qty), SUM(qty), AVG(qty), MIN(ts), MAX(ts), SUM(amount) "
        "FROM orders;",
    )
    qtys = [r["QTY"] for r in rows if r["QTY"] is not None]
    amounts = [r["AMOUNT"] for r in rows if r["AMOUNT"] is not None]
    times = [r["TS"] for r in rows]
    assert [t for _, t in result.columns] == [
        "BIGINT", "BIGINT", "INT", "DOUBLE", "TIMESTAMP", "TIMESTAMP", "DECIMAL(10, 2)",
    ]  # fmt: skip
    assert result.rows == [
        [len(rows), len(qtys), sum(qtys), sum(qtys) / len(qtys), min(times), max(times),
         sum(amounts)]
    ]  # fmt: skip
    assert result.rows[0][-1].as_tuple().exponent == -2  # the DECIMAL keeps its scale


def test_group_by_with_null_keys_and_having(data: tuple[Engine, list[dict]]) -> None:
    engine, rows = data
    result = _pull(
        engine,
        "SELECT cust, COUNT(*) AS n, SUM(qty) AS total FROM orders GROUP BY cust "
        "HAVING COUNT(*) > 1 ORDER BY cust;",
    )
    counts = Counter(r["CUST"] for r in rows)
    totals: dict[Any, int | None] = {}
    for r in rows:
        if r["QTY"] is not None:
            totals[r["CUST"]] = (totals.get(r["CUST"]) or 0) + r["QTY"]
    keys = sorted(k for k in counts if k is not None and counts[k] > 1)
    keys += [None] if counts[None] > 1 else []
    assert result.rows == [[k, counts[k], totals.get(k)] for k in keys]  # NULL group last


def test_table_join_with_missing_keys(data: tuple[Engine, list[dict]]) -> None:
    engine, rows = data
    result = _pull(
        engine,
        "SELECT p.cust, p.n, c.name FROM per_cust p LEFT JOIN names c ON p.cust = c.cust "
        "ORDER BY p.cust;",
    )
    counts = Counter(r["CUST"] for r in rows if r["CUST"] is not None)
    assert result.rows == [[k, counts[k], CUSTOMERS.get(k)] for k in sorted(counts)]
    inner = _pull(engine, "SELECT COUNT(*) FROM per_cust p JOIN names c ON p.cust = c.cust;").rows
    assert inner == [[len(set(counts) & set(CUSTOMERS))]]


def test_order_by_nulls_and_ties_with_limit_and_offset(data: tuple[Engine, list[dict]]) -> None:
    engine, rows = data
    for nulls_first in (False, True):
        clause = " NULLS FIRST" if nulls_first else ""
        result = _pull(
            engine,
            f"SELECT qty, id FROM orders ORDER BY qty DESC{clause} LIMIT 7 OFFSET 3;",
        )
        with_qty = sorted(
            (r for r in rows if r["QTY"] is not None), key=lambda r: (-r["QTY"], r["ID"])
        )
        without = sorted((r for r in rows if r["QTY"] is None), key=lambda r: r["ID"])
        ordered = without + with_qty if nulls_first else with_qty + without
        assert result.rows == [[r["QTY"], r["ID"]] for r in ordered[3:10]]


def test_distinct_and_subquery_in_from(data: tuple[Engine, list[dict]]) -> None:
    engine, rows = data
    distinct = _pull(engine, "SELECT DISTINCT cust FROM orders ORDER BY cust;").rows
    names = sorted({r["CUST"] for r in rows if r["CUST"] is not None})
    assert distinct == [[n] for n in names] + [[None]]
    busiest = _pull(
        engine,
        "SELECT x.cust, x.n FROM (SELECT cust, COUNT(*) AS n FROM orders "
        "WHERE cust IS NOT NULL GROUP BY cust) x ORDER BY x.n DESC LIMIT 1;",
    ).rows
    counts = Counter(r["CUST"] for r in rows if r["CUST"] is not None)
    top = max(counts.values())
    assert busiest == [[min(k for k, v in counts.items() if v == top), top]]


def test_functions_streamdb_evaluates(data: tuple[Engine, list[dict]]) -> None:
    engine, rows = data
    result = _pull(
        engine,
        "SELECT id, CONCAT(UCASE(cust), '-', CAST(amount AS STRING)) AS label, "
        "FORMAT_TIMESTAMP(ts, 'yyyy-MM-dd') AS day FROM orders WHERE id < 3 ORDER BY id;",
    )
    expected = []
    for r in rows[:3]:
        label = (r["CUST"] or "").upper() + "-" + ("" if r["AMOUNT"] is None else str(r["AMOUNT"]))
        day = datetime.datetime.fromtimestamp(r["TS"] / 1000, datetime.UTC).strftime("%Y-%m-%d")
        expected.append([r["ID"], label, day])
    assert result.rows == expected


def test_windowed_table_bounds_as_columns(data: tuple[Engine, list[dict]]) -> None:
    engine, rows = data
    result = _pull(
        engine,
        "SELECT WINDOWSTART, WINDOWEND, SUM(n) AS n FROM per_minute "
        "GROUP BY WINDOWSTART, WINDOWEND ORDER BY WINDOWSTART;",
    )
    per_window: dict[int, int] = defaultdict(int)
    for r in rows:
        if r["CUST"] is not None:
            per_window[r["TS"] - r["TS"] % WINDOW_MS] += 1
    assert result.rows == [[s, s + WINDOW_MS, n] for s, n in sorted(per_window.items())]


def test_the_analytics_switch_restores_ksqldb_refusals(data: tuple[Engine, list[dict]]) -> None:
    engine, _ = data
    off = {"ksql.query.pull.analytics.enabled": "false"}
    with pytest.raises(StatementError, match="Pull queries don't support GROUP BY clauses"):
        _pull(engine, "SELECT cust, COUNT(*) FROM orders GROUP BY cust;", off)
    with pytest.raises(StatementError, match="Pull queries don't support JOIN clauses"):
        _pull(engine, "SELECT * FROM per_cust p JOIN names c ON p.cust = c.cust;", off)
    with pytest.raises(StatementError, match=r"line 1:28: Syntax Error"):
        _pull(engine, "SELECT * FROM orders ORDER BY id;", off)
    with pytest.raises(StatementError, match="Use of aggregate function COUNT requires a GROUP BY"):
        _pull(engine, "SELECT COUNT(*), SUM(qty) FROM orders;", off)


def test_persistent_and_push_queries(data: tuple[Engine, list[dict]]) -> None:
    engine, rows = data
    refusal = r"does not support aggregate function \[COUNT\(ROWTIME\)\] without a GROUP BY"
    with pytest.raises(StatementError, match=refusal):
        engine.execute("CREATE TABLE everything AS SELECT COUNT(*) FROM orders;")
    with pytest.raises(StatementError, match="ORDER BY is supported in pull queries only"):
        engine.execute("CREATE STREAM sorted AS SELECT * FROM orders ORDER BY id;")
    # The wrong answers: one row for the whole stream; WHERE on a key column.
    both = _pull(engine, "SELECT COUNT(*), SUM(qty) FROM orders;").rows
    assert both == [[len(rows), sum(r["QTY"] for r in rows if r["QTY"] is not None)]]
    below = _pull(engine, "SELECT MAX(id) FROM orders WHERE id < 3;").rows
    assert below == [[2]]


def test_explain_says_how_a_pull_query_runs(data: tuple[Engine, list[dict]]) -> None:
    engine, _ = data
    lookup = _pull(engine, "EXPLAIN SELECT * FROM names WHERE cust = 'a';").plan
    assert lookup.startswith("Key lookup: 1 key(s) of NAMES")
    scan = "EXPLAIN SELECT * FROM names WHERE name = 'Bob';"
    assert _pull(engine, scan).plan.startswith("DuckDB plan:")
    off = {"ksql.query.pull.analytics.enabled": "false"}
    assert _pull(engine, scan, off).plan.startswith("Store scan")
    duck = _pull(engine, "EXPLAIN SELECT cust, COUNT(*) FROM orders GROUP BY cust;").plan
    assert duck.startswith("DuckDB plan:") and "GROUP BY" in duck


def test_views_follow_new_records(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    try:
        engine.execute(
            "CREATE STREAM s (id INT KEY, v INT) WITH (kafka_topic='s', value_format='JSON', "
            "partitions=1);"
        )
        counts = []
        for i in range(3):
            engine.execute(f"INSERT INTO s (id, v) VALUES ({i}, {i});")
            counts.append(_pull(engine, "SELECT COUNT(*), SUM(v) FROM s;").rows)
        assert counts == [[[1, 0]], [[2, 1]], [[3, 3]]]
    finally:
        engine.close()


def test_rest_api_answers_like_any_pull_query(tmp_path: Path) -> None:
    engine = Engine(tmp_path / "data")
    engine.start()
    try:
        with background_server(engine) as url:
            url = answering(url)
            statements = (
                "CREATE STREAM s (id INT KEY, v INT) WITH (kafka_topic='s', "
                "value_format='JSON', partitions=1);"
                + "".join(f"INSERT INTO s (id, v) VALUES ({i}, {i % 2});" for i in range(5))
            )
            assert httpx.post(f"{url}/ksql", json={"ksql": statements}, timeout=TIMEOUT).is_success
            body = httpx.post(
                f"{url}/query",
                json={"ksql": "SELECT v, COUNT(*) AS n FROM s GROUP BY v ORDER BY v;"},
                timeout=TIMEOUT,
            ).json()
            assert body[0]["header"]["schema"] == "`V` INTEGER, `N` BIGINT"
            assert [e["row"]["columns"] for e in body[1:-1]] == [[0, 3], [1, 2]]
            # The ksqldb Python client (/query-stream) sees them as any pull query's rows.
            metadata, *rows = KSQLdbClient(url).query_sync(
                "SELECT v, COUNT(*) AS n FROM s GROUP BY v ORDER BY n DESC LIMIT 1;", timeout=60
            )
            assert metadata["columnNames"] == ["V", "N"] and rows == [[0, 3]]
    finally:
        engine.close()


def test_struct_array_map_and_decimal_come_back_as_in_a_plain_pull_query(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    try:
        engine.execute(
            "CREATE STREAM nested (id INT KEY, s STRUCT<a STRING, b ARRAY<INT>>, "
            "m MAP<STRING, DECIMAL(6, 3)>, tags ARRAY<STRING>) "
            "WITH (kafka_topic='nested', value_format='JSON', partitions=1);"
            + "".join(
                f"INSERT INTO nested (id, s, m, tags) VALUES ({i}, STRUCT(a:='x{i}', "
                f"b:=ARRAY[{i}, {i + 1}]), MAP('k{i}':=1.5{i}), ARRAY['t{i}', NULL]);"
                for i in range(3)
            )
            + "INSERT INTO nested (id) VALUES (3);"
        )
        plain = _pull(engine, "SELECT * FROM nested;")
        ordered = _pull(engine, "SELECT * FROM nested ORDER BY id DESC;")
        assert ordered.columns == plain.columns
        assert ordered.rows == sorted(plain.rows, key=lambda r: -r[0])
        assert ordered.rows[-1][2] == {"k0": Decimal("1.500")}
    finally:
        engine.close()


def test_aggregates_duckdb_lacks_fold_in_record_order(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    try:
        rng = random.Random(5)
        records = [(rng.choice("xyz"), rng.choice([None, 1, 2, 3])) for _ in range(40)]
        engine.execute(
            "CREATE STREAM s (id INT KEY, k STRING, v INT) "
            "WITH (kafka_topic='s', value_format='JSON', partitions=1);"
            + "".join(
                f"INSERT INTO s (id, k, v) VALUES ({i}, '{k}', {_literal(v)});"
                for i, (k, v) in enumerate(records)
            )
        )
        result = _pull(
            engine,
            "SELECT k, COLLECT_LIST(v) AS vs, LATEST_BY_OFFSET(v) AS last, TOPK(v, 2) AS top "
            "FROM s GROUP BY k ORDER BY k;",
        )
        expected = []
        for key in sorted({k for k, _ in records}):
            values = [v for k, v in records if k == key]
            present = [v for v in values if v is not None]
            # COLLECT_LIST keeps NULLs; LATEST_BY_OFFSET and TOPK pass them by.
            last = present[-1] if present else None
            expected.append([key, values, last, sorted(present, reverse=True)[:2]])
        assert result.rows == expected
    finally:
        engine.close()


def test_the_repl_prints_an_analytical_pull_query(tmp_path: Path) -> None:
    streamdb = str(Path(sys.executable).with_name("streamdb"))
    script = (
        "CREATE STREAM s (id INT KEY, k STRING) "
        "WITH (kafka_topic='s', value_format='JSON', partitions=1);"
        + "".join(f"INSERT INTO s (id, k) VALUES ({i}, '{'ab'[i % 2]}');" for i in range(5))
        + "SELECT k, COUNT(*) AS n FROM s GROUP BY k ORDER BY n DESC LIMIT 1;"
    )
    done = subprocess.run(
        [streamdb, "cli", "--local", "--data-dir", str(tmp_path), "-e", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("|")]
    assert [[cell.strip() for cell in line.strip("|").split("|")] for line in lines] == [
        ["K", "N"],
        ["a", "3"],
    ]


def test_joins_with_stream_history(data: tuple[Engine, list[dict]]) -> None:
    engine, rows = data
    result = _pull(
        engine,
        "SELECT o.id, c.name FROM orders o JOIN names c ON o.cust = c.cust ORDER BY o.id;",
    )
    assert result.rows == [[r["ID"], CUSTOMERS[r["CUST"]]] for r in rows if r["CUST"] in CUSTOMERS]
    # Two streams WITHIN 60 seconds: pairs of orders of one customer at most a minute apart.
    pairs = _pull(
        engine,
        "SELECT COUNT(*) FROM orders a JOIN orders b WITHIN 60 SECONDS ON a.cust = b.cust;",
    ).rows
    expected = sum(
        1
        for a in rows
        for b in rows
        if a["CUST"] is not None and a["CUST"] == b["CUST"] and abs(a["TS"] - b["TS"]) <= 60_000
    )
    assert pairs == [[expected]]
