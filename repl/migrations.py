"""`streamdb migrations`: ksqlDB's ksql-migrations tool, against a server's REST API.

A project is a folder holding `ksql-migrations.properties` (`ksql.server.url=...`) and
`migrations/V000001__Name.sql` files. Applied versions are recorded as events in the stream
MIGRATION_EVENTS and read back from the table MIGRATION_SCHEMA_VERSIONS (the latest event of
each version, and of the key CURRENT), as ksqlDB's tool records them:

    streamdb migrations new-project PATH URL
    streamdb migrations -c PATH/ksql-migrations.properties initialize-metadata
    streamdb migrations -c ... create Add_users [-v N]
    streamdb migrations -c ... apply --all | --next | --until N | --version N [-d k=v] [--dry-run]
    streamdb migrations -c ... info | validate | destroy-metadata
"""

from __future__ import annotations

import argparse
import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

CONFIG_FILE = "ksql-migrations.properties"
SERVER_URL = "ksql.server.url"
STREAM_NAME = "ksql.migrations.stream.name"
TABLE_NAME = "ksql.migrations.table.name"
STREAM_TOPIC = "ksql.migrations.stream.topic.name"
TABLE_TOPIC = "ksql.migrations.table.topic.name"
USERNAME = "ksql.auth.basic.username"
PASSWORD = "ksql.auth.basic.password"
_COMMENTED_DEFAULTS = [
    USERNAME,
    PASSWORD,
    f"{STREAM_NAME}=MIGRATION_EVENTS",
    f"{TABLE_NAME}=MIGRATION_SCHEMA_VERSIONS",
    f"{STREAM_TOPIC}=default_ksql_MIGRATION_EVENTS",
    f"{TABLE_TOPIC}=default_ksql_MIGRATION_SCHEMA_VERSIONS",
    "ksql.migrations.topic.replicas=1",
]
_FILE_NAME = re.compile(r"^V(\d{6})__(.+)\.sql$")
_DEFINE = re.compile(r"^\s*DEFINE\s+(\w+)\s*=\s*'((?:[^']|'')*)'\s*$", re.I | re.S)
_UNDEFINE = re.compile(r"^\s*UNDEFINE\s+(\w+)\s*$", re.I)
_SET = re.compile(r"^\s*SET\s+'([^']+)'\s*=\s*'((?:[^']|'')*)'\s*$", re.I | re.S)
_UNSET = re.compile(r"^\s*UNSET\s+'([^']+)'\s*$", re.I)
_PIECE = re.compile(r"'(?:[^']|'')*'|`[^`]*`|--[^\n]*|;|[^'`;-]+|.", re.S)
WAIT_SECONDS = 10.0


class MigrationError(Exception):
    """A migrations command that cannot go on: the message names the problem and the fix."""


@dataclass(frozen=True)
class MigrationFile:
    version: int
    name: str
    path: Path

    @property
    def checksum(self) -> str:
        return hashlib.md5(self.path.read_bytes()).hexdigest()  # noqa: S324 - ksqlDB's checksum


class Server:
    """The ksqlDB REST calls the tool makes."""

    def __init__(self, config: dict[str, str]) -> None:
        if not config.get(SERVER_URL):
            raise MigrationError(f"{SERVER_URL} is not set in the migrations config file")
        auth = (config[USERNAME], config.get(PASSWORD, "")) if config.get(USERNAME) else None
        self.http = httpx.Client(base_url=config[SERVER_URL], auth=auth, timeout=30.0)

    def execute(self, sql: str, properties: dict[str, str] | None = None) -> list[dict[str, Any]]:
        body = {"ksql": sql, "streamsProperties": properties or {}}
        try:
            response = self.http.post("/ksql", json=body)
        except httpx.TransportError as exc:
            raise MigrationError(f"cannot reach the server at {self.http.base_url}: {exc}") from exc
        if response.status_code != 200:
            raise MigrationError(response.json().get("message", response.text))
        return list(response.json())

    def rows(self, sql: str) -> list[dict[str, Any]]:
        """A pull query's rows, as column -> value."""
        response = self.http.post("/query", json={"ksql": sql, "streamsProperties": {}})
        if response.status_code != 200:
            raise MigrationError(response.json().get("message", response.text))
        items = response.json()
        header = items[0]["header"]["schema"] if items else ""
        names = [n.strip().split(" ")[0].strip("`") for n in _top_level(header)]
        return [
            dict(zip(names, item["row"]["columns"], strict=False))
            for item in items[1:]
            if "row" in item
        ]


def _top_level(schema: str) -> list[str]:
    """`A` STRING KEY, `B` STRING -> its column declarations."""
    parts, depth, current = [], 0, ""
    for ch in schema:
        depth += ch in "<("
        depth -= ch in ">)"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [p for p in [*parts, current] if p.strip()]


