"""`streamdb test PATH...`: runs query-validation test (QTT) files and reports as
ksql-test-runner does, the cases spread over worker processes (sqlengine.testing runs one).

The REST cases (`rest-query-validation-tests`) run through this server's real app, in process
over httpx's ASGI transport, as ksqlDB's RestTestExecutor does: statements before the first
SELECT go to /ksql in one request; inputs are produced (after the first push query is
running, when `inputConditions.waitForActivePushQuery` says so) and persistent queries catch
up; then each SELECT goes to /query. Responses are matched field by field against
`responses` (only the fields a case lists), errors against `expectedError`.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
from google.protobuf import message_factory, text_format

from server.app import create_app
from server.queries import PROTOBUF_MEDIA_TYPE
from server.requests import property_map
from sqlengine.engine import Engine
from sqlengine.serde.protobuf_format import ProtobufSchema
from sqlengine.serde.protobuf_schema import proto_file
from sqlengine.testing.cases import Case, load_cases
from sqlengine.testing.compare import CaseFailure, compare_outputs
from sqlengine.testing.runner import (
    BACKEND_CONFIG,
    FAILED,
    RUNNER_DEFAULTS,
    CaseResult,
    create_case_topics,
    on_backend,
    produce,
    refusal_config,
    run_case,
)
from sqlengine.testing.sql_tests import run_sql_test_files

REST_TESTS_FOLDER = "rest-query-validation-tests"
# Upstream's REST test server reads from the earliest offsets unless a case says otherwise.
SERVER_CONFIG = {**RUNNER_DEFAULTS, "auto.offset.reset": "earliest"}
# Upstream's REST tests run on a Kafka cluster where a topic a statement names is created
# with ksqlDB's legacy default of 4 partitions; pull query scans read partition by partition.
STATEMENT_TOPIC_PARTITIONS = 4
QUERY_TIMEOUT = 5.0
STARTS_WITH = "starts_with"
# A query whose rows come in a set order, which its response must keep.
_ORDERED = re.compile(r"\bORDER\s+BY\b", re.IGNORECASE)


def _run_one(case: Case) -> CaseResult:
    return run_case(case, run_rest if is_rest_case(case) else None)


def _run_chunk(cases: list[Case]) -> list[tuple[str, str, str]]:
    return [(r.case.label, r.status, r.reason) for r in map(_run_one, cases)]


def run_cases(
    cases: list[Case], jobs: int | None = None, backend: dict[str, str] | None = None
) -> list[tuple[str, str, str]]:
    """(label, status, reason) of every case, in the cases' order; runs in worker processes,
    or one after the other on a Kafka cluster (`backend` names it), as cases name the same
    topics."""
    if backend and backend.get("bootstrap.servers"):
        with on_backend(backend):
            return _run_chunk(cases)
    jobs = jobs or min(4, os.cpu_count() or 1)
    if jobs <= 1 or len(cases) <= 20:
        return _run_chunk(cases)
    chunks = [list(range(i, len(cases), jobs * 4)) for i in range(jobs * 4)]
    results: list[tuple[str, str, str] | None] = [None] * len(cases)
    with ProcessPoolExecutor(jobs) as pool:
        for indexes, part in zip(
            chunks, pool.map(_run_chunk, [[cases[i] for i in c] for c in chunks]), strict=True
        ):
            for i, r in zip(indexes, part, strict=True):
                results[i] = r
    return [r for r in results if r is not None]


def run_tests(
    paths: list[str],
    json_out: str | None = None,
    jobs: int | None = None,
    backend: dict[str, str] | None = None,
) -> int:
    sql_files = [f for f in map(Path, paths) if f.suffix == ".sql"]
    sql_files += [f for p in map(Path, paths) if p.is_dir() for f in sorted(p.glob("*.sql"))]
    counts: Counter[str] = Counter()
    if sql_files:  # ksqlDB's SQL test files (run-ksql-test)
        counts["passed"], counts["failed"] = run_sql_test_files(sql_files)
    results = run_cases(load_cases([p for p in paths if not p.endswith(".sql")]), jobs, backend)
    for label, status, reason in results:
        counts[status] += 1
        if status == FAILED:
            print(f"FAIL {label}: {reason.splitlines()[0] if reason else ''}")
    if json_out:
        Path(json_out).write_bytes(
            orjson.dumps(
                [
                    {"case": label, "status": status, "reason": reason}
                    for label, status, reason in results
                ],
                option=orjson.OPT_INDENT_2,
            )
        )
    print(f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
    return 1 if counts[FAILED] else 0


def is_rest_case(case: Case) -> bool:
    return case.file.parent.name == REST_TESTS_FOLDER


def run_rest(case: Case, data_dir: str) -> None:
    asyncio.run(_run(case, data_dir))


def _split(statements: list[str]) -> tuple[list[str], list[str]]:
    """Statements before the first query, and the queries (all at the end)."""
    first = next((i for i, s in enumerate(statements) if s.startswith("SELECT ")), None)
    if first is None:
        return statements, []
    return statements[:first], statements[first:]


async def _run(case: Case, data_dir: str) -> None:
    spec = case.spec
    statements: list[str] = spec.get("statements", [])
    properties = property_map(spec.get("properties"))
    expected_error = spec.get("expectedError")
    engine = Engine(data_dir, config={**SERVER_CONFIG, **BACKEND_CONFIG, **refusal_config(spec)})
    try:
        create_case_topics(engine, spec, STATEMENT_TOPIC_PARTITIONS)
        app = create_app(engine)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://streamdb") as client:
            runner = _CaseRun(engine, app, client, spec, properties)
            admin, queries = _split(statements)
            resp = await runner.post("/ksql", {"ksql": "\n".join(admin)})
            if resp.status_code != 200:
                _check_error(expected_error, resp, statements)
                return
            responses: list[tuple[str, Any]] = [("admin", e) for e in resp.json()]
            wait_for_query = (spec.get("inputConditions") or {}).get("waitForActivePushQuery")
            if not wait_for_query:
                runner.produce_inputs()
            errors = 0
            # With testPullWithProtoFormat each query is asked again in the protobuf form;
            # those responses follow all the others, as upstream lists them.
            proto_responses: list[tuple[str, Any]] = []
            for i, sql in enumerate(queries):
                if wait_for_query and i == 0:
                    resp = await runner.query_then_produce(sql)
                else:
                    resp = await runner.post("/query", {"ksql": sql})
                if resp.status_code != 200:
                    _check_error(expected_error, resp, statements)
                    errors += 1
                    continue
                responses.append(("query", resp.json()))
                if spec.get("testPullWithProtoFormat"):
                    proto = await runner.post("/query", {"ksql": sql}, PROTOBUF_MEDIA_TYPE)
                    proto_responses.append(("queryProto", _protobuf_rows(proto.json())))
            responses += proto_responses
        if expected_error is not None and not errors:
            raise CaseFailure(f"expected error {expected_error.get('message', '')!r}, none raised")
        compare_outputs(engine, spec.get("outputs", []))
        _verify_responses(responses, spec.get("responses", []), statements)
    finally:
        engine.close()


class _CaseRun:
    def __init__(
        self,
        engine: Engine,
        app: Any,
        client: httpx.AsyncClient,
        spec: dict[str, Any],
        properties: dict[str, str],
    ) -> None:
        self.engine = engine
        self.app = app
        self.client = client
        self.spec = spec
        self.properties = properties

    async def post(
        self, path: str, body: dict[str, Any], accept: str | None = None
    ) -> httpx.Response:
        headers = {"Accept": accept} if accept else {}
        json = {**body, "streamsProperties": self.properties}
        request = self.client.post(path, json=json, headers=headers)
        try:
            return await asyncio.wait_for(request, QUERY_TIMEOUT)
        except TimeoutError as exc:
            raise CaseFailure(f"{path}: no complete response in {QUERY_TIMEOUT}s") from exc

    def produce_inputs(self) -> None:
        for record in self.spec.get("inputs", []):
            produce(self.engine, record)
        self.engine.run_until_idle()

    async def query_then_produce(self, sql: str) -> httpx.Response:
        """Start the query, produce the inputs once it is running, then await its rows."""
        request = asyncio.ensure_future(self.post("/query", {"ksql": sql}))
        deadline = asyncio.get_running_loop().time() + QUERY_TIMEOUT
        while not len(self.app.state.queries) and not request.done():
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.005)
        await asyncio.to_thread(self.produce_inputs)
        return await request


def _protobuf_rows(elements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A protobuf /query response as upstream's runner shows it: each row's message in
    Protobuf's text format, read with the header's schema."""
    if not elements or "header" not in elements[0]:
        return elements
    proto = elements[0]["header"]["protoSchema"]
    schema = ProtobufSchema(proto, proto_file(proto), None, framed=False)
    message_class = message_factory.GetMessageClass(schema.descriptor)
    shown = []
    for element in elements:
        if "row" in element:
            message = message_class.FromString(base64.b64decode(element["row"]["protobufBytes"]))
            element = {"row": text_format.MessageToString(message)}
        shown.append(element)
    return shown


