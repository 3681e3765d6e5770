"""/inserts-stream: a first line naming the target stream, then one JSON object per line;
one ack line per row, in order (`{"status": "ok", "seq": n}`), an error ack for a row that
does not fit (the other rows are still written). The rows that arrive together are appended
in one batch, and acknowledged once it is durable.

It is a plain ASGI endpoint: it reads the request body while it writes acks, which a
Starlette streaming response (listening on `receive` for a disconnect) would not allow.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from server import entities as E
from server.requests import DELIMITED, ApiError, check_content_type, parse_object, wants_json
from sqlengine import catalog as C
from sqlengine import serde
from sqlengine import types as T
from sqlengine.engine import Engine
from sqlengine.inserts import row_encoder
from sqlengine.sink import SinkEncoder


def _insert_source(engine: Engine, name: str) -> C.DataSource:
    """The stream a request names, if rows may be inserted into it."""
    source = engine.catalog.source(name) or engine.catalog.source(name.upper())
    if source is None:
        raise ApiError(400, f"Cannot insert values into an unknown stream: {name}", E.BAD_STATEMENT)
    if source.kind != "STREAM":
        raise ApiError(400, "Inserts are only supported into streams", E.BAD_STATEMENT)
    if source.is_source:
        raise ApiError(400, f"Cannot insert into read-only stream: {source.name}")
    return source


class InsertTargets:
    """Each stream's InsertTarget, built once for each definition of the stream (a client
    that inserts in many small requests would otherwise build it, its encoder and its row
    reader, for each)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.built: dict[str, tuple[str, InsertTarget]] = {}

    def target(self, name: str) -> InsertTarget:
        source = _insert_source(self.engine, name)
        definition = repr(source)  # a stream dropped and created again is another target
        built = self.built.get(source.name)
        if built is None or built[0] != definition:
            built = self.built[source.name] = (definition, InsertTarget(self.engine, source))
        return built[1]


class InsertTarget:
    """A stream rows are inserted into: its columns and encoder."""

    def __init__(self, engine: Engine, source: C.DataSource) -> None:
        self.columns = source.key_columns + source.value_columns
        self.by_name = {c.name: c for c in self.columns}
        self.names = frozenset(self.by_name)
        self.row = row_reader(self.columns)
        self.encoder: SinkEncoder = row_encoder(source, engine.log, engine.schema_registry)

    def _column(self, name: str) -> C.SourceColumn:
        column = self.by_name.get(name) or self.by_name.get(name.upper())
        if column is None:
            raise ValueError(f"Column name {name} does not exist.")
        return column

    def _coerced(self, row: Any, rowtime: int) -> tuple[Any, ...]:
        """A request's row as the encoder takes it: (ROWTIME, keys..., values..., headers)."""
        if not isinstance(row, dict):
            raise ValueError("Each row must be a JSON object")
        if not self.names.issuperset(row):  # lower case, or unknown
            row = {self._column(k).name: v for k, v in row.items()}
        return self.row(row, rowtime)

    def insert(self, lines: list[bytes]) -> list[Exception | None]:
        """Each line's row, those that fit appended in one batch (one log append per
        partition); per line, what was wrong with it, or None once it is durable."""
        rowtime = int(time.time() * 1000)
        errors: list[Exception | None] = []
        rows = []
        for line in lines:
            try:
                rows.append(self._coerced(orjson.loads(line), rowtime))
                errors.append(None)
            except (ValueError, serde.SerdeError) as exc:
                errors.append(exc)
        if not rows:
            return errors
        try:
            self.encoder.write(rows, set())
        except (ValueError, serde.SerdeError):
            # A value the format cannot write: nothing was appended, so each row is written
            # on its own to tell which ones fail.
            rows.reverse()
            for n, error in enumerate(errors):
                if error is None:
                    errors[n] = self._write_one(rows.pop())
        return errors

    def _write_one(self, row: tuple[Any, ...]) -> Exception | None:
        try:
            self.encoder.write([row], set())
        except (ValueError, serde.SerdeError) as exc:
            return exc
        return None


