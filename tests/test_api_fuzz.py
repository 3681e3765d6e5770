"""schemathesis against a running server, from the OpenAPI description it serves: requests
generated from each endpoint's schema, valid and invalid, and none may get a 5xx.
(/ksql/terminate is left out: it stops the server taking requests, by design.)"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.schemas import APIOperation

from server.app import SERVER_VERSION
from server.openapi import openapi_description
from server.serve import background_server
from sqlengine.engine import Engine
from tests.test_server import answering

EXAMPLES_PER_OPERATION = 150
STREAM = (
    "CREATE STREAM clicks (id INT KEY, page STRING) "
    "WITH (kafka_topic='clicks', value_format='JSON', partitions=1);"
)
# What every request the fuzzer sent was answered with, for the report in the README.
ANSWERED: dict[int, int] = {}


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    engine = Engine(tmp_path_factory.mktemp("api-fuzz") / "data")
    engine.start()
    try:
        with background_server(engine) as served:
            answering(served)
            assert httpx.post(f"{served}/ksql", json={"ksql": STREAM}).status_code == 200
            yield served
    finally:
        engine.close()


DESCRIPTION = openapi_description(SERVER_VERSION)
OPERATIONS = [
    operation.ok()
    for operation in schemathesis.openapi.from_dict(DESCRIPTION).get_all_operations()
    if operation.ok().path != "/ksql/terminate"
]


def test_the_served_description(url: str) -> None:
    served = httpx.get(f"{url}/openapi.json").json()
    assert served == DESCRIPTION
    paths = set(served["paths"])
    assert {"/ksql", "/query", "/query-stream", "/inserts-stream", "/close-query"} <= paths
    assert {"/info", "/healthcheck", "/status/{commandId}", "/ksql/terminate"} <= paths


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_no_request_gets_a_server_error(url: str, operation: APIOperation) -> None:
    """Valid and invalid requests (schemathesis' positive and negative modes)."""
    cases = operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(
        GenerationMode.NEGATIVE
    )

    @given(case=cases)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def call(case: schemathesis.Case) -> None:
        response = case.call(base_url=url, timeout=30)
        ANSWERED[response.status_code] = ANSWERED.get(response.status_code, 0) + 1
        assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"

    call()
