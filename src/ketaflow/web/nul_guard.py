"""Refuse a request that carries a NUL character, before any route sees it.

PostgreSQL cannot store a NUL in text and refuses the whole statement; SQLite would store it.
A NUL is never part of what a person types, so every request carrying one (in the address, the
query, a form or a JSON body) gets the same plain answer on both engines, and nothing is saved.
"""

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

NUL_REFUSED = (
    "What was sent contains a hidden control character (NUL) that cannot be stored; "
    "retype the entry and send it again. Nothing was saved."
)
# A NUL as raw bytes, URL-encoded (the address, the query, a form) or escaped in JSON. What a
# person types never arrives so: "%00" typed in a form is sent as "%2500", and in JSON as is.
_RAW = b"\x00"
_URL_ENCODED = b"%00"
# In JSON, \u0000 is a NUL only when its backslash is not itself escaped: an even run of
# backslashes before it (none, \\, ...) leaves the last one starting the escape.
_JSON_ESCAPED = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def carries_nul(data: bytes, encoding: str = "urlencoded") -> bool:
    """Does `data` (URL-encoded, JSON, or anything else: raw bytes only) carry a NUL?"""
    if _RAW in data:
        return True
    if encoding == "urlencoded":
        return _URL_ENCODED in data
    if encoding == "json":
        return _JSON_ESCAPED.search(data) is not None
    return False


def _body_encoding(scope: Scope) -> str:
    content_type = next((v for k, v in scope.get("headers", ()) if k == b"content-type"), b"")
    if b"json" in content_type:
        return "json"
    if b"x-www-form-urlencoded" in content_type:
        return "urlencoded"
    return "raw"


class RefuseNul:
    """ASGI middleware: 400 for a request with a NUL anywhere in its address or body."""

    def __init__(self, app: App, render_page: Callable[[Request, str], Any]) -> None:
        self.app = app
        self.render_page = render_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        address = scope.get("raw_path", b"") + b"?" + scope.get("query_string", b"")
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if carries_nul(address) or carries_nul(body, _body_encoding(scope)):
            request = Request(scope)
            if request.url.path.startswith("/api/"):
                response: Any = JSONResponse({"error": NUL_REFUSED}, status_code=400)
            else:
                response = self.render_page(request, NUL_REFUSED)
            await response(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
