"""The front desk changes a registered patient's details (issue 16, item 4: ADT^A08 "updated" needs
an update to send): the form comes filled from the chart, a change is saved with its audit (the
fields' names, not their values), a mistake is named at its field and changes nothing, a change
made on a stale form is refused, and only those who may register patients may change them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ketaflow.store import models as m
from tests.integration.web.frontdesk_support import Desk, make_patient, open_desk

NOW = datetime(2031, 3, 3, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def desk(demo_engine: Engine) -> Iterator[Desk]:
    yield from open_desk(demo_engine, NOW, roles=("front_desk", "nurse"))


def patient(engine: Engine, patient_id: object) -> m.Patient:
    with Session(engine) as db:
        row = db.get(m.Patient, patient_id)
        assert row is not None
        db.expunge(row)
        return row


def filled_form(desk: Desk, patient_id: object) -> dict[str, str]:
    """What the page sends back when nothing is changed: the form's own values."""
    client, headers = desk.as_("front_desk")
    p = patient(desk.engine, patient_id)
    page = client.get(f"/patients/{patient_id}/details")
    assert page.status_code == 200, page.text
    assert f'value="{p.given_name}"' in page.text and f'value="{p.date_of_birth.isoformat()}"' in page.text
    assert f'name="version" value="{p.version}"' in page.text
    return {
        "csrf": headers["X-CSRF-Token"],
        "version": str(p.version),
        "given_name": p.given_name,
        "family_name": p.family_name,
        "date_of_birth": p.date_of_birth.isoformat(),
        "sex": str(p.sex),
        "phone": p.phone or "",
        "email": p.email or "",
        "address": p.address or "",
        "emergency_contact_name": p.emergency_contact_name or "",
        "emergency_contact_phone": p.emergency_contact_phone or "",
        "emergency_contact_relationship": p.emergency_contact_relationship or "",
    }


def edits(engine: Engine, patient_id: object) -> list[dict[str, object]]:
    with Session(engine) as db:
        return [
            e.details
            for e in db.scalars(
                select(m.AuditEvent).where(
                    m.AuditEvent.patient_id == patient_id, m.AuditEvent.action == "patient.edit"
                )
            )
        ]


def test_a_changed_phone_is_saved_and_audited_by_field_name(desk: Desk) -> None:
    pid = make_patient(desk.engine)
    client, _ = desk.as_("front_desk")
    assert f"/patients/{pid}/details" in client.get(f"/patients/{pid}").text  # the chart links the form
    form = filled_form(desk, pid)
    r = client.post(
        f"/patients/{pid}/details", data={**form, "phone": "+1 512 555 0142"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == f"/patients/{pid}"
    after = patient(desk.engine, pid)
    assert after.phone is not None and "555" in after.phone
    assert after.version == int(form["version"]) + 1
    [audit] = edits(desk.engine, pid)
    assert audit["fields"] == ["phone"] and "555" not in str(audit)


def test_a_mistake_is_named_at_its_field_and_changes_nothing(desk: Desk) -> None:
    pid = make_patient(desk.engine)
    client, _ = desk.as_("front_desk")
    before = patient(desk.engine, pid)
    form = filled_form(desk, pid)
    r = client.post(
        f"/patients/{pid}/details", data={**form, "date_of_birth": "2099-01-01", "phone": "+1 512 555 0100"}
    )
    assert r.status_code == 400 and 'aria-invalid="true"' in r.text and "Traceback" not in r.text
    assert 'value="2099-01-01"' in r.text  # what was typed comes back to be corrected
    after = patient(desk.engine, pid)
    assert (after.date_of_birth, after.phone, after.version) == (
        before.date_of_birth,
        before.phone,
        before.version,
    )
    assert edits(desk.engine, pid) == []


def test_a_stale_form_is_refused_and_the_other_change_kept(desk: Desk) -> None:
    pid = make_patient(desk.engine, dob=date(1980, 5, 5))
    client, _ = desk.as_("front_desk")
    form = filled_form(desk, pid)
    first = client.post(
        f"/patients/{pid}/details", data={**form, "email": "first@example.org"}, follow_redirects=False
    )
    assert first.status_code == 303
    second = client.post(f"/patients/{pid}/details", data={**form, "email": "second@example.org"})
    assert second.status_code == 409 and "reload" in second.text
    assert patient(desk.engine, pid).email == "first@example.org"


def test_only_those_who_register_may_change_details(desk: Desk) -> None:
    pid = make_patient(desk.engine)
    nurse, headers = desk.as_("nurse")
    assert nurse.get(f"/patients/{pid}/details").status_code == 403
    assert f"/patients/{pid}/details" not in nurse.get(f"/patients/{pid}").text
    form = {**filled_form(desk, pid), "csrf": headers["X-CSRF-Token"], "phone": "+1 512 555 0199"}
    assert nurse.post(f"/patients/{pid}/details", data=form).status_code == 403
    assert edits(desk.engine, pid) == []
