"""A write the disk refuses (full, over a quota or size limit, read-only, failing) answers
with one clear error instead of a server error: the statement or insert was not applied, and
what the log committed before stays readable (the log truncates a partial frame)."""

from __future__ import annotations

import errno
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server import entities as E

INSUFFICIENT_STORAGE = 507
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO}
log = logging.getLogger("streamdb.server")


async def storage_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OSError)
    if exc.errno not in _STORAGE_ERRNOS:
        log.exception("request failed: %s %s", request.method, request.url.path)
        return JSONResponse(E.generic_error(E.SERVER_ERROR, f"{type(exc).__name__}: {exc}"), 500)
    reason = exc.strerror or str(exc)
    log.error("a write failed: %s (%s %s)", reason, request.method, request.url.path)
    message = (
        f"The write was not applied: the data directory's disk refused it ({reason}). "
        "What was written before stays readable; free space or fix the disk, then retry."
    )
    return JSONResponse(E.generic_error(INSUFFICIENT_STORAGE * 100, message), INSUFFICIENT_STORAGE)
