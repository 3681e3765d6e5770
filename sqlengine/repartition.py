"""A GROUP BY over a stream by other than its key, split across servers (`scaleout`): a
key's records sit in any source partition, so they go through the query's repartition topic
(`_confluent-ksql-<service id>query_<QUERY_ID>-Aggregate-GroupBy-repartition`, partitioned
as the source) to meet in one of its partitions, as ksqlDB's GroupBy repartition does.

    source partitions owned --WHERE, group key, arguments--> repartition topic (keyed by group)
    repartition partitions owned --> AggregationStep (state partitioned as the topic)

A step moves what the owned source partitions gained into the repartition topic, then
aggregates what the owned repartition partitions held when the step began, and commits both
topics' offsets with the state's changelog positions. The topic holds each
pre-aggregation row (its time, group key columns and aggregate arguments) as streamdb's
state encodes values; its key is the group key so encoded, which the default partitioner
(murmur2) places. Output is at least once: a crash between a step's repartition append and
its commit writes those rows again. A terminated query leaves its repartition topic behind:
deleting a topic that a server's reader still fetches crashed librdkafka (a segmentation
fault, on Tansu) in a test.
"""

from __future__ import annotations

from typing import Any

from sqlengine.aggregation_step import AggregationStep
from sqlengine.log.base import Log, RecordBatch
from sqlengine.state import StateStores, decode, encode_key, encode_value, frozen

EXECUTION_MODE = {"SELECT_KEY": "per record: through the repartition topic"}


class RepartitionSink:
    """SELECT_KEY's sink: pre-aggregation rows (time, group keys, arguments) into the
    repartition topic, keyed by their group."""

    def __init__(self, log: Log, topic: str, group_columns: int) -> None:
        self.log = log
        self.topic = topic
        self.group_columns = group_columns

    def write(
        self,
        rows: list[tuple[Any, ...]],
        tombstones: set[int],
        windows: list[tuple[int, int]] | None = None,
    ) -> None:
        if not rows:
            return
        keys = [encode_key(frozen(row[1 : 1 + self.group_columns])) for row in rows]
        values = [encode_value(tuple(row)) for row in rows]
        self.log.append_batch(self.topic, keys, values, [row[0] for row in rows])


class RepartitionSource:
    """The aggregation's SOURCE: the repartition partitions this server owns, into the
    aggregation (its state partitioned as the topic)."""

    def __init__(self, aggregation: AggregationStep, stores: StateStores | None) -> None:
        self.aggregation = aggregation
        self.stores = stores

    def run(self, reads: list[tuple[int, RecordBatch]]) -> None:
        for _, batch in reads:
            if self.stores is not None:
                self.stores.processing(batch.partition)
            self.aggregation.write(_rows(batch), set())

    def start(self, reads: list[tuple[int, RecordBatch]]) -> bool:
        return False

    def abandon(self) -> None:
        """Nothing runs ahead."""

    def flush(self) -> None:
        """The aggregation flushes its store as each batch is written."""

    def execution_modes(self) -> dict[str, str]:
        return EXECUTION_MODE


def _rows(batch: RecordBatch) -> list[tuple[Any, ...]]:
    return [decode(value) for value in batch.values if value is not None]
