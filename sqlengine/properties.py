"""The properties SET may change and SHOW PROPERTIES lists, as ksqlDB resolves them.

ksqlDB accepts a property name only when it is one of its own (`ksql.*`; `ksql.functions.*` are
free-form), or a Kafka Streams, consumer or producer setting, bare or prefixed with
`ksql.streams.` (and `consumer.` / `producer.` inside that). Anything else is refused with
"Not recognizable as ksql, streams, consumer, or producer property". SHOW PROPERTIES lists the
server's effective values: these defaults, overridden by the server's configuration and by SET.
"""

from __future__ import annotations

from dataclasses import dataclass

STREAMS_PREFIX = "ksql.streams."
FUNCTIONS_PREFIX = "ksql.functions."

# The server's defaults: what the engine does when nothing is configured.
DEFAULTS: dict[str, str] = {
    "ksql.service.id": "default_",
    "ksql.output.topic.name.prefix": "",
    "ksql.persistence.default.format.key": "KAFKA",
    "ksql.persistence.wrap.single.values": "true",
    "ksql.query.pull.table.scan.enabled": "true",
    "ksql.query.pull.range.scan.enabled": "true",
    "ksql.query.pull.limit.clause.enabled": "true",
    "ksql.timestamp.throw.on.invalid": "false",
    "ksql.streams.auto.offset.reset": "latest",
    "ksql.streams.cache.max.bytes.buffering": "10000000",
    "streamdb.vectorized": "true",
}

KSQL_PROPERTIES = frozenset(
    {
        *(name for name in DEFAULTS if name.startswith("ksql.") and "streams." not in name),
        "ksql.persistence.default.format.value",
        "ksql.properties.overrides.denylist",
        "ksql.query.pull.stream.enabled",
        "ksql.query.pull.max.allowed.offset.lag",
        "ksql.query.pull.analytics.enabled",
        "ksql.query.persistent.active.limit",
        "ksql.query.push.v2.enabled",
        "ksql.query.retry.backoff.initial.ms",
        "ksql.query.retry.backoff.max.ms",
        "ksql.query.error.max.queue.size",
        "ksql.new.query.planner.enabled",
        "ksql.schema.registry.url",
        "ksql.sink.partitions",
        "ksql.internal.topic.min.insync.replicas",
        "ksql.windowed.session.key.legacy",
        "ksql.transient.prefix",
        "ksql.persistent.prefix",
        "ksql.internal.topic.replicas",
        "ksql.sink.replicas",
        "ksql.suppress.enabled",
        "ksql.suppress.buffer.size.bytes",
        "ksql.lambdas.enabled",
        "ksql.headers.columns.enabled",
        "ksql.variable.substitution.enable",
        "ksql.create.or.replace.enabled",
        "ksql.source.table.materialization.enabled",
        "ksql.rowpartition.rowoffset.enabled",
        "ksql.fail.on.deserialization.error",
        "ksql.fail.on.production.error",
        "ksql.udfs.enabled",
        "ksql.extension.dir",
        "ksql.connect.url",
        "ksql.access.validator.enable",
        "ksql.metrics.tags.custom",
        "ksql.logging.processing.topic.auto.create",
        "ksql.logging.processing.topic.name",
        "ksql.logging.processing.stream.auto.create",
        "ksql.logging.processing.rows.include",
    }
)

# Kafka Streams, consumer and producer settings ksqlDB passes on (the common ones).
CLIENT_PROPERTIES = frozenset(
    {
        # Kafka Streams
        "application.id",
        "bootstrap.servers",
        "buffered.records.per.partition",
        "cache.max.bytes.buffering",
        "statestore.cache.max.bytes",
        "commit.interval.ms",
        "default.deserialization.exception.handler",
        "default.production.exception.handler",
        "default.timestamp.extractor",
        "max.task.idle.ms",
        "num.standby.replicas",
        "num.stream.threads",
        "poll.ms",
        "processing.guarantee",
        "replication.factor",
        "state.dir",
        "topology.optimization",
        # consumer
        "auto.offset.reset",
        "client.id",
        "enable.auto.commit",
        "fetch.max.bytes",
        "fetch.max.wait.ms",
        "fetch.min.bytes",
        "group.id",
        "heartbeat.interval.ms",
        "isolation.level",
        "max.partition.fetch.bytes",
        "max.poll.interval.ms",
        "max.poll.records",
        "request.timeout.ms",
        "session.timeout.ms",
        # producer
        "acks",
        "batch.size",
        "buffer.memory",
        "compression.type",
        "delivery.timeout.ms",
        "enable.idempotence",
        "linger.ms",
        "max.in.flight.requests.per.connection",
        "max.request.size",
        "retries",
    }
)


def _client_property(name: str) -> bool:
    for prefix in (
        "main.consumer.",
        "restore.consumer.",
        "global.consumer.",
        "consumer.",
        "producer.",
    ):
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    # ksqlDB's internal Streams settings, e.g. __emit.interval.ms.kstreams.windowed.aggregation__
    return name in CLIENT_PROPERTIES or (name.startswith("__") and name.endswith("__"))


def is_known_property(name: str) -> bool:
    if name.startswith(STREAMS_PREFIX):
        return _client_property(name[len(STREAMS_PREFIX) :])
    if name.startswith("ksql."):
        return name in KSQL_PROPERTIES or name.startswith(FUNCTIONS_PREFIX)
    return name in DEFAULTS or _client_property(name)


def unknown_property_message(name: str) -> str:
    return (
        f"Not recognizable as ksql, streams, consumer, or producer property: '{name}'. "
        "SHOW PROPERTIES lists the properties in effect."
    )


@dataclass(frozen=True)
class EffectiveProperty:
    name: str
    value: str
    is_default: bool  # nothing configured or SET it
    overridden: bool  # SET in this session or request


def effective_properties(
    server_config: dict[str, str], overrides: dict[str, str]
) -> list[EffectiveProperty]:
    """Every property in effect, by name: the defaults, the server's configuration, then SET.
    A bare client setting (`auto.offset.reset`) stands for its `ksql.streams.` name."""

    def full_name(name: str) -> str:
        bare = not name.startswith(("ksql.", "streamdb.")) and _client_property(name)
        return STREAMS_PREFIX + name if bare else name

    configured = {full_name(k): v for k, v in server_config.items()}
    overridden = {full_name(k): v for k, v in overrides.items()}
    merged = {**DEFAULTS, **configured, **overridden}
    return [
        EffectiveProperty(
            name,
            value,
            is_default=name not in configured and name not in overridden,
            overridden=name in overridden,
        )
        for name, value in sorted(merged.items())
    ]
