"""Confluent's Datagen source connector (io.confluent.kafka.connect.datagen.DatagenConnector):
random records of a quickstart's schema, as ksqlDB's tutorials use them, one every up to
`max.interval` ms, `iterations` of them in all (-1 or absent: without end), to `kafka.topic`.
Values are JSON (JsonConverter, schemas off) or, with `value.converter` AvroConverter, Avro
with the schema registered in the engine's registry (field names upper-cased); keys are the quickstart's key field as
text (StringConverter)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import orjson

from sqlengine import serde
from sqlengine import types as T
from sqlengine.connectors.base import ConnectorContext, ConnectorError

Generator = Callable[[random.Random, int], dict[str, Any]]


def _orders(rng: random.Random, n: int) -> dict[str, Any]:
    return {
        "ordertime": _recent_ms(rng),
        "orderid": n,
        "itemid": f"Item_{rng.randint(1, 999)}",
        "orderunits": round(rng.uniform(0.1, 10.0), 2),
        "address": {
            "city": f"City_{rng.randint(1, 99)}",
            "state": f"State_{rng.randint(1, 99)}",
            "zipcode": rng.randint(10000, 99999),
        },
    }


def _users(rng: random.Random, n: int) -> dict[str, Any]:
    return {
        "registertime": _recent_ms(rng),
        "userid": f"User_{rng.randint(1, 9)}",
        "regionid": f"Region_{rng.randint(1, 9)}",
        "gender": rng.choice(["MALE", "FEMALE", "OTHER"]),
    }


def _pageviews(rng: random.Random, n: int) -> dict[str, Any]:
    return {
        "viewtime": _recent_ms(rng) + n,
        "userid": f"User_{rng.randint(1, 9)}",
        "pageid": f"Page_{rng.randint(1, 99)}",
    }


def _ratings(rng: random.Random, n: int) -> dict[str, Any]:
    return {
        "rating_id": n,
        "user_id": rng.randint(1, 20),
        "stars": rng.randint(1, 4),
        "route_id": rng.randint(1, 9999),
        "rating_time": _recent_ms(rng),
        "channel": rng.choice(["iOS", "iOS-test", "android", "web", "ios"]),
        "message": rng.choice(
            [
                "thank you for the most friendly, helpful experience today at your new lounge",
                "more peanuts please",
                "meh",
                "airport refurb looks great, will fly outta here more!",
                "your team here rocks!",
            ]
        ),
    }


def _clickstream(rng: random.Random, n: int) -> dict[str, Any]:
    moment = _recent_ms(rng)
    return {
        "ip": f"{rng.randint(1, 233)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        "userid": rng.randint(1, 40),
        "remote_user": "-",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(moment / 1000)),
        "_time": moment,
        "request": rng.choice(
            [
                "GET /index.html HTTP/1.1",
                "GET /site/user_status.html HTTP/1.1",
                "GET /images/track.png HTTP/1.1",
                "GET /site/login.html HTTP/1.1",
            ]
        ),
        "status": rng.choice(["200", "302", "404", "405", "406", "407"]),
        "bytes": rng.choice(["278", "1289", "2048", "4006", "4096", "14096"]),
        "referrer": "-",
        "agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    }


def _stock_trades(rng: random.Random, n: int) -> dict[str, Any]:
    return {
        "side": rng.choice(["BUY", "SELL"]),
        "quantity": rng.randint(1, 5000),
        "symbol": rng.choice(["ZBZX", "ZJZZT", "ZTEST", "ZVV", "ZVZZT", "ZWZZT", "ZXZZT"]),
        "price": rng.randint(5, 1000),
        "account": rng.choice(["ABC123", "LMN456", "XYZ789"]),
        "userid": f"User_{rng.randint(1, 9)}",
    }


def _recent_ms(rng: random.Random) -> int:
    return int(time.time() * 1000) - rng.randint(0, 60_000)


# quickstart -> (generator, key field, Avro schema fields)
QUICKSTARTS: dict[str, tuple[Generator, str]] = {
    "orders": (_orders, "orderid"),
    "users": (_users, "userid"),
    "pageviews": (_pageviews, "viewtime"),
    "ratings": (_ratings, "rating_id"),
    "clickstream": (_clickstream, "ip"),
    "stock_trades": (_stock_trades, "symbol"),
}


def _sql_type(value: Any) -> T.SqlType:
    if isinstance(value, dict):
        return T.Struct(tuple(T.Field(k.upper(), _sql_type(v)) for k, v in value.items()))
    return {bool: T.BOOLEAN, int: T.BIGINT, float: T.DOUBLE}.get(type(value), T.STRING)


def _upper(value: Any) -> Any:
    if isinstance(value, dict):
        return {k.upper(): _upper(v) for k, v in value.items()}
    return value


def _avro_encoder(
    context: ConnectorContext, topic: str, sample: dict[str, Any]
) -> Callable[[dict[str, Any]], bytes]:
    """Avro values whose schema (the quickstart's fields, upper-cased as ksqlDB's columns)
    is registered in the engine's schema registry under `<topic>-value`, so that a stream
    declared without columns (value_format='AVRO') reads them."""
    columns = [(name.upper(), _sql_type(value)) for name, value in sample.items()]
    serialize = serde.make_serializer(
        serde.FormatInfo("AVRO"),
        columns,
        is_key=False,
        topic=topic,
        registry=context.schema_registry,
    )

    def encode(record: dict[str, Any]) -> bytes:
        data = serialize([_upper(record[name]) for name in sample])
        assert data is not None
        return data

    return encode


class DatagenTask:
    def __init__(self, context: ConnectorContext) -> None:
        self.context = context
        quickstart = context.require("quickstart").lower()
        if quickstart not in QUICKSTARTS:
            raise ConnectorError(
                f"Connector {context.name}: unknown quickstart '{quickstart}'; one of "
                + ", ".join(sorted(QUICKSTARTS))
            )
        self.generate, self.key_field = QUICKSTARTS[quickstart]
        self.topic = context.require("kafka.topic")
        self.iterations = context.number("iterations", -1)
        self.max_interval_ms = context.number("max.interval", 500)
        self.rng = random.Random()
        self.next_at = 0.0
        context.ensure_topic(self.topic)
        self.encode: Callable[[dict[str, Any]], bytes] = orjson.dumps
        converter = context.properties.get("value.converter", "")
        if "avro" in converter.lower():
            self.encode = _avro_encoder(context, self.topic, self.generate(self.rng, 0))
        elif converter and "json" not in converter.lower():
            raise ConnectorError(
                f"Connector {context.name}: value.converter {converter} is not supported; use "
                "org.apache.kafka.connect.json.JsonConverter (the default) or "
                "io.confluent.connect.avro.AvroConverter"
            )

    @property
    def topics(self) -> list[str]:
        return [self.topic]

    def step(self) -> int:
        produced = int(self.context.offsets.get("produced", 0))
        if 0 <= self.iterations <= produced or time.monotonic() < self.next_at:
            return 0
        record = self.generate(self.rng, produced + 1)
        key = str(record[self.key_field]).encode()
        now = int(time.time() * 1000)
        self.context.log.append_batch(self.topic, [key], [self.encode(record)], [now])
        self.context.offsets["produced"] = produced + 1
        self.next_at = time.monotonic() + self.rng.uniform(0, self.max_interval_ms) / 1000
        return 1

    def close(self) -> None:
        """Nothing held open."""
