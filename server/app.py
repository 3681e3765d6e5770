"""The REST app: ksqlDB's endpoints over one Engine.

    app = create_app(engine)      # the engine runs its persistent queries (engine.start())

Statements run on worker threads (the engine has its own lock), queries stream from worker
threads, so the event loop only moves bytes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route

from grammar import ast
from grammar.variables import SessionVariables
from server import entities as E
from server.auth import add_authentication
from server.cluster import prohibited_properties, terminate_cluster, topic_patterns
from server.console import add_console
from server.inserts import InsertsStream
from server.limits import Limits, RequestSizeLimit
from server.openapi import openapi_endpoint
from server.printing import TopicPrinter, open_printer
from server.queries import (
    PROTOBUF_MEDIA_TYPE,
    OpenQuery,
    QueryError,
    QueryRegistry,
    cached_pull,
    open_query,
    pull_response,
    pull_response_protobuf,
    query_response,
    query_stream_response,
)
from server.requests import (
    DELIMITED,
    ApiError,
    property_map,
    read_object,
    wants_json,
)
from server.routing import gather
from server.schema_registry import create_registry_app
from server.storage import storage_error
from sqlengine import results as R
from sqlengine.engine import Engine
from sqlengine.properties import is_known_property, unknown_property_message

SERVER_VERSION = "0.29.0"
KSQL_JSON = "application/vnd.ksql.v1+json"
log = logging.getLogger("streamdb.server")
Opened = TypeVar("Opened")

_KSQL_FIELDS: dict[str, type] = {
    "ksql": str,
    "streamsProperties": dict,
    "properties": dict,
    "requestProperties": dict,
    "sessionVariables": dict,
    "commandSequenceNumber": int,
}
_TERMINATE_FIELDS: dict[str, type] = {"deleteTopicList": list, "streamsProperties": dict}
_QUERY_STREAM_FIELDS: dict[str, type] = {
    "sql": str,
    "properties": dict,
    "requestProperties": dict,
    "sessionVariables": dict,
}


def _json(request: Request, body: Any, status: int = 200) -> JSONResponse:
    accept = request.headers.get("accept", "")
    media = KSQL_JSON if KSQL_JSON in accept else "application/json"
    return JSONResponse(body, status, media_type=media)


class Endpoints:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.queries = QueryRegistry()
        self.started = time.time()
        self.terminated = False  # after /ksql/terminate: no new statements or queries
        self.limits = Limits(engine.config)

    # ------------------------------------------------------------------ /ksql

    async def ksql(self, request: Request) -> Response:
        args = await read_object(request, _KSQL_FIELDS, ("ksql",))
        self._check_accepting()
        properties = property_map(args.get("properties") or args.get("streamsProperties"))
        variables = property_map(args.get("sessionVariables"))
        status, body = await anyio.to_thread.run_sync(
            self._statements, args["ksql"], properties, variables
        )
        return _json(request, body, status)

    def _statements(
        self, sql: str, properties: dict[str, str], variables: dict[str, str]
    ) -> tuple[int, Any]:
        """Run each statement in order; the first failure answers with what ran before it.
        SET and UNSET change only this request's properties, as ksqlDB scopes them, and the
        request's session variables apply to its own statements only. INSERT ... VALUES
        answers with no entity, as ksqlDB's does."""
        engine = self.engine
        session = SessionVariables(variables)
        try:
            statements = engine.parse(sql, session)
        except R.StatementError as exc:
            return 400, E.statement_error(exc.message, exc.statement or sql)
        self.limits.check_statements(len(statements))
        entities: list[dict[str, Any]] = []
        local = dict(properties)
        for stmt in statements:
            if isinstance(stmt, ast.SelectStatement | ast.Print):
                return 400, E.query_endpoint_error(stmt.text)
            if isinstance(stmt, ast.SetProperty):
                if not is_known_property(stmt.name):
                    message = unknown_property_message(stmt.name)
                    return 400, E.statement_error(message, stmt.text, entities)
                local[stmt.name] = stmt.value
                continue
            if isinstance(stmt, ast.UnsetProperty):
                local.pop(stmt.name, None)
                continue
            try:
                result = engine.execute_statement(stmt, local, session)
            except R.AssertionFailed as exc:  # ksqlDB answers a failed ASSERT with 417 alone
                return 417, E.generic_error(E.error_code(417), exc.message)
            except R.StatementError as exc:
                return 400, E.statement_error(exc.message, stmt.text, entities)
            if isinstance(stmt, ast.InsertValues) or isinstance(result, R.Handled):
                continue
            sequence = engine.log.end_offset(engine.command_topic, 0) - 1
            entities.append(E.entity(result, engine.catalog.source, sequence))
        return 200, entities

    # ------------------------------------------------------------------ queries

    async def _open(
        self,
        sql: str,
        properties: dict[str, str],
        variables: dict[str, str],
        headers: Mapping[str, str],
    ) -> OpenQuery:
        """A prepared key lookup is answered here; planning, scans and push queries, which
        take the engine lock or wait on the log, run on a worker thread. A pull query gathers
        the rows other servers hold (`routing`)."""
        opened = await self.limits.open_query(
            sql,
            self.queries,
            lambda: self._opening(partial(open_query, self.engine), sql, properties, variables),
        )
        if opened.push is not None:
            self.queries.add(opened.push)
            return opened
        return await gather(self.engine, opened, sql, properties, variables, headers)

    async def query(self, request: Request) -> Response:
        args = await read_object(request, _KSQL_FIELDS, ("ksql",))
        properties = property_map(args.get("streamsProperties") or args.get("properties"))
        variables = property_map(args.get("sessionVariables"))
        sql = args["ksql"]
        opened = await self.limits.open_query(
            sql,
            self.queries,
            lambda: self._opening(self._open_query, sql, properties, variables),
        )
        if isinstance(opened, TopicPrinter):
            return StreamingResponse(opened.stream(), media_type="text/plain")
        if opened.push is None:  # a pull query's rows are all there: one body, no streaming
            opened = await gather(self.engine, opened, sql, properties, variables, request.headers)
            if PROTOBUF_MEDIA_TYPE in request.headers.get("accept", ""):
                body = pull_response_protobuf(opened)
                return Response(body, media_type=PROTOBUF_MEDIA_TYPE)
            return Response(pull_response(opened), media_type="application/json")
        self.queries.add(opened.push)
        return StreamingResponse(
            query_response(opened, self.queries), media_type="application/json"
        )

    async def _opening(
        self,
        opener: Callable[[str, dict[str, str], dict[str, str]], Opened],
        sql: str,
        properties: dict[str, str],
        variables: dict[str, str],
    ) -> OpenQuery | Opened:
        """A prepared key lookup answered here, else `opener` on a worker thread (which a
        pull query's timeout abandons)."""
        self._check_accepting()
        opened = cached_pull(self.engine, sql, properties)
        if opened is not None:
            return opened
        return await anyio.to_thread.run_sync(
            opener, sql, properties, variables, abandon_on_cancel=True
        )

    def _open_query(
        self, sql: str, properties: dict[str, str], variables: dict[str, str]
    ) -> OpenQuery | TopicPrinter:
        """/query's statement: PRINT, or a pull or push query (on a worker thread)."""
        printer = open_printer(self.engine, sql)
        if printer is not None:
            return printer
        return open_query(self.engine, sql, properties, variables)

    async def query_stream(self, request: Request) -> Response:
        args = await read_object(request, _QUERY_STREAM_FIELDS, ("sql",))
        opened = await self._open(
            args["sql"],
            property_map(args.get("properties")),
            property_map(args.get("sessionVariables")),
            request.headers,
        )
        delimited = not wants_json(request)
        return StreamingResponse(
            query_stream_response(
                opened, self.queries, delimited, request.scope.get("http_version") == "2"
            ),
            media_type=DELIMITED if delimited else "application/json",
        )

    async def close_query(self, request: Request) -> Response:
        args = await read_object(request, {"queryId": str}, ("queryId",))
        if not self.queries.close(args["queryId"]):
            raise ApiError(400, f"No query with id {args['queryId']}")
        return Response(status_code=200)

    # ------------------------------------------------------------------ server status

    async def info(self, request: Request) -> Response:
        return _json(
            request,
            {
                "KsqlServerInfo": {
                    "version": SERVER_VERSION,
                    "kafkaClusterId": "streamdb",
                    "ksqlServiceId": self.engine.config.get("ksql.service.id", "default_"),
                    "serverStatus": "RUNNING",
                }
            },
        )

    async def healthcheck(self, request: Request) -> Response:
        healthy = {"isHealthy": True}
        return _json(
            request,
            {
                "isHealthy": True,
                "details": {"metastore": healthy, "kafka": healthy, "commandRunner": healthy},
            },
        )

    async def cluster_status(self, request: Request) -> Response:
        host = f"{request.url.hostname}:{request.url.port}"
        return _json(
            request,
            {
                "clusterStatus": {
                    host: {
                        "hostAlive": True,
                        "lastStatusUpdateMs": int(time.time() * 1000),
                        "activeStandbyPerQuery": {},
                        "hostStoreLags": {"stateStoreLags": {}, "updateTimeMs": 0},
                    }
                }
            },
        )

    async def status(self, request: Request) -> Response:
        """A recorded command's status by its id (`/status/stream/PAGEVIEWS/create`)."""
        command_id = request.path_params["command_id"]
        result = self.engine.command_statuses.get(command_id)
        if result is None:
            raise ApiError(404, f"Command not found: {command_id}")
        body = {"status": "SUCCESS", "message": result.message, "queryId": result.query_id}
        return _json(request, body)

    async def is_valid_property(self, request: Request) -> Response:
        """`true` for a property a request may set; a 400 naming it for one it may not."""
        name = request.path_params["name"]
        if name in prohibited_properties(self.engine.config):
            raise ApiError(
                400,
                "One or more properties overrides set locally are prohibited by the KSQL server "
                f"(use UNSET to reset their default value): [{name}]",
            )
        return _json(request, True)

    # ------------------------------------------------------------------ terminate

    async def terminate_cluster(self, request: Request) -> Response:
        args = await read_object(request, _TERMINATE_FIELDS, ())
        self._check_accepting()
        patterns = topic_patterns(args.get("deleteTopicList") or [])
        result = await anyio.to_thread.run_sync(terminate_cluster, self.engine, patterns)
        self.terminated = True
        self.queries.close_all()
        return _json(request, [E.entity(result, self.engine.catalog.source, 0)])

    def _check_accepting(self) -> None:
        if self.terminated:
            raise ApiError(503, "The cluster has been terminated. No new request will be accepted.")


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body, exc.status)