def _check_error(
    expected: dict[str, Any] | None, resp: httpx.Response, statements: list[str]
) -> None:
    body = resp.json()
    if expected is None:
        raise CaseFailure(
            f"server failed to execute statement {body.get('statementText', '')!r}: "
            f"{body.get('message', body)}"
        )
    problems = []
    error_type = expected.get("type", "")
    if error_type.endswith("KsqlStatementErrorMessage"):
        if body.get("@type") != "statement_error":
            problems.append(f"error type {body.get('@type')!r}, expected statement_error")
        elif statements and statements[-1] not in body.get("statementText", ""):
            problems.append(f"statementText {body.get('statementText')!r}")
    message = expected.get("message")
    if message is not None and message not in body.get("message", ""):
        problems.append(f"message {body.get('message')!r}, expected to contain {message!r}")
    status = expected.get("status")
    if status is not None and resp.status_code != status:
        problems.append(f"status {resp.status_code}, expected {status}")
    if problems:
        raise CaseFailure("expected error mismatch: " + "; ".join(problems))


def _verify_responses(
    actual: list[tuple[str, Any]], expected: list[dict[str, Any]], statements: list[str]
) -> None:
    if len(actual) < len(expected):
        raise CaseFailure(f"not enough responses: {len(actual)} < {len(expected)}")
    for idx, want in enumerate(expected):
        ((kind, payload),) = want.items()
        got_kind, got = actual[idx]
        path = f"responses[{idx}]->{kind}"
        if kind != got_kind:
            raise CaseFailure(f"{path}: expected a {kind} response, got {got_kind}")
        if kind == "admin":
            _match_fields(got, payload, statements[idx] if idx < len(statements) else "", path)
            continue
        if len(got) != len(payload):
            raise CaseFailure(
                f"{path}: row count mismatch: expected {len(payload)} got {len(got)}: {got}"
            )
        statement = statements[idx] if idx < len(statements) else ""
        if _ORDERED.search(statement):
            for i, (row, want_row) in enumerate(zip(got, payload, strict=True)):
                _match_fields(row, want_row, statement, f"{path}[{i}]")
        else:
            _match_unordered(got, payload, statement, path)


