"""Refuse a request carrying what no field can hold, before any route sees it.

The one place where what is sent is checked as text and numbers, for every route at once:
- a NUL character: PostgreSQL cannot store one in text and refuses the whole statement, SQLite
  would store it. A NUL is never part of what a person types, so every request carrying one (in
  the address, the query, a form or a JSON body) gets the same plain answer on both engines.
- other control characters (C0 but tab, line feed and carriage return; DEL; C1), which no one
  types either and which hide or garble text on a screen.
- half of a UTF-16 surrogate pair (JSON's "\ud800" alone): no UTF-8 text can hold it, so the
  database driver failed on it with a 500.
- JSON nested deeper than `JSON_MAX_DEPTH` or holding more than `JSON_MAX_VALUES` values, and
  numbers beyond `JSON_MAX_NUMBER` in size (or more digits than a float keeps): no field of
  this API takes such a shape or number, and each one costs memory and time to read.
What a field must hold beyond this (a name's letters, a visit's dates, a dose's range) is checked
where that field is read: `ketaflow.input_rules`, `web/forms.py` and the domain.
Nothing is saved when a request is refused.
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
CONTROL_REFUSED = (
    "What was sent contains a hidden control character that cannot be stored; "
    "retype the entry (without pasting it) and send it again. Nothing was saved."
)
SURROGATE_REFUSED = (
    "What was sent contains a broken character (half of a surrogate pair) that cannot be stored; "
    "retype the entry and send it again. Nothing was saved."
)
JSON_MAX_DEPTH = 16  # the deepest body of this API nests 3 levels
JSON_MAX_VALUES = 5_000  # the largest (a week of opening hours, 23 CADSS items) holds < 200
JSON_MAX_NUMBER = 1e12  # no quantity here comes near: doses, rates, minutes, page numbers
JSON_MAX_DIGITS = 15  # a whole number longer than this is no count, id or version of ours
DEPTH_REFUSED = f"What was sent is nested deeper than {JSON_MAX_DEPTH} levels; no request here needs that."
VALUES_REFUSED = f"What was sent holds more than {JSON_MAX_VALUES:,} values; no request here needs that."
NUMBER_REFUSED = (
    "What was sent holds a number too large or too long for any field here ({number}); "
    "check the entry and send it again. Nothing was saved."
)
# A NUL as raw bytes, URL-encoded (the address, the query, a form) or escaped in JSON. What a
# person types never arrives so: "%00" typed in a form is sent as "%2500", and in JSON as is.
_RAW = b"\x00"
_URL_ENCODED = b"%00"
# In JSON, \u0000 is a NUL only when its backslash is not itself escaped: an even run of
# backslashes before it (none, \\, ...) leaves the last one starting the escape.
_JSON_ESCAPED = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
# Other control characters: raw (C0 but tab, LF, CR; DEL; C1 as UTF-8), URL-encoded, JSON-escaped.
_RAW_CONTROL = re.compile(rb"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]")
_URL_CONTROL = re.compile(rb"%(?:0[1-8bce]|1[0-9a-f]|7f)|%c2%[89][0-9a-f]", re.IGNORECASE)
_JSON_CONTROL = re.compile(
    rb"(?<!\\)(?:\\\\)*\\(?:[bf]|u00(?:0[1-8bcef]|1[0-9a-f]|7f|[89][0-9a-f]))", re.IGNORECASE
)
# Half a surrogate pair: a high one not followed by a low one, or a low one not after a high one;
# in JSON as an escape, or (never valid UTF-8) as raw or URL-encoded bytes.
_ESCAPE = rb"(?<!\\)(?:\\\\)*\\u"
_JSON_LONE_SURROGATE = re.compile(
    _ESCAPE
    + rb"d[89ab][0-9a-f]{2}(?!\\ud[c-f][0-9a-f]{2})|(?<!\\ud[89ab][0-9a-f]{2})"
    + _ESCAPE
    + rb"d[c-f][0-9a-f]{2}",
    re.IGNORECASE,
)
_RAW_SURROGATE = re.compile(rb"\xed[\xa0-\xbf]|%ed%[ab][0-9a-f]", re.IGNORECASE)
# JSON read for its shape: strings blanked out first, then brackets, commas and numbers.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_MARK = re.compile(rb"[\[\]{},]")
_JSON_NUMBER = re.compile(rb"-?(\d+)(\.\d+)?([eE][+-]?\d+)?")


def carries_nul(data: bytes, encoding: str = "urlencoded") -> bool:
    """Does `data` (URL-encoded, JSON, or anything else: raw bytes only) carry a NUL?"""
    if _RAW in data:
        return True
    if encoding == "urlencoded":
        return _URL_ENCODED in data
    if encoding == "json":
        return _JSON_ESCAPED.search(data) is not None
    return False


def refusal(address: bytes, body: bytes, encoding: str) -> str | None:
    """Why this request cannot be taken (a sentence for the person who sent it), or None."""
    if carries_nul(address) or carries_nul(body, encoding):
        return NUL_REFUSED
    if _RAW_SURROGATE.search(address) or _RAW_SURROGATE.search(body):
        return SURROGATE_REFUSED
    if encoding == "json" and _JSON_LONE_SURROGATE.search(body):
        return SURROGATE_REFUSED
    if _carries_control(address, "urlencoded") or _carries_control(body, encoding):
        return CONTROL_REFUSED
    if encoding == "json":
        return json_shape_refusal(body)
    return None


def _carries_control(data: bytes, encoding: str) -> bool:
    if _RAW_CONTROL.search(data):
        return True
    if encoding == "urlencoded":
        return _URL_CONTROL.search(data) is not None
    if encoding == "json":
        return _JSON_CONTROL.search(data) is not None
    return False


def json_shape_refusal(body: bytes) -> str | None:
    """Too deep, too many values, or a number no field can hold? (Read without parsing the JSON.)"""
    bare = _JSON_STRING.sub(b'""', body)
    depth = values = 0
    for mark in _JSON_MARK.findall(bare):
        if mark in (b"[", b"{"):
            depth += 1
            values += 1
            if depth > JSON_MAX_DEPTH:
                return DEPTH_REFUSED
        elif mark == b",":
            values += 1
        else:
            depth -= 1
        if values > JSON_MAX_VALUES:
            return VALUES_REFUSED
    for number in _JSON_NUMBER.finditer(bare):
        whole_number = number.group(2) is None and number.group(3) is None
        too_long = whole_number and len(number.group(1).lstrip(b"0")) > JSON_MAX_DIGITS
        if too_long or not abs(float(number.group(0))) <= JSON_MAX_NUMBER:  # inf and nan fail too
            shown = number.group(0).decode()
            return NUMBER_REFUSED.format(number=shown if len(shown) <= 24 else shown[:20] + "...")
    return None


def _body_encoding(scope: Scope) -> str:
    content_type = next((v for k, v in scope.get("headers", ()) if k == b"content-type"), b"")
    if b"json" in content_type:
        return "json"
    if b"x-www-form-urlencoded" in content_type:
        return "urlencoded"
    return "raw"


# Routes that take a file (multipart): a file is bytes, not typed text (a PDF holds NULs and control
# bytes), so its body is not checked here; the route reads the file and runs `refusal` on what it
# will store (web/routes/registration.py: the referral upload checks the Bundle as JSON).
FILE_UPLOADS: tuple[re.Pattern[str], ...] = (re.compile(r"/clinics/[^/]+/referrals/new"),)


class RefuseUnstorable:
    """ASGI middleware: 400 for a request with anything `refusal` finds in its address or body.

    It reads the whole body first; `request_size.LimitBody`, outside it, caps how much that is."""

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
        encoding = _body_encoding(scope)
        if encoding == "raw" and any(p.fullmatch(scope.get("path", "")) for p in FILE_UPLOADS):
            problem = refusal(address, b"", encoding)  # the route checks the file itself
        else:
            problem = refusal(address, body, encoding)
        if problem is not None:
            request = Request(scope)
            if request.url.path.startswith("/api/"):
                response: Any = JSONResponse({"error": problem}, status_code=400)
            else:
                response = self.render_page(request, problem)
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
