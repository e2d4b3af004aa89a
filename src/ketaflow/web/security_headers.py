"""Security headers on every response, added by one ASGI middleware.

What each header is for (OWASP ASVS 4.0.3, V14.4 "HTTP Security Headers"):
- Content-Security-Policy: scripts, styles, images, fonts and fetches from this server only;
  no inline script or style (the templates keep theirs in /static), no plugins (`object-src`),
  no `<base>` (`base-uri`), forms post only here (`form-action`), and no other site may put a
  page in a frame (`frame-ancestors`; X-Frame-Options says the same to older browsers).
- X-Content-Type-Options: nosniff: a file is used only as the type it is served as.
- Referrer-Policy: same-origin: addresses (which hold ids and a patient's link token) are
  never sent to another site.
- Strict-Transport-Security: only on an answer served over https (see `served_over_https`).
- Cache-Control: no-store on everything but the static files: every page and API answer may
  carry patient data, and neither the browser nor a proxy may keep a copy.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from ketaflow.web.nul_guard import App, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # data: images are part of the page itself (the icons inside Swagger UI's stylesheet).
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# One year, the value the HSTS preload list asks for; no includeSubDomains, since the clinic's
# other hosts under the same domain are not ours to bind to https.
HSTS = "max-age=31536000"
STATIC_PREFIX = "/static/"

ALWAYS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
SET_HERE = {name for name, _ in ALWAYS} | {b"strict-transport-security", b"cache-control", b"pragma"}


def served_over_https(scope: MutableMapping[str, Any]) -> bool:
    """Did this request reach the app over https? The one place the app asks.

    The scheme is the one the connection settled (a direct TLS connection), or, behind a reverse
    proxy that ends TLS, the proxy's X-Forwarded-Proto, believed only from the addresses in
    KETAFLOW_TRUSTED_PROXIES (the proxy-header step in web/app.py; uvicorn's own is switched
    off). A header sent by anyone else never makes a request https here.
    """
    return scope.get("scheme") in {"https", "wss"}


def headers_for(scope: MutableMapping[str, Any]) -> list[tuple[bytes, bytes]]:
    """The security headers for an answer to this request."""
    added = list(ALWAYS)
    if served_over_https(scope):
        added.append((b"strict-transport-security", HSTS.encode()))
    if not str(scope.get("path", "")).startswith(STATIC_PREFIX):
        added.append((b"cache-control", b"no-store"))
    return added


class SecurityHeaders:
    """ASGI middleware: the headers above on every HTTP answer, errors and refusals included."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Read at the answer, not at the request: the trusted-proxy step inside this one
                # (web/app.py) may have set the scheme from X-Forwarded-Proto by then.
                kept = [(k, v) for k, v in message.get("headers", ()) if k.lower() not in SET_HERE]
                message["headers"] = kept + headers_for(scope)
            await send(message)

        await self.app(scope, receive, send_with_headers)
