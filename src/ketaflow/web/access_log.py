"""The server's access log: one JSON line per request on the logger `ketaflow.access`.

Each line holds the time (UTC), the method, the route's TEMPLATE ("/patients/{patient_id}", never
the raw path, which holds record ids), the status, the duration in milliseconds, a request id
(also sent back as the X-Request-ID header), the signed-in staff member's user id if any, the
client's address (as the trusted-proxy middleware resolved it) and the user agent. Nothing about
a patient: no query string, no path, no name, no patient id (a patient's own requests say
"patient": true). The audit trail (audit_events) says what was read or changed; this log says
what the server answered, for operations and security monitoring.

`serve` sends it to standard error, or to the file KETAFLOW_ACCESS_LOG names (`configure`);
uvicorn's own access log is off, so this is the only one. Unconfigured (tests, a library use),
nothing is written and a request pays for one level check.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import inspect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOGGER = "ketaflow.access"
log = logging.getLogger(LOGGER)


class AccessLog:
    """ASGI middleware writing the access-log line of each HTTP request once it is answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        scope.setdefault("state", {})  # shared with the app: the signed-in user is kept there
        request_id = uuid.uuid4().hex
        status = 500  # unless an answer starts: an exception that escapes every handler

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if log.isEnabledFor(logging.INFO):
                log.info(json.dumps(line(scope, status, started, request_id), separators=(",", ":")))


def line(scope: Scope, status: int, started: float, request_id: str) -> dict[str, Any]:
    """The fields of one request's line (see the module doc)."""
    state = scope.get("state") or {}
    who = state.get("who")
    route = scope.get("route")
    client = scope.get("client")
    agent = next((v for k, v in scope.get("headers", ()) if k == b"user-agent"), b"")
    return {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "method": scope.get("method"),
        "route": getattr(route, "path", None) or "(no route)",
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        "request_id": request_id,
        "user_id": _user_id(who),
        "patient": "patient" in state,
        "client": client[0] if client else None,
        "user_agent": agent.decode("latin-1")[:255] or None,
    }


def _user_id(who: Any) -> str | None:
    """The signed-in staff member's id, read without touching the database: after a refused write
    (a full disk) the request's session is rolled back and its objects expired, and a line of the
    access log must not try to load one."""
    if who is None:
        return None
    identity = inspect(who.user).identity
    return str(identity[0]) if identity else None


def configure(path: str = "") -> logging.Handler:
    """Send the access log to `path` (appended to), or to standard error when it is empty; one JSON
    object per line. Returns the handler (replacing any this function set before)."""
    handler: logging.Handler = (
        logging.FileHandler(path, encoding="utf-8") if path else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.set_name("ketaflow-access")
    for old in [h for h in log.handlers if h.get_name() == "ketaflow-access"]:
        log.removeHandler(old)
        old.close()
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    return handler
