"""The REPL driven as a person drives it: a pseudo-terminal to type into and a screen to read
(the program's output with terminal control sequences removed), against an in-process engine
(`--local`) and against a real server on 127.0.0.1; and its non-interactive forms."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pexpect
import pytest

from repl.client import schema_columns
from repl.lexer import is_complete, split_statements

STREAMDB = str(Path(sys.executable).with_name("streamdb"))
TIMEOUT = 60.0  # a bound for a loaded machine: every wait ends once its text shows
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Z0-9]|\x1b[=>]|\r")

CREATE_WIDGETS = (
    "CREATE STREAM widgets (sensor_id VARCHAR KEY, colour VARCHAR, weight_g INT)",
    "    WITH (kafka_topic='widgets', value_format='JSON', partitions=1);",
)
INSERTS = (
    "INSERT INTO widgets (sensor_id, colour, weight_g) VALUES ('aa-101', 'RED', 100); "
    "INSERT INTO widgets (sensor_id, colour, weight_g) VALUES ('aa-102', 'BLUE', 130); "
    "INSERT INTO widgets (sensor_id, colour, weight_g) VALUES ('aa-103', 'RED', 125);"
)
CSAS = "CREATE STREAM widgets_red AS SELECT * FROM widgets WHERE colour = 'RED' EMIT CHANGES;"


class Terminal:
    """A REPL in a pseudo-terminal. `expect` waits for texts to appear on the screen, in order,
    after what earlier calls already read, and returns the screen text it read through."""

    def __init__(self, args: list[str], home: Path) -> None:
        env = {**os.environ, "HOME": str(home), "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1"}
        self.child = pexpect.spawn(
            STREAMDB, args, env=env, encoding="utf-8", timeout=TIMEOUT, dimensions=(50, 120)
        )
        self.screen = ""
        self.seen = 0

    def expect(self, *texts: str, timeout: float = TIMEOUT) -> str:
        start = self.seen
        deadline = time.monotonic() + timeout
        for text in texts:
            while (found := self.screen.find(text, self.seen)) < 0:
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"{text!r} not on screen; after it:\n{self.screen[start:]}"
                    )
                self._read()
            self.seen = found + len(text)
        return self.screen[start : self.seen]

    def _read(self) -> None:
        try:
            self.screen += _CONTROL.sub("", self.child.read_nonblocking(4096, timeout=0.1))
        except pexpect.TIMEOUT:
            pass

    def run(self, line: str, *shown: str) -> str:
        """Type a line, see `shown` and then the next prompt."""
        self.child.sendline(line)
        return self.expect(*shown, "ksql>")

    def exit(self) -> int:
        self.child.sendline("exit")
        self.expect("Exiting streamdb.")
        self.child.expect(pexpect.EOF, timeout=TIMEOUT)
        self.child.close()
        return self.child.exitstatus


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    """A `streamdb server` on `port`, once it answers; AssertionError if it exits first (the
    port was taken: `free_port` only finds a port that was free a moment ago)."""
    server = subprocess.Popen(
        [STREAMDB, "server", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/info", timeout=5).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    stop(server)
    raise AssertionError(f"the server did not start on port {port} (exit code {server.poll()})")


def start_server_on_a_free_port(data_dir: Path) -> tuple[int, subprocess.Popen[bytes]]:
    """`start_server` on a fresh free port, again on another if another process took it."""
    for _ in range(2):
        port = free_port()
        try:
            return port, start_server(port, data_dir)
        except AssertionError:
            pass
    port = free_port()
    return port, start_server(port, data_dir)


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port, process = start_server_on_a_free_port(tmp_path / "server-data")
    yield f"http://127.0.0.1:{port}"
    stop(process)


def walk_through(term: Terminal) -> None:
    """A first session: create, insert, query, describe, make a mistake."""
    term.expect("Server Status: RUNNING", "ksql>")
    term.child.sendline(CREATE_WIDGETS[0])  # Enter before the `;` continues the statement
    term.run(CREATE_WIDGETS[1], " Message", " Stream created ")
    inserted = term.run(INSERTS + " SHOW STREAMS;", " Stream Name ", " WIDGETS ")
    assert "Message" not in inserted  # INSERT VALUES prints nothing

    pull = term.run("SELECT * FROM widgets;", "|SENSOR_ID", "|aa-101", "Query terminated")
    pull += term.screen[term.seen :]
    assert "|aa-102" in pull and "|aa-103" in pull and "Limit Reached" not in pull

    term.run(CSAS, "Created query with ID CSAS_WIDGETS_RED_")
    term.run("SET 'auto.offset.reset'='earliest';", "Successfully changed local property")
    limited = term.run(
        "SELECT sensor_id, weight_g FROM widgets_red EMIT CHANGES LIMIT 2;",
        "|SENSOR_ID",
        "|WEIGHT_G",
        "|aa-101",
        "|aa-103",
        "Limit Reached",
        "Query terminated",
    )
    assert "aa-102" not in limited

    described = term.run("DESCRIBE widgets_red;", "Name                 : WIDGETS_RED", "DESCRIBE")
    assert re.search(r"SENSOR_ID \| VARCHAR\(STRING\)  \(key\)", described)
    assert re.search(r"WEIGHT_G  \| INTEGER", described)

    wrong = term.run(
        "SELECT * FROM widgets WHER colour = 'RED';", "line 1:28: Syntax Error", "Statement:", "^"
    )
    lines = wrong.splitlines()
    statement = next(i for i, line in enumerate(lines) if line.startswith("Statement: SELECT"))
    assert lines[statement + 1].index("^") == len("Statement: ") + 27  # under `colour`


def test_local_session(tmp_path: Path) -> None:
    term = Terminal(["cli", "--local", "--data-dir", str(tmp_path / "data")], tmp_path)
    walk_through(term)
    term.child.sendline("SELECT * FROM widgets EMIT CHANGES;")
    term.expect("|aa-101", "|aa-102", "|aa-103")
    term.child.sendintr()
    stopped = term.expect("Query terminated", "ksql>")
    assert "^C" not in stopped  # the terminal does not echo it into the table's border
    term.run("SHOW STREAMS;", " WIDGETS_RED | WIDGETS_RED ")  # the REPL outlived Ctrl-C
    term.run("SHOW TOPICS;", " Kafka Topic ")
    term.child.send("\x12")  # Ctrl-R: search the history backwards
    term.expect("I-search backward")
    term.child.send("SHOW ST")
    term.expect("SHOW STREAMS;")
    term.child.send("\r")  # Enter takes the match and, a whole statement, runs it
    term.expect(" WIDGETS_RED | WIDGETS_RED ", "ksql>")
    term.child.send("DESCRIBE widgets_r\t")  # Tab completes from the live catalog
    # The completion lands asynchronously: type on only once it shows (a `;` read in the same
    # chunk as the Tab would be typed before the completion and then discard it).
    term.expect("DESCRIBE WIDGETS_RED")
    term.run(";", "Name                 : WIDGETS_RED")
    assert term.exit() == 0
    assert "SHOW STREAMS;" in (tmp_path / ".streamdb_history").read_text()


def test_server_session(tmp_path: Path, server: str) -> None:
    term = Terminal(["cli", server], tmp_path)
    term.expect(f"located at {server}")
    walk_through(term)
    term.run("UNSET 'auto.offset.reset';", "Successfully unset local property")
    term.child.sendline("SELECT sensor_id, colour FROM widgets_red EMIT CHANGES;")
    term.expect("|SENSOR_ID", "|COLOUR")
    insert = "INSERT INTO widgets (sensor_id, colour, weight_g) VALUES ('aa-104', 'RED', 90);"
    httpx.post(f"{server}/ksql", json={"ksql": insert}, timeout=TIMEOUT).raise_for_status()
    term.expect("|aa-104")  # a row that arrived while the query ran
    term.child.sendintr()
    term.expect("Query terminated", "ksql>")
    term.run("SHOW QUERIES;", "CSAS_WIDGETS_RED_")
    assert term.exit() == 0


def test_lost_connection_and_reconnect(tmp_path: Path) -> None:
    port, process = start_server_on_a_free_port(tmp_path / "data")
    term = Terminal(["cli", f"http://127.0.0.1:{port}"], tmp_path)
    try:
        term.expect("Server Status: RUNNING", "ksql>")
        term.run(" ".join(CREATE_WIDGETS), "Stream created")
        stop(process)
        term.run("SHOW STREAMS;", "Lost connection to the server at http://127.0.0.1:")
        term.run("SHOW STREAMS;", "still unreachable")
        process = start_server(port, tmp_path / "data")
        term.run("SHOW STREAMS;", "Reconnected to the server", " WIDGETS ")
        assert term.exit() == 0
    finally:
        stop(process)


# ---------------------------------------------------------------------------- non-interactive


def streamdb_cli(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STREAMDB, "cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_execute_option(tmp_path: Path) -> None:
    sql = " ".join(CREATE_WIDGETS) + INSERTS + "SELECT sensor_id FROM widgets WHERE weight_g > 110;"
    done = streamdb_cli("--local", "--data-dir", str(tmp_path), "-e", sql)
    assert done.returncode == 0, done.stderr
    assert "Stream created" in done.stdout
    assert "|aa-102" in done.stdout and "|aa-103" in done.stdout and "aa-101" not in done.stdout
    assert done.stderr == ""


def test_file_stops_at_first_error(tmp_path: Path, server: str) -> None:
    script = tmp_path / "script.sql"
    script.write_text(
        "\n".join(CREATE_WIDGETS)
        + "\nDESCRIBE nowhere;\nCREATE STREAM never_made AS SELECT * FROM widgets;\n"
    )
    done = streamdb_cli(server, "-f", str(script))
    assert done.returncode == 1
    assert "Stream created" in done.stdout
    assert "NOWHERE" in done.stderr and "Statement: DESCRIBE nowhere;" in done.stderr
    shown = streamdb_cli(server, "-e", "SHOW STREAMS;")
    assert " WIDGETS " in shown.stdout and "NEVER_MADE" not in shown.stdout


def test_stdin_session_commands(tmp_path: Path) -> None:
    spool = tmp_path / "spool.txt"
    script = "\n".join(
        [
            *CREATE_WIDGETS,
            INSERTS,
            "DEFINE colour = 'BLUE';",
            f"SPOOL '{spool}';",
            "SELECT sensor_id FROM widgets WHERE colour = '${colour}';",
            "SPOOL OFF;",
            "OUTPUT JSON;",
            "SHOW STREAMS;",
        ]
    )
    done = streamdb_cli("--local", "--data-dir", str(tmp_path / "data"), stdin=script)
    assert done.returncode == 0, done.stderr
    spooled = spool.read_text()
    assert "|aa-102" in spooled and "aa-101" not in spooled
    # The statements typed are in the spool too, before what they printed.
    typed = "ksql> SELECT sensor_id FROM widgets WHERE colour = '${colour}';"
    assert spooled.index(typed) < spooled.index("|aa-102")
    assert spooled.rstrip().endswith("ksql> SPOOL OFF;")
    assert '"@type": "streams"' in done.stdout and "Stream Name" not in done.stdout


def test_a_struct_columns_fields_are_not_columns_of_the_header() -> None:
    """The processing log's MESSAGE is a STRUCT of STRUCTs: one column, not 23."""
    schema = (
        "`LOGGER` STRING, `MESSAGE` STRUCT<`TYPE` INTEGER, "
        "`DESERIALIZATIONERROR` STRUCT<`TARGET` STRING, `CAUSE` ARRAY<STRING>>>, "
        "`M` MAP<STRING, STRUCT<`X` INT>>, `odd``<name` INT"
    )
    assert schema_columns(schema) == ["LOGGER", "MESSAGE", "M", "odd`<name"]


