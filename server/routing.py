"""Pull-query routing (scale-out): a table whose query runs split across servers is held in
parts, each server's store holding the partitions it runs. A pull query on it is answered
here from the local part and gathered from every other server that owns partitions of the
query (`Engine.pull_peers`, from what each published under its `ksql.advertised.listener`),
as ksqlDB's pull queries are routed; a key lookup, from the owners of its keys' partitions. A forwarded request carries `INTERNAL_HEADER`: its
server answers from its own part only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from server import entities as E
from server.queries import OpenQuery, QueryError
from sqlengine.engine import Engine
from sqlengine.materialized import AggregateView
from sqlengine.ownership import OwnerUnknown
from sqlengine.pull_cache import AnalyticPull
from sqlengine.push import PushRow

INTERNAL_HEADER = "x-streamdb-pull-local"
_FORWARDED_HEADERS = ("authorization",)
_TIMEOUT_SECONDS = 30.0


def _peers(
    engine: Engine,
    opened: OpenQuery,
    sql: str,
    properties: dict[str, str],
    headers: Mapping[str, str],
) -> list[str]:
    if opened.push is not None or not opened.table_pull or INTERNAL_HEADER in headers:
        return []
    prepared = engine.pulls.cached(sql, properties)
    if prepared is None:
        return []
    plan = prepared.plan
    if isinstance(plan, AnalyticPull):
        # A scan DuckDB runs gathers as the store's does; an aggregation over the rows
        # of several servers would need merging, which is not done.
        if not plan.ordered or len(plan.tables) != 1:
            return []
        table = next(iter(plan.tables.values()))
    else:
        table = plan.table
    if not isinstance(table, AggregateView):
        return []  # a table read from its topic holds every partition here
    query_id = plan.source.created_by_query
    partitions = None
    if prepared.keys is not None:  # a key lookup asks only the keys' partitions' owners
        partitions = {engine.key_partition(query_id, table, key) for key in prepared.keys}
    try:
        return engine.pull_peers(query_id, partitions)
    except OwnerUnknown as exc:
        raise QueryError(503, E.generic_error(50300, str(exc))) from exc


async def gather(
    engine: Engine,
    opened: OpenQuery,
    sql: str,
    properties: dict[str, str],
    variables: dict[str, str],
    headers: Mapping[str, str],
) -> OpenQuery:
    """`opened` (the local part's rows) with the rows of the other parts added."""
    peers = _peers(engine, opened, engine.substitute(sql, variables), properties, headers)
    if not peers:
        return opened
    forwarded = {k: v for k, v in headers.items() if k.lower() in _FORWARDED_HEADERS}
    forwarded[INTERNAL_HEADER] = "true"
    body = {"ksql": sql, "streamsProperties": properties, "sessionVariables": variables}
    rows = list(opened.rows)
    async with httpx.AsyncClient(timeout=_TIMEOUT_SECONDS, verify=False) as client:  # noqa: S501 - peers of one cluster
        for peer in peers:
            try:
                response = await client.post(f"{peer}/query", json=body, headers=forwarded)
            except httpx.HTTPError as exc:
                message = f"The server {peer}, which owns part of the table, is unreachable: {exc}"
                raise QueryError(503, E.generic_error(50300, message)) from exc
            if response.status_code != 200:
                raise QueryError(response.status_code, orjson.loads(response.content))
            rows += _rows(orjson.loads(response.content))
    if opened.limit is not None:
        rows = rows[: opened.limit]
    opened.rows = rows
    return opened


def _rows(elements: list[dict[str, Any]]) -> list[PushRow]:
    return [PushRow(e["row"]["columns"]) for e in elements if "row" in e]
