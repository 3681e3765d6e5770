"""`streamdb migrations` (ksqlDB's ksql-migrations) against a real server on 127.0.0.1: a
new project, the metadata stream and table, two migrations applied one by one then together,
`info` and `validate` (a changed file fails it), a failing migration recorded as ERROR, and
destroy-metadata."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from repl.migrations import MigrationError, Migrations, new_project
from server.serve import background_server
from sqlengine.engine import Engine
from tests.live_server import streamdb


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    engine = Engine(tmp_path / "data")
    engine.start()
    try:
        with background_server(engine) as url:
            yield url
    finally:
        engine.close()


def test_two_migrations_applied_then_info(tmp_path: Path, server_url: str) -> None:
    said: list[str] = []
    project = tmp_path / "project"
    new_project(project, server_url, said.append)
    config = project / "ksql-migrations.properties"
    assert config.read_text().startswith(f"ksql.server.url={server_url}\n")
    tool = Migrations(config, said.append)
    tool.initialize_metadata()
    first = tool.create("Initial setup", None)
    second = tool.create("Add_users", None)
    assert [first.name, second.name] == ["V000001__Initial_setup.sql", "V000002__Add_users.sql"]
    first.write_text(
        "CREATE STREAM pageviews (user_id VARCHAR KEY, page VARCHAR) "
        "WITH (KAFKA_TOPIC='pageviews', VALUE_FORMAT='JSON', PARTITIONS=1);\n"
    )
    second.write_text(
        "SET 'auto.offset.reset'='earliest';\n"
        "CREATE TABLE users (user_id VARCHAR PRIMARY KEY, email VARCHAR) "
        "WITH (KAFKA_TOPIC='${topic}', FORMAT='JSON', PARTITIONS=1);\n"
        "INSERT INTO users (user_id, email) VALUES ('u1', 'u1@example.com');\n"
    )

    tool.apply("next", None, {"topic": "users"}, dry_run=False)
    assert tool.applied()["CURRENT"]["VERSION"] == "1"
    tool.apply("all", None, {"topic": "users"}, dry_run=False)
    applied = tool.applied()
    assert (applied["CURRENT"]["VERSION"], applied["2"]["PREVIOUS"]) == ("2", "1")
    assert applied["1"]["STATE"] == applied["2"]["STATE"] == "MIGRATED"
    described = httpx.post(f"{server_url}/ksql", json={"ksql": "DESCRIBE USERS;"}).json()
    assert described[0]["sourceDescription"]["topic"] == "users"

    info = streamdb("migrations", "-c", str(config), "info")
    assert info.returncode == 0, info.stdout + info.stderr
    lines = info.stdout.splitlines()
    assert lines[0] == "Current migration version: 2"
    assert lines[2].split("|")[:4] == [
        " Version ",
        " Name          ",
        " State    ",
        " Previous Version ",
    ]
    assert [line.split("|")[2].strip() for line in lines[4:6]] == ["MIGRATED", "MIGRATED"]

    second.write_text(second.read_text() + "-- changed after it was applied\n")
    with pytest.raises(MigrationError, match="V000002__Add_users.sql changed since"):
        tool.validate()


def test_failed_migration_is_recorded_and_metadata_destroyed(
    tmp_path: Path, server_url: str
) -> None:
    said: list[str] = []
    project = tmp_path / "project"
    new_project(project, server_url, said.append)
    tool = Migrations(project / "ksql-migrations.properties", said.append)
    tool.initialize_metadata()
    tool.create("broken", None).write_text("CREATE STREAM nowhere AS SELECT * FROM missing;\n")
    with pytest.raises(MigrationError, match="Failed to execute sql"):
        tool.apply("all", None, {}, dry_run=False)
    row = tool.applied()["1"]
    assert row["STATE"] == "ERROR" and "MISSING" in row["ERROR_REASON"].upper()

    tool.destroy_metadata()
    listed = httpx.post(f"{server_url}/ksql", json={"ksql": "SHOW STREAMS;"}).json()
    assert "MIGRATION_EVENTS" not in {s["name"] for s in listed[0]["streams"]}
    with pytest.raises(MigrationError, match="initialize-metadata"):
        tool.info()
