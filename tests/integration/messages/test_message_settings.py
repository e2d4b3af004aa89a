"""Only a confirmed address gets messages; the confirmation link works once; opt-outs per kind
(both engines)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from ketaflow.errors import InvalidInput
from ketaflow.services import message_settings, outbox, patient_access
from ketaflow.services.auth import CurrentUser
from ketaflow.services.patient_access import LINK_VALID_DAYS, CurrentPatient
from ketaflow.store import models as m
from ketaflow.vocabulary import Role
from tests.factories import make_patient, make_staff
from tests.integration.messages.conftest import NOW, PUBLIC_URL, Site
from tests.integration.messages.smtp_server import SmtpServer
from tests.integration.messages.test_outbox import audited, deliver


def desk(site: Site) -> CurrentUser:
    with site.session() as db:
        clinic = db.get(m.Clinic, site.clinic_id)
        assert clinic is not None
        user = make_staff(db, clinic, Role.FRONT_DESK)
        db.commit()
        return CurrentUser(user, None, {str(clinic.id): {Role.FRONT_DESK}})  # type: ignore[arg-type]


def new_patient(site: Site, email: str | None) -> m.Patient:
    with site.session() as db:
        clinic = db.get(m.Clinic, site.clinic_id)
        assert clinic is not None
        patient = make_patient(db, clinic)
        patient.email = email
        db.commit()
        return patient


def test_an_address_is_confirmed_by_the_link_sent_to_it_and_only_once(site: Site, smtp: SmtpServer) -> None:
    who = desk(site)
    patient = new_patient(site, "sam@example.net")
    with site.session() as db:
        assert message_settings.request_confirmation(db, who, patient.id, NOW) == "sam@example.net"
        assert outbox.reachable(db, patient.id, "visit_reminder") == (
            "the patient has not confirmed their e-mail address"
        )
    assert deliver(site, smtp).sent == 1
    [mail] = smtp.inbox.messages
    assert mail.rcpt_tos == ["sam@example.net"]
    assert mail.message["Subject"] == "Confirm your e-mail address for Blue Heron Austin"
    body = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    [link] = re.findall(re.escape(PUBLIC_URL) + r"/messages/confirm/(\S+)", body)
    with site.session() as db:
        message_settings.check_confirmation(db, link, NOW)  # looking changes nothing
        assert outbox.reachable(db, patient.id, "visit_reminder") is not None
        assert message_settings.confirm(db, link, NOW + timedelta(minutes=5)) == "sam@example.net"
        assert outbox.reachable(db, patient.id, "visit_reminder") is None
        with pytest.raises(InvalidInput, match="not valid or was already used"):
            message_settings.confirm(db, link, NOW + timedelta(minutes=6))
    assert audited(site, "message_address.request") == 1 and audited(site, "message_address.confirm") == 1
    # A new address on the record is unconfirmed until it is confirmed in turn.
    with site.session() as db:
        record = db.get(m.Patient, patient.id)
        assert record is not None
        record.email = "sam.new@example.net"
        db.commit()
        assert outbox.reachable(db, patient.id, "visit_reminder") == (
            "the patient's e-mail address changed since it was confirmed"
        )


def test_a_patient_without_an_address_is_told_to_add_one(site: Site) -> None:
    who = desk(site)
    patient = new_patient(site, None)
    with site.session() as db, pytest.raises(InvalidInput, match="no e-mail address on their record"):
        message_settings.request_confirmation(db, who, patient.id, NOW)


def test_a_patient_turns_kinds_off_on_their_page_and_those_are_not_sent(site: Site) -> None:
    with site.session() as db:
        patient = db.get(m.Patient, site.patient_id)
        clinic = db.get(m.Clinic, site.clinic_id)
        assert patient is not None and clinic is not None
        me = CurrentPatient(patient, clinic, None)  # type: ignore[arg-type]
        got = message_settings.set_opt_outs(db, me, {"visit_reminder", "aftercare"}, NOW)
        assert got.opted_out == {"visit_reminder", "aftercare"} and got.confirmed
        assert outbox.reachable(db, patient.id, "visit_reminder") == (
            "the patient opted out of visit reminder messages"
        )
        assert outbox.reachable(db, patient.id, "booking_confirmation") is None
        with pytest.raises(InvalidInput, match="no kind of message called address_confirmation"):
            message_settings.set_opt_outs(db, me, {"address_confirmation"}, NOW)
        prefs = db.scalar(
            select(m.PatientMessageSettings).where(m.PatientMessageSettings.patient_id == patient.id)
        )
        assert prefs is not None and prefs.opted_out == ["aftercare", "visit_reminder"]
    assert audited(site, "message_settings.update") == 1


def test_a_confirmation_link_expires_after_the_link_lifetime(site: Site, smtp: SmtpServer) -> None:
    who = desk(site)
    patient = new_patient(site, "kit@example.net")
    with site.session() as db:
        message_settings.request_confirmation(db, who, patient.id, NOW)
    assert deliver(site, smtp).sent == 1
    body = smtp.inbox.messages[0].message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    [link] = re.findall(re.escape(PUBLIC_URL) + r"/messages/confirm/(\S+)", body)
    # The lifetime of every link in a message: patient_access.LINK_VALID_DAYS after it was sent.
    late = NOW + timedelta(days=LINK_VALID_DAYS, seconds=1)
    with site.session() as db:
        message_settings.check_confirmation(db, link, NOW + timedelta(days=LINK_VALID_DAYS, seconds=-1))
        with pytest.raises(InvalidInput, match="has expired"):
            message_settings.check_confirmation(db, link, late)
        with pytest.raises(InvalidInput, match="has expired"):
            message_settings.confirm(db, link, late)
        assert outbox.reachable(db, patient.id, "visit_reminder") == (
            "the patient has not confirmed their e-mail address"
        )
    assert audited(site, "message_address.confirm") == 0


def test_every_patient_page_link_in_a_message_opens_once_and_expires(site: Site, smtp: SmtpServer) -> None:
    outbox.plan_due(site.session(), NOW, clinic_id=site.clinic_id)  # type: ignore[arg-type]
    assert deliver(site, smtp).sent == 3  # the visit, PHQ-9 and driver reminders
    links = []
    for mail in smtp.inbox.messages:
        body = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        links += re.findall(re.escape(PUBLIC_URL) + r"/p/(\S+)", body)
    assert len(links) == 3 and len(set(links)) == 3  # one link of its own per message
    with site.session() as db:
        patient = db.get(m.Patient, site.patient_id)
        assert patient is not None
        born = patient.date_of_birth
        stored = db.scalars(select(m.PatientAccessLink).where(m.PatientAccessLink.patient_id == patient.id))
        assert {link.expires_at for link in stored} == {NOW + timedelta(days=LINK_VALID_DAYS)}
    first, second, third = links
    with site.session() as db:
        patient_access.redeem_link(db, first, NOW + timedelta(minutes=1), date_of_birth=born)
        with pytest.raises(patient_access.LinkRefused, match="already been used"):
            patient_access.redeem_link(db, first, NOW + timedelta(minutes=2), date_of_birth=born)
        patient_access.check_link(db, second, NOW + timedelta(days=LINK_VALID_DAYS, seconds=-1))
        for token in (second, third):
            with pytest.raises(patient_access.LinkRefused, match="expired"):
                patient_access.redeem_link(
                    db, token, NOW + timedelta(days=LINK_VALID_DAYS, seconds=1), date_of_birth=born
                )
