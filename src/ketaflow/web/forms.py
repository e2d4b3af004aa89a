"""Reading what was sent: typed form fields and JSON bodies, by one model per action.

Each reader returns None for an empty field and raises InvalidInput tagged with the
field's name (so the page shows the message beside it) for anything it cannot read.

An action's input is one pydantic model, used both as the JSON API's body and, through
`read`, for the page's form: the same fields, the same readers (`as_number`, `as_whole`,
`as_clock` turn typed text into values and leave JSON values to pydantic), the same
messages. Every field's refusal is kept, so a form shows all its mistakes at once
(`FormErrors`, rendered by the macros in templates/_form_errors.html).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, BeforeValidator, ValidationError, ValidationInfo
from pydantic_core import ErrorDetails

from ketaflow.errors import (
    Conflict,
    Forbidden,
    InvalidFields,
    InvalidInput,
    KetaflowError,
    NotFound,
    Problems,
    StorageFull,
    invalid,
    problems_of,
)
from ketaflow.input_rules import visit_day, visit_time
from ketaflow.services.chairside import parse_clock

M = TypeVar("M", bound=BaseModel)

# The HTTP status of each refusal, one table for the app's handler and the pages that show a
# refused form again (a KetaflowError not listed is a 400).
STATUS_FOR: dict[type[KetaflowError], int] = {
    InvalidInput: 400,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    StorageFull: 507,
}


def number(text: str | None, field: str, label: str) -> float | None:
    """A decimal number as typed ("72.5" or "72,5"); None when empty."""
    text = (text or "").strip().replace(",", ".")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise invalid(field, f"{label} must be a number; got {text!r}.") from None
    if not math.isfinite(value):
        raise invalid(field, f"{label} must be a number; got {text!r}.")
    return value


def whole(text: str | None, field: str, label: str) -> int | None:
    """A whole number as typed ("72", or "72.0"); None when empty."""
    value = number(text, field, label)
    if value is None:
        return None
    if value != int(value):
        raise invalid(field, f"{label} must be a whole number; got {(text or '').strip()!r}.")
    return int(value)


def local_time(text: str | None, field: str, zone: ZoneInfo) -> datetime | None:
    """A datetime-local field ('2026-12-01T10:30') read in the clinic's time zone; None when empty."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise invalid(field, f"Write the date and time like 2026-12-01 10:30; got {text!r}.") from None
    value = value if value.tzinfo else value.replace(tzinfo=zone)
    visit_time(value, field, "Date and time")  # a year the calendar holds, with a UTC instant
    return value


def day(text: str | None, field: str, label: str) -> date | None:
    """A date field ('2026-12-01'); None when empty."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise invalid(field, f"{label}: write the date like 2026-12-01; got {text!r}.") from None
    return visit_day(value, field, label)


def ticked(text: str | None) -> bool:
    """Whether a tick box (or yes/no field) was ticked."""
    return (text or "").strip().lower() in {"1", "yes", "on", "true"}


# ---- one model for the form and the JSON body ------------------------------------------------


def reading(read: Callable[[str, str, str], Any], label: str) -> BeforeValidator:
    """Text (from a form, or a JSON string) read by `read`; any other JSON value left to pydantic."""

    def run(value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            return read(value, info.field_name or "", label)
        return value

    return BeforeValidator(run)


def as_number(label: str) -> BeforeValidator:
    """For `Annotated[float | None, as_number("Weight (kg)")]`: "72,5" or 72.5; blank is None."""
    return reading(number, label)


def as_whole(label: str) -> BeforeValidator:
    """For `Annotated[int | None, as_whole("Heart rate")]`: "72" or 72; blank is None."""
    return reading(whole, label)


def _clock_or_datetime(text: str, field: str, label: str) -> time | datetime | None:
    text = text.strip()
    if "T" in text or "-" in text:  # an ISO date and time, as the JSON API takes it
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise invalid(field, f"{label} must be a time like 14:05; got {text!r}.") from None
    return parse_clock(text, label)


def as_clock(label: str) -> BeforeValidator:
    """For `Annotated[time | datetime | None, as_clock("The onset time")]`: a time of day as typed
    ('14:05'), or a date and time with its zone (ISO 8601); blank is None (now)."""
    return reading(_clock_or_datetime, label)


def _message(model: type[BaseModel] | None, name: str, error: ErrorDetails) -> str:
    """A sentence for one pydantic error: our readers' own sentence when they refused the value."""
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, KetaflowError):
        return cause.message
    info = model.model_fields.get(name) if model is not None else None
    label = info.title if info is not None and info.title else name.replace("_", " ").capitalize()
    label = label or "The request"
    if error["type"] == "missing":
        return f"{label} is required."
    got = error.get("input")
    shown = f"; got {got!r}" if isinstance(got, str | int | float | bool) else ""
    return f"{label}: {error['msg'][:1].lower()}{error['msg'][1:]}{shown}."


