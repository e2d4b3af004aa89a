"""ASGI entry point for multi-worker serving: each worker builds its app from the settings."""

from fastapi import FastAPI

from ketaflow.settings import get_settings
from ketaflow.store.engine import make_engine
from ketaflow.web.app import create_app


def create() -> FastAPI:
    """The app on the database named by KETAFLOW_DATABASE_URL (or the default SQLite file)."""
    return create_app(make_engine(get_settings().resolved_database_url()))
