"""Run a coroutine to the end on an event loop of its own, in a thread of its own.

The browser tests' Playwright (sync API) keeps an event loop running in the main thread of a
pytest worker for the rest of the session, and `asyncio.run` refuses to start beside a running
loop. Tests that drive asyncio servers (the MLLP listener, the HL7 outbox's peer) call this
instead, so they pass whichever test files ran before them on the same worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="own-loop") as pool:
        return pool.submit(asyncio.run, coroutine).result()


def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call `fn` in a thread of its own (for a CLI command that runs its own event loop, called
    in-process through typer's CliRunner)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="own-loop") as pool:
        return pool.submit(fn, *args, **kwargs).result()