def _problems(
    model: type[BaseModel] | None, errors: Iterable[ErrorDetails], *, prefixed: bool
) -> dict[str, str]:
    found: dict[str, str] = {}
    for error in errors:
        loc = tuple(error["loc"])[1 if prefixed else 0 :]  # FastAPI puts the place first: body, query
        name = ".".join(str(part) for part in loc)
        found.setdefault(name, _message(model, str(loc[0]) if loc else "", error))
    return found


def validation_problems(exc: RequestValidationError) -> dict[str, str]:
    """Every refused field of a request FastAPI could not read, each with a sentence."""
    return _problems(None, exc.errors(), prefixed=True)


def read(model: type[M], fields: Mapping[str, Any]) -> M:
    """The action's input from a form's fields; InvalidFields with every field's mistake at once.

    When some fields cannot be read and the model has a `check()` (the action's checks that need
    no database, e.g. ranges), it is run on the fields that could be read, so the mistakes it finds
    in those are told in the same answer."""
    try:
        return model.model_validate(dict(fields))
    except ValidationError as exc:
        problems = _problems(model, exc.errors(), prefixed=False)
    check = getattr(model, "check", None)
    if check is not None:
        rest = {k: v for k, v in fields.items() if k not in problems}
        try:
            readable = model.model_validate(rest)  # the unreadable fields at their defaults
        except ValidationError:
            readable = None
        if readable is not None:
            found = Problems()
            found.check(readable.check)  # type: ignore[attr-defined]
            for name, message in found.found.items():
                problems.setdefault(name, message)  # a field already refused keeps its own message
    raise InvalidFields(problems)


async def posted_fields(request: Request) -> dict[str, str]:
    """A posted form's fields as text, in the page's order (read once; Starlette caches the form)."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


# A form route's parameter: what was posted, as text, to give to `read` (and to show again).
Posted = Annotated[dict[str, str], Depends(posted_fields)]


def refusal(exc: KetaflowError) -> dict[str, Any]:
    """A refusal as the JSON API answers it: the sentence, the field at fault (when one is), and
    each field's own sentence when the refusal names fields (InvalidFields)."""
    body: dict[str, Any] = {"error": exc.message}
    if exc.field is not None:
        body["field"] = exc.field
    if isinstance(exc, InvalidFields):
        body["fields"] = exc.problems
    return body


# ---- showing the mistakes on the page --------------------------------------------------------


@dataclass(frozen=True)
class FormErrors:
    """The mistakes of the one form that was sent: `at` names it (its id on the page), `fields`
    maps each field at fault to its message, in the form's order; `message` is a refusal that
    belongs to no one field (a state conflict, say). Empty when nothing was refused."""

    at: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    message: str | None = None

    @classmethod
    def of(cls, at: str, exc: KetaflowError, *, fields: Iterable[str] | None = None) -> FormErrors:
        """The refusal `exc` of the form `at`. With `fields` (the form's field names in page order,
        e.g. the keys of what was posted) the mistakes follow the page's order and one about a
        field the form does not have counts as the form's own message."""
        problems = problems_of(exc)
        order = list(fields) if fields is not None else [name for name in problems if name]
        tied = {name: problems[name] for name in order if name and name in problems}
        general = [text for name, text in problems.items() if name not in tied]
        return cls(at, tied, " ".join(general) or None)

    def __bool__(self) -> bool:
        return bool(self.fields or self.message)

    def on(self, at: str) -> bool:
        """Whether the mistakes are those of the form `at`."""
        return bool(self) and self.at == at

    @property
    def first(self) -> str | None:
        """The first field at fault: it takes the focus when the page comes back."""
        return next(iter(self.fields), None)

    def note_id(self, name: str) -> str:
        return f"{self.at}-{name}-error"


NO_ERRORS = FormErrors()
