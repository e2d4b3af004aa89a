"""The web app made by `create_app` is lent again to later tests instead of being built anew.

Why: FastAPI builds each route's request handling (its dependency tree and pydantic adapters)
lazily, per app, on the first request that reaches that route's router, and ketaflow's app has
a few hundred routes. A brand-new app thus costs about 0.13 s of CPU on its first request
beyond the sign-in page, far more than the request itself; with a new app in each of some two
thousand web tests that was several minutes of the suite's time.

How, without changing what a test sees: `ketaflow.web.app.create_app` is replaced (tests/conftest.py
calls `install`, before any test module imports it) by a function that hands out an app that is
exactly as `create_app` left it, built earlier for the same engine, arguments and KETAFLOW_*
environment and given back by the test that had it. Within one test every call still gets an app
of its own. An app is given back after the test that made it, and only if it was made by the test
itself or a function-scoped fixture (a module or session fixture keeps its app as long as it
likes), and only if the test left it as it was made: no dependency overrides (cleared: they are
the test's own), the same routes, middleware, exception handlers and `app.state`. An app that a
test changed otherwise (e.g. a route added to it) is dropped, never lent again.

Apps are reused only on engines made by the session-scoped fixtures of tests/conftest.py
(`remember_engine`): an app on a test's own fresh database is not kept past that database.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine

import ketaflow.web.app as web_app

_make = web_app.create_app  # the real one
_long_lived: set[int] = set()  # id() of the engines whose apps may be reused (kept alive in _engines)
_engines: list[Engine] = []
_free: dict[tuple[Any, ...], list[Any]] = {}
_lent: list[tuple[tuple[Any, ...], Any, _Pristine]] = []
_scopes: list[str] = []  # the scopes of the fixtures being set up, innermost last


@dataclass(frozen=True)
class _Pristine:
    """What `create_app` left in an app, to tell at its return that the test did not change it."""

    routes: tuple[int, ...]
    middleware: int
    handlers: tuple[Any, ...]
    state: tuple[tuple[str, int], ...]

    @staticmethod
    def of(app: Any) -> _Pristine:
        return _Pristine(
            routes=tuple(id(r) for r in app.router.routes),
            middleware=len(app.user_middleware),
            handlers=tuple((k, id(v)) for k, v in app.exception_handlers.items()),
            state=tuple(sorted((k, id(v)) for k, v in vars(app.state)["_state"].items())),
        )


def remember_engine(engine: Engine) -> Engine:
    """Let apps on `engine` (one that lives for the whole test session) be reused; returns it."""
    _long_lived.add(id(engine))
    _engines.append(engine)
    return engine


def _key(engine: Engine, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...] | None:
    if id(engine) not in _long_lived or args:
        return None
    try:
        options = tuple(sorted((k, repr(v)) for k, v in kwargs.items()))
    except TypeError:
        return None
    environment = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("KETAFLOW_")))
    return (id(engine), options, environment)


def create_app(engine: Engine, *args: Any, **kwargs: Any) -> Any:
    """`ketaflow.web.app.create_app`, lending a given-back app where one fits (see the module)."""
    key = _key(engine, args, kwargs)
    reusable = key is not None and (not _scopes or _scopes[-1] == "function")
    if not reusable or key is None:
        return _make(engine, *args, **kwargs)
    free = _free.get(key)
    app = free.pop() if free else _make(engine, *args, **kwargs)
    _lent.append((key, app, _Pristine.of(app)))
    return app


def give_back() -> None:
    """After a test: the apps lent to it and left as they were are free for the next tests."""
    while _lent:
        key, app, pristine = _lent.pop()
        app.dependency_overrides.clear()
        if _Pristine.of(app) == pristine:
            _free.setdefault(key, []).append(app)


def install() -> None:
    web_app.create_app = create_app  # type: ignore[assignment]


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any]) -> Iterator[None]:
    _scopes.append(fixturedef.scope)
    try:
        yield
    finally:
        _scopes.pop()


@pytest.fixture(autouse=True)
def _give_back_apps() -> Iterator[None]:
    """Autouse, so set up before and torn down after every other function-scoped fixture."""
    yield
    give_back()
