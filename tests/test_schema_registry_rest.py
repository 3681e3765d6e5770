"""The built-in Schema Registry as a new user meets it: confluent-kafka's own Schema Registry
client and serializers against a real streamdb server on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import message_factory

from sqlengine.engine import REGISTRY_URL_CONFIG, Engine
from sqlengine.schema_registry import RemoteSchemaRegistry
from sqlengine.serde.protobuf_schema import proto_file
from tests.test_server import EARLIEST, TIMEOUT, Server
from tests.test_server import server as server  # noqa: F401  (the fixture)

AVRO_ORDER = orjson.dumps(
    {
        "type": "record",
        "name": "Order",
        "namespace": "shop",
        "fields": [
            {"name": "id", "type": "long"},
            {"name": "item", "type": "string"},
            {"name": "price", "type": ["null", "double"], "default": None},
        ],
    }
).decode()
PROTO_READING = """syntax = "proto3";
package sensors;
message Reading {
  string sensor = 1;
  int32 level = 2;
  repeated string tags = 3;
}
"""


@pytest.fixture
def client(server: Server) -> SchemaRegistryClient:  # noqa: F811
    return SchemaRegistryClient({"url": f"{server.url}/schema-registry", "timeout": 60})


def _ok(server: Server, sql: str) -> list[dict[str, Any]]:  # noqa: F811
    response = server.ksql(sql)
    assert response.status_code == 200, response.text
    return list(response.json())


def _described(server: Server, source: str) -> list[tuple[str, str]]:  # noqa: F811
    fields = _ok(server, f"DESCRIBE {source};")[0]["sourceDescription"]["fields"]
    return [(f["name"], f["schema"]["type"]) for f in fields]


def _wait_for(probe: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _pull(server: Server, sql: str) -> list[list[Any]]:  # noqa: F811
    response = httpx.post(
        f"{server.url}/query-stream",
        json={"sql": sql, "properties": EARLIEST},
        headers={"Accept": "application/json"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    return [row for row in response.json()[1:] if isinstance(row, list)]


def _append(engine: Engine, topic: str, value: bytes) -> None:
    engine.log.append_batch(topic, [None], [value], [int(time.time() * 1000)], partition=0)


def test_client_registers_avro_and_protobuf_that_create_stream_infers(
    server: Server,  # noqa: F811
    client: SchemaRegistryClient,
) -> None:
    avro_id = client.register_schema("orders-value", Schema(AVRO_ORDER, "AVRO"))
    proto_id = client.register_schema("readings-value", Schema(PROTO_READING, "PROTOBUF"))
    assert client.get_schema(proto_id).schema_type == "PROTOBUF"
    assert client.lookup_schema("orders-value", Schema(AVRO_ORDER, "AVRO")).version == 1
    _ok(
        server,
        "CREATE STREAM orders WITH (kafka_topic='orders', value_format='AVRO', partitions=1);"
        "CREATE STREAM readings WITH (kafka_topic='readings', value_format='PROTOBUF', "
        "partitions=1);",
    )
    assert _described(server, "orders") == [
        ("ID", "BIGINT"),
        ("ITEM", "STRING"),
        ("PRICE", "DOUBLE"),
    ]
    assert _described(server, "readings") == [
        ("SENSOR", "STRING"),
        ("LEVEL", "INTEGER"),
        ("TAGS", "ARRAY"),
    ]
    assert client.get_latest_version("orders-value").schema_id == avro_id

    _ok(server, "CREATE STREAM big_orders AS SELECT id, item, price * 2 AS doubled FROM orders;")
    sink = client.get_latest_version("BIG_ORDERS-value")
    written = orjson.loads(sink.schema.schema_str)
    assert (written["namespace"], written["name"]) == (
        "io.confluent.ksql.avro_schemas",
        "KsqlDataSourceSchema",
    )
    assert [f["name"] for f in written["fields"]] == ["ID", "ITEM", "DOUBLED"]

    _ok(
        server,
        "INSERT INTO orders (id, item, price) VALUES (1, 'apple', 1.5);"
        "INSERT INTO readings (sensor, level, tags) VALUES ('s1', 7, ARRAY['a']);",
    )
    push = httpx.post(
        f"{server.url}/query-stream",
        json={"sql": "SELECT * FROM big_orders EMIT CHANGES LIMIT 1;", "properties": EARLIEST},
        headers={"Accept": "application/json"},
        timeout=TIMEOUT,
    )
    assert push.json()[1] == [1, "apple", 3.0]
    assert _pull(server, "SELECT * FROM readings;") == [["s1", 7, ["a"]]]
    # The bytes streamdb wrote for the INSERT are the client's schema id, read by Avro.
    deserialize = AvroDeserializer(client)
    raw = server.engine.log.read("orders", 0, 0).values[0]
    assert raw is not None and int.from_bytes(raw[1:5], "big") == avro_id
    assert deserialize(raw, SerializationContext("orders", MessageField.VALUE)) == {
        "id": 1,
        "item": "apple",
        "price": 1.5,
    }


def test_confluent_avro_serializer_and_deserializer_round_trip(
    server: Server,  # noqa: F811
    client: SchemaRegistryClient,
) -> None:
    serialize = AvroSerializer(client, AVRO_ORDER)
    context = SerializationContext("orders", MessageField.VALUE)
    record = serialize({"id": 7, "item": "pear", "price": None}, context)
    _ok(
        server,
        "CREATE STREAM orders WITH (kafka_topic='orders', value_format='AVRO', partitions=1);"
        "CREATE STREAM priced AS SELECT id, UCASE(item) AS item FROM orders;",
    )
    _append(server.engine, "orders", record)
    rows = _wait_for(lambda: _pull(server, "SELECT * FROM priced;"))
    assert rows == [[7, "PEAR"]]
    out = server.engine.log.read("PRICED", 0, 0).values[0]
    value = AvroDeserializer(client)(out, SerializationContext("PRICED", MessageField.VALUE))
    assert value == {"ID": 7, "ITEM": "PEAR"}


def test_bad_records_go_to_the_processing_log_and_the_query_keeps_running(
    server: Server,  # noqa: F811
    client: SchemaRegistryClient,
) -> None:
    client.register_schema("orders-value", Schema(AVRO_ORDER, "AVRO"))
    _ok(
        server,
        "CREATE STREAM orders WITH (kafka_topic='orders', value_format='AVRO', partitions=1);"
        "CREATE STREAM copied AS SELECT * FROM orders;",
    )
    serialize = AvroSerializer(client, AVRO_ORDER)
    good = serialize(
        {"id": 2, "item": "fig", "price": 1.0}, SerializationContext("orders", MessageField.VALUE)
    )
    unknown_id = b"\x00\x00\x00\x03\xe7" + good[5:]
    _append(server.engine, "orders", unknown_id)
    _append(server.engine, "orders", good[:5] + b"\xff\xff\xff")
    _append(server.engine, "orders", good)
    assert _wait_for(lambda: _pull(server, "SELECT * FROM copied;")) == [[2, "fig", 1.0]]
    messages = [e.message for e in server.engine.plog.entries]
    assert len(messages) == 2
    assert "999" in messages[0] and "orders" in messages[1]


def test_registry_rest_api_errors_and_compatibility(
    server: Server,  # noqa: F811
    client: SchemaRegistryClient,
) -> None:
    base = f"{server.url}/schema-registry"
    with pytest.raises(SchemaRegistryError) as missing:
        client.get_latest_version("nope-value")
    assert (missing.value.http_status_code, missing.value.error_code) == (404, 40401)
    malformed = httpx.post(
        f"{base}/subjects/bad-value/versions", json={"schema": '{"type": "record"'}, timeout=TIMEOUT
    )
    assert malformed.status_code == 422
    assert malformed.json()["error_code"] == 42201
    assert "Invalid schema" in malformed.json()["message"]

    client.register_schema("orders-value", Schema(AVRO_ORDER, "AVRO"))
    changed = orjson.loads(AVRO_ORDER)
    changed["fields"].append({"name": "qty", "type": "int"})
    incompatible = Schema(orjson.dumps(changed).decode(), "AVRO")
    assert not client.test_compatibility("orders-value", incompatible)
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema("orders-value", incompatible)
    assert refused.value.error_code == 409
    assert "qty" in refused.value.error_message
    client.set_compatibility("orders-value", "FORWARD")
    assert client.get_compatibility("orders-value") == "FORWARD"
    assert client.register_schema("orders-value", incompatible) > 0
    assert client.get_versions("orders-value") == [1, 2]
    missing_version = httpx.get(f"{base}/subjects/orders-value/versions/3", timeout=TIMEOUT)
    assert missing_version.json()["error_code"] == 40402
    assert client.delete_version("orders-value", 2) == 2
    assert client.get_versions("orders-value") == [1]
    assert client.delete_subject("orders-value") == [1]
    assert client.get_subjects() == []


def test_confluent_protobuf_serializer_and_deserializer_round_trip(
    server: Server,  # noqa: F811
    client: SchemaRegistryClient,
) -> None:
    reading = message_factory.GetMessageClass(proto_file(PROTO_READING).message(None)[0])
    context = SerializationContext("readings", MessageField.VALUE)
    serialize = ProtobufSerializer(reading, client, {"use.deprecated.format": False})
    record = serialize(reading(sensor="s9", level=3, tags=["x", "y"]), context)
    _ok(
        server,
        "CREATE STREAM readings WITH (kafka_topic='readings', value_format='PROTOBUF', "
        "partitions=1);"
        "CREATE STREAM levels AS SELECT sensor, level * 10 AS level FROM readings;",
    )
    assert _described(server, "readings")[0] == ("SENSOR", "STRING")
    _append(server.engine, "readings", record)
    assert _wait_for(lambda: _pull(server, "SELECT * FROM levels;")) == [["s9", 30]]
    out = server.engine.log.read("LEVELS", 0, 0).values[0]
    sink = proto_file(client.get_latest_version("LEVELS-value").schema.schema_str)
    level = message_factory.GetMessageClass(sink.message(None)[0])
    deserialize = ProtobufDeserializer(level, {"use.deprecated.format": False}, client)
    read = deserialize(out, SerializationContext("LEVELS", MessageField.VALUE))
    assert (read.SENSOR, read.LEVEL) == ("s9", 30)


def test_engine_uses_an_external_registry(
    server: Server,  # noqa: F811
    client: SchemaRegistryClient,
    tmp_path: Path,
) -> None:
    url = f"{server.url}/schema-registry"
    client.register_schema("orders-value", Schema(AVRO_ORDER, "AVRO"))
    engine = Engine(tmp_path / "other", config={REGISTRY_URL_CONFIG: url})
    try:
        assert isinstance(engine.schema_registry, RemoteSchemaRegistry)
        engine.execute(
            "CREATE STREAM orders WITH (kafka_topic='orders', value_format='AVRO', partitions=1);"
            "CREATE STREAM named AS SELECT item FROM orders;"
            "INSERT INTO orders (id, item) VALUES (3, 'kiwi');"
        )
        engine.run_until_idle()
        assert engine.execute("SELECT * FROM named;")[0].rows == [["kiwi"]]  # type: ignore[attr-defined]
        assert "NAMED-value" in client.get_subjects()
    finally:
        engine.close()
