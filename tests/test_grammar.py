"""Tests of grammar.parser: every statement kind, literal typing, identifiers, errors, and the
ksqlDB conformance corpus (when ../shared/qtt is present)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from grammar import ast
from grammar.parser import ParseError, parse, parse_expression, unknown_statement_error
from planner.errors import PlanError
from sqlengine import pull
from sqlengine import types as T

QTT = Path(__file__).resolve().parents[2] / "shared" / "qtt"


def one(sql: str) -> ast.Statement:
    (statement,) = parse(sql)
    return statement


def query(sql: str) -> ast.Query:
    statement = one(sql)
    assert isinstance(statement, ast.SelectStatement)
    return statement.query


def lit(value: object, sql_type: T.SqlType | None) -> ast.Literal:
    return ast.Literal(value=value, type=sql_type)


def col(name: str, source: str | None = None) -> ast.ColumnRef:
    return ast.ColumnRef(name=name, source=source)


# ---------------------------------------------------------------------------- statements


def test_create_stream_with_columns_and_properties() -> None:
    s = one(
        "CREATE OR REPLACE SOURCE STREAM IF NOT EXISTS s (id INT KEY, v ARRAY<MAP<STRING, "
        "STRUCT<a DECIMAL(4, 2), `b` BYTES>>>, h ARRAY<STRUCT<key STRING, value BYTES>> HEADERS,"
        " hk BYTES HEADER('k'), t MyType) WITH (kafka_topic='t', \"Format\"='JSON', PARTITIONS=2);"
    )
    assert isinstance(s, ast.CreateSource)
    assert (s.kind, s.name, s.or_replace, s.is_source, s.if_not_exists) == (
        "STREAM",
        "S",
        True,
        True,
        True,
    )
    assert [(e.name, e.constraint, e.header_key) for e in s.elements] == [
        ("ID", "KEY", None),
        ("V", None, None),
        ("H", "HEADERS", None),
        ("HK", "HEADER", "k"),
        ("T", None, None),
    ]
    assert s.elements[0].type.sql_type == T.INTEGER
    assert s.elements[1].type.sql_type == T.Array(
        T.Map(T.STRING, T.Struct((T.Field("A", T.Decimal(4, 2)), T.Field("b", T.BYTES))))
    )
    assert s.elements[4].type == ast.TypeRef(custom_name="MYTYPE")
    assert s.properties == {
        "KAFKA_TOPIC": lit("t", T.STRING),
        "FORMAT": lit("JSON", T.STRING),
        "PARTITIONS": lit(2, T.INTEGER),
    }
    assert s.text.startswith("CREATE OR REPLACE") and s.text.endswith("PARTITIONS=2)")


def test_create_table_and_key_kinds() -> None:
    s = one("CREATE TABLE t (k STRING PRIMARY KEY, v STRUCT<>) WITH (kafka_topic='t');")
    assert isinstance(s, ast.CreateSource) and s.kind == "TABLE" and not s.or_replace
    assert s.elements[0].constraint == "PRIMARY KEY"
    assert s.elements[1].type.sql_type == T.Struct(())
    with pytest.raises(ParseError, match="Column `ID` is a 'KEY' column: please use 'PRIMARY KEY'"):
        parse("CREATE TABLE INPUT (ID INT KEY) WITH (kafka_topic='x');")
    with pytest.raises(ParseError, match="Line: 1, Col: 22: Column `ID` is a 'PRIMARY KEY'"):
        parse("CREATE STREAM INPUT (ID INT PRIMARY KEY) WITH (kafka_topic='x');")


def test_windowed_source_properties_are_checked() -> None:
    with pytest.raises(ParseError, match="Unknown time unit: 'BOBS'"):
        parse(
            "CREATE TABLE t (k INT PRIMARY KEY) WITH (WINDOW_TYPE='Hopping', WINDOW_SIZE='3 bobs');"
        )
    with pytest.raises(ParseError, match="'WINDOW_SIZE' should not be set for SESSION windows."):
        parse(
            "CREATE TABLE t (k INT PRIMARY KEY) WITH (WINDOW_TYPE='session', WINDOW_SIZE='3 SECONDS');"
        )
    ok = one(
        "CREATE TABLE t (k INT PRIMARY KEY) WITH (WINDOW_TYPE='tumbling', WINDOW_SIZE='3 SECONDS');"
    )
    assert ok.properties["WINDOW_SIZE"] == lit("3 SECONDS", T.STRING)


def test_create_as_select_with_window_join_and_clauses() -> None:
    s = one(
        "CREATE TABLE IF NOT EXISTS out WITH (kafka_topic='o') AS SELECT a.id, COUNT(*) AS n "
        "FROM a LEFT OUTER JOIN b AS bb WITHIN (1 SECOND, 2 MINUTES) GRACE PERIOD 3 HOURS "
        "ON a.id = bb.id JOIN c ON c.id = a.id "
        "WINDOW HOPPING (SIZE 10 SECONDS, ADVANCE BY 5 SECONDS, RETENTION 2 DAYS, "
        "GRACE PERIOD 100 MILLISECONDS) WHERE a.x > 1 GROUP BY a.id HAVING COUNT(*) > 2 "
        "EMIT FINAL;"
    )
    assert isinstance(s, ast.CreateAsSelect) and s.kind == "TABLE" and s.if_not_exists
    assert s.properties == {"KAFKA_TOPIC": lit("o", T.STRING)}
    q = s.query
    assert q.select == (
        ast.SelectColumn(col("ID", "A")),
        ast.SelectColumn(ast.FunctionCall("COUNT", (), star=True), alias="N"),
    )
    outer = q.from_
    assert isinstance(outer, ast.Join) and outer.kind == "INNER"
    assert outer.right == ast.SourceRef("C")
    inner = outer.left
    assert isinstance(inner, ast.Join) and inner.kind == "LEFT"
    assert (inner.left, inner.right) == (ast.SourceRef("A"), ast.SourceRef("B", alias="BB"))
    assert inner.within is not None
    assert (inner.within.before.millis, inner.within.after.millis) == (1000, 120_000)
    assert inner.within.grace == ast.Duration(3, "HOUR")
    assert inner.criteria == ast.BinaryOp("=", col("ID", "A"), col("ID", "BB"))
    assert q.window == ast.Window(
        kind="HOPPING",
        size=ast.Duration(10, "SECOND"),
        advance=ast.Duration(5, "SECOND"),
        retention=ast.Duration(2, "DAY"),
        grace=ast.Duration(100, "MILLISECOND"),
    )
    assert q.where == ast.BinaryOp(">", col("X", "A"), lit(1, T.INTEGER))
    assert q.group_by == (col("ID", "A"),)
    assert q.having is not None and q.emit == "FINAL"


def test_select_clauses() -> None:
    q = query(
        "SELECT *, s.*, st->*, x AS y, z w FROM s WINDOW TUMBLING (SIZE 1 HOUR) "
        "PARTITION BY a, b EMIT CHANGES LIMIT 10"
    )
    assert q.select[:3] == (
        ast.SelectStar(),
        ast.SelectStar(source="S"),
        ast.SelectStructAll(col("ST")),
    )
    assert q.select[3:] == (ast.SelectColumn(col("X"), "Y"), ast.SelectColumn(col("Z"), "W"))
    assert q.window == ast.Window(kind="TUMBLING", size=ast.Duration(1, "HOUR"))
    assert q.partition_by == (col("A"), col("B")) and q.emit == "CHANGES" and q.limit == 10
    assert query("SELECT a FROM s GROUP BY (a, b)").group_by == (col("A"), col("B"))
    session = query("SELECT a FROM s WINDOW SESSION (30 SECONDS, GRACE PERIOD 1 MINUTE)").window
    assert session == ast.Window(
        kind="SESSION", size=ast.Duration(30, "SECOND"), grace=ast.Duration(1, "MINUTE")
    )
    pull = query("SELECT * FROM t WHERE k = 1;")
    assert pull.emit is None and pull.limit is None


def test_insert_statements() -> None:
    s = one("INSERT INTO out WITH (QUERY_ID='q1') SELECT * FROM s EMIT CHANGES;")
    assert isinstance(s, ast.InsertInto) and s.target == "OUT"
    assert s.properties == {"QUERY_ID": lit("q1", T.STRING)}
    v = one("INSERT INTO s (k, `v`) VALUES ('a', -1.5);")
    assert isinstance(v, ast.InsertValues)
    assert v.columns == ("K", "v")
    assert v.values == (lit("a", T.STRING), lit(Decimal("-1.5"), T.Decimal(2, 1)))
    no_columns = one("INSERT INTO s VALUES ();")
    assert isinstance(no_columns, ast.InsertValues)
    assert (no_columns.columns, no_columns.values) == (None, ())


def test_drop_alter_and_types() -> None:
    assert one("DROP STREAM IF EXISTS s DELETE TOPIC") == ast.DropSource(
        "STREAM", "S", if_exists=True, delete_topic=True
    )
    assert one("DROP TABLE t") == ast.DropSource("TABLE", "T")
    assert one("DROP TYPE IF EXISTS ADDRESS") == ast.DropType("ADDRESS", if_exists=True)
    created = one("CREATE TYPE ADDRESS AS STRUCT<number INTEGER, city VARCHAR>")
    assert created == ast.CreateType(
        "ADDRESS",
        ast.TypeRef(sql_type=T.Struct((T.Field("NUMBER", T.INTEGER), T.Field("CITY", T.STRING)))),
    )
    altered = one("ALTER TABLE t ADD COLUMN c BIGINT, ADD d DOUBLE")
    assert isinstance(altered, ast.AlterSource) and altered.kind == "TABLE"
    assert [(e.name, e.type.sql_type) for e in altered.added] == [
        ("C", T.BIGINT),
        ("D", T.DOUBLE),
    ]


def test_admin_statements() -> None:
    assert one("TERMINATE CSAS_OUT_0") == ast.Terminate("CSAS_OUT_0")
    assert one("TERMINATE ALL") == ast.Terminate(None)
    assert one("PAUSE q1") == ast.PauseResume("PAUSE", "Q1")
    assert one("RESUME ALL") == ast.PauseResume("RESUME", None)
    assert one("SHOW STREAMS EXTENDED") == ast.Show("STREAMS", extended=True)
    assert one("LIST ALL TOPICS") == ast.Show("TOPICS", all_topics=True)
    for what in ("TABLES", "QUERIES", "PROPERTIES", "FUNCTIONS", "TYPES", "VARIABLES"):
        assert one(f"list {what.lower()}") == ast.Show(what)
    assert one("DESCRIBE s EXTENDED") == ast.Describe("S", extended=True)
    assert one("DESCRIBE TABLES") == ast.Describe(None, what="TABLES")
    assert one("DESCRIBE FUNCTION concat") == ast.DescribeFunction("CONCAT")
    assert one("PRINT 'my-topic' FROM BEGINNING INTERVAL 2 LIMIT 5") == ast.Print(
        "my-topic", from_beginning=True, interval=2, limit=5
    )
    assert one("PRINT topic_a") == ast.Print("TOPIC_A")
    assert one("SET 'auto.offset.reset'='earliest'") == ast.SetProperty(
        "auto.offset.reset", "earliest"
    )
    assert one("UNSET 'auto.offset.reset'") == ast.UnsetProperty("auto.offset.reset")
    assert one("DEFINE topic_name = 'it''s'") == ast.DefineVariable("topic_name", "it's")
    assert one("UNDEFINE topic_name") == ast.UndefineVariable("topic_name")
    assert one("RUN SCRIPT '/tmp/x.sql'") == ast.RunScript("/tmp/x.sql")


def test_explain() -> None:
    by_id = one("EXPLAIN CSAS_OUT_0;")
    assert by_id == ast.Explain(query_id="CSAS_OUT_0")
    explained = one("EXPLAIN\n  SELECT * FROM s EMIT CHANGES;")
    assert isinstance(explained, ast.Explain)
    assert isinstance(explained.statement, ast.SelectStatement)
    assert explained.statement.text == "SELECT * FROM s EMIT CHANGES"


def test_asserts() -> None:
    topic = one("ASSERT NOT EXISTS TOPIC 'x' WITH (partitions=1) TIMEOUT 3 SECONDS")
    assert topic == ast.AssertTopic(
        "x",
        properties={"PARTITIONS": lit(1, T.INTEGER)},
        exists=False,
        timeout=ast.Duration(3, "SECOND"),
    )
    assert one("ASSERT TOPIC abc") == ast.AssertTopic("ABC")
    assert one("ASSERT SCHEMA SUBJECT 'x-value' ID 4") == ast.AssertSchema("x-value", 4)
    assert one("ASSERT NOT EXISTS SCHEMA ID 4 TIMEOUT 1 MINUTE") == ast.AssertSchema(
        None, 4, exists=False, timeout=ast.Duration(1, "MINUTE")
    )


def test_script_splitting_text_and_positions() -> None:
    script = (
        "-- leading comment\n"
        "CREATE STREAM a (x STRING) WITH (kafka_topic='a;b');\n"
        "  /* block ; comment */ SELECT `odd;name` FROM a;;\n"
        "SHOW STREAMS"
    )
    statements = parse(script)
    assert [type(s) for s in statements] == [ast.CreateSource, ast.SelectStatement, ast.Show]
    assert statements[0].text == "CREATE STREAM a (x STRING) WITH (kafka_topic='a;b')"
    assert (statements[0].line, statements[0].column) == (2, 1)
    assert statements[1].text == "SELECT `odd;name` FROM a"
    assert (statements[1].line, statements[1].column) == (3, 25)
    select_item = statements[1].query.select[0]
    assert (select_item.line, select_item.column) == (3, 32)
    assert statements[2].text == "SHOW STREAMS" and statements[2].line == 4
    assert parse("  -- only a comment\n") == []


# ---------------------------------------------------------------------------- expressions


def test_expression_precedence() -> None:
    e = parse_expression("a OR NOT b AND c = 1 + 2 * -x")
    assert e == ast.BinaryOp(
        "OR",
        col("A"),
        ast.BinaryOp(
            "AND",
            ast.UnaryOp("NOT", col("B")),
            ast.BinaryOp(
                "=",
                col("C"),
                ast.BinaryOp(
                    "+",
                    lit(1, T.INTEGER),
                    ast.BinaryOp("*", lit(2, T.INTEGER), ast.UnaryOp("-", col("X"))),
                ),
            ),
        ),
    )
    assert parse_expression("a || b + c") == ast.BinaryOp(
        "||", col("A"), ast.BinaryOp("+", col("B"), col("C"))
    )
    assert parse_expression("a != b") == ast.BinaryOp("<>", col("A"), col("B"))
    assert parse_expression("(a + b) % c") == ast.BinaryOp(
        "%", ast.BinaryOp("+", col("A"), col("B")), col("C")
    )


def test_predicates() -> None:
    assert parse_expression("x NOT BETWEEN 1 AND 5") == ast.Between(
        col("X"), lit(1, T.INTEGER), lit(5, T.INTEGER), negated=True
    )
    assert parse_expression("x IN (1, 2)") == ast.InList(
        col("X"), (lit(1, T.INTEGER), lit(2, T.INTEGER))
    )
    assert parse_expression("x NOT LIKE 'a!%' ESCAPE '!'") == ast.Like(
        col("X"), lit("a!%", T.STRING), escape="!", negated=True
    )
    assert parse_expression("x IS NOT NULL") == ast.IsNull(col("X"), negated=True)
    assert parse_expression("x IS NOT DISTINCT FROM y") == ast.BinaryOp(
        "IS NOT DISTINCT FROM", col("X"), col("Y")
    )
    assert parse_expression("x IS DISTINCT FROM y").op == "IS DISTINCT FROM"


def test_primary_expressions() -> None:
    assert parse_expression("CASE WHEN a THEN 1 ELSE 2 END") == ast.Case(
        None, (ast.WhenClause(col("A"), lit(1, T.INTEGER)),), lit(2, T.INTEGER)
    )
    assert parse_expression("CASE a WHEN 'x' THEN 1 END") == ast.Case(
        col("A"), (ast.WhenClause(lit("x", T.STRING), lit(1, T.INTEGER)),)
    )
    assert parse_expression("CAST(a AS DECIMAL(5, 2))") == ast.Cast(
        col("A"), ast.TypeRef(sql_type=T.Decimal(5, 2))
    )
    assert parse_expression("ARRAY[1, 2]") == ast.ArrayConstructor(
        (lit(1, T.INTEGER), lit(2, T.INTEGER))
    )
    assert parse_expression("MAP('k' := 1)") == ast.MapConstructor(
        ((lit("k", T.STRING), lit(1, T.INTEGER)),)
    )
    assert parse_expression("STRUCT(f := 1, `g` := 'x')") == ast.StructConstructor(
        (("F", lit(1, T.INTEGER)), ("g", lit("x", T.STRING)))
    )
    assert parse_expression("s.a->b[1]") == ast.Subscript(
        ast.Dereference(col("A", "S"), "B"), lit(1, T.INTEGER)
    )
    assert parse_expression("COUNT(DISTINCT x)") == ast.FunctionCall(
        "COUNT", (col("X"),), distinct=True
    )
    assert parse_expression("TIMESTAMPADD(SECONDS, 5, ts)") == ast.FunctionCall(
        "TIMESTAMPADD", (ast.IntervalUnit("SECOND"), lit(5, T.INTEGER), col("TS"))
    )
    # MAP / ARRAY / STRUCT are not reserved: alone they are column names.
    assert parse_expression("REDUCE(map, 0, (s, k) => s + k)") == ast.FunctionCall(
        "REDUCE",
        (
            col("MAP"),
            lit(0, T.INTEGER),
            ast.Lambda(("S", "K"), ast.BinaryOp("+", col("S"), col("K"))),
        ),
    )
    assert parse_expression("TRANSFORM(arr, x => x * 2)").args[1] == ast.Lambda(
        ("X",), ast.BinaryOp("*", col("X"), lit(2, T.INTEGER))
    )
    assert parse_expression("FILTER(arr, (x) => x > 0)").args[1].params == ("X",)


# ---------------------------------------------------------------------------- literals


@pytest.mark.parametrize(
    ("text", "value", "sql_type"),
    [
        ("1", 1, T.INTEGER),
        ("2147483647", 2**31 - 1, T.INTEGER),
        ("2147483648", 2**31, T.BIGINT),
        ("-2147483648", -(2**31), T.INTEGER),
        ("-2147483649", -(2**31) - 1, T.BIGINT),
        ("9223372036854775807", 2**63 - 1, T.BIGINT),
        ("-9223372036854775808", -(2**63), T.BIGINT),
        ("1.50", Decimal("1.50"), T.Decimal(3, 2)),
        ("0.5", Decimal("0.5"), T.Decimal(2, 1)),
        ("-0.005", Decimal("-0.005"), T.Decimal(4, 3)),
        ("12.", Decimal("12"), T.Decimal(2, 0)),
        ("1.5E2", 150.0, T.DOUBLE),
        ("-1e-3", -0.001, T.DOUBLE),
        ("'it''s'", "it's", T.STRING),
        ("TRUE", True, T.BOOLEAN),
        ("false", False, T.BOOLEAN),
        ("NULL", None, None),
    ],
)
def test_literal_typing(text: str, value: object, sql_type: T.SqlType | None) -> None:
    e = parse_expression(text)
    assert e == lit(value, sql_type)
    assert type(e.value) is type(value)


def test_negation_folds_only_into_a_number_written_after_it() -> None:
    assert parse_expression("-(5)") == ast.UnaryOp("-", lit(5, T.INTEGER))
    assert parse_expression("a - 5") == ast.BinaryOp("-", col("A"), lit(5, T.INTEGER))
    assert parse_expression("- 2147483648") == lit(-(2**31), T.INTEGER)


def test_numeric_literal_overflow() -> None:
    # ksqlDB prints the position of this error one column to the right; so do we.
    with pytest.raises(ParseError, match=r"line 1:6: Invalid numeric literal: 9223372036854775808"):
        parse_expression("1 + 9223372036854775808")
    with pytest.raises(ParseError, match="Invalid numeric literal: -9223372036854775809"):
        parse_expression("-9223372036854775809")
    with pytest.raises(ParseError, match="Number overflows DOUBLE: -1.7976931348623160E308"):
        parse("SELECT -1.7976931348623160E308 FROM s;")


# ---------------------------------------------------------------------------- identifiers


def test_identifier_case_rules() -> None:
    q = query('SELECT abc, `MixedCase`, "dq""x", 1st FROM `my stream` AS t;')
    assert [item.expr.name for item in q.select] == ["ABC", "MixedCase", 'dq"x', "1ST"]
    assert q.from_ == ast.SourceRef("my stream", alias="T")


def test_non_reserved_keywords_are_identifiers() -> None:
    words = "KEY VALUE NAME TIMESTAMP DATE TIME TYPE SOURCE FORMAT SESSION EMIT HEADERS ID"
    s = one(
        "CREATE STREAM s ("
        + ", ".join(f"{w.lower()} STRING" for w in words.split())
        + ") WITH (kafka_topic='x');"
    )
    assert [e.name for e in s.elements] == words.split()
    q = query("SELECT key, type->name, windowstart, rowtime FROM s EMIT CHANGES")
    assert q.select[1].expr == ast.Dereference(col("TYPE"), "NAME")
    assert q.emit == "CHANGES"


def test_reserved_words_are_not_identifiers() -> None:
    with pytest.raises(ParseError) as info:
        parse("SELECT * FROM select_ WHERE from = 1;")
    assert info.value.token == "from"
    assert "Syntax error at or near 'from' at line 1:29" in info.value.message
    assert query("SELECT `FROM` FROM s").select[0].expr == col("FROM")


# ---------------------------------------------------------------------------- errors


def test_syntax_error_carries_position_token_and_expectation() -> None:
    sql = "CREATE STREAM INPUT (K STRING (KEY)) WITH (kafka_topic='input');"
    with pytest.raises(ParseError) as info:
        parse("\n" + sql)
    e = info.value
    assert (e.line, e.column, e.token) == (2, 32, "KEY")
    assert e.expected == ["'STRING'", "INTEGER_VALUE"]
    assert e.statement_text == sql[:-1]
    assert (
        "line 2:32: Syntax Error\nExpecting {'STRING', INTEGER_VALUE}\n"
        f"Statement: {sql}" in e.message
    )


def test_syntax_error_reports_what_may_follow_a_complete_element() -> None:
    with pytest.raises(ParseError) as info:
        parse("CREATE STREAM INPUT (K VARCHAR(STRING) (KEY)) WITH (kafka_topic='input');")
    assert "line 1:40: Syntax Error\nExpecting {',', ')'}" in info.value.message


def test_syntax_error_at_end_and_reserved_word() -> None:
    with pytest.raises(ParseError) as info:
        parse("SELECT a FROM")
    assert (info.value.token, info.value.line, info.value.column) == ("<EOF>", 1, 14)
    assert "IDENTIFIER" in info.value.expected
    with pytest.raises(ParseError) as info:
        parse("CREATE STREAM OUTPUT AS SELECT ID, cast(f0 as NULL) FROM TEST;")
    assert "Syntax error at or near 'NULL' at line 1:47" in info.value.message
    with pytest.raises(ParseError, match="Syntax Error"):
        parse("CREATE TABLE OUTPUT AS SELECT COUNT(*) FROM TEST GROUP BY DATA AND ID;")
    with pytest.raises(ParseError, match="line 1:25: Syntax Error"):
        parse("SELECT a FROM s WHERE x # 1")


def test_unknown_statement() -> None:
    with pytest.raises(ParseError) as info:
        parse("SELECT 1 FROM s;\nFOO bar;")
    assert info.value.message.startswith("line 2:1: Syntax Error\nUnknown statement 'FOO'")
    error = unknown_statement_error(one("RUN SCRIPT 'foo';"))
    assert "line 1:1: Syntax Error\nUnknown statement 'RUN'" in error.message


# ---------------------------------------------------------------------------- corpus


def _qtt_cases() -> list[tuple[str, list[str], dict]]:
    """(name, scripts, expected error) per case and format. The query-validation runner
    parses a case's statements as one script; the REST runner sends them one by one."""
    cases = []
    for folder in ("query-validation-tests", "rest-query-validation-tests"):
        for path in sorted((QTT / folder).glob("*.json")):
            for case in json.loads(path.read_text()).get("tests", []):
                error = case.get("expectedException") or case.get("expectedError") or {}
                for fmt in dict.fromkeys(case.get("format") or ["JSON"]):
                    statements = [s.replace("{FORMAT}", fmt) for s in case.get("statements", [])]
                    scripts = statements if folder.startswith("rest") else ["\n".join(statements)]
                    cases.append((f"{path.name}: {case['name']}", scripts, error))
    return cases


