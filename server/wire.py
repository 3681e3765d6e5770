"""Hypercorn's HTTP/1.1 and HTTP/2 protocols, framed as ksqlDB's server frames its answers.

- HTTP/1.1 status lines carry a reason phrase (`HTTP/1.1 200 OK`): h11 writes none unless
  told, and clients such as `hyper` (behind PyPI `ksql`) cannot parse `HTTP/1.1 200 `; the
  reason is also what `requests` puts in its errors ("400 Client Error: Bad Request").
- HTTP/2: each body message the app sends goes out as its own DATA frame(s) before the next
  is taken. Hypercorn otherwise packs whatever piled up into one frame, and clients that parse
  each DATA frame as one JSON row (npm `ksqldb-client`) fail on two rows in one frame.

- Requests whose target is in absolute form (`POST http://host:8088/inserts-stream`, as
  `hyper` sends them) are routed by the target's path, as HTTP/1.1 servers must accept them.

`install()` puts both protocols into Hypercorn, whose connection wrapper picks its protocol classes by
name from `hypercorn.protocol` when a connection opens.
"""

from __future__ import annotations

from http import HTTPStatus
from urllib.parse import urlsplit

import h11
import hypercorn.protocol
from hypercorn.protocol.events import Body, Data
from hypercorn.protocol.events import Event as StreamEvent
from hypercorn.protocol.h2 import H2Protocol
from hypercorn.protocol.h11 import H11Protocol
from hypercorn.typing import H11SendableEvent
from starlette.types import ASGIApp, Receive, Scope, Send


def reason_phrase(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:  # a status HTTP does not name: h11's empty reason
        return b""


class ReasonPhraseH11Protocol(H11Protocol):
    async def _send_h11_event(self, event: H11SendableEvent) -> None:
        if isinstance(event, h11.Response | h11.InformationalResponse) and not event.reason:
            event = type(event)(
                status_code=event.status_code,
                headers=event.headers.raw_items(),
                http_version=event.http_version,
                reason=reason_phrase(event.status_code),
            )
        await super()._send_h11_event(event)


class FramePerBodyH2Protocol(H2Protocol):
    async def stream_send(self, event: StreamEvent) -> None:
        await super().stream_send(event)
        if isinstance(event, Body | Data):
            buffer = self.stream_buffers.get(event.stream_id)
            if buffer is not None:  # None: the stream closed meanwhile
                await buffer.drain()


def absolute_form_targets(app: ASGIApp) -> ASGIApp:
    """`app` reached by the path of absolute-form request targets too."""

    async def routed(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(("http://", "https://")):
            target = urlsplit(path).path or "/"
            scope = {**scope, "path": target, "raw_path": target.encode()}
        await app(scope, receive, send)

    return routed


def install() -> None:
    """Make Hypercorn serve every new connection with the protocols above (idempotent)."""
    hypercorn.protocol.H11Protocol = ReasonPhraseH11Protocol  # type: ignore[misc]
    hypercorn.protocol.H2Protocol = FramePerBodyH2Protocol  # type: ignore[misc]
