"""Fixtures shared by test modules: a real Kafka broker (Tansu) for the Kafka backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sqlengine.testing.kafka_broker import TansuBroker


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[TansuBroker]:
    """One in-memory broker on a free port of 127.0.0.1 for the whole session."""
    with TansuBroker() as broker:
        yield broker
