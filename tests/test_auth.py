"""HTTP Basic authentication end to end: a users file in the JAAS PropertyFileLoginModule
format (plain, MD5:, CRYPT: and OBF: passwords, roles), curl, the REPL (--user/--password,
and the password prompt) and the PyPI ksql client against a real server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import crypt_r
import httpx
import pexpect
import pytest

from server.serve import background_server
from sqlengine.engine import Engine
from tests.live_server import STREAMDB, streamdb
from tests.test_clients import PYPI_KSQL

# Jetty's documented obfuscation of "password".
OBFUSCATED_PASSWORD = "OBF:1v2j1uum1xtv1zej1zer1xtn1uvk1v1v"
STREAM = (
    "CREATE STREAM clicks (id INT KEY, page STRING) "
    "WITH (kafka_topic='clicks', value_format='JSON', partitions=1);"
)


def users_file(path: Path) -> Path:
    path.write_text(
        "# user: password[,role...]\n"
        "alice: alice-secret,admin\n"
        f"bob: MD5:{hashlib.md5(b'bob-secret').hexdigest()},developer\n"
        f"carol: CRYPT:{crypt_r.crypt('carol-secret', 'ca')},admin\n"
        f"dave: {OBFUSCATED_PASSWORD},admin\n"
        "eve: eve-secret,guest\n"
    )
    return path


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("auth")
    config = {
        "authentication.method": "BASIC",
        "authentication.users.file": str(users_file(folder / "users.properties")),
        "authentication.roles": "admin,developer",
        "authentication.skip.paths": "/healthcheck",
    }
    engine = Engine(folder / "data", config=config)
    engine.start()
    try:
        with background_server(engine) as served:
            yield served
    finally:
        engine.close()


@pytest.mark.parametrize(
    "user,password",
    [
        ("alice", "alice-secret"),
        ("bob", "bob-secret"),
        ("carol", "carol-secret"),
        ("dave", "password"),
    ],
)
def test_every_password_form_is_accepted(url: str, user: str, password: str) -> None:
    response = httpx.get(f"{url}/info", auth=(user, password))
    assert response.status_code == 200
    assert response.json()["KsqlServerInfo"]["serverStatus"] == "RUNNING"


@pytest.mark.parametrize(
    "auth",
    [None, ("alice", "wrong"), ("nobody", "alice-secret"), ("carol", "karol-secret")],
)
def test_missing_or_wrong_credentials_get_401_in_ksqldb_shape(
    url: str, auth: tuple[str, str] | None
) -> None:
    response = httpx.post(f"{url}/ksql", json={"ksql": "SHOW STREAMS;"}, auth=auth)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="KsqlServer-Props"'
    assert response.json() == {
        "@type": "generic_error",
        "error_code": 40100,
        "message": "Unauthorized",
    }


def test_a_user_without_an_allowed_role_is_forbidden(url: str) -> None:
    response = httpx.get(f"{url}/info", auth=("eve", "eve-secret"))
    assert response.status_code == 403
    assert response.json()["error_code"] == 40300


def test_skipped_paths_stay_open(url: str) -> None:
    assert httpx.get(f"{url}/healthcheck").json()["isHealthy"] is True
    assert httpx.get(f"{url}/info").status_code == 401


def test_curl(url: str) -> None:
    def curl(*args: str) -> str:
        done = subprocess.run(
            ["curl", "-s", "-w", " %{http_code}", *args, f"{url}/ksql"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout

    body = '{"ksql": "SHOW STREAMS;"}'
    assert curl("-d", body).endswith('"message":"Unauthorized"} 401')
    assert curl("-u", "bob:bob-secret", "-d", body).endswith(" 200")
    assert curl("-u", "bob:nope", "-d", body).endswith(" 401")


# PyPI `ksql` run with its own dependencies (as tests/test_clients.py does): its api_key and
# secret options are Basic credentials. (PyPI `ksqldb` 1.0's api_key/api_secret fail inside
# the client, bytes() of a str, before any request is sent.)
PYPI_KSQL_SCRIPT = """
import collections, collections.abc, json, sys
for name in ("Iterable", "Mapping", "MutableMapping", "MutableSet", "Callable"):
    setattr(collections, name, getattr(collections.abc, name))
from ksql import KSQLAPI
try:
    client = KSQLAPI(sys.argv[1], api_key=sys.argv[2], secret=sys.argv[3], timeout=30)
    print(json.dumps({"created": client.ksql(sys.argv[4])}))
except Exception as exc:
    print(json.dumps({"refused": str(exc)}))
"""


def pypi_ksql(url: str, user: str, password: str, sql: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(PYPI_KSQL)}
    done = subprocess.run(
        [sys.executable, "-c", PYPI_KSQL_SCRIPT, url, user, password, sql],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    )
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_the_pypi_ksql_client(url: str) -> None:
    (created,) = pypi_ksql(url, "alice", "alice-secret", STREAM)["created"]
    assert created["commandStatus"]["status"] == "SUCCESS"
    assert "Unauthorized" in pypi_ksql(url, "alice", "nope", "SHOW STREAMS;")["refused"]


def test_the_repl_with_user_and_password(url: str) -> None:
    ok = streamdb("cli", url, "--user", "carol", "--password", "carol-secret", "-e", "SHOW TOPICS;")
    assert ok.returncode == 0, ok.stderr
    assert "Kafka Topic" in ok.stdout
    refused = streamdb("cli", url, "--user", "carol", "--password", "x", "-e", "SHOW TOPICS;")
    assert refused.returncode == 1
    assert "Unauthorized: the server refused the --user and --password given" in refused.stderr
    anonymous = streamdb("cli", url, "-e", "SHOW TOPICS;")
    assert anonymous.returncode == 1
    assert "Unauthorized: give a user with --user and --password" in anonymous.stderr


def test_the_repl_asks_for_the_password(url: str) -> None:
    child = pexpect.spawn(
        STREAMDB, ["cli", url, "--user", "alice", "-e", "SHOW TOPICS;"], timeout=60
    )
    try:
        child.expect("Password for alice: ")
        child.sendline("alice-secret")
        child.expect("Kafka Topic")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
