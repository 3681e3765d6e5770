"""CREATE OR REPLACE upgrades a running query in place, as ksqlDB's "update a running
persistent query" guide shows: the same query id goes on from the old query's offsets and
state, and upgrades ksqlDB refuses are refused with its messages."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from sqlengine import results as R
from sqlengine.engine import Engine

PURCHASES = (
    "CREATE STREAM purchases (product_id INT KEY, name VARCHAR, cost DOUBLE, quantity INT) "
    "WITH (kafka_topic='purchases', value_format='JSON', partitions=1);"
)
VALID = (
    "CREATE STREAM valid_purchases AS SELECT * FROM purchases WHERE cost > 0.00 AND quantity > 0;"
)
RELAXED = "CREATE OR REPLACE STREAM valid_purchases AS SELECT * FROM purchases WHERE quantity > 0;"


def _buy(engine: Engine, product: int, cost: float, quantity: int = 1) -> None:
    engine.execute(
        "INSERT INTO purchases (product_id, name, cost, quantity) "
        f"VALUES ({product}, 'p{product}', {cost}, {quantity});"
    )


def _values(engine: Engine, topic: str) -> list[dict]:
    return [orjson.loads(v) for v in engine.log.read(topic, 0, 0).values]


def test_data_selection_goes_on_from_the_old_offsets(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(PURCHASES + VALID)
    [query_id] = engine.catalog.queries
    _buy(engine, 1, 5.0)
    _buy(engine, 2, -5.0)  # a refund: filtered out by the first version
    engine.run_until_idle()
    [replaced] = engine.execute(RELAXED)
    assert isinstance(replaced, R.CommandStatus)
    assert replaced.message == f"Created query with ID {query_id}"
    assert list(engine.catalog.queries) == [query_id]
    assert "quantity > 0" in engine.catalog.queries[query_id].sql.lower()
    _buy(engine, 3, -7.0)
    engine.run_until_idle()
    # The earlier refund stays out: the new version starts where the old one stopped.
    assert [v["COST"] for v in _values(engine, "VALID_PURCHASES")] == [5.0, -7.0]
    engine.close()

    again = Engine(tmp_path)  # the replay ends with the one upgraded query, at its offsets
    assert list(again.catalog.queries) == [query_id]
    _buy(again, 4, -1.0)
    again.run_until_idle()
    assert [v["COST"] for v in _values(again, "VALID_PURCHASES")] == [5.0, -7.0, -1.0]
    again.close()


def test_schema_evolution_adds_columns_only_at_the_end(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(PURCHASES + VALID)
    engine.execute(
        "CREATE OR REPLACE STREAM purchases (product_id INT KEY, name VARCHAR, cost DOUBLE, "
        "quantity INT, popularity DOUBLE) "
        "WITH (kafka_topic='purchases', value_format='JSON', partitions=1);"
    )
    engine.execute(RELAXED)
    assert [c.name for c in engine.catalog.sources["VALID_PURCHASES"].columns][-1] == "POPULARITY"
    with pytest.raises(R.StatementError) as dropped:
        engine.execute(
            "CREATE OR REPLACE STREAM valid_purchases AS "
            "SELECT product_id, name, quantity FROM purchases;"
        )
    assert dropped.value.message == (
        "Cannot upgrade data source: DataSource '`VALID_PURCHASES`' has schema = "
        "`PRODUCT_ID` INTEGER KEY, `NAME` STRING, `COST` DOUBLE, `QUANTITY` INTEGER, "
        "`POPULARITY` DOUBLE which is not upgradeable to `PRODUCT_ID` INTEGER KEY, "
        "`NAME` STRING, `QUANTITY` INTEGER. (The following columns are changed, missing or "
        "reordered: [`COST` DOUBLE, `QUANTITY` INTEGER, `POPULARITY` DOUBLE])"
    )
    with pytest.raises(R.StatementError, match="Key columns must be identical."):
        engine.execute(
            "CREATE OR REPLACE STREAM valid_purchases AS SELECT * FROM purchases PARTITION BY name;"
        )
    assert len(engine.catalog.queries) == 1  # the refused upgrades left the query running
    engine.close()


def test_a_stream_aggregation_keeps_its_state(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(
        PURCHASES + "CREATE TABLE stats AS SELECT product_id, COUNT(*) AS num_sales "
        "FROM purchases GROUP BY product_id;"
    )
    [query_id] = engine.catalog.queries
    _buy(engine, 1, 5.0)
    _buy(engine, 1, -5.0)
    engine.run_until_idle()
    engine.execute(
        "CREATE OR REPLACE TABLE stats AS SELECT product_id, COUNT(*) AS num_sales, "
        "AS_VALUE(product_id) AS id_val FROM purchases WHERE cost > 0 GROUP BY product_id;"
    )
    assert list(engine.catalog.queries) == [query_id]
    _buy(engine, 1, -2.0)  # filtered out now
    _buy(engine, 1, 3.0)
    engine.run_until_idle()
    assert _values(engine, "STATS")[-1] == {"NUM_SALES": 3, "ID_VAL": 1}
    with pytest.raises(R.StatementError, match="must have matching aggregationFunctions"):
        engine.execute(
            "CREATE OR REPLACE TABLE stats AS SELECT product_id, COUNT(*) AS num_sales, "
            "AS_VALUE(product_id) AS id_val, SUM(quantity) AS total FROM purchases GROUP BY product_id;"
        )
    engine.close()


def test_unsupported_upgrades_are_named(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(
        PURCHASES + "CREATE TABLE products (id INT PRIMARY KEY, label VARCHAR) "
        "WITH (kafka_topic='products', value_format='JSON', partitions=1);"
        "CREATE STREAM labelled AS SELECT p.product_id, p.cost, t.label FROM purchases p "
        "JOIN products t ON p.product_id = t.id;"
        "CREATE TABLE windowed AS SELECT product_id, COUNT(*) AS n FROM purchases "
        "WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY product_id;"
    )
    with pytest.raises(R.StatementError, match="^Upgrades not yet supported for StreamTableJoin"):
        engine.execute(
            "CREATE OR REPLACE STREAM labelled AS SELECT p.product_id, p.cost, t.label "
            "FROM purchases p JOIN products t ON p.product_id = t.id WHERE p.cost > 0;"
        )
    with pytest.raises(R.StatementError, match="StreamWindowedAggregate"):
        engine.execute(
            "CREATE OR REPLACE TABLE windowed AS SELECT product_id, COUNT(*) AS n "
            "FROM purchases WINDOW TUMBLING (SIZE 1 MINUTE) WHERE cost > 0 GROUP BY product_id;"
        )
    with pytest.raises(R.StatementError, match="has type = KSTREAM which is not upgradeable"):
        engine.execute(
            "CREATE OR REPLACE TABLE labelled AS SELECT product_id, COUNT(*) AS n "
            "FROM purchases GROUP BY product_id;"
        )
    assert len(engine.catalog.queries) == 2
    engine.close()


def test_a_sink_with_several_writers_is_not_replaced(tmp_path: Path) -> None:
    engine = Engine(tmp_path)
    engine.execute(
        PURCHASES + VALID + "INSERT INTO valid_purchases SELECT * FROM purchases WHERE cost > 100;"
    )
    with pytest.raises(R.StatementError) as refused:
        engine.execute(RELAXED)
    assert refused.value.message == (
        "REPLACE for sink VALID_PURCHASES is not supported because there are multiple queries "
        "writing into it: [CSAS_VALID_PURCHASES_0, INSERTQUERY_1]"
    )
    engine.close()
