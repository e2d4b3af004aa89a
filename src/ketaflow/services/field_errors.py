"""InvalidInput tagged with the form field at fault, so a page can show the message beside it."""

from __future__ import annotations

from ketaflow.errors import InvalidInput


def invalid(field: str, message: str) -> InvalidInput:
    """An InvalidInput whose `field` names the form field the message belongs beside."""
    exc = InvalidInput(message)
    exc.field = field  # type: ignore[attr-defined]
    return exc


def field_of(exc: Exception) -> str | None:
    return getattr(exc, "field", None)
