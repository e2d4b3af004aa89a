"""ASGI entry point for serving: each worker builds its app from the settings."""

import gc

from fastapi import FastAPI

from ketaflow.settings import get_settings
from ketaflow.store.engine import make_engine
from ketaflow.web import access_log
from ketaflow.web.app import create_app

# The cyclic garbage collector's youngest generation is collected every 700 allocations
# by default; one page allocates tens of thousands of objects (ORM rows, template
# output), so the collector ran dozens of times per page. Measured (1 worker, 20 wrk
# clients on charts and boards, 6 alternating pairs of 10 s runs on a busy 2-core machine):
# about 12 ms of server CPU per page with the default, about 10 ms with 20,000, better in 5
# of the 6 pairs. Reference counting still frees almost everything at once; only reference
# cycles wait a little longer.
GC_GEN0_THRESHOLD = 20_000


def tune_gc() -> None:
    """Fewer young-generation collections, and the objects built at start-up left out of them."""
    gc.collect()
    gc.freeze()  # modules, app, routes and templates built so far: never garbage, never rescanned
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def create() -> FastAPI:
    """The app on the database named by KETAFLOW_APP_DATABASE_URL, else KETAFLOW_DATABASE_URL
    (or the default SQLite file)."""
    access_log.configure(get_settings().access_log)  # each worker process writes its own lines
    app = create_app(make_engine(get_settings().resolved_app_database_url()))
    tune_gc()
    return app
