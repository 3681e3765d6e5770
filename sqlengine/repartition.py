"""A GROUP BY over a stream by other than its key, split across servers (`scaleout`): a
key's records sit in any source partition, so they go through the query's repartition topic
(`_confluent-ksql-<service id>query_<QUERY_ID>-Aggregate-GroupBy-repartition`, partitioned
as the source) to meet in one of its partitions, as ksqlDB's GroupBy repartition does.

    source partitions owned --WHERE, group key, arguments--> repartition topic (keyed by group)
    repartition partitions owned --> AggregationStep (state partitioned as the topic)

A step first moves what the owned source partitions gained into the repartition topic and
commits their offsets, then aggregates what the owned repartition partitions gained and
commits those offsets with the state's changelog positions. The topic holds each
pre-aggregation row (its time, group key columns and aggregate arguments) as streamdb's
state encodes values; its key is the group key so encoded, which the default partitioner
(murmur2) places. Output is at least once: a crash between a step's repartition append and
its commit writes those rows again. A terminated query leaves its repartition topic behind:
deleting a topic that a server's reader still fetches crashed librdkafka (a segmentation
fault, on Tansu) in a test.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from planner.builder import QueryPlan
from sqlengine.aggregate_query import AggregateQuery
from sqlengine.log.base import RecordBatch
from sqlengine.runtime import QueryContext
from sqlengine.scaleout import create_repartition_topic, repartition_topic
from sqlengine.sink import RowSink
from sqlengine.state import decode, encode_key, encode_value, frozen


class RepartitionedAggregateQuery(AggregateQuery):
    def __init__(self, query_id: str, plan: QueryPlan, output: RowSink, ctx: QueryContext) -> None:
        # Per record: the vectorized grouping merges groups in this process, not via a topic.
        super().__init__(query_id, plan, output, dataclasses.replace(ctx, vectorized=False))
        assert plan.aggregation is not None
        self.group_columns = len(plan.aggregation.keys)
        self.repartition = repartition_topic(query_id, ctx.service_id)
        info = self.log.topic(plan.source.topic)
        create_repartition_topic(self.log, self.repartition, info.partitions if info else 1)
        starts = ctx.start_offsets(self.group, [self.repartition])
        self.grouped_positions = {p: offset for (_, p), offset in starts.items()}

    def step(self, max_records: int = 10000) -> int:
        return self._repartition(max_records) + self._aggregate(max_records)

    def _repartition(self, max_records: int) -> int:
        """Moves what the owned source partitions gained into the repartition topic."""
        topic = self.plan.source.topic
        offsets: dict[tuple[str, int], int] = {}
        done = 0
        for partition, offset in self.positions.items():
            batch = self.log.read(topic, partition, offset, max_records)
            if not len(batch):
                continue
            rows = self.pre_stage([r for r, is_null in self.decoder.decode(batch) if not is_null])
            if rows:
                keys = [encode_key(frozen(row[1 : 1 + self.group_columns])) for row in rows]
                values = [encode_value(tuple(row)) for row in rows]
                self.log.append_batch(self.repartition, keys, values, [row[0] for row in rows])
            self.positions[partition] = offsets[(topic, partition)] = batch.next_offset
            done += len(batch)
        if offsets:
            self.ctx.commit(self.group, offsets)
        return done

    def _aggregate(self, max_records: int) -> int:
        """Aggregates what the owned repartition partitions gained."""
        offsets: dict[tuple[str, int], int] = {}
        done = 0
        for partition, offset in self.grouped_positions.items():
            batch = self.log.read(self.repartition, partition, offset, max_records)
            if not len(batch):
                continue
            if self.ctx.stores is not None:
                self.ctx.stores.processing(partition)
            self.aggregation.write(_rows(batch), set())
            self.grouped_positions[partition] = batch.next_offset
            offsets[(self.repartition, partition)] = batch.next_offset
            done += len(batch)
        if offsets:
            self.ctx.commit(self.group, offsets)
        return done

    def read_positions(self) -> dict[tuple[str, int], int]:
        grouped = {(self.repartition, p): o for p, o in self.grouped_positions.items()}
        return {**super().read_positions(), **grouped}

    def execution_modes(self) -> dict[str, str]:
        return {"SELECT_KEY": "per record: through the repartition topic"}


def _rows(batch: RecordBatch) -> list[tuple[Any, ...]]:
    return [decode(value) for value in batch.values if value is not None]
