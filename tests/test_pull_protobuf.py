"""/query answers a pull query in ksqlDB's protobuf form when the client accepts it: the
header carries the rows' .proto schema, each row its message's bytes."""

from __future__ import annotations

import base64
import time

import httpx
from google.protobuf import message_factory, text_format

from server.queries import PROTOBUF_MEDIA_TYPE
from sqlengine.serde.protobuf_format import ProtobufSchema
from sqlengine.serde.protobuf_schema import proto_file
from tests.test_server import TIMEOUT, Server
from tests.test_server import server as server  # noqa: F401  (the fixture)


def test_a_pull_query_in_protobuf(server: Server) -> None:
    created = server.ksql(
        "CREATE TABLE t (k INT PRIMARY KEY, text STRING) "
        "WITH (kafka_topic='t', value_format='JSON', partitions=1);"
        "CREATE TABLE q AS SELECT * FROM t;"
        "INSERT INTO t (k, text) VALUES (2, 'a2');"
    )
    assert created.status_code == 200, created.text
    body = {"ksql": "SELECT * FROM q WHERE k = 2;"}
    headers = {"Accept": PROTOBUF_MEDIA_TYPE}
    for _ in range(100):  # until the CTAS has the row
        resp = httpx.post(f"{server.url}/query", json=body, headers=headers, timeout=TIMEOUT)
        assert resp.status_code == 200, resp.text
        if len(resp.json()) > 1:
            break
        time.sleep(0.1)
    assert resp.headers["content-type"] == PROTOBUF_MEDIA_TYPE
    header, row = resp.json()
    proto = header["header"]["protoSchema"]
    assert proto == (
        'syntax = "proto3";\n\nmessage ConnectDefault1 {\n  int32 K = 1;\n  string TEXT = 2;\n}\n'
    )
    schema = ProtobufSchema(proto, proto_file(proto), None, framed=False)
    message = message_factory.GetMessageClass(schema.descriptor).FromString(
        base64.b64decode(row["row"]["protobufBytes"])
    )
    assert text_format.MessageToString(message) == 'K: 2\nTEXT: "a2"\n'
