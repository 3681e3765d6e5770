"""ksqlDB's SQL test files (`run-ksql-test`), run by `streamdb test FILE.sql`:

    --@test: a join emits
    CREATE STREAM s (id INT KEY, foo INT) WITH (kafka_topic='s', value_format='JSON');
    INSERT INTO s (rowtime, id, foo) VALUES (1, 1, 2);
    ASSERT VALUES s (rowtime, id, foo) VALUES (1, 1, 2);

    --@test: a refused replacement
    --@expected.error: io.confluent.ksql.util.KsqlException
    --@expected.message: changed, missing or reordered

Each `--@test:` section runs on a fresh engine, statement by statement, every query running
until idle after each. `ASSERT VALUES src (cols) VALUES (...)` checks the next record of the
source's topic not yet asserted; `ASSERT NULL VALUES src (cols) KEY (...)` checks that it is a
tombstone with that key; `ASSERT STREAM|TABLE name (elements) WITH (...)` checks the source's
columns and the properties given. A test with `--@expected.message:` (or `.error:`) passes
when a statement fails with a message containing it.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grammar import ast
from grammar.parser import ParseError, parse
from planner.errors import PlanError
from planner.scope import Scope
from sqlengine import serde
from sqlengine.catalog import DataSource
from sqlengine.codegen import compile_expr
from sqlengine.engine import Engine
from sqlengine.results import StatementError
from sqlengine.runtime import QueryFailure
from sqlengine.sink import format_info
from sqlengine.testing.compare import CaseFailure, read_topic
from sqlengine.testing.runner import BACKEND_CONFIG, RUNNER_DEFAULTS, create_case_topics
from sqlengine.windowed_keys import split_windowed_key

_DIRECTIVE = re.compile(r"^\s*--@([\w.]+):\s*(.*?)\s*$")
# A statement's end: `;` outside quotes, backquotes and comments.
_PIECE = re.compile(r"'(?:[^']|'')*'|`[^`]*`|\"[^\"]*\"|--[^\n]*|/\*.*?\*/|;|[^'`\";/-]+|.", re.S)


@dataclass
class SqlTest:
    file: Path
    name: str
    line: int
    statements: list[tuple[int, str]] = field(default_factory=list)  # (line, text)
    expected_error: str | None = None
    expected_message: str | None = None


def load_sql_tests(file: Path) -> list[SqlTest]:
    """The `--@test:` sections of a file, their directives and statements."""
    tests: list[SqlTest] = []
    text = file.read_text()
    offsets = [0]
    for line in text.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    sections: list[tuple[SqlTest, int, int]] = []
    for number, line in enumerate(text.splitlines(), 1):
        match = _DIRECTIVE.match(line)
        if match is None:
            continue
        name, value = match.groups()
        if name == "test":
            tests.append(SqlTest(file, value, number))
            sections.append((tests[-1], offsets[number], len(text)))
            if len(sections) > 1:
                previous, start, _ = sections[-2]
                sections[-2] = (previous, start, offsets[number - 1])
        elif tests and name == "expected.error":
            tests[-1].expected_error = value
        elif tests and name == "expected.message":
            tests[-1].expected_message = value
    for test, start, end in sections:
        test.statements = _statements(text, start, end)
    return tests


def _statements(text: str, start: int, end: int) -> list[tuple[int, str]]:
    statements: list[tuple[int, str]] = []
    current: list[str] = []
    first = -1
    for match in _PIECE.finditer(text, start, end):
        piece = match.group()
        if piece == ";":
            if current:
                statements.append((text.count("\n", 0, first) + 1, "".join(current).strip()))
            current, first = [], -1
        elif piece.startswith(("--", "/*")):
            continue
        elif current or piece.strip():
            if first < 0:
                first = match.start() + len(piece) - len(piece.lstrip())
            current.append(piece)
    if "".join(current).strip():
        statements.append((text.count("\n", 0, first) + 1, "".join(current).strip()))
    return statements


class _Asserter:
    """The test-only ASSERT statements over one engine; remembers how far each topic was
    asserted."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.read: dict[str, int] = {}

    def run(self, text: str) -> bool:
        """Check an ASSERT statement (True), or tell that `text` is none (False)."""
        head = " ".join(text.split()[:3]).upper()
        if head.startswith("ASSERT VALUES"):
            self._values(_as_insert(text, "ASSERT VALUES"), tombstone=False)
        elif head.startswith("ASSERT NULL VALUES"):
            insert = re.sub(r"\bKEY\s*\(", "VALUES (", text, count=1, flags=re.I)
            self._values(_as_insert(insert, "ASSERT NULL VALUES"), tombstone=True)
        elif head.startswith(("ASSERT STREAM", "ASSERT TABLE")):
            self._source(text)
        else:
            return False
        return True

    def _next_record(self, source: DataSource, shown: str) -> Any:
        records = read_topic(self.engine, source.topic)
        position = self.read.get(source.topic, 0)
        if position >= len(records):
            raise CaseFailure(f"Expected another record ({shown}) for {source.name}, but got none")
        self.read[source.topic] = position + 1
        return records[position]

    def _values(self, insert: ast.InsertValues, tombstone: bool) -> None:
        source = _source(self.engine, insert.target)
        columns = list(
            insert.columns or [c.name for c in source.key_columns + source.value_columns]
        )
        expected = {
            name: _value(expr, source, name)
            for name, expr in zip(columns, insert.values, strict=True)
        }
        record = self._next_record(source, insert.text)
        actual = _decode(source, record, self.engine)
        if tombstone and record.value is not None:
            raise CaseFailure(f"Expected a tombstone for {source.name}, got {actual}")
        differ = {n: (v, actual.get(n)) for n, v in expected.items() if actual.get(n) != v}
        if differ:
            rows = "; ".join(f"{n}: expected {e!r}, actual {a!r}" for n, (e, a) in differ.items())
            raise CaseFailure(f"Expected record does not match actual: {rows}")

    def _source(self, text: str) -> None:
        statement = parse(re.sub(r"^\s*ASSERT", "CREATE", text, count=1, flags=re.I))[0]
        if not isinstance(statement, ast.CreateSource):
            raise CaseFailure(f"cannot read {text!r}: expected ASSERT STREAM|TABLE name (...)")
        source = _source(self.engine, statement.name)
        if source.kind != statement.kind:
            raise CaseFailure(
                f"Expected {source.name} to be a {statement.kind}, but it is a {source.kind}"
            )
        for element in statement.elements:
            column = source.column(element.name)
            wanted = element.type.sql_type
            if column is None or (wanted is not None and column.type != wanted):
                found = ", ".join(f"{c.name} {c.type}" for c in source.columns)
                raise CaseFailure(
                    f"Expected column {element.name} {wanted} in {source.name}, found: {found}"
                )