# Per column type: a test (on `v`, not None) of a JSON value the column takes as it is;
# any other value goes through the type's reader (which converts it, or refuses it).
_TAKEN_AS_IS = {
    T.Base.BOOLEAN: "v is True or v is False",
    T.Base.INTEGER: "type(v) is int and -2147483648 <= v <= 2147483647",
    T.Base.BIGINT: "type(v) is int and -9223372036854775808 <= v <= 9223372036854775807",
    T.Base.DOUBLE: "type(v) is float",
    T.Base.STRING: "type(v) is str",
}


def row_reader(columns: list[C.SourceColumn]) -> Callable[[dict[str, Any], int], tuple]:
    """`(row, rowtime) -> (ROWTIME, keys..., values..., headers)` for a request's rows, as
    `serde.api_json_reader` reads each column, generated once per request: the common
    values (an int for an INT, a str for a STRING) are taken with one test and no call.
    Column names and readers enter the code as bound constants, never as text."""
    namespace: dict[str, Any] = {}
    lines = ["def read(row, rowtime):"]
    for n, column in enumerate(columns):
        namespace[f"_name{n}"] = column.name
        namespace[f"_read{n}"] = serde.api_json_reader(column.type)
        taken = _TAKEN_AS_IS.get(column.type.base)
        lines.append(f"    v = row.get(_name{n})")
        if taken is None:
            lines.append(f"    v{n} = _read{n}(v)")
        else:
            lines.append(f"    v{n} = v if v is None or ({taken}) else _read{n}(v)")
    values = "".join(f"v{n}, " for n in range(len(columns)))
    lines.append(f"    return (rowtime, {values}())")
    exec(compile("\n".join(lines), "<insert row>", "exec"), namespace)  # noqa: S102 - no SQL text
    return namespace["read"]


def _ack(seq: int, error: Exception | None = None) -> bytes:
    if error is None:
        return b'{"status":"ok","seq":%d}' % seq
    return orjson.dumps(
        {"status": "error", "seq": seq, "error_code": E.BAD_REQUEST, "message": str(error)}
    )


class _Session:
    """One request's state: the target once the first line named it, the next seq, and how
    acks are written: one per line, or (`Accept: application/json`) as one JSON array."""

    def __init__(self, targets: InsertTargets, send: Send, json_array: bool) -> None:
        self.targets = targets
        self.send = send
        self.json_array = json_array
        self.target: InsertTarget | None = None
        self.seq = 0

    def _framed(self, ack: bytes) -> bytes:
        if not self.json_array:
            return ack + b"\n"
        return (b"[" if self.seq == 0 else b",") + ack

    async def end(self) -> None:
        closing = (b"]" if self.seq else b"[]") if self.json_array else b""
        await self.send({"type": "http.response.body", "body": closing, "more_body": False})

    async def lines(self, lines: list[bytes]) -> None:
        """Lines that arrived together: the first names the target, the rest are rows,
        inserted in one batch and acknowledged in one write."""
        lines = [line for line in lines if line.strip()]
        if self.target is None and lines:
            await self._start(lines.pop(0))
        if not lines:
            return
        assert self.target is not None
        acks = []
        for error in self.target.insert(lines):
            acks.append(self._framed(_ack(self.seq, error)))
            self.seq += 1
        await self.send({"type": "http.response.body", "body": b"".join(acks), "more_body": True})

    async def _start(self, line: bytes) -> None:
        args = parse_object(line, {"target": str, "properties": dict}, ("target",))
        self.target = self.targets.target(args["target"])
        media = "application/json" if self.json_array else DELIMITED
        headers = [(b"content-type", media.encode())]
        await self.send({"type": "http.response.start", "status": 200, "headers": headers})


class InsertsStream:
    def __init__(self, engine: Engine) -> None:
        self.targets = InsertTargets(engine)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        session = _Session(self.targets, send, wants_json(request))
        try:
            check_content_type(request)
            pending = b""
            async for chunk in request.stream():
                *lines, pending = (pending + chunk).split(b"\n")
                await session.lines(lines)
            await session.lines([pending])
        except ClientDisconnect:
            return
        except ApiError as exc:  # only the first line can fail so: nothing is sent yet
            await JSONResponse(exc.body, exc.status)(scope, receive, send)
            return
        if session.target is None:
            error = ApiError(400, "Missing insert target: the first line names the stream")
            await JSONResponse(error.body, error.status)(scope, receive, send)
            return
        await session.end()
