"""Signing in over HTTP as a browser does: the sign-in page first (its CSRF token), then the form.

Works with FastAPI's TestClient and with an httpx.Client on a real server alike.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine, delete

from ketaflow.demo.catalog import DEMO_PASSWORD
from ketaflow.store import models as m

_CSRF_FIELD = re.compile(r'name="csrf" value="([^"]*)"')


def login_token(client: Any) -> str:
    """The CSRF token of a fresh sign-in form (its cookie is kept by the client)."""
    page = client.get("/login", follow_redirects=False)
    found = _CSRF_FIELD.search(page.text) if page.status_code == 200 else None
    return found.group(1) if found else ""


def post_login(client: Any, email: str, password: str = DEMO_PASSWORD, **kwargs: Any) -> Any:
    """Open the sign-in page and send its form; the response, redirects not followed."""
    token = login_token(client)
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf": token},
        follow_redirects=False,
        **kwargs,
    )


def forget_sign_ins(engine: Engine) -> None:
    """Reset the sign-in throttle and its log (they are not clinical facts) between tests."""
    with engine.begin() as conn:
        conn.execute(delete(m.SignInAttempt))
        conn.execute(delete(m.SignInThrottle))