def _as_insert(text: str, prefix: str) -> ast.InsertValues:
    statement = parse(re.sub(rf"^\s*{prefix}", "INSERT INTO", text, count=1, flags=re.I))[0]
    if not isinstance(statement, ast.InsertValues):
        raise CaseFailure(f"cannot read {text!r}: expected {prefix} source (columns) VALUES (...)")
    return statement


def _source(engine: Engine, name: str) -> DataSource:
    source = engine.catalog.source(name)
    if source is None:
        raise CaseFailure(f"Source {name} does not exist")
    return source


def _value(expr: ast.Expr, source: DataSource, name: str) -> Any:
    """An expected value, converted to its column's type as INSERT VALUES converts it."""
    column = source.column(name)
    if column is not None:
        expr = ast.Cast(expr, ast.TypeRef(sql_type=column.type))
    return compile_expr(expr, Scope([]))(())


def _decode(source: DataSource, record: Any, engine: Engine) -> dict[str, Any]:
    row: dict[str, Any] = {"ROWTIME": record.timestamp}
    key = record.key
    if key is not None and source.window is not None:
        session = source.window.kind == "SESSION"
        key, start, end = split_windowed_key(key, session, source.window.size_ms)
        row.update(WINDOWSTART=start, WINDOWEND=end)
    registry = engine.schema_registry
    for columns, raw, fmt, is_key in (
        (source.key_columns, key, source.key_format, True),
        (source.value_columns, record.value, source.value_format, False),
    ):
        cols = [(c.name, c.type) for c in columns]
        if raw is None or not cols:
            continue
        decode = serde.make_deserializer(
            format_info(fmt), cols, is_key=is_key, topic=source.topic, registry=registry
        )
        values = decode(raw)
        if values is not None:
            row.update(zip([n for n, _ in cols], values, strict=True))
    return row


def run_sql_test(test: SqlTest) -> str | None:
    """None when the test passes, else why it failed."""
    with tempfile.TemporaryDirectory(prefix="streamdb-sqltest-") as data_dir:
        engine = Engine(data_dir, config={**RUNNER_DEFAULTS, **BACKEND_CONFIG})
        try:
            return _run(test, engine)
        finally:
            engine.close()


def _run(test: SqlTest, engine: Engine) -> str | None:
    expects_error = test.expected_error is not None or test.expected_message is not None
    asserter = _Asserter(engine)
    # As ksqlDB's tool: the topics the test's sources name exist before it runs.
    plain = [text for _, text in test.statements if not text.upper().startswith("ASSERT")]
    try:
        create_case_topics(engine, {"statements": plain})
    except (ParseError, PlanError):
        pass  # the statement fails when it runs, with its line
    for line, text in test.statements:
        try:
            if not asserter.run(text):
                engine.execute(text)
                engine.run_until_idle()
        except (StatementError, QueryFailure, ParseError, PlanError) as exc:
            if not expects_error:
                return f"Line {line}: {text[:80]}: {exc}"
            if test.expected_message and test.expected_message not in str(exc):
                return f"Line {line}: expected an error containing {test.expected_message!r}, got: {exc}"
            return None
        except CaseFailure as exc:
            return f"Test failure for assert `{text}` (Line: {line}): {exc}"
    if expects_error:
        return f"Expected an error ({test.expected_message or test.expected_error}), but none was raised"
    return None


def run_sql_test_files(files: list[Path]) -> tuple[int, int]:
    """Run every test of the files, printing ksqlDB's line for each: (passed, failed)."""
    passed = failed = 0
    for file in files:
        for test in load_sql_tests(file):
            reason = run_sql_test(test)
            if reason is None:
                passed += 1
                print(f"\t >>> Test passed! ({test.name})")
            else:
                failed += 1
                print(
                    f"\t >>>>> Test failed: {test.name}: {reason}\n\n{file.resolve().as_uri()}:{test.line}"
                )
    return passed, failed
