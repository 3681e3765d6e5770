"""Exactly-once output of a stateless query into a stream: a crash between a step's appends
to the sink and the commit of its input offsets must not leave the step's records twice.

Before its first append, each step records, in a consumer group of its own
(`<group>-output`, one atomic write), its number, the input it read (each partition's batch
end) and the sink's end offsets; the step's commit carries the same number in the query's
group. A query that starts and finds the recorded step newer than the committed one replays
it: it reads exactly the batches that step read, which give the same output records in the
same order (a stateless query maps each input record to its outputs alone), and it writes
none of the first as many records of each sink partition as that partition gained past the
recorded end offsets. So the sink holds each output once, wherever the crash fell. (A record
with no key goes to the partition the log's round robin picks, which a replay may not pick
again: a keyless sink of several partitions can hold such a record twice after a crash.)

Steps of the engine's queries and its INSERT statements run one at a time, so nothing else
appends between a step's record and its commit. A client writing into the same stream by
/inserts-stream at that very moment is the exception: its records would be counted as the
step's.

Under processing.guarantee=exactly_once_v2 on a log whose steps are transactions (Kafka:
Log.step, log/kafka_transactions.py) a query has no guard: an aborted step's records are
never read, and a replay writes them anew.
"""

from __future__ import annotations

from sqlengine.log.base import Log

GUARANTEE_PROPERTIES = ("processing.guarantee", "ksql.streams.processing.guarantee")
# Kafka Streams' values: at_least_once (the default) and the transactional ones (the two
# older names of exactly_once_v2 mean transactions too).
AT_LEAST_ONCE = "at_least_once"
TRANSACTIONAL = ("exactly_once_v2", "exactly_once", "exactly_once_beta")
# A query's steps are one task: every partition this process runs (Log.step).
STEP_TASK = "0"


def uses_transactions(config: dict[str, str]) -> bool:
    """Whether processing.guarantee (also ksql.streams.-prefixed) asks for transactions."""
    guarantee = AT_LEAST_ONCE
    for name in GUARANTEE_PROPERTIES:
        guarantee = config.get(name, guarantee).strip().lower()
    if guarantee != AT_LEAST_ONCE and guarantee not in TRANSACTIONAL:
        raise ValueError(
            f"processing.guarantee={guarantee!r}: use at_least_once (the default) or "
            "exactly_once_v2"
        )
    return guarantee in TRANSACTIONAL


STEP = ("$step", 0)  # the committed entry holding a step number
_READ = "$read:"  # entries (`$read:<topic>`, partition) -> the end of the batch a step read


class OutputGuard:
    def __init__(self, log: Log, group: str, sink: str) -> None:
        self.log = log
        self.sink = sink
        self.intents = f"{group}-output"
        self.step = log.committed(group).get(STEP, 0)
        recorded = log.committed(self.intents)
        # The step to replay: where each partition's batch ended, and how many of its
        # output records the sink holds already.
        self.replay_ends: dict[tuple[str, int], int] = {}
        self.replay_sink_ends: dict[tuple[str, int], int] = {}
        # Per sink partition: how many of the replayed step's records it holds already (a
        # crash may fall between the appends to two partitions).
        self.written: dict[int, int] = {}
        if recorded.get(STEP, 0) > self.step:
            for (name, partition), offset in recorded.items():
                if name.startswith(_READ):
                    self.replay_ends[(name[len(_READ) :], partition)] = offset
                elif name == sink:
                    self.replay_sink_ends[(name, partition)] = offset
                    held = log.end_offset(name, partition) - offset
                    if held > 0:
                        self.written[partition] = held

    def replay_end(self, topic: str, partition: int, offset: int) -> int | None:
        """Where a replayed step's batch of a partition ends (at `offset`: the step read
        none there), or None when the step is no replay."""
        if not self.replay_ends:
            return None
        return max(offset, self.replay_ends.get((topic, partition), offset))

    def begin_step(self, reads: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
        """Records a step before it appends (`reads`: each batch's end); returns the entry
        its commit carries."""
        info = self.log.topic(self.sink)
        ends = {(self.sink, p): self.log.end_offset(self.sink, p) for p in range(info.partitions)}
        if self.replay_ends:
            # A replay keeps the replayed step's sink ends: if it crashes too, the next
            # replay leaves out what both wrote.
            ends = self.replay_sink_ends
        self.replay_ends, self.replay_sink_ends = {}, {}
        self.step += 1
        batches = {(f"{_READ}{topic}", p): end for (topic, p), end in reads.items()}
        self.log.commit(self.intents, {**ends, **batches, STEP: self.step})
        return {STEP: self.step}

    def kept(self, partitions: list[int]) -> list[int]:
        """Of a step's next output records (record i goes to `partitions[i]`), the positions
        of those the sink does not hold yet: each partition holds the first of its records."""
        kept = []
        for i, p in enumerate(partitions):
            held = self.written.get(p, 0)
            if held > 1:
                self.written[p] = held - 1
            elif held:
                # Drained: once none is left, appends take the direct path again.
                del self.written[p]
            else:
                kept.append(i)
        return kept
