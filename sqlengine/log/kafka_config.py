"""The Kafka client settings of a server config, as ksqlDB passes them to its clients."""

from __future__ import annotations

import re

# Server properties passed to the Kafka clients, as ksqlDB passes them (also with the
# `ksql.streams.` prefix); librdkafka names the rest of its settings as Java clients do.
_CLIENT_PROPERTIES = (
    "bootstrap.servers",
    "security.protocol",
    "sasl.",
    "ssl.",
    "client.id",
    "client.dns.lookup",
    "socket.",
    "request.timeout.ms",
    "reconnect.backoff.",
    "retry.backoff.ms",
    "metadata.max.age.ms",
    "enable.ssl.certificate.verification",
)
_JAAS_OPTION = re.compile(r'(username|password)\s*=\s*"([^"]*)"')


def kafka_client_config(config: dict[str, str]) -> dict[str, str]:
    """The Kafka client properties of a server config. A Java client's `sasl.jaas.config`
    (PlainLoginModule or ScramLoginModule with username and password) becomes librdkafka's
    sasl.username and sasl.password."""
    client: dict[str, str] = {}
    for key, value in config.items():
        name = key.removeprefix("ksql.streams.")
        if name.startswith(_CLIENT_PROPERTIES):
            client[name] = value.strip()
    jaas = client.pop("sasl.jaas.config", None)
    if jaas is not None:
        options = dict(_JAAS_OPTION.findall(jaas))
        if set(options) != {"username", "password"}:
            raise ValueError(
                'sasl.jaas.config: only a login module with username="..." and '
                'password="..." is understood; else set sasl.username and sasl.password'
            )
        client.setdefault("sasl.username", options["username"])
        client.setdefault("sasl.password", options["password"])
    return client
