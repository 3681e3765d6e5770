"""What the REPL talks to: a `Client` runs one statement or opens one query, answering in
ksqlDB's REST shapes (entities, statement errors, query rows as JSON values), so one rendering
path serves both implementations — `RestClient` here (a server over HTTP) and
`repl.local.LocalClient` (an Engine in this process)."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

CLI_VERSION = "0.1.0"
# A quoted name, or a bracket of a STRUCT/ARRAY/MAP type (inside which names are fields).
_SCHEMA_TOKEN = re.compile(r"`((?:[^`]|``)*)`|[<>]")


class StatementFailed(Exception):
    """The server refused a statement: `body` is its error entity (message, statementText)."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body.get("message", ""))
        self.body = body

    @property
    def message(self) -> str:
        return str(self.body.get("message", ""))

    @property
    def statement(self) -> str:
        return str(self.body.get("statementText", ""))


class ConnectionLost(Exception):
    """The server cannot be reached (refused, reset, timed out)."""


def _lost(exc: httpx.TransportError) -> ConnectionLost:
    """`exc` as a lost connection, with the likely fix when it is TLS that failed."""
    text = str(exc) or type(exc).__name__
    try:
        scheme = exc.request.url.scheme
    except RuntimeError:  # raised before a request was made
        scheme = ""
    if "CERTIFICATE_VERIFY_FAILED" in text:
        text += (
            " (the server's certificate is not signed by a CA this machine trusts: point "
            "SSL_CERT_FILE at the CA's PEM file)"
        )
    elif scheme == "http" and isinstance(exc, httpx.RemoteProtocolError):
        text += " (a server that listens with TLS closes plain HTTP: is it https://?)"
    return ConnectionLost(text)


@dataclass
class ServerInfo:
    version: str
    status: str
    location: str


@dataclass
class QueryStream:
    """An open query: its columns, then its rows (JSON values) as they arrive.
    `final_message` is set once the rows end ('Limit Reached', 'Query Completed' or None)."""

    query_id: str
    columns: list[str]
    rows: Iterator[list[Any]]
    close: Callable[[], None]
    lines: bool = False  # rows are single lines of text (PRINT)
    final_message: str | None = None


class Client(Protocol):
    location: str

    def info(self) -> ServerInfo: ...

    def execute(self, sql: str, properties: dict[str, str]) -> list[dict[str, Any]]:
        """Run one statement; its entities, or StatementFailed / ConnectionLost."""
        ...

    def query(self, sql: str, properties: dict[str, str]) -> QueryStream:
        """Open one SELECT or PRINT; StatementFailed / ConnectionLost if it cannot start."""
        ...

    def close(self) -> None: ...


def schema_columns(schema: str) -> list[str]:
    """Column names of a /query header's schema, e.g. "`ID` STRING KEY, `V` INT"; the
    field names of a STRUCT column (`M` STRUCT<`A` INT>) are not columns."""
    names, depth = [], 0
    for token in _SCHEMA_TOKEN.finditer(schema):
        if token.group(0) in "<>":
            depth += 1 if token.group(0) == "<" else -1
        elif depth == 0:
            names.append(token.group(1).replace("``", "`"))
    return names


class RestClient:
    """A streamdb (or ksqlDB) server's REST API."""

    def __init__(
        self, url: str, timeout: float = 30.0, auth: tuple[str, str] | None = None
    ) -> None:
        """`auth`: a user and password for a server with Basic authentication."""
        self.location = url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.location,
            timeout=httpx.Timeout(timeout, read=None),
            headers={"Accept": "application/vnd.ksql.v1+json"},
            auth=auth,
        )

    def info(self) -> ServerInfo:
        body = self._call("GET", "/info").json().get("KsqlServerInfo", {})
        return ServerInfo(body.get("version", "?"), body.get("serverStatus", "?"), self.location)

    def execute(self, sql: str, properties: dict[str, str]) -> list[dict[str, Any]]:
        response = self._call("POST", "/ksql", {"ksql": sql, "streamsProperties": properties})
        return response.json()

    def query(self, sql: str, properties: dict[str, str]) -> QueryStream:
        request = self.http.build_request(
            "POST", "/query", json={"ksql": sql, "streamsProperties": properties}
        )
        try:
            response = self.http.send(request, stream=True)
            if response.status_code >= 400:
                response.read()
                response.close()
                raise _failure(response)
            if response.headers.get("content-type", "").startswith("text/plain"):
                return _printed(response)
            elements = _json_elements(response.iter_bytes())
            header = next(elements, {}).get("header", {})
        except httpx.TransportError as exc:
            raise _lost(exc) from exc
        stream = QueryStream(
            header.get("queryId", ""),
            schema_columns(header.get("schema", "")),
            iter(()),
            response.close,
        )

        def rows() -> Iterator[list[Any]]:
            try:
                for element in elements:
                    if "row" in element:
                        yield element["row"].get("columns", [])
                    elif "finalMessage" in element:
                        stream.final_message = element["finalMessage"]
                    elif "errorMessage" in element:
                        raise StatementFailed({"message": element["errorMessage"]})
            except httpx.TransportError as exc:
                raise _lost(exc) from exc
            finally:
                response.close()

        stream.rows = rows()
        return stream

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        try:
            response = self.http.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise _lost(exc) from exc
        if response.status_code >= 400:
            raise _failure(response)
        return response


def _printed(response: httpx.Response) -> QueryStream:
    """PRINT's answer: text lines as the server writes them, each a one-column row."""

    def rows() -> Iterator[list[Any]]:
        try:
            for line in response.iter_lines():
                if line:
                    yield [line]
        except httpx.TransportError as exc:
            raise _lost(exc) from exc
        finally:
            response.close()

    return QueryStream("", [], rows(), response.close, lines=True)


def _failure(response: httpx.Response) -> StatementFailed:
    try:
        body = response.json()
    except ValueError:
        body = {"message": response.text or f"HTTP {response.status_code}"}
    failure = body if isinstance(body, dict) else {"message": str(body)}
    if response.status_code == 401:
        refused = "authorization" in response.request.headers
        fix = (
            "the server refused the --user and --password given"
            if refused
            else "give a user with --user and --password"
        )
        failure["message"] = f"{failure.get('message', '')}: {fix}"
    return StatementFailed(failure)


def _json_elements(chunks: Iterator[bytes]) -> Iterator[dict[str, Any]]:
    """The elements of a JSON array as its bytes arrive (/query writes one per chunk)."""
    decoder = json.JSONDecoder()
    text = codecs.getincrementaldecoder("utf-8")()
    buffer = ""
    for chunk in chunks:
        buffer += text.decode(chunk)
        while True:
            buffer = buffer.lstrip("[,] \r\n\t")
            try:
                element, end = decoder.raw_decode(buffer)
            except json.JSONDecodeError:
                break
            buffer = buffer[end:]
            yield element
