"""Cluster-wide requests: /ksql/terminate (TERMINATE CLUSTER) and which properties a request
may not set (/is_valid_property), after ksqlDB's REST API reference.

Terminating runs as statements through the engine (TERMINATE ALL, then a DROP of every stream
and table, deleting the topics `deleteTopicList` names), so the command log records it and a
restart over the same data comes back empty, as a cluster whose command topic is gone does.
"""

from __future__ import annotations

import re

from server.requests import ApiError
from sqlengine import results as R
from sqlengine.engine import Engine

TERMINATE_CLUSTER = "TERMINATE CLUSTER;"
# Properties no request may override: the server's identity, and what the server
# configuration's `ksql.properties.overrides.denylist` adds (comma-separated).
DENYLIST_CONFIG = "ksql.properties.overrides.denylist"
_ALWAYS_PROHIBITED = frozenset({"ksql.service.id"})


def prohibited_properties(config: dict[str, str]) -> frozenset[str]:
    listed = (name.strip() for name in config.get(DENYLIST_CONFIG, "").split(","))
    return _ALWAYS_PROHIBITED | {name for name in listed if name}


def topic_patterns(names: list[object]) -> list[re.Pattern[str]]:
    """`deleteTopicList`: topic names or regular expressions, each matching whole names."""
    patterns = []
    for name in names:
        try:
            patterns.append(re.compile(str(name)))
        except re.error as exc:
            raise ApiError(400, f"Invalid pattern: {name} ({exc})") from exc
    return patterns


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def terminate_cluster(engine: Engine, delete_topics: list[re.Pattern[str]]) -> R.CommandStatus:
    """Stop every persistent query and drop every stream and table, newest first (a derived
    source before what it reads), with its topic when a pattern matches the topic's name."""
    statements = ["TERMINATE ALL;"]
    for source in reversed(list(engine.catalog.sources.values())):
        delete = not source.is_source and any(p.fullmatch(source.topic) for p in delete_topics)
        statements.append(
            f"DROP {source.kind} {_quoted(source.name)}{' DELETE TOPIC' if delete else ''};"
        )
    engine.execute("".join(statements))
    return R.CommandStatus(
        TERMINATE_CLUSTER, "Cluster terminated.", command_id="cluster/TerminateCluster/terminate"
    )