def read_config(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise MigrationError(f"cannot read the config file {path}: {exc.strerror}") from exc
    config = {}
    for line in lines:
        line = line.strip()
        if line and not line.startswith(("#", "!")) and "=" in line:
            name, value = line.split("=", 1)
            config[name.strip()] = value.strip()
    return config


def migration_files(project: Path) -> list[MigrationFile]:
    files = []
    for path in sorted((project / "migrations").glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(
                f"{path}: a migration file is named V<six digit version>__<description>.sql"
            )
        files.append(MigrationFile(int(match[1]), match[2].replace("_", " "), path))
    versions = [f.version for f in files]
    duplicate = next((v for v in versions if versions.count(v) > 1), None)
    if duplicate is not None:
        raise MigrationError(f"two migration files have version {duplicate}: keep one")
    return files


def _statements(text: str) -> list[str]:
    statements, current = [], ""
    for piece in _PIECE.findall(text):
        if piece == ";":
            if current.strip():
                statements.append(current.strip())
            current = ""
        elif not piece.startswith("--"):
            current += piece
    if current.strip():
        statements.append(current.strip())
    return statements


class Migrations:
    def __init__(self, config_file: Path, say: Callable[[str], None] = print) -> None:
        self.project = config_file.parent
        self.config = read_config(config_file)
        self.say = say
        self.stream = self.config.get(STREAM_NAME, "MIGRATION_EVENTS")
        self.table = self.config.get(TABLE_NAME, "MIGRATION_SCHEMA_VERSIONS")
        self._server: Server | None = None

    @property
    def server(self) -> Server:
        if self._server is None:
            self._server = Server(self.config)
        return self._server

    # ------------------------------------------------------------------ metadata

    def initialize_metadata(self) -> None:
        self.say("Initializing migrations metadata")
        stream_topic = self.config.get(STREAM_TOPIC, f"default_ksql_{self.stream}")
        table_topic = self.config.get(TABLE_TOPIC, f"default_ksql_{self.table}")
        self.say(f"Creating stream: {self.stream}")
        self.server.execute(
            f"CREATE STREAM IF NOT EXISTS {self.stream} (version_key STRING KEY, version STRING, "
            "name STRING, state STRING, checksum STRING, started_on STRING, completed_on STRING, "
            f"previous STRING, error_reason STRING) WITH (KAFKA_TOPIC='{stream_topic}', "
            "VALUE_FORMAT='JSON', PARTITIONS=1);"
        )
        self.say(f"Creating table: {self.table}")
        latest = ", ".join(
            f"LATEST_BY_OFFSET({c}) AS {c}"
            for c in (
                "version",
                "name",
                "state",
                "checksum",
                "started_on",
                "completed_on",
                "previous",
                "error_reason",
            )
        )
        self.server.execute(
            f"CREATE TABLE IF NOT EXISTS {self.table} WITH (KAFKA_TOPIC='{table_topic}') AS "
            f"SELECT version_key, {latest} FROM {self.stream} GROUP BY version_key;"
        )
        self.say("Migrations metadata initialized successfully")

    def destroy_metadata(self) -> None:
        self.say("Cleaning migrations metadata stream and table from ksqlDB server")
        queries = self.server.execute("SHOW QUERIES;")[0].get("queries", [])
        for query in queries:
            if self.table in query.get("sinks", []):
                self.say(f"Found 1 query writing to metadata table. Query ID: {query['id']}")
                self.say(f"Terminating query with ID: {query['id']}")
                self.server.execute(f"TERMINATE {query['id']};")
        self.say(f"Dropping migrations metadata table: {self.table}")
        self.server.execute(f"DROP TABLE IF EXISTS {self.table} DELETE TOPIC;")
        self.say(f"Dropping migrations metadata stream: {self.stream}")
        self.server.execute(f"DROP STREAM IF EXISTS {self.stream} DELETE TOPIC;")
        self.say("Migrations metadata cleaned successfully")

    def applied(self) -> dict[str, dict[str, Any]]:
        """The metadata table's rows by version key ('CURRENT', '1', '2' ...)."""
        try:
            rows = self.server.rows(f"SELECT * FROM {self.table};")
        except MigrationError as exc:
            raise MigrationError(
                f"{exc} (run `streamdb migrations -c CONFIG initialize-metadata` first?)"
            ) from exc
        return {str(r["VERSION_KEY"]): r for r in rows}

    def _record(self, file: MigrationFile, state: str, previous: str, **times: str) -> None:
        values = {
            "version": str(file.version),
            "name": file.name,
            "state": state,
            "checksum": file.checksum,
            "started_on": times.get("started_on", ""),
            "completed_on": times.get("completed_on", ""),
            "previous": previous,
            "error_reason": times.get("error_reason", ""),
        }
        columns = ", ".join(["version_key", *values])
        for key in ("CURRENT", str(file.version)):
            literals = ", ".join(_quoted(v) for v in [key, *values.values()])
            self.server.execute(f"INSERT INTO {self.stream} ({columns}) VALUES ({literals});")
        self._wait_for(str(file.version), state)

    def _wait_for(self, key: str, state: str) -> None:
        """The table follows the stream a moment later: wait until it shows the new state."""
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            rows = self.applied()
            if (
                rows.get(key, {}).get("STATE") == state
                and rows.get("CURRENT", {}).get("VERSION") == key
            ):
                return
            time.sleep(0.05)
        raise MigrationError(f"the metadata table did not show version {key} as {state}")

    # ------------------------------------------------------------------ commands

    def create(self, description: str, version: int | None) -> Path:
        files = migration_files(self.project)
        version = version or (max((f.version for f in files), default=0) + 1)
        if version <= 0 or version > 999999:
            raise MigrationError(f"version {version}: a version is between 1 and 999999")
        if any(f.version == version for f in files):
            raise MigrationError(f"a migration file with version {version} already exists")
        path = self.project / "migrations" / f"V{version:06d}__{description.replace(' ', '_')}.sql"
        self.say(f"Creating migration file: {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
        self.say("Migration file successfully created")
        return path

    def validate(self) -> None:
        applied = self.applied()
        files = {f.version: f for f in migration_files(self.project)}
        key = applied.get("CURRENT", {}).get("VERSION")
        while key:
            row = applied.get(str(key))
            if row is None:
                raise MigrationError(f"version {key} is in the history but has no metadata")
            file = files.get(int(key))
            if file is None:
                raise MigrationError(f"version {key} was applied but its file is missing")
            if row["STATE"] != "MIGRATED":
                raise MigrationError(f"version {key} is {row['STATE']}, not MIGRATED")
            if row["CHECKSUM"] != file.checksum:
                raise MigrationError(
                    f"version {key}: {file.path} changed since it was applied "
                    f"(checksum {file.checksum}, applied {row['CHECKSUM']})"
                )
            key = row.get("PREVIOUS") or None
        self.say("Successfully validated checksums for migrations that have already been applied")

    def apply(self, mode: str, target: int | None, defines: dict[str, str], dry_run: bool) -> None:
        if dry_run:
            self.say(
                "This is a dry run. No ksqlDB statements will be submitted to the ksqlDB server."
            )
        self.say("Validating current migration state before applying new migrations")
        applied = self.applied()
        current = applied.get("CURRENT", {})
        if current.get("STATE") == "RUNNING":
            raise MigrationError(f"version {current.get('VERSION')} is still RUNNING: repair it")
        self.validate()
        self.say("Loading migration files")
        files = migration_files(self.project)
        self.say(f"{len(files)} migration file(s) loaded.")
        latest = int(current.get("VERSION") or 0)
        pending = [f for f in files if f.version > latest]
        if mode == "next":
            pending = pending[:1]
        elif mode == "until":
            pending = [f for f in pending if f.version <= (target or 0)]
        elif mode == "version":
            pending = [f for f in pending if f.version == target]
            if not pending:
                raise MigrationError(f"no migration file with version {target} after {latest}")
        if not pending:
            self.say("No eligible migrations found.")
            return
        previous = str(latest) if latest else ""
        for file in pending:
            self.say(f"Applying migration version {file.version}: {file.name}")
            self.say(f"{file.path} contents:\n{file.path.read_text()}")
            if dry_run:
                continue
            started = _now()
            self._record(file, "RUNNING", previous, started_on=started)
            try:
                self._run_file(file, defines)
            except MigrationError as exc:
                self._record(
                    file,
                    "ERROR",
                    previous,
                    started_on=started,
                    completed_on=_now(),
                    error_reason=str(exc),
                )
                raise MigrationError(f"Failed to execute sql: {exc}") from exc
            self._record(file, "MIGRATED", previous, started_on=started, completed_on=_now())
            previous = str(file.version)
        self.say(
            "Dry run complete. No migrations were actually applied."
            if dry_run
            else "Successfully migrated"
        )

    def _run_file(self, file: MigrationFile, defines: dict[str, str]) -> None:
        """Its statements one by one: SET/UNSET and DEFINE/UNDEFINE hold for this file only."""
        properties: dict[str, str] = {}
        variables = dict(defines)
        for statement in _statements(file.path.read_text()):
            if m := _SET.match(statement):
                properties[m[1]] = m[2].replace("''", "'")
            elif m := _UNSET.match(statement):
                properties.pop(m[1], None)
            elif m := _DEFINE.match(statement):
                variables[m[1]] = m[2].replace("''", "'")
            elif m := _UNDEFINE.match(statement):
                variables.pop(m[1], None)
            else:
                text = re.sub(r"\$\{(\w+)\}", lambda v: variables.get(v[1], v[0]), statement)
                self.server.execute(text + ";", properties)

    def info(self) -> None:
        applied = self.applied()
        current = applied.get("CURRENT", {}).get("VERSION") or "<none>"
        self.say(f"Current migration version: {current}")
        header = [
            "Version",
            "Name",
            "State",
            "Previous Version",
            "Started On",
            "Completed On",
            "Error Reason",
        ]
        rows = []
        for file in migration_files(self.project):
            row = applied.get(str(file.version))
            if row is None:
                rows.append([str(file.version), file.name, "PENDING", "N/A", "N/A", "N/A", "N/A"])
                continue
            rows.append(
                [
                    str(file.version),
                    file.name,
                    row["STATE"],
                    row.get("PREVIOUS") or "<none>",
                    _shown_time(row.get("STARTED_ON")),
                    _shown_time(row.get("COMPLETED_ON")),
                    row.get("ERROR_REASON") or "N/A",
                ]
            )
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        rule = "-" * (sum(widths) + 3 * len(widths))
        for line in [rule, header, rule, *rows, rule]:
            self.say(
                line
                if isinstance(line, str)
                else " "
                + " | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True))
                + " "
            )


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _now() -> str:
    return str(int(time.time() * 1000))


def _shown_time(millis: str | None) -> str:
    if not millis:
        return "N/A"
    moment = datetime.fromtimestamp(int(millis) / 1000, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d} UTC"


def new_project(path: Path, url: str, say: Callable[[str], None] = print) -> None:
    say(f"Creating new migrations project at {path}")
    if (path / CONFIG_FILE).exists():
        raise MigrationError(f"{path / CONFIG_FILE} already exists: choose another folder")
    for folder in (path, path / "migrations"):
        if not folder.exists():
            say(f"Creating directory: {folder}")
            folder.mkdir(parents=True)
    say(f"Creating file: {path / CONFIG_FILE}")
    say(f"Writing to config file: {SERVER_URL}={url}")
    lines = [f"{SERVER_URL}={url}", *(f"# {d}" for d in _COMMENTED_DEFAULTS)]
    (path / CONFIG_FILE).write_text("\n".join(lines) + "\n")
    say("Migrations project directory created successfully")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config-file", help=f"the project's {CONFIG_FILE}")
    commands = parser.add_subparsers(dest="migrations_command", required=True)
    project = commands.add_parser("new-project", help="create a migrations project folder")
    project.add_argument("project_path")
    project.add_argument("server_url")
    commands.add_parser("initialize-metadata", help="create the metadata stream and table")
    commands.add_parser("destroy-metadata", help="drop the metadata stream and table")
    create = commands.add_parser("create", help="create the next migration file")
    create.add_argument("description")
    create.add_argument("-v", "--version", type=int)
    apply = commands.add_parser("apply", help="apply migration files")
    mode = apply.add_mutually_exclusive_group(required=True)
    mode.add_argument("-a", "--all", action="store_true")
    mode.add_argument("-n", "--next", action="store_true")
    mode.add_argument("-u", "--until", type=int)
    mode.add_argument("-v", "--version", type=int)
    apply.add_argument("-d", "--define", action="append", default=[], metavar="NAME=VALUE")
    apply.add_argument("--dry-run", action="store_true")
    commands.add_parser("info", help="the current version and every migration's state")
    commands.add_parser("validate", help="check applied migrations against the local files")


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
        _dispatch(args)
    except MigrationError as exc:
        print(f"streamdb migrations: {exc}")
        return 1
    print(f"Execution time: {time.monotonic() - started:.4f} seconds")
    return 0


def _dispatch(args: argparse.Namespace) -> None:
    command = args.migrations_command
    if command == "new-project":
        new_project(Path(args.project_path), args.server_url)
        return
    if not args.config_file:
        raise MigrationError(f"{command} needs the project's config file: -c PATH/{CONFIG_FILE}")
    tool = Migrations(Path(args.config_file))
    if command == "initialize-metadata":
        tool.initialize_metadata()
    elif command == "destroy-metadata":
        tool.destroy_metadata()
    elif command == "create":
        tool.create(args.description, args.version)
    elif command == "info":
        tool.info()
    elif command == "validate":
        tool.validate()
    else:
        mode = "all" if args.all else "next" if args.next else "until" if args.until else "version"
        defines = dict(d.split("=", 1) for d in args.define if "=" in d)
        tool.apply(mode, args.until or args.version, defines, args.dry_run)
