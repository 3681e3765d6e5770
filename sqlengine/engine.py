"""The engine: one object that executes SQL against a log, for the server, REPL and test runner.

    engine = Engine("data")
    engine.execute("CREATE STREAM s (id INT KEY, v STRING) WITH (kafka_topic='s', value_format='JSON', partitions=1);")
    engine.execute("INSERT INTO s (id, v) VALUES (1, 'a');")
    engine.run_until_idle()          # deterministic: drive persistent queries until caught up
    engine.start()                   # or: a background thread drives them continuously

Statements that change the catalog are appended to a command topic in the log; a new Engine
over the same data dir replays them, and persistent queries resume from committed offsets.
With scale-out (`scaleout`, servers of one service id on Kafka), a running engine follows the
command topic too: what another server executes is executed here within a poll or two, and
each persistent query runs on the partitions its consumer group assigns this engine.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import orjson

from grammar import ast
from grammar.parser import ParseError, parse
from grammar.variables import SessionVariables, substitute
from planner.errors import PlanError
from planner.physical import service_id
from planner.select import plan_select
from sqlengine import results as R
from sqlengine.assertions import run_assertion
from sqlengine.catalog import Catalog
from sqlengine.functions.registry import FunctionError
from sqlengine.log import open_log
from sqlengine.log.base import Log, StepAborted, default_partition
from sqlengine.materialized import AggregateView, Materializations, Row, typed_key
from sqlengine.ownership import ADVERTISED_LISTENER_CONFIG, Owners
from sqlengine.processing_log import ProcessingLog
from sqlengine.pull_cache import PullQueries, PullQuery
from sqlengine.push import PushQuery, open_push_query
from sqlengine.push_feed import SourceFeeds
from sqlengine.query import Query
from sqlengine.runtime import QueryFailure, configured_threads, runs_vectorized
from sqlengine.scaleout import ScaleOut, scales_out
from sqlengine.schema_registry import LocalSchemaRegistry, RemoteSchemaRegistry, SchemaRegistry
from sqlengine.serde import SerdeError
from sqlengine.serde.compatibility import FORMAT_RULES
from sqlengine.state import drop_local_state, encode_key, frozen
from sqlengine.statements import StatementExecutor, command_id, session_statement
from sqlengine.tasks import prestart, tune_gc
from sqlengine.udf import EXTENSION_DIR_CONFIG, load_extensions

REGISTRY_URL_CONFIG = "ksql.schema.registry.url"
SUBSTITUTION_CONFIG = "ksql.variable.substitution.enable"
# How often a running engine looks for commands other servers recorded (scale-out).
FOLLOW_SECONDS = 0.25
STEP_RETRIES = 3  # a query's steps the log aborts in a row (StepAborted) before it fails
_logger = logging.getLogger(__name__)
# Statements are immutable: a text parsed once (a pull query a client repeats) is reused.
_parsed = functools.lru_cache(maxsize=4096)(parse)


class Engine:
    def __init__(
        self,
        data_dir: str | Path,
        config: dict[str, str] | None = None,
        log: Log | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config: dict[str, str] = dict(config or {})
        tune_gc()
        threads = configured_threads(self.config)
        if runs_vectorized(self.config) and threads > 1:
            prestart(threads)  # the queries' worker processes start while this one replays
        # User-defined functions first: the statements replayed below may call them.
        load_extensions(self.config.get(EXTENSION_DIR_CONFIG))
        self.log = log if log is not None else open_log(self.data_dir, config=self.config)
        self.command_topic = command_topic(service_id(self.config))
        # Local state of the queries' and tables' stores (`state`), beside the log.
        self.state_dir = self.data_dir / "state"
        # The engine's own session (execute, RUN SCRIPT, an embedded CLI): what its DEFINEs
        # leave. A REST request brings a session of its own.
        self.variables = SessionVariables()
        # The recorded commands' outcomes by command id (`stream/S/create`), the latest of each.
        self.command_statuses: dict[str, R.CommandStatus] = {}
        self.catalog = Catalog()
        self.plog = ProcessingLog(self.log, config=self.config, service_id=service_id(self.config))
        self.schema_registry = open_registry(self.data_dir, self.config)
        self.pulls = PullQueries(self)
        self.push_feeds = SourceFeeds(self.log)
        self.executor = StatementExecutor(self, self.pulls)
        self.materialized = Materializations(
            self.log, self.plog, self.schema_registry, self.executor.running, self.state_dir
        )
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._aborted_steps: dict[str, int] = {}  # per query: its steps aborted in a row
        self.scaleout = ScaleOut(self.log, scales_out(self.config), service_id(self.config))
        # Who runs which partitions of each query, for pull-query routing (scale-out).
        url = self.config.get(ADVERTISED_LISTENER_CONFIG)
        self.owners = (
            Owners(self.log, service_id(self.config), url)
            if self.scaleout.enabled and url
            else None
        )
        # The command topic: read up to here; the offsets of the commands this engine wrote.
        self._commands_read = 0
        self._own_commands: set[int] = set()
        self._followed_at = 0.0
        if self.log.topic(self.command_topic) is None:
            self.log.create_topic(self.command_topic, 1)
        self._replay()
        self.materialized.sync(self.catalog)
        drop_local_state(self.state_dir, self.log)

    # ------------------------------------------------------------------ statements

    def execute(
        self,
        sql: str,
        properties: dict[str, str] | None = None,
        variables: SessionVariables | None = None,
    ) -> list[R.Result]:
        """Run every statement in `sql`; raises StatementError at the first that fails.
        `variables` is the session (the engine's own when None)."""
        with self._lock:
            results: list[R.Result] = []
            for stmt in self.parse(sql, variables):
                results.append(self.execute_statement(stmt, properties or {}, variables))
            return results

    def parse(self, sql: str, variables: Mapping[str, str] | None = None) -> list[ast.Statement]:
        """The statements of `sql`, each with the session's variables (`variables`, the
        engine's own when None) substituted as the script's DEFINEs leave them."""
        session = self.variables if variables is None else variables
        try:
            if "${" in sql and self._substitutes():
                return parse(sql, session)
            return list(_parsed(sql))
        except ParseError as exc:
            raise R.StatementError(str(exc), exc.statement_text, exc.line, exc.column) from exc

    def substitute(self, sql: str, variables: Mapping[str, str] | None = None) -> str:
        """`sql` with the session's variables substituted (ksqlDB's variable substitution)."""
        if not self._substitutes():
            return sql
        return substitute(sql, self.variables if variables is None else variables)

    def _substitutes(self) -> bool:
        return self.config.get(SUBSTITUTION_CONFIG, "true").lower() != "false"

    def execute_statement(
        self,
        stmt: ast.Statement,
        properties: dict[str, str],
        variables: SessionVariables | None = None,
    ) -> R.Result:
        """Run one statement; DEFINE, UNDEFINE and SHOW VARIABLES act on the session
        (`variables`, the engine's own when None), and ASSERTs wait without the lock."""
        session = session_statement(stmt, self.variables if variables is None else variables)
        if session is not None:
            return session
        if isinstance(stmt, ast.AssertTopic | ast.AssertSchema):
            config = {**self.config, **properties}
            return run_assertion(stmt, self.log, self.schema_registry, config)
        with self._lock, _statement_errors(stmt):
            if self.scaleout.enabled:
                self._follow_commands()  # the catalog as other servers left it
            result = self.executor.execute(stmt, {**self.config, **properties})
            if self.executor.persistent(stmt):
                self._record_command(stmt, properties)
                self.materialized.sync(self.catalog)
                self._note_status(stmt, result)
            return result

    def pull_query(
        self, sql: str, stmt: ast.SelectStatement, properties: dict[str, str]
    ) -> tuple[PullQuery, list[Row]]:
        """A pull query (`stmt`, the text `sql`) prepared and run. Once prepared, a key lookup
        is answered without the lock: `self.pulls.cached(sql, properties).lookup()`."""
        with self._lock, _statement_errors(stmt):
            query = self.pulls.prepare(sql, stmt, properties)
            return query, self.pulls.rows(query)

    def open_push_query(self, stmt: ast.SelectStatement, properties: dict[str, str]) -> PushQuery:
        """A transient push query (EMIT CHANGES) over the catalog as it is now."""
        with self._lock, _statement_errors(stmt):
            plan = plan_select(stmt.query, self.catalog, None)
            config = {**self.config, **properties}
            return open_push_query(
                plan,
                stmt.query.limit,
                self.log,
                self.plog,
                self.schema_registry,
                config,
                self.push_feeds,
            )

    # ------------------------------------------------------------------ command log

    def _record_command(self, stmt: ast.Statement, properties: dict[str, str]) -> None:
        payload = orjson.dumps({"statement": stmt.text, "properties": properties})
        written = self.log.append_batch(self.command_topic, [None], [payload], [0])
        self._own_commands.update(written[0])

    def _note_status(self, stmt: ast.Statement, result: R.Result) -> None:
        """Give a recorded command's result its command id, and keep it for /status."""
        if isinstance(result, R.CommandStatus):
            result.command_id = command_id(stmt)
            self.command_statuses[result.command_id] = result

    def _replay(self) -> None:
        while len(batch := self.log.read(self.command_topic, 0, self._commands_read)):
            for value in batch.values:
                self._execute_command(value)
            self._commands_read = batch.next_offset

    def _execute_command(self, value: bytes | None) -> None:
        command = orjson.loads(value or b"{}")
        for stmt in parse(command["statement"]):
            result = self.executor.execute(stmt, {**self.config, **command["properties"]})
            self._note_status(stmt, result)

    def _follow_commands(self) -> None:
        """Executes the commands other servers of the service id recorded since the last
        look: one catalog for all. A command that fails here (it raced one of this
        server's) is logged and skipped, as ksqlDB's command runner skips it."""
        self._followed_at = time.monotonic()
        while len(batch := self.log.read(self.command_topic, 0, self._commands_read)):
            for offset, value in zip(batch.offsets, batch.values, strict=True):
                if offset in self._own_commands:
                    self._own_commands.discard(offset)
                    continue
                try:
                    self._execute_command(value)
                except Exception:  # noqa: BLE001 - one bad command must not stop the server
                    _logger.exception("command %d of %s failed", offset, self.command_topic)
            self._commands_read = batch.next_offset
        self.materialized.sync(self.catalog)

    def _reassign(self) -> None:
        """Builds again each query whose partitions the group assigned anew (`scaleout`),
        then lets the group go on; a table read from the query's store follows it."""
        for query_id in self.scaleout.changed():
            membership = self.scaleout.queries[query_id]
            self.executor.reassign(query_id, membership.partitioning())
            self.materialized.forget_query(query_id)
            self.materialized.sync(self.catalog)
            membership.member.released(membership.built)
            if self.owners is not None:
                self.owners.publish(query_id, membership.runs_on())

    def pull_peers(self, query_id: str | None, partitions: set[int] | None = None) -> list[str]:
        """The other servers that run partitions of a query (scale-out; those of
        `partitions` only, when given), whose rows a pull query on its table gathers."""
        membership = self.scaleout.queries.get(query_id or "")
        if self.owners is None or membership is None:
            return []
        counted = set(range(membership.partitions)) if partitions is None else partitions
        return self.owners.peers(membership.query_id, counted)  # a snapshot: no lock

    def key_partition(self, query_id: str | None, table: AggregateView, key: Row) -> int:
        """The partition of a split query that holds a table key: where its source
        records sit, or its repartition topic puts them."""
        membership = self.scaleout.queries.get(query_id or "")
        if membership is None:
            return 0
        typed = typed_key(key, table.source)
        if membership.repartitioned:
            key_bytes = encode_key(frozen(typed))
        else:
            key_bytes = table.key_ser(list(typed))
        return default_partition(key_bytes, membership.partitions)

    # ------------------------------------------------------------------ running queries

    def run_until_idle(self, max_rounds: int = 10_000) -> int:
        """Drive every persistent query until none has input left; returns records processed.
        A query that fails is stopped in the ERROR state and its QueryFailure raised."""
        total = 0
        for _ in range(max_rounds):
            with self._lock:
                if self.scaleout.enabled:
                    if time.monotonic() - self._followed_at > FOLLOW_SECONDS:
                        self._follow_commands()
                        if self.owners is not None:
                            self.owners.refresh()
                    self._reassign()
                done = sum(self._step(q) for q in self.executor.active_queries())
                done += self.materialized.step()
            if not done:
                return total
            total += done
        return total

    def _step(self, query: Query) -> int:
        """One step of one query. Any error escaping the query's own handling (a UDAF that
        throws, say) stops that query in the ERROR state, as a Kafka Streams task dies with
        "Exception caught in process", and never the others or the engine. A step whose
        transaction the log aborted runs again (`_run_again`)."""
        try:
            with self.plog.in_query(query.query_id), query.ctx.step(query.group):
                done = query.step()
            self._aborted_steps.pop(query.query_id, None)
            return done
        except QueryFailure:
            self.executor.fail_query(query.query_id)
            raise
        except Exception as exc:  # noqa: BLE001 - a query's failure must not stop the engine
            if isinstance(exc, StepAborted) and self._run_again(query.query_id):
                return 0
            self.plog.record_error(query.plan.source.topic, -1, -1, exc)
            self.executor.fail_query(query.query_id)
            raise QueryFailure(
                f"Exception caught in process. Query {query.query_id} failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def _run_again(self, query_id: str) -> bool:
        """Builds a query whose step's transaction the log aborted anew, from its committed
        offsets and state (the aborted step wrote nothing that is read), so that the step
        runs again; unless its last STEP_RETRIES steps aborted too. Whether it did."""
        aborted = self._aborted_steps[query_id] = self._aborted_steps.get(query_id, 0) + 1
        if aborted > STEP_RETRIES:
            return False
        membership = self.scaleout.queries.get(query_id)
        self.executor.reassign(query_id, membership.partitioning() if membership else None)
        self.materialized.forget_query(query_id)
        self.materialized.sync(self.catalog)
        return True

    def start(self, poll_interval: float = 0.05) -> None:
        """Run persistent queries continuously on a background thread."""
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    busy = self.run_until_idle(max_rounds=1)
                except QueryFailure:
                    continue  # that query is stopped; the others keep running
                if not busy:
                    self._stop.wait(poll_interval)

        self._thread = threading.Thread(target=loop, name="streamdb-queries", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            for q in self.executor.running.values():
                q.close()
            self.scaleout.close()  # after the commits: the next owners go on from them
            self.executor.connectors.close()
            self.materialized.close()
            self.log.close()


def command_topic(service: str) -> str:
    """The topic of the statements that built the catalog, as ksqlDB names it: servers of
    one service id share it."""
    return f"_confluent-ksql-{service}_command_topic"


def open_registry(data_dir: Path, config: dict[str, str]) -> SchemaRegistry:
    """The engine's registry: the external one `ksql.schema.registry.url` names, else the
    built-in one stored in the data dir."""
    url = config.get(REGISTRY_URL_CONFIG)
    if url:
        return RemoteSchemaRegistry(url)
    return LocalSchemaRegistry(data_dir / "schema_registry.json", FORMAT_RULES)


@contextmanager
def _statement_errors(stmt: ast.Statement) -> Iterator[None]:
    """Planning and evaluation errors as the StatementError of `stmt`."""
    try:
        yield
    except (PlanError, SerdeError, FunctionError, ValueError, ArithmeticError) as exc:
        shown = getattr(exc, "statement", None) or stmt.text  # as ksqlDB rewrote it, if so
        raise R.StatementError(str(exc), shown, stmt.line, stmt.column) from exc