def _refused_without_analytics(statement: ast.Statement, message: str) -> bool:
    """Pull-only syntax (ORDER BY, subqueries in FROM) parses; with analytical pull queries
    off, the pull query is refused with the syntax error ksqlDB's grammar gives."""
    if not isinstance(statement, ast.SelectStatement) or not statement.query.analytic:
        return False
    try:
        pull.check_clauses(statement.query, {pull.ANALYTICS: "false"}, statement)
    except PlanError as exc:
        return exc.message == message
    return False


def test_qtt_corpus_parses() -> None:
    if not QTT.is_dir():
        pytest.skip(f"ksqlDB conformance corpus not found at {QTT}")
    unexpected_failures, missed_failures = [], []
    for name, scripts, error in _qtt_cases():
        message = error.get("message", "")
        expects_parse_failure = (
            error.get("type", "").endswith("ParseFailedException") or "Syntax Error" in message
        )
        try:
            for statement in (s for script in scripts for s in parse(script)):
                if isinstance(statement, ast.RunScript):
                    raise unknown_statement_error(statement)
        except ParseError as e:
            # ksqlDB's expected-token lists differ by version: the first line must match.
            if not expects_parse_failure:
                unexpected_failures.append(f"{name}: {e.message}")
            elif message not in e.message and message.split("\n")[0] not in e.message:
                missed_failures.append(f"{name}: wanted {message!r}, got {e.message!r}")
            continue
        if expects_parse_failure and not _refused_without_analytics(statement, message):
            missed_failures.append(f"{name}: parsed, but ksqlDB fails with {error['message']!r}")
    assert unexpected_failures == []
    assert missed_failures == []
