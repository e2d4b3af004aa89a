"""Domain errors: each carries one plain sentence a nurse or engineer can act on.

Every layer raises these; the CLI prints the sentence and exits with code 2, the web
layer turns them into a 4xx response with the same sentence. They never carry a
stack trace to the user.
"""

from __future__ import annotations


class KetaflowError(Exception):
    """Base of every error whose message is meant for the person at the keyboard."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # The form field the message belongs beside, when one field is at fault.
        self.field = field

    def __str__(self) -> str:
        return self.message


class InvalidInput(KetaflowError, ValueError):
    """The input cannot be used as given (out of range, malformed, unknown name)."""


def invalid(field: str, message: str) -> InvalidInput:
    """Invalid input tied to one form field, so a page can show the message beside it."""
    return InvalidInput(message, field=field)


class NotFound(KetaflowError, LookupError):
    """The record asked for does not exist (or is not visible to this user)."""


class Conflict(KetaflowError):
    """The change clashes with the current state (stale version, double booking)."""


class Forbidden(KetaflowError):
    """The user's role or clinic membership does not allow this action."""


class ClinicalRecordImmutable(KetaflowError):
    """A charted clinical fact was about to be changed or deleted; amend it instead."""


class SchemaMismatch(KetaflowError):
    """The database schema is not the one this version of ketaflow expects."""
