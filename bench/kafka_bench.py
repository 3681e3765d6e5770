"""The stateless CSAS of query_bench (filter + project of JSON widgets) on both logs: the
embedded one, and a Kafka broker on this machine (Tansu, in memory, started per run), where
the query consumes and produces through confluent-kafka. Records are in the source topic
before the query starts; time runs from its creation until it is idle."""

from __future__ import annotations

from bench import Scenario
from bench.query_bench import (
    FILTER_PROJECT_CSAS,
    RECORDS,
    fill_widgets,
    filter_project_csas,
    timed_query,
)
from sqlengine.testing.kafka_broker import TansuBroker


def filter_project_csas_kafka() -> tuple[int, float]:
    with TansuBroker() as broker:
        config = {"bootstrap.servers": broker.bootstrap_servers}
        return RECORDS, timed_query([fill_widgets], FILTER_PROJECT_CSAS, config)


SCENARIOS: dict[str, Scenario] = {
    "csas_json_embedded_log": filter_project_csas,
    "csas_json_kafka": filter_project_csas_kafka,
}
