"""One model reads an action's input from a form or a JSON body; every mistake is kept, each on its
field, and the page is told which field takes the focus (issue 19 item 5, issue 18 item 7)."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated

import pytest
from pydantic import BaseModel

from ketaflow.errors import InvalidFields, InvalidInput, Problems, invalid
from ketaflow.web import forms


def _refuse_negative(value: float | None) -> None:
    if value is not None and value < 0:
        raise invalid("weight_kg", f"Weight must be 0 or more; got {value:g}.")


class Reading(BaseModel):
    name: str = ""
    weight_kg: Annotated[float | None, forms.as_number("Weight (kg)")] = None
    beats: Annotated[int | None, forms.as_whole("Heart rate")] = None
    at: Annotated[time | datetime | None, forms.as_clock("The time")] = None

    def check(self) -> None:
        found = Problems()
        if not self.name.strip():
            found.add("name", "Enter the name.")
        found.check(lambda: _refuse_negative(self.weight_kg))
        found.raise_any()


def test_problems_keeps_every_refusal_under_its_field() -> None:
    found = Problems()
    assert found.check(lambda: 3) == 3
    assert found.check(lambda: forms.number("x", "weight_kg", "Weight (kg)")) is None
    found.check(lambda: (_ for _ in ()).throw(InvalidInput("Untagged.")), "notes")
    found.add("weight_kg", "A second message for the same field is not kept.")
    with pytest.raises(InvalidFields) as refused:
        found.raise_any()
    assert refused.value.problems == {
        "weight_kg": "Weight (kg) must be a number; got 'x'.",
        "notes": "Untagged.",
    }
    assert refused.value.field == "weight_kg"


def test_the_same_model_reads_a_form_and_json_alike() -> None:
    typed = forms.read(
        Reading, {"name": "Ada", "weight_kg": "72,5", "beats": "72", "at": "14:05", "csrf": "x"}
    )
    sent = forms.read(Reading, {"name": "Ada", "weight_kg": 72.5, "beats": 72, "at": "14:05"})
    assert typed == sent
    assert typed.weight_kg == 72.5 and typed.beats == 72 and typed.at == time(14, 5)
    blank = forms.read(Reading, {"name": "Ada", "weight_kg": "", "beats": "", "at": ""})
    assert blank.weight_kg is None and blank.beats is None and blank.at is None


def test_a_form_with_unreadable_fields_is_also_checked_on_the_rest() -> None:
    with pytest.raises(InvalidFields) as refused:
        forms.read(Reading, {"name": " ", "weight_kg": "heavy", "beats": "7.5", "at": "half past"})
    assert refused.value.problems == {
        "weight_kg": "Weight (kg) must be a number; got 'heavy'.",
        "beats": "Heart rate must be a whole number; got '7.5'.",
        "at": "The time must be a time like 14:05; got 'half past'.",
        "name": "Enter the name.",  # from check(), run on the fields that could be read
    }


def test_form_errors_follow_the_page_order_and_keep_strays_as_the_form_message() -> None:
    exc = InvalidFields({"beats": "B.", "name": "N.", "elsewhere": "E."})
    errors = forms.FormErrors.of("vitals", exc, fields=["name", "weight_kg", "beats"])
    assert list(errors.fields) == ["name", "beats"] and errors.first == "name"
    assert errors.message == "E." and errors.on("vitals") and not errors.on("pump")
    assert errors.note_id("name") == "vitals-name-error"
    assert not forms.NO_ERRORS and forms.NO_ERRORS.first is None
    untagged = forms.FormErrors.of("pump", InvalidInput("Tick the box."))
    assert untagged.fields == {} and untagged.message == "Tick the box."