def test_explain_prints_a_querys_failed_records(server: str) -> None:
    """EXPLAIN of a persistent query prints its host status, its statistics with the count of
    records that failed, and each failed record as ksqlDB's CLI prints a query's errors."""
    setup = (
        "CREATE STREAM nums (v INT) WITH (kafka_topic='nums', value_format='JSON', partitions=1);"
        "CREATE STREAM inverted AS SELECT 10 / v AS q FROM nums;"
        "INSERT INTO nums (v) VALUES (0);"
    )
    assert streamdb_cli(server, "-e", setup).returncode == 0
    (query,) = [
        q["id"]
        for q in httpx.post(f"{server}/ksql", json={"ksql": "SHOW QUERIES;"}).json()[0]["queries"]
    ]
    deadline = time.monotonic() + 60
    while "consumer-failed-messages:         1" not in (
        out := streamdb_cli(server, "-e", f"EXPLAIN {query};").stdout
    ):
        assert time.monotonic() < deadline, out
        time.sleep(0.2)
    assert re.search(r"Host Query Status    : \{127\.0\.0\.1:\d+=RUNNING\}", out)
    assert "Local runtime statistics" in out and "consumer-total-messages:         1" in out
    assert re.search(r"Error Date           : \d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \(UTC\)", out)
    assert "Error Details        : RECORD_PROCESSING_ERROR: / by zero" in out
    assert "Error Type           : USER" in out


