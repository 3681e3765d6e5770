"""Kafka transactions for the Kafka log's steps (processing.guarantee=exactly_once_v2).

A query's step runs inside `Log.step(group, task)`. On Kafka the step has a transactional
producer of its own, `transactional.id` `<group>-<task>`, made ready by `init_transactions`
the first time: that fences any older producer of the same id (a server killed mid-step,
still running somewhere or not) and aborts the transaction it left open. The step's first
append begins a transaction; every append of the step's thread goes through that producer
(sink records, changelog records, processing log records); the step's commit of its group
produces the group's record of the metadata topic, sends the Kafka partitions' offsets with
`send_offsets_to_transaction`, and commits the transaction. If the step raises, the
transaction is aborted (and a broker's error raised as StepAborted, after which the step
can run again): readers with isolation.level=read_committed (every reader of the
Kafka log) never see what it wrote, and the group's committed offsets stay where they were.
A group whose steps run here commits in them only: a commit outside one (a query that stops
commits where it read) would be atomic with no output, and would set the group back to
positions an aborted step reached, or, from a zombie, to where it was fenced.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from confluent_kafka import KafkaError, KafkaException, Producer

from sqlengine.log.base import StepAborted

_TIMEOUT = 30.0  # seconds init, commit and abort may take
_COMMIT_ATTEMPTS = 5  # a commit that fails with a retriable error is tried again


class ProducerFencedError(RuntimeError):
    """Another producer with this step's transactional.id started: this one is a zombie."""


class TransactionalStep:
    """A step's producer, and whether its transaction has begun."""

    def __init__(self, group: str, producer: Producer) -> None:
        self.group = group
        self.producer = producer
        self.open = False

    def begin(self) -> Producer:
        """The producer, in a transaction (begun by the step's first append)."""
        if not self.open:
            self.producer.begin_transaction()
            self.open = True
        return self.producer

    def commit(self) -> None:
        """Commits the transaction; a retriable failure is tried again, a bounded number of
        times (librdkafka's contract for commit_transaction)."""
        for attempt in range(_COMMIT_ATTEMPTS):
            try:
                self.producer.commit_transaction(_TIMEOUT)
                break
            except KafkaException as exc:
                error = exc.args[0]
                if not error.retriable() or attempt == _COMMIT_ATTEMPTS - 1:
                    raise
                time.sleep(0.1 * (attempt + 1))
        self.open = False

    def abort(self) -> None:
        if self.open:
            self.open = False
            self.producer.abort_transaction(_TIMEOUT)


class Transactions:
    """The transactional producers of a Kafka log's steps, one per transactional.id, and
    the step each thread is in."""

    def __init__(self, client: dict[str, str]) -> None:
        self._client = client
        self._producers: dict[str, Producer] = {}
        self._fenced: set[str] = set()
        self._stepped: set[str] = set()  # groups whose steps ran here
        self._local = threading.local()
        self._lock = threading.Lock()

    def _producer(self, transactional_id: str) -> Producer:
        with self._lock:
            if transactional_id in self._fenced:
                raise ProducerFencedError(_fenced_message(transactional_id))
            producer = self._producers.get(transactional_id)
            if producer is None:
                producer = Producer(
                    {
                        **self._client,
                        "partitioner": "murmur2_random",
                        "transactional.id": transactional_id,
                        "linger.ms": 5,
                        "batch.num.messages": 10000,
                    }
                )
                producer.init_transactions(_TIMEOUT)
                self._producers[transactional_id] = producer
            return producer

    def current(self) -> TransactionalStep | None:
        """The step this thread is in, if any."""
        return getattr(self._local, "step", None)

    @contextmanager
    def step(self, group: str, task: str) -> Iterator[None]:
        transactional_id = f"{group}-{task}"
        step = TransactionalStep(group, self._producer(transactional_id))
        self._stepped.add(group)
        self._local.step = step
        try:
            yield
            if step.open:  # appends after the group's commit, or no commit: theirs alone
                step.commit()
        except BaseException as exc:
            self._end_failed(step, transactional_id, exc)
            if isinstance(exc, KafkaException | TimeoutError):
                raise StepAborted(f"{transactional_id}: transaction aborted: {exc}") from exc
            raise
        finally:
            self._local.step = None

    def _end_failed(
        self, step: TransactionalStep, transactional_id: str, exc: BaseException
    ) -> None:
        """Aborts a failed step's transaction. A fenced producer is dropped and never made
        again here: a new one would fence the producer that took over."""
        fenced = _is_fenced(exc)
        if not fenced:
            try:
                step.abort()
                return
            except KafkaException as abort_error:
                fenced = _is_fenced(abort_error)
                if not fenced and not abort_error.args[0].fatal():
                    raise
        with self._lock:
            producer = self._producers.pop(transactional_id, None)
            if fenced:
                self._fenced.add(transactional_id)
        if producer is not None:
            producer.flush(0)  # a fatal error: the producer is of no further use
        if fenced:
            raise ProducerFencedError(_fenced_message(transactional_id)) from exc

    def runs_steps_of(self, group: str) -> bool:
        """Whether steps of `group` ran here (in transactions)."""
        return group in self._stepped

    def close(self) -> None:
        with self._lock:
            for producer in self._producers.values():
                producer.flush(_TIMEOUT)
            self._producers.clear()


def _is_fenced(exc: BaseException) -> bool:
    if not isinstance(exc, KafkaException) or not exc.args:
        return False
    error = exc.args[0]
    return isinstance(error, KafkaError) and error.code() in (
        KafkaError._FENCED,
        KafkaError.PRODUCER_FENCED,
        KafkaError.INVALID_PRODUCER_EPOCH,
    )


def _fenced_message(transactional_id: str) -> str:
    return (
        f"the transactional producer {transactional_id} was fenced: a producer with the same "
        "transactional.id started since (this query restarted on another server, or this "
        "server's process was taken over); this process stops the query"
    )
