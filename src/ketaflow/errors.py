"""Domain errors: each carries one plain sentence a nurse or engineer can act on.

Every layer raises these; the CLI prints the sentence and exits with code 2, the web
layer turns them into a 4xx response with the same sentence. They never carry a
stack trace to the user.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


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


class Hidden(NotFound):
    """The record exists but belongs to another organization: answered like a missing one (404),
    and audited as a refused attempt like a Forbidden. `clinic_id` is the record's clinic."""

    def __init__(self, message: str, *, clinic_id: uuid.UUID | None = None) -> None:
        super().__init__(message)
        self.clinic_id = clinic_id


class Conflict(KetaflowError):
    """The change clashes with the current state (stale version, double booking)."""


class Forbidden(KetaflowError):
    """The user's role or clinic membership does not allow this action. `clinic_id`, when known,
    is the clinic of the record asked for (the audit of the refusal names it)."""

    def __init__(self, message: str, *, field: str | None = None, clinic_id: uuid.UUID | None = None) -> None:
        super().__init__(message, field=field)
        self.clinic_id = clinic_id


class WitnessRefused(Forbidden):
    """The second person who signed in may not witness this (not a licensed member of the clinic).
    A form keeps what was typed and shows this beside the witness's fields; other refusals of the
    person at the keyboard reach the app's handler (and its audit of refused access)."""


class ClinicalRecordImmutable(KetaflowError):
    """A charted clinical fact was about to be changed or deleted; amend it instead."""


class StorageFull(KetaflowError):
    """The database has no room left (its disk, or its size cap); the write was rolled back."""

    def __init__(self) -> None:
        super().__init__(
            "The clinic database is full, so nothing was saved. Keep this on paper for now and tell "
            "your administrator: the disk that holds the database needs more space."
        )


class SchemaMismatch(KetaflowError):
    """The database schema is not the one this version of ketaflow expects."""


class InvalidFields(InvalidInput):
    """Several fields at fault at once: `problems` maps each field to its message, in the form's
    order, so a page can show every mistake beside its field in one answer."""

    def __init__(self, problems: dict[str, str]) -> None:
        assert problems, "InvalidFields needs at least one problem"
        super().__init__(" ".join(problems.values()), field=next(iter(problems)))
        self.problems = dict(problems)


def problems_of(exc: KetaflowError) -> dict[str, str]:
    """Every field-tagged message an error carries; a message with no field is keyed by ""."""
    if isinstance(exc, InvalidFields):
        return dict(exc.problems)
    return {exc.field or "": exc.message}


class Problems:
    """Runs several checks and keeps every refusal, so all the mistakes of an entry are told at once.

    found = Problems()
    name = found.check(lambda: clean_name(text), "name")
    ...
    found.raise_any()  # InvalidFields with each field's first message, or nothing
    """

    def __init__(self) -> None:
        self.found: dict[str, str] = {}

    def check(self, run: Callable[[], T], field: str | None = None) -> T | None:
        """The value `run` returns, or None with its refusal kept (under its own field, else `field`)."""
        try:
            return run()
        except InvalidInput as exc:
            for key, message in problems_of(exc).items():
                self.found.setdefault(key or field or "", message)
            return None

    def add(self, field: str, message: str) -> None:
        self.found.setdefault(field, message)

    def __contains__(self, field: str) -> bool:
        return field in self.found

    def raise_any(self) -> None:
        if self.found:
            raise InvalidFields(self.found)
