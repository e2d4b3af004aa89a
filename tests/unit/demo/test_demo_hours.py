"""The demo network's opening hours and holiday closures, and that its schedule stays inside them."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from ketaflow.demo import catalog
from ketaflow.demo.generate import clinic_rows, network_rows
from ketaflow.demo.hours import holidays, hours_of
from ketaflow.demo.settings import DemoSettings
from ketaflow.hours import ClinicCalendar, Closure, WeeklyHours

# A small network whose history covers Thanksgiving, Christmas and New Year's Day several times.
SETTINGS = DemoSettings(clinics=9, patients=270, seed=4, as_of=date(2026, 12, 10))


def test_every_demo_booking_fits_its_clinics_hours_and_avoids_its_closures() -> None:
    network = network_rows(SETTINGS, "hash")
    checked = 0
    for index, clinic in enumerate(network.rows["clinics"]):
        hours = WeeklyHours.from_rows(
            (h["weekday"], h["opens_min"], h["closes_min"])
            for h in network.rows["clinic_hours"]
            if h["clinic_id"] == clinic["id"]
        )
        assert hours == hours_of(clinic["code"])
        closures = tuple(
            Closure(c["first_day"], c["last_day"], c["reason"])
            for c in network.rows["clinic_closures"]
            if c["clinic_id"] == clinic["id"]
        )
        assert {c.reason for c in closures} == {"New Year's Day", "Thanksgiving", "Christmas Day"}
        calendar = ClinicCalendar(clinic["name"], ZoneInfo(clinic["timezone"]), hours, closures)
        for appt in clinic_rows(SETTINGS, network, index)["appointments"]:
            problem = calendar.misfit(appt["starts_at"], appt["ends_at"], appt["kind"])
            assert problem is None, (clinic["code"], appt["starts_at"], problem)
            checked += 1
    assert checked > 2000


def test_the_clinics_differ_in_their_hours_but_all_hold_the_demo_slots() -> None:
    summaries = {code: hours_of(code).summary() for code, *_ in catalog.CLINICS}
    assert summaries["aus"] == "Mon–Fri 08:00–18:30; closed Sat, Sun"
    assert summaries["sd"] == "Mon–Fri 08:00–19:00, Sat 09:00–13:00; closed Sun"
    assert len(set(summaries.values())) >= 4
    assert hours_of("aus2") == hours_of("aus")  # the tenth clinic on keeps its pattern's hours


def test_the_holidays_are_on_their_dates() -> None:
    assert holidays(date(2026, 1, 1), date(2027, 1, 1)) == [
        (date(2026, 1, 1), "New Year's Day"),
        (date(2026, 11, 26), "Thanksgiving"),  # the fourth Thursday of November
        (date(2026, 12, 25), "Christmas Day"),
        (date(2027, 1, 1), "New Year's Day"),
    ]
    assert [d for d, why in holidays(date(2027, 1, 2), date(2028, 12, 31)) if why == "Thanksgiving"] == [
        date(2027, 11, 25),
        date(2028, 11, 23),
    ]
