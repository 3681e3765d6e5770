"""Scale-out: servers of one service id split each persistent query's source partitions.

Each persistent query joins its consumer group (`Log.join_group`, on Kafka the group
`_confluent-ksql-<service id>query_<QUERY_ID>`), and runs on the partitions the group
assigns this server. When the assignment changes (a server joins, leaves or dies), the
engine commits and closes the query, and builds it again over its new partitions: its state
stores are partitioned as the source (`state.StorePartitions`) and rebuilt from the
changelog partitions it now owns; its input resumes from the offsets the group committed,
whoever committed them. Output is at least once across such a handover.

A GROUP BY over a stream that groups by anything but the stream's key goes through its
repartition topic (`repartition.py`): each server writes its source partitions' rows there,
keyed by the group key, and aggregates the repartition partitions it owns, so a group's
rows meet on one server. A query whose partitions cannot run apart runs whole on the server
that owns its first source's partition 0: a join, and a GROUP BY over a table.

The embedded log's member owns every partition, always: one process, as before. Scale-out
is on with `streamdb.scale.out=true`, which `streamdb server` sets on Kafka.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass

from grammar import ast
from planner.builder import QueryPlan
from planner.physical import query_topic_prefix
from sqlengine.log.base import GroupMember, Log, TopicExistsError
from sqlengine.state import StorePartitions

SCALE_OUT_CONFIG = "streamdb.scale.out"


def scales_out(config: dict[str, str]) -> bool:
    return config.get(SCALE_OUT_CONFIG, "false").strip().lower() == "true"


def splits(plan: QueryPlan) -> bool:
    """Whether a query's source partitions may run on different servers: a key's records
    (all that its state depends on) sit in one partition, or meet in one partition of its
    repartition topic."""
    if plan.join is not None:
        return False
    return plan.aggregation is None or plan.source.kind == "STREAM"


def needs_repartition(plan: QueryPlan) -> bool:
    """Whether a GROUP BY over a stream groups by other than the stream's key columns."""
    aggregation = plan.aggregation
    if aggregation is None or plan.join is not None or plan.source.kind != "STREAM":
        return False
    keys = [c.name for c in plan.source.key_columns]
    grouped = [k.expr for k in aggregation.keys]
    return len(grouped) != len(keys) or not all(
        isinstance(e, ast.ColumnRef) and e.name == name
        for e, name in zip(grouped, keys, strict=True)
    )


def repartition_topic(query_id: str, service: str) -> str:
    """A GROUP BY's repartition topic, as ksqlDB names it."""
    return f"{query_topic_prefix(query_id, service)}-Aggregate-GroupBy-repartition"


def create_repartition_topic(log: Log, topic: str, partitions: int) -> None:
    """The repartition topic, partitioned as the source, unless it exists."""
    if log.topic(topic) is None:
        with suppress(TopicExistsError):  # another server's, just made
            log.create_topic(topic, partitions)


@dataclass
class QueryMembership:
    """A query's membership and the generation of the assignment its runtime was built for."""

    query_id: str
    member: GroupMember
    topic: str  # the query's (first) source topic
    partitions: int  # its partition count
    splits: bool
    repartitioned: bool
    built: int = -1

    def changed(self) -> bool:
        return self.member.generation() != self.built

    def runs_on(self) -> list[int]:
        """The source partitions the query runs on here, as last built."""
        owned = self.member.assignment()
        if owned is None:
            return list(range(self.partitions))
        mine = [p for t, p in owned if t == self.topic]
        if not self.splits:
            return list(range(self.partitions)) if 0 in mine else []
        return sorted(mine)

    def partitioning(self) -> StorePartitions | None:
        """What the query runs on here now: None, every partition (a process alone, or the
        owner of a query that does not split); else the partitions owned (none at all for
        a query that does not split on a server not its owner)."""
        self.built = self.member.generation()
        owned = self.member.assignment()
        if owned is None:
            return None
        mine = frozenset(p for t, p in owned if t == self.topic)
        if not self.splits:
            return None if 0 in mine else StorePartitions(self.partitions, frozenset())
        return StorePartitions(self.partitions, mine)


class ScaleOut:
    """The memberships of the engine's persistent queries, by query id."""

    def __init__(self, log: Log, enabled: bool, service_id: str) -> None:
        self.log = log
        self.enabled = enabled
        self.service_id = service_id
        self.queries: dict[str, QueryMembership] = {}

    def join(self, query_id: str, group: str, plan: QueryPlan) -> StorePartitions | None:
        """A new query joins its group; what it runs on here for now (nothing, until the
        group assigns it partitions)."""
        if not self.enabled:
            return None
        self.leave(query_id)
        topics = [s.source.topic for s in plan.join.sources] if plan.join else [plan.source.topic]
        info = self.log.topic(topics[0])
        if needs_repartition(plan):
            # Subscribed with the source: with as many partitions, the group's range
            # assignment gives a server the same partitions of both.
            topics.append(repartition_topic(query_id, self.service_id))
            create_repartition_topic(self.log, topics[-1], info.partitions if info else 1)
        membership = QueryMembership(
            query_id,
            self.log.join_group(group, topics),
            topics[0],
            info.partitions if info else 1,
            splits(plan),
            needs_repartition(plan),
        )
        self.queries[query_id] = membership
        return membership.partitioning()

    def changed(self) -> list[str]:
        """The queries whose assignment changed since their runtime was built."""
        return [qid for qid, m in self.queries.items() if m.changed()]

    def leave(self, query_id: str) -> None:
        membership = self.queries.pop(query_id, None)
        if membership is not None:
            membership.member.close()

    def close(self) -> None:
        for query_id in list(self.queries):
            self.leave(query_id)
