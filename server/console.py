"""The web console: static HTML, CSS and JS served at `/` and `/console/...`.

    add_console(app)      # after add_authentication: the console's files need no login

The page itself talks to the same REST API as every client (/ksql, /query-stream, /query,
/close-query, /inserts-stream), so it holds no data and its files are served before
authentication; the API behind them still asks. A 401 to a request the console made (marked
by the `X-Streamdb-Console` header) loses its `WWW-Authenticate` challenge, so the browser
leaves asking for the login to the console's own form instead of its native dialog.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ASSETS = Path(__file__).with_name("console_assets")
ASSET_PREFIX = "/console/"
CONSOLE_HEADER = b"x-streamdb-console"
_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
}


def asset_path(url_path: str) -> Path | None:
    """The file a GET of `url_path` serves: `/` is the page, `/console/NAME` one asset (no
    subfolders, so no path can leave the assets folder); None for any other path."""
    if url_path == "/":
        return ASSETS / "index.html"
    if not url_path.startswith(ASSET_PREFIX):
        return None
    name = url_path[len(ASSET_PREFIX) :]
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    path = ASSETS / name
    return path if path.is_file() else None


class ConsoleAssets:
    """ASGI middleware serving the console's files and passing everything else on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = asset_path(scope["path"]) if scope["method"] in ("GET", "HEAD") else None
        if path is not None:
            await _send_file(path, scope["method"] == "HEAD", send)
            return
        if CONSOLE_HEADER not in dict(scope["headers"]):
            await self.app(scope, receive, send)
            return

        async def without_challenge(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                headers = [(k, v) for k, v in message["headers"] if k != b"www-authenticate"]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, without_challenge)


async def _send_file(path: Path, head_only: bool, send: Send) -> None:
    body = path.read_bytes()
    media = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "text/plain"
    headers = [
        (b"content-type", f"{media}; charset=utf-8".encode()),
        (b"content-length", str(len(body)).encode()),
        # The files change with the installed version: revalidate rather than run stale code.
        (b"cache-control", b"no-cache"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head_only else body})


def add_console(app: Starlette) -> None:
    """Serve the console from `app`; call it after the authentication middleware is added,
    so the console's files are served outside it."""
    app.add_middleware(ConsoleAssets)