def test_server_from_environment_values_and_introspection(tmp_path: Path, server: str) -> None:
    """With no URL argument the CLI finds the server in STREAMDB_URL; values, PRINT and the
    catalog print as ksqlDB's CLI prints them."""
    script = (
        "CREATE STREAM moments (id INT KEY, happened TIMESTAMP, day DATE, hour TIME) "
        "WITH (kafka_topic='moments', value_format='JSON', partitions=1);"
        "INSERT INTO moments (id, happened, day, hour) "
        "VALUES (1, '2019-07-09T01:00:00.000', '2021-01-01', '01:00:00');"
        "CREATE STREAM moments_copy AS SELECT * FROM moments;"
        "SELECT * FROM moments;"
        "PRINT 'moments' FROM BEGINNING LIMIT 1;"
        "DESCRIBE STREAMS EXTENDED;"
        "SHOW TOPICS EXTENDED;"
        "SHOW FUNCTIONS;"
        "SET 'no.such.property'='1';"
    )
    done = streamdb_cli("-e", script, env={"STREAMDB_URL": server, "COLUMNS": "200"})
    assert done.returncode == 1  # the last statement is refused
    out = done.stdout
    assert "|2019-07-09T01:00:00.000" in out and "|2021-01-01" in out and "|01:00:00" in out
    assert re.search(r"rowtime: \d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{3} Z, key: 1, ", out)
    assert "Value format: JSON or KAFKA_STRING" in out
    assert "Name                 : MOMENTS" in out and "Name                 : MOMENTS_COPY" in out
    assert "Runtime statistics by host" in out and "| total-messages " in out
    assert re.search(r" Kafka Topic +\| Partitions \| Partition Replicas \| Consumers ", out)
    assert re.search(r" moments +\| 1 +\| 1 +\| 1 +\| 1 ", out)
    assert re.search(r" COUNT +\| AGGREGATE ", out)
    assert "BAD_UDF" not in out and "TEST_UDTF" not in out  # the test runner's own functions
    assert "Not recognizable as ksql, streams, consumer, or producer property" in done.stderr


def test_statement_splitting() -> None:
    text = "SELECT ';' FROM s; -- a; comment\nSHOW `a;b`;\nhelp\nSELECT 1"
    assert split_statements(text) == (
        ["SELECT ';' FROM s;", "SHOW `a;b`;", "help"],
        "SELECT 1",
    )
    assert is_complete("exit") and is_complete("SHOW STREAMS;\n")
    assert not is_complete("SELECT * FROM s") and not is_complete("SELECT 'a;")
