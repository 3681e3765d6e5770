"""Connectors inside the engine: Datagen feeding a CTAS (over a real server, and resuming
after a restart), FileStream source and sink, the JDBC sink upserting a table's rows into
SQLite and into a real PostgreSQL (Debian's, started here as the user postgres), deleting on
tombstones, and the JDBC source polling a table by an incrementing column."""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from repl.render import entity_lines
from server.entities import entity
from server.serve import background_server, free_port
from sqlengine.engine import Engine
from sqlengine.results import Entity, Rows, StatementError

DATAGEN = "io.confluent.kafka.connect.datagen.DatagenConnector"
TIMEOUT = 15.0


def eventually(check: Callable[[], Any], what: str) -> Any:
    """The first truthy answer of `check`, polled for up to TIMEOUT seconds."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        answer = check()
        if answer:
            return answer
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def rows(engine: Engine, sql: str) -> list[list[Any]]:
    (result,) = engine.execute(sql)
    assert isinstance(result, Rows)
    return result.rows


def test_datagen_feeds_a_ctas_and_resumes_after_restart(tmp_path: Path) -> None:
    engine = Engine(tmp_path / "data")
    engine.start()
    try:
        with background_server(engine) as url:

            def ksql(sql: str) -> list[dict[str, Any]]:
                answer = httpx.post(f"{url}/ksql", json={"ksql": sql}, timeout=10)
                assert answer.status_code == 200, answer.text
                return list(answer.json())

            (created,) = ksql(
                f"CREATE SOURCE CONNECTOR orders_gen WITH ('connector.class'='{DATAGEN}', "
                "'kafka.topic'='orders', 'quickstart'='orders', 'max.interval'=5, "
                "'iterations'=30);"
            )
            assert created["@type"] == "connector_info" and created["info"]["type"] == "source"
            ksql(
                "CREATE STREAM orders (k STRING KEY, orderid INT, itemid STRING, "
                "orderunits DOUBLE, address STRUCT<city STRING, zipcode INT>) "
                "WITH (kafka_topic='orders', value_format='JSON');"
            )
            answer = httpx.post(
                f"{url}/ksql",
                json={
                    "ksql": "CREATE TABLE order_count AS SELECT 1 AS one, COUNT(*) AS n "
                    "FROM orders GROUP BY 1;",
                    "streamsProperties": {"auto.offset.reset": "earliest"},
                },
            )
            assert answer.status_code == 200, answer.text

            def counted() -> bool:
                found = rows(engine, "SELECT N FROM ORDER_COUNT;")
                return bool(found) and found[0][0] == 30

            eventually(counted, "the CTAS to count 30 generated orders")
            (listed,) = ksql("SHOW CONNECTORS;")
            assert listed["connectors"] == [
                {
                    "name": "ORDERS_GEN",
                    "type": "SOURCE",
                    "className": DATAGEN,
                    "state": "RUNNING (1/1 tasks RUNNING)",
                }
            ]
            (described,) = ksql("DESCRIBE CONNECTOR orders_gen;")
            assert described["status"]["connector"]["state"] == "RUNNING"
            assert described["topics"] == ["orders"]
    finally:
        engine.close()

    # After a restart the connector runs again, resuming at 30 of its 30 iterations.
    engine = Engine(tmp_path / "data")
    engine.start()
    try:
        (listed,) = engine.execute("SHOW CONNECTORS;")
        assert isinstance(listed, Entity) and listed.body["connectors"][0]["name"] == "ORDERS_GEN"
        time.sleep(0.3)
        assert engine.log.end_offset("orders", 0) == 30
        engine.execute("DROP CONNECTOR orders_gen;")
        (listed,) = engine.execute("SHOW CONNECTORS;")
        assert isinstance(listed, Entity) and listed.body["connectors"] == []
    finally:
        engine.close()


def test_file_source_and_sink(tmp_path: Path) -> None:
    lines = tmp_path / "in.txt"
    lines.write_text('{"ID": 1, "NAME": "one"}\n{"ID": 2, "NAME": "two"}\n')
    engine = Engine(tmp_path / "data")
    engine.start()
    try:
        engine.execute(
            "CREATE SOURCE CONNECTOR lines_in WITH ("
            "'connector.class'='org.apache.kafka.connect.file.FileStreamSourceConnector', "
            f"'file'='{lines}', 'topic'='people');"
            "CREATE STREAM people (id INT, name STRING) "
            "WITH (kafka_topic='people', value_format='JSON');"
            "CREATE STREAM upper_people AS SELECT id, UCASE(name) AS name FROM people;",
            {"auto.offset.reset": "earliest"},
        )
        engine.execute(
            "CREATE SINK CONNECTOR lines_out WITH ("
            "'connector.class'='FileStreamSinkConnector', "
            f"'file'='{tmp_path / 'out.txt'}', 'topics'='UPPER_PEOPLE');"
        )
        with lines.open("a") as file:
            file.write('{"ID": 3, "NAME": "three"}\n{"ID": 4, "NA')  # the last line unfinished

        def written() -> list[str]:
            out = tmp_path / "out.txt"
            return out.read_text().splitlines() if out.exists() else []

        got = eventually(lambda: len(written()) == 3 and written(), "three lines in the sink")
        assert got == [
            '{"ID":1,"NAME":"ONE"}',
            '{"ID":2,"NAME":"TWO"}',
            '{"ID":3,"NAME":"THREE"}',
        ]
    finally:
        engine.close()


def _sqlite_rows(path: Path, table: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        try:
            return db.execute(f'SELECT * FROM "{table}" ORDER BY 1').fetchall()
        except sqlite3.OperationalError:
            return []


def _table_to_sink(engine: Engine, url: str, user: str = "") -> None:
    """A table of balances, sunk by key into a JDBC table."""
    engine.execute(
        "CREATE STREAM moves (acct STRING KEY, amount INT) "
        "WITH (kafka_topic='moves', value_format='JSON', partitions=1);"
        "CREATE TABLE balances AS SELECT acct, SUM(amount) AS total FROM moves GROUP BY acct "
        "HAVING SUM(amount) > 0;"
        "CREATE SINK CONNECTOR balances_out WITH ("
        "'connector.class'='io.confluent.connect.jdbc.JdbcSinkConnector', "
        f"'connection.url'='{url}', 'connection.user'='{user}', 'topics'='BALANCES', "
        "'insert.mode'='upsert', "
        "'pk.mode'='record_key', 'pk.fields'='ACCT', 'auto.create'='true');"
        "INSERT INTO moves (acct, amount) VALUES ('a', 10);"
        "INSERT INTO moves (acct, amount) VALUES ('b', 5);"
    )


def test_jdbc_sqlite_sink_upserts_and_deletes_and_source_polls(tmp_path: Path) -> None:
    database = tmp_path / "bank.db"
    engine = Engine(tmp_path / "data")
    engine.start()
    try:
        _table_to_sink(engine, f"jdbc:sqlite:{database}")
        eventually(lambda: _sqlite_rows(database, "BALANCES") == [("a", 10), ("b", 5)], "rows")
        engine.execute("INSERT INTO moves (acct, amount) VALUES ('a', 7);")
        eventually(lambda: _sqlite_rows(database, "BALANCES") == [("a", 17), ("b", 5)], "upsert")
        engine.execute("INSERT INTO moves (acct, amount) VALUES ('b', -5);")  # HAVING: deleted
        eventually(lambda: _sqlite_rows(database, "BALANCES") == [("a", 17)], "the delete")

        with sqlite3.connect(database) as db:
            db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, what TEXT)")
            db.executemany("INSERT INTO events VALUES (?, ?)", [(1, "open"), (2, "close")])
        engine.execute(
            "CREATE SOURCE CONNECTOR events_in WITH ("
            "'connector.class'='io.confluent.connect.jdbc.JdbcSourceConnector', "
            f"'connection.url'='jdbc:sqlite:{database}', 'mode'='incrementing', "
            "'incrementing.column.name'='id', 'table.whitelist'='events', "
            "'topic.prefix'='db_', 'poll.interval.ms'=50);"
            "CREATE STREAM events (id INT, what STRING) "
            "WITH (kafka_topic='db_events', value_format='JSON');"
        )
        with sqlite3.connect(database) as db:
            db.execute("INSERT INTO events VALUES (3, 'reopen')")
        eventually(lambda: engine.log.end_offset("db_events", 0) == 3, "three polled rows")
        time.sleep(0.2)  # a later poll finds nothing new
        assert engine.log.end_offset("db_events", 0) == 3
        assert rows(engine, "SELECT * FROM events EMIT CHANGES LIMIT 3;") == [
            [1, "open"],
            [2, "close"],
            [3, "reopen"],
        ]
    finally:
        engine.close()


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise AssertionError("PostgreSQL is not installed: bash scripts/setup.sh installs it")
    return found[-1]


def _as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the user postgres."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture
def postgres() -> Iterator[str]:
    """A PostgreSQL server of its own on 127.0.0.1 (trust authentication), for one test."""
    folder = Path(tempfile.mkdtemp(prefix="streamdb-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, port = folder / "data", free_port()
    initdb = [_pg_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
    subprocess.run(_as_postgres(initdb), check=True, capture_output=True, timeout=120)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off"
    start = [_pg_bin("pg_ctl"), "-D", str(data), "-o", options, "-w", "-l", str(folder / "log")]
    subprocess.run(_as_postgres([*start, "start"]), check=True, capture_output=True, timeout=60)
    try:
        yield f"jdbc:postgresql://127.0.0.1:{port}/postgres"
    finally:
        stop = [_pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
        subprocess.run(_as_postgres(stop), capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def test_jdbc_postgresql_sink_follows_the_table(tmp_path: Path, postgres: str) -> None:
    port = int(postgres.rsplit(":", 1)[1].split("/")[0])

    def pg_rows() -> list[tuple[Any, ...]]:
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres") as db:
            try:
                return db.execute('SELECT "ACCT", "TOTAL" FROM "BALANCES" ORDER BY 1').fetchall()
            except psycopg.errors.UndefinedTable:
                return []

    engine = Engine(tmp_path / "data")
    engine.start()
    try:
        _table_to_sink(engine, postgres, user="postgres")
        eventually(lambda: pg_rows() == [("a", 10), ("b", 5)], "rows in PostgreSQL")
        engine.execute("INSERT INTO moves (acct, amount) VALUES ('b', 20);")
        eventually(lambda: pg_rows() == [("a", 10), ("b", 25)], "the upserted row")
        engine.execute("INSERT INTO moves (acct, amount) VALUES ('a', -10);")
        eventually(lambda: pg_rows() == [("b", 25)], "the deleted row")
    finally:
        engine.close()


def test_the_cli_prints_connectors(tmp_path: Path) -> None:
    engine = Engine(tmp_path / "data")
    try:
        shown = []
        for sql in (
            f"CREATE SOURCE CONNECTOR gen WITH ('connector.class'='{DATAGEN}', "
            "'kafka.topic'='users', 'quickstart'='users', 'iterations'=1);",
            "SHOW CONNECTORS;",
            "DESCRIBE CONNECTOR gen;",
            "DROP CONNECTOR gen;",
        ):
            (result,) = engine.execute(sql)
            shown.append(entity_lines(entity(result, engine.catalog.source, 0)))
        assert shown[0] == ["Created connector GEN"]
        assert shown[1][0].split("|")[0].strip() == "Connector Name"
        assert shown[1][2].split("|")[0].strip() == "GEN"
        assert "State                : RUNNING" in shown[2]
        assert shown[3] == ['Dropped connector "GEN"']
        with pytest.raises(StatementError, match="Connector NOPE does not exist"):
            engine.execute("DROP CONNECTOR nope;")
        with pytest.raises(StatementError, match="unknown quickstart 'planes'"):
            engine.execute(
                f"CREATE SOURCE CONNECTOR bad WITH ('connector.class'='{DATAGEN}', "
                "'kafka.topic'='x', 'quickstart'='planes');"
            )
    finally:
        engine.close()


def test_jdbc_source_in_timestamp_mode_resumes_after_restart(tmp_path: Path) -> None:
    database = tmp_path / "audit.db"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE audit (who TEXT, at INTEGER)")
        db.executemany("INSERT INTO audit VALUES (?, ?)", [("ann", 100), ("bob", 200)])
    create = (
        "CREATE SOURCE CONNECTOR audit_in WITH ("
        "'connector.class'='JdbcSourceConnector', "
        f"'connection.url'='jdbc:sqlite:{database}', 'mode'='timestamp', "
        "'timestamp.column.name'='at', 'table.whitelist'='audit', 'poll.interval.ms'=20);"
    )
    engine = Engine(tmp_path / "data")
    engine.start()
    try:
        engine.execute(create)
        eventually(lambda: engine.log.end_offset("audit", 0) == 2, "two polled rows")
    finally:
        engine.close()
    with sqlite3.connect(database) as db:
        db.execute("INSERT INTO audit VALUES ('cat', 300)")
    engine = Engine(tmp_path / "data")  # replays the connector, which resumes after at=200
    engine.start()
    try:
        eventually(lambda: engine.log.end_offset("audit", 0) == 3, "only the new row")
        time.sleep(0.2)
        assert engine.log.end_offset("audit", 0) == 3
    finally:
        engine.close()


def test_datagen_avro_values_declare_the_stream(tmp_path: Path) -> None:
    engine = Engine(tmp_path / "data")
    engine.start()
    try:
        engine.execute(
            f"CREATE SOURCE CONNECTOR trades WITH ('connector.class'='{DATAGEN}', "
            "'kafka.topic'='trades', 'quickstart'='stock_trades', 'iterations'=5, "
            "'max.interval'=5, 'value.converter'='io.confluent.connect.avro.AvroConverter');"
            "CREATE STREAM trades WITH (kafka_topic='trades', value_format='AVRO');"
        )
        (described,) = engine.execute("DESCRIBE trades;")
        assert [c[:2] for c in described.columns] == [  # type: ignore[attr-defined]
            ("SIDE", "STRING"),
            ("QUANTITY", "BIGINT"),
            ("SYMBOL", "STRING"),
            ("PRICE", "BIGINT"),
            ("ACCOUNT", "STRING"),
            ("USERID", "STRING"),
        ]
        eventually(lambda: engine.log.end_offset("trades", 0) == 5, "five generated trades")
        (result,) = engine.execute(
            "SELECT SIDE FROM trades EMIT CHANGES LIMIT 5;", {"auto.offset.reset": "earliest"}
        )
        assert isinstance(result, Rows) and len(result.rows) == 5
        assert {side for (side,) in result.rows} <= {"BUY", "SELL"}
    finally:
        engine.close()
