"""EXPLAIN prints the physical topology a query runs as: its operators, the state stores
(changelog topics) the running query really owns, its tasks and how its operators run."""

from __future__ import annotations

from pathlib import Path

from sqlengine.engine import Engine

SETUP = """
CREATE STREAM widgets (sensor_id STRING KEY, colour STRING, weight_g INT, temp DOUBLE)
    WITH (kafka_topic='widgets', value_format='JSON', partitions=2);
CREATE TABLE items (id STRING PRIMARY KEY, make STRING, cost DOUBLE)
    WITH (kafka_topic='items', value_format='JSON', partitions=2);
CREATE STREAM heavy AS SELECT sensor_id, weight_g FROM widgets WHERE weight_g > 100;
CREATE STREAM exploded AS SELECT sensor_id, EXPLODE(ARRAY[1, 2]) AS n FROM widgets;
CREATE TABLE per_sensor AS SELECT sensor_id, COUNT(*) AS n FROM widgets
    WINDOW TUMBLING (SIZE 10 SECONDS) GROUP BY sensor_id EMIT FINAL;
CREATE TABLE per_make AS SELECT make, SUM(cost) AS total FROM items GROUP BY make
    HAVING SUM(cost) > 1;
CREATE STREAM enriched AS SELECT w.sensor_id, i.make FROM widgets w JOIN items i
    ON w.sensor_id = i.id;
CREATE TABLE joined_counts AS SELECT i.make, COUNT(*) AS n FROM widgets w JOIN items i
    ON w.sensor_id = i.id GROUP BY i.make;
"""


def test_explain_lists_what_each_running_query_owns(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(SETUP)
    running = engine.executor.running  # type: ignore[attr-defined]
    assert len(running) == 6
    for query_id, query in running.items():
        (result,) = engine.execute(f"EXPLAIN {query_id};")
        topology = result.topology
        assert topology.startswith("Topologies:\n   Sub-topology: 0 (tasks: 2,"), topology
        for store in query.internal_topics():
            assert store in topology, (query_id, store)
        listed = topology.count("_confluent-ksql-default_query_")
        assert listed == len(query.internal_topics()), topology
        assert result.sinks and result.sources and result.query_type == "PERSISTENT"
    by_sink = {info.sink: qid for qid, info in engine.catalog.queries.items()}
    heavy = engine.execute(f"EXPLAIN {by_sink['HEAVY']};")[0].topology
    assert "Processor: FILTER-0000000001 ((WEIGHT_G > 100)" in heavy
    assert "vectorized: Arrow batches" in heavy and "Sink: SINK-0000000003" in heavy
    exploded = engine.execute(f"EXPLAIN {by_sink['EXPLODED']};")[0].topology
    assert "FLAT_MAP" in exploded and "per record: generated Python" in exploded
    final = engine.execute(f"EXPLAIN {by_sink['PER_SENSOR']};")[0].topology
    assert final.index("AGGREGATE-") < final.index("SUPPRESS-") < final.index("PROJECT-")
    having = engine.execute(f"EXPLAIN {by_sink['PER_MAKE']};")[0].topology
    assert "HAVING (KSQL_AGG_VARIABLE_0 > 1)" in having  # as ksqlDB names it
    assert "-KsqlTopic-Reduce-changelog" in having  # a table's rows, to retract old groups
    engine.close()


def test_explain_of_a_statement_shows_its_topology_before_it_runs(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(SETUP)
    (result,) = engine.execute(
        "EXPLAIN CREATE STREAM s2 AS SELECT w.sensor_id, i.cost * 2 AS c FROM widgets w "
        "LEFT JOIN items i ON w.sensor_id = i.id WHERE i.cost IS NOT NULL;"
    )
    assert "JOIN-0000000001 (LEFT stream-table with ITEMS" in result.topology
    assert "Sink: SINK-0000000004 (stream S2)" in result.topology
    assert result.sources == ["WIDGETS", "ITEMS"] and result.sinks == ["S2"]
    assert result.query_type == "PUSH"  # not running: as a transient query would
    (pull,) = engine.execute("EXPLAIN SELECT * FROM per_make;")
    assert pull.query_type == "PULL"
    engine.close()
