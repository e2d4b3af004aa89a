"""Every message kind renders, names the clinic, and keeps clinical detail out of its subject and preview."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from ketaflow.messaging import templates
from ketaflow.messaging.templates import ClinicCard, Values, kinds, message_preparation, render

CLINIC = ClinicCard("Blue Heron Austin", "1 Congress Ave, Austin, TX 78701", "+1 512 555 0100")
VALUES = Values(
    CLINIC,
    given_name="Alex",
    visit_when="Thursday 10 December 2026 at 09:30",
    portal_link="https://care.example.org/p/TOKEN123",
    confirm_link="https://care.example.org/messages/confirm/CONFIRM123",
    staff_link="https://care.example.org/tasks/1234",
    escalate_minutes=15,
    preparation=message_preparation(),
)
# Words a subject or preview must never carry (issue 17: no drug, diagnosis, questionnaire or
# score). An independent list, written for this test, not read from the templates.
CLINICAL = re.compile(
    r"ketamine|esketamine|spravato|benzodiazepine|alprazolam|lorazepam|infusion|depress|anxiety|ptsd|"
    r"suicid|self-harm|harm|phq|gad|c-ssrs|cssrs|score|\d+\s*/\s*\d+|mg\b|diagnos|psychiatr|mental",
    re.IGNORECASE,
)
ALL_KINDS = sorted(kinds())


def test_there_is_a_template_for_every_kind_the_outbox_sends() -> None:
    assert set(ALL_KINDS) == {
        "address_confirmation",
        "booking_confirmation",
        "visit_reminder",
        "driver_reminder",
        "questionnaire_reminder",
        "aftercare",
        "risk_alert",
        "risk_escalation",
    }


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_subject_and_preview_carry_no_clinical_detail(kind: str) -> None:
    out = render(kind, VALUES)
    assert not CLINICAL.search(out.subject), out.subject
    assert not CLINICAL.search(out.preview), out.preview
    assert "Alex" not in out.subject and "Rivera" not in out.subject  # no patient named either
    assert "\n" not in out.subject and len(out.subject) <= 200


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_text_and_html_say_the_same_with_the_clinics_details(kind: str) -> None:
    out = render(kind, VALUES)
    for part in (CLINIC.name, CLINIC.address, CLINIC.phone):
        assert part in out.text and part in out.html
    assert "$" not in out.text  # every placeholder filled
    visible = _visible_text(out.html)
    for line in (ln.strip() for ln in out.text.splitlines()):
        if line and not line.startswith("- "):
            assert " ".join(line.split()) in visible, line


@pytest.mark.parametrize("kind", [k for k in ALL_KINDS if kinds()[k].audience == templates.PATIENT])
def test_patient_messages_link_to_the_patients_page_or_the_confirmation(kind: str) -> None:
    out = render(kind, VALUES)
    link = VALUES.confirm_link if kind == "address_confirmation" else VALUES.portal_link
    assert link in out.text and f'<a href="{link}">' in out.html
    assert VALUES.staff_link not in out.text


def test_the_visit_messages_carry_the_preparation_from_the_clinical_rules() -> None:
    for kind in ("booking_confirmation", "visit_reminder"):
        out = render(kind, VALUES)
        for statement in message_preparation():
            assert f"- {statement.heading}: {statement.text}" in out.text
        assert "Bring a driver" in out.text and "Alcohol" in out.text
    # The page-only statement (it is about the page's question box) is left out of the messages.
    assert "Questions for the psychiatrist" not in render("visit_reminder", VALUES).text


def test_values_are_escaped_in_the_html() -> None:
    out = render("visit_reminder", Values(ClinicCard("A & B <Clinic>", "x", "y"), given_name="<script>"))
    assert (
        "<script>" not in out.html and "&lt;script&gt;" in out.html and "A &amp; B &lt;Clinic&gt;" in out.html
    )


def test_staff_messages_name_no_patient_and_link_to_the_task() -> None:
    for kind in ("risk_alert", "risk_escalation"):
        out = render(kind, VALUES)
        assert "Alex" not in out.text and VALUES.staff_link in out.text and "15 minutes" in out.text


def test_an_unknown_kind_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="No message template for 'birthday'"):
        render("birthday", VALUES)


def _visible_text(page: str) -> str:
    class Collect(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.parts: list[str] = []

        def handle_data(self, data: str) -> None:
            self.parts.append(data)

    c = Collect()
    c.feed(page)
    return " ".join(" ".join(c.parts).split())
