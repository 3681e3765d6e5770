"""A restart in the middle of an aggregation yields exactly what an uninterrupted run yields:
aggregation state is restored from its changelog and the query resumes at its offsets."""

from __future__ import annotations

from pathlib import Path

import orjson

from sqlengine.engine import Engine
from sqlengine.testing.compare import read_topic

NO_CACHE = {"ksql.streams.cache.max.bytes.buffering": "0"}
SETUP = """
CREATE STREAM readings (sensor STRING KEY, temp INT)
    WITH (kafka_topic='readings', value_format='JSON', partitions=1);
CREATE TABLE temps AS
    SELECT sensor, COUNT(*) AS n, MAX(temp) AS hottest, COLLECT_LIST(temp) AS seen
    FROM readings WINDOW TUMBLING (SIZE 10 SECONDS, GRACE PERIOD 5 SECONDS)
    GROUP BY sensor EMIT CHANGES;
CREATE TABLE totals AS
    SELECT sensor, SUM(temp) AS total FROM readings GROUP BY sensor HAVING SUM(temp) < 200;
"""
EVENTS = [(f"s{i % 3}", 3_000 * i, 10 + i) for i in range(30)]


def _feed(engine: Engine, events: list[tuple[str, int, int]]) -> None:
    for sensor, ts, temp in events:
        engine.log.append_batch(
            "readings", [orjson.dumps(sensor)], [orjson.dumps({"TEMP": temp})], [ts]
        )
        engine.run_until_idle()


def _outputs(engine: Engine) -> dict[str, list[tuple[bytes | None, bytes | None, int]]]:
    return {
        topic: [(r.key, r.value, r.timestamp) for r in read_topic(engine, topic)]
        for topic in ("TEMPS", "TOTALS")
    }


def test_restart_mid_aggregation_matches_uninterrupted_run(tmp_path: Path) -> None:
    straight = Engine(tmp_path / "straight", config=NO_CACHE)
    straight.execute(SETUP)
    _feed(straight, EVENTS)
    expected = _outputs(straight)
    straight.close()

    engine = Engine(tmp_path / "restarted", config=NO_CACHE)
    engine.execute(SETUP)
    _feed(engine, EVENTS[:17])
    engine.close()
    engine = Engine(tmp_path / "restarted", config=NO_CACHE)
    _feed(engine, EVENTS[17:])
    assert _outputs(engine) == expected
    assert len(expected["TEMPS"]) == 30 and expected["TOTALS"]
    engine.close()
