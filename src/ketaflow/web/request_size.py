"""Refuse a request body over the size limit with 413, before it is read.

A body that says how long it is (Content-Length) is refused on that number alone, without
reading a byte of it; a chunked body (no length given) is counted as it arrives and refused at
the first chunk that passes the limit. Either way the server never holds more than the limit
(plus one chunk) of any request, so a flood of large posts cannot exhaust its memory. The limit
is `KETAFLOW_MAX_BODY_BYTES` (1 MiB by default); a route that needs more is named in `LARGER`.
The answer closes the connection, so a client still sending has nowhere to send the rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from ketaflow.web.nul_guard import App, Message, Receive, Scope, Send

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# (path pattern, limit in bytes) for the routes that need more than the default; none yet.
LARGER: tuple[tuple[re.Pattern[str], int], ...] = ()


def too_large_message(limit: int) -> str:
    return (
        f"What was sent is larger than this server takes in one request ({_size(limit)}); "
        "nothing was read or saved. Send less at a time."
    )


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB" if n >= 1024 * 1024 else f"{n / 1024:g} KiB"


class _TooLarge(Exception):
    """Raised from `receive` when a chunked body passes the limit."""


def limit_for(path: str, default: int) -> int:
    return next((size for pattern, size in LARGER if pattern.fullmatch(path)), default)


class LimitBody:
    """ASGI middleware: 413 for a body over the limit, refused before it is read."""

    def __init__(self, app: App, max_bytes: int, render_page: Callable[[Request, str, int], Any]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.render_page = render_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope.get("path", ""), self.max_bytes)
        declared = next((v for k, v in scope.get("headers", ()) if k == b"content-length"), None)
        if declared is not None and (not declared.strip().isdigit() or int(declared) > limit):
            await self._refuse(scope, receive, send, limit)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge()
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if started:  # an answer already on its way cannot be replaced: end the connection
                raise
            await self._refuse(scope, receive, send, limit)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        request = Request(scope)
        message = too_large_message(limit)
        if request.url.path.startswith("/api/"):
            response: Any = JSONResponse({"error": message}, status_code=413)
        else:
            response = self.render_page(request, message, 413)
        response.headers["connection"] = "close"
        await response(scope, receive, send)