def _match_unordered(
    got: list[Any], expected: list[dict[str, Any]], statement: str, path: str
) -> None:
    """A query's response as upstream compares it: the header and the closing messages in
    place, the rows in any order (a multiset), as partitions are read in no set order."""
    rows = [i for i, want in enumerate(expected) if "row" in want]
    for i, want in enumerate(expected):
        if "row" not in want:
            _match_fields(got[i], want, statement, f"{path}[{i}]")
    unmatched = [got[i] for i in rows]
    for i in rows:
        for n, row in enumerate(unmatched):
            try:
                _match_fields(row, expected[i], statement, f"{path}[{i}]")
            except CaseFailure:
                continue
            del unmatched[n]
            break
        else:
            raise CaseFailure(f"{path}[{i}]: no row matches {expected[i]!r} among {unmatched!r}")


def _match_fields(actual: Any, expected: dict[str, Any], statement: str, path: str) -> None:
    """Every field `expected` lists matches (`name|startsWith` compares a prefix)."""
    if not isinstance(actual, dict):
        raise CaseFailure(f"{path}: expected an object, got {actual!r}")
    for key, want in expected.items():
        name, _, operator = key.partition("|")
        if isinstance(want, str):
            want = want.replace("{STATEMENT}", statement)
        if name not in actual:
            raise CaseFailure(f"{path}: missing {name!r} in {actual}")
        got = actual[name]
        if isinstance(want, dict):
            _match_fields(got, want, statement, f"{path}->{name}")
        elif operator.lower() == STARTS_WITH:
            if not (isinstance(got, str) and got.startswith(want)):
                raise CaseFailure(f"{path}->{name}: {got!r} does not start with {want!r}")
        elif not _same(got, want):
            raise CaseFailure(f"{path}->{name}: expected {want!r}, got {got!r}")


def _same(got: Any, want: Any) -> bool:
    """JSON equality as Jackson's objects compare: 1 and 1.0 differ, True and 1 differ; a
    number the corpus writes with a fraction (read exactly) is a double here."""
    if isinstance(got, bool) or isinstance(want, bool):
        return got is want
    if isinstance(want, Decimal):
        want = float(want)
    if isinstance(got, float) != isinstance(want, float):
        return False
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(map(_same, got, want))
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(_same(got[k], want[k]) for k in got)
    return got == want