async def _query_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, QueryError)
    return JSONResponse(exc.body, exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse(E.generic_error(E.error_code(exc.status_code), exc.detail), exc.status_code)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("request failed: %s %s", request.method, request.url.path)
    return JSONResponse(E.generic_error(E.SERVER_ERROR, f"{type(exc).__name__}: {exc}"), 500)


def create_app(engine: Engine) -> Starlette:
    endpoints = Endpoints(engine)
    routes = [
        Route("/ksql", endpoints.ksql, methods=["POST"]),
        Route("/query", endpoints.query, methods=["POST"]),
        Route("/query-stream", endpoints.query_stream, methods=["POST"]),
        Route("/inserts-stream", InsertsStream(engine), methods=["POST"]),
        Route("/close-query", endpoints.close_query, methods=["POST"]),
        Route("/info", endpoints.info, methods=["GET"]),
        Route("/healthcheck", endpoints.healthcheck, methods=["GET"]),
        Route("/clusterStatus", endpoints.cluster_status, methods=["GET"]),
        Route("/ksql/terminate", endpoints.terminate_cluster, methods=["POST"]),
        Route("/is_valid_property/{name}", endpoints.is_valid_property, methods=["GET"]),
        Route("/status/{command_id:path}", endpoints.status, methods=["GET"]),
        Route("/openapi.json", openapi_endpoint(SERVER_VERSION), methods=["GET"]),
        Mount("/schema-registry", app=create_registry_app(engine.schema_registry)),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            ApiError: _api_error,
            QueryError: _query_error,
            HTTPException: _http_error,
            OSError: storage_error,
            Exception: _server_error,
        },
    )
    app.state.queries = endpoints.queries
    app.add_middleware(RequestSizeLimit, max_bytes=endpoints.limits.max_request_bytes)
    add_authentication(app, engine.config)
    add_console(app)  # outside authentication: the console's files hold no data
    return app
