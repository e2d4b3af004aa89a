"""In the browser: one patient's whole journey through the Austin clinic, as staff would do it.

Front desk registers and books; the psychiatrist consults, screens, records consent and sets a plan;
the patient opens their own page from a one-time link, writes a question and answers the PHQ-9;
two infusions are run with vitals (one alert), a pause, a side effect and its intervention, a
request for help, a CADSS rating, and recovery until a discharge with the confirmed driver; the
course shows both infusions and the PHQ-9; a nurse of another clinic is refused.

Everything goes through the pages, by typing and clicking. The app's clock is moved forward
between steps (days in March 2027, after the demo history; no other browser test uses them).
With KETAFLOW_SCREENSHOTS=1 the chair board and the session page are saved to docs/img/.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import LiveServer, sign_in

AUSTIN = ZoneInfo("America/Chicago")  # the demo's Austin clinic keeps Chicago time
CONSULT_DAY = date(2027, 3, 15)  # a Monday; US daylight saving time has begun (14 March 2027)
INFUSION_DAYS = (date(2027, 3, 17), date(2027, 3, 19))
GIVEN, FAMILY = "Rosalind", "Okafor-Brandt"
NAME = f"{GIVEN} {FAMILY}"
DRIVER = "Dana Reyes, 555-0100"
SCREENSHOTS = os.environ.get("KETAFLOW_SCREENSHOTS") == "1"
IMG = Path(__file__).resolve().parents[2] / "docs" / "img"


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), AUSTIN)


@dataclass
class Journey:
    live: LiveServer
    frontdesk: Page
    psychiatrist: Page
    nurse: Page
    patient_id: str = ""
    chair: str = ""
    sessions: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return self.live.url

    def now(self, when: datetime) -> None:
        self.live.clock.set(when)

    def shot(self, page: Page, name: str) -> None:
        """Save a full-page screenshot for the docs: only when asked, and from the SQLite run."""
        if SCREENSHOTS and self.live.database_url.startswith("sqlite"):
            IMG.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(IMG / name), full_page=True)

    def go(self, page: Page, path: str) -> None:
        response = page.goto(f"{self.base}{path}")
        assert response is not None and response.status == 200, f"{path}: {response and response.status}"
        clean(page)


def clean(page: Page) -> None:
    """No page shows a stack trace."""
    assert "Traceback" not in page.content()


def submit(page: Page, button: Locator) -> None:
    """Click a button or link and wait for the page that answers (never a server error)."""
    with page.expect_navigation() as nav:
        button.click()
    response = nav.value
    assert response is None or response.status < 500, f"{page.url}: {response.status}"
    clean(page)


# ---- 1. front desk registers the patient and books a consultation -------------------------------


def register_and_book_consultation(j: Journey) -> None:
    j.now(at(CONSULT_DAY, 8, 40))
    page = j.frontdesk
    j.go(page, "/clinics/aus/board")
    submit(page, page.get_by_role("link", name="Register a patient"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Register a patient at")
    page.fill("input[name=given_name]", GIVEN)
    page.fill("input[name=family_name]", FAMILY)
    page.fill("input[name=date_of_birth]", "1986-05-21")
    page.select_option("select[name=sex]", "female")
    page.fill("input[name=phone]", "512-555-0147")
    page.fill("input[name=emergency_contact_name]", "Dana Reyes")
    page.fill("input[name=emergency_contact_phone]", "555-0100")
    page.fill("input[name=emergency_contact_relationship]", "partner")
    # Bad input first: a weight of 900 kg comes back beside the field and nothing is saved.
    page.fill("input[name=weight_kg]", "900")
    page.fill("input[name=height_cm]", "168")
    page.fill("textarea[name=medications]", "sertraline 100 mg")
    submit(page, page.get_by_role("button", name="Register"))
    expect(page.locator("#register-weight_kg-error")).to_be_visible()
    expect(page.locator("input[name=given_name]")).to_have_value(GIVEN)
    page.fill("input[name=weight_kg]", "72.5")
    submit(page, page.get_by_role("button", name="Register"))
    match = re.search(r"/patients/([0-9a-f-]{36})$", page.url)
    assert match, page.url
    j.patient_id = match.group(1)
    expect(page.get_by_role("heading", level=1)).to_contain_text(NAME)
    expect(page.get_by_text("sertraline 100 mg")).to_be_visible()
    expect(page.locator("main")).to_contain_text("72.5 kg")

    submit(page, page.get_by_role("link", name="Book an appointment"))
    page.select_option("select[name=kind]", "consultation")
    page.fill("input[name=day]", CONSULT_DAY.isoformat())
    page.fill("input[name=start]", "10:00")
    submit(page, page.get_by_role("button", name="Book"))
    bookings = page.locator("section.card", has=page.get_by_role("heading", name="Bookings"))
    expect(bookings).to_contain_text("Mon 15 Mar 2027 10:00")
    expect(bookings).to_contain_text("consultation")


# ---- 2. the psychiatrist's consultation, consent and plan ---------------------------------------


def consult(j: Journey) -> None:
    j.now(at(CONSULT_DAY, 10, 5))
    page = j.psychiatrist
    j.go(page, f"/patients/{j.patient_id}")
    submit(page, page.get_by_role("link", name="Consultation, consent and plan"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Consultation: {NAME}")
    form = page.locator("form.consult")
    form.locator("input[name=indication]").fill("Treatment-resistant depression")
    meds = form.locator("textarea[name=medications]")
    expect(meds).to_have_value("sertraline 100 mg")  # from what the front desk wrote
    meds.fill("sertraline 100 mg\nXanax 0.5 mg as needed")
    form.locator("input[name=drinks_per_week]").fill("2")
    form.locator("input[name=bp]").fill("126/80")
    # The screening preview shows the benzodiazepine before anything is saved ...
    preview = page.locator("#screen-preview")
    expect(preview).to_contain_text("Benzodiazepine")
    expect(preview).to_contain_text("Xanax 0.5 mg as needed")
    submit(page, page.get_by_role("button", name="Screen and record the consultation"))
    # ... and the recorded consultation keeps the finding.
    latest = page.locator("#latest")
    expect(latest).to_contain_text("Treatment-resistant depression")
    expect(latest.locator("table.findings")).to_contain_text("Benzodiazepine")
    expect(latest.locator("strong", has_text=re.compile(r"^eligible$"))).to_be_visible()

    consent = page.locator("#consent")
    expect(consent).to_contain_text("none on file")
    submit(page, consent.get_by_role("button", name="Record consent"))
    expect(page.locator("#consent")).to_contain_text("given 15 Mar 2027 10:05")

    plans = page.locator("#plans")
    plans.locator("select[name=protocol]").select_option("depression-induction")
    submit(page, plans.get_by_role("button", name="Set the plan"))
    expect(page.locator("#plans table")).to_contain_text("depression-induction")
    expect(page.locator("#plans table")).to_contain_text("active")


# ---- 3. two infusions booked into a chair; the week shows them ----------------------------------


def book_infusions(j: Journey) -> None:
    j.now(at(CONSULT_DAY, 11, 0))
    page = j.frontdesk
    j.go(page, f"/patients/{j.patient_id}/book")
    expect(page.locator("main")).to_contain_text("active plan depression-induction")
    j.chair = page.locator("select[name=chair_id] option").nth(1).inner_text().strip()
    for day in INFUSION_DAYS:
        page.select_option("select[name=kind]", "infusion")
        page.fill("input[name=day]", day.isoformat())
        page.fill("input[name=start]", "10:00")
        page.select_option("select[name=chair_id]", label=j.chair)
        submit(page, page.get_by_role("button", name="Book"))
    bookings = page.locator("section.card", has=page.get_by_role("heading", name="Bookings"))
    for label in ("Wed 17 Mar 2027 10:00", "Fri 19 Mar 2027 10:00"):
        row = bookings.locator("tr", has_text=label)
        expect(row).to_contain_text("infusion")
        expect(row).to_contain_text(j.chair)

    submit(page, page.get_by_role("link", name="week of bookings"))
    j.go(page, f"/clinics/aus/week?start={CONSULT_DAY.isoformat()}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("week of 15 March 2027")
    chair_row = page.locator("tbody tr", has=page.get_by_role("rowheader", name=j.chair, exact=True))
    expect(chair_row.get_by_role("link", name=NAME)).to_have_count(2)
    no_chair = page.locator("tbody tr", has_text="No chair")
    expect(no_chair.get_by_role("link", name=NAME)).to_have_count(1)


def book_neighbours(j: Journey) -> None:
    """Two other Austin patients booked into the next chairs on the first infusion day, found
    through "Find a patient", so the board is a clinic's morning rather than one busy chair."""
    page = j.frontdesk
    chairs = [f"Chair {n}" for n in (2, 3)]
    for chair, start in zip(chairs, ("10:30", "11:15"), strict=True):
        j.go(page, "/clinics/aus/week")
        submit(page, page.get_by_role("link", name="Find a patient"))
        rows = page.locator("tbody tr").filter(has_not_text=FAMILY)
        submit(page, rows.nth(chairs.index(chair)).get_by_role("link", name="Book"))
        page.select_option("select[name=kind]", "infusion")
        page.fill("input[name=day]", INFUSION_DAYS[0].isoformat())
        page.fill("input[name=start]", start)
        page.select_option("select[name=chair_id]", label=chair)
        submit(page, page.get_by_role("button", name="Book"))
        expect(page.locator("tr", has_text=f"Wed 17 Mar 2027 {start}")).to_contain_text(chair)


# ---- 4. the patient's own page: a question and a PHQ-9 ------------------------------------------


def patient_page(j: Journey, new_page: Callable[[], Page]) -> None:
    j.now(at(CONSULT_DAY, 11, 10))
    page = j.frontdesk
    j.go(page, f"/patients/{j.patient_id}")
    submit(page, page.get_by_role("link", name="Link to the patient's own page"))
    submit(page, page.get_by_role("button", name="Create a one-time link"))
    # A printout for the patient (issue 11): the link, a QR code, and "your date of birth".
    expect(page.get_by_text("shown only this once")).to_be_visible()
    expect(page.locator(".portal-handout svg")).to_be_visible()
    url = page.locator("code.handout-url").inner_text()
    assert "/p/" in url
    # Opened in the front desk's own (staff-signed-in) browser, it is refused and stays unused.
    page.goto(url)
    page.fill("input[name=date_of_birth]", "1986-05-21")
    page.get_by_role("button", name="Open my page").click()
    expect(page.get_by_text("This link is for the patient")).to_be_visible()

    me = new_page()  # the patient's own device: a new browser context, no staff cookie
    me.goto(url)
    clean(me)
    # The link's own page only offers a button: fetching the link (a scanner) uses nothing up.
    expect(me.get_by_role("heading", level=1)).to_contain_text("Open your clinic page")
    me.fill("input[name=date_of_birth]", "1986-05-22")  # a slip of one day: asked again
    submit(me, me.get_by_role("button", name="Open my page"))
    expect(me.get_by_text("does not match the clinic's record")).to_be_visible()
    me.fill("input[name=date_of_birth]", "1986-05-21")
    submit(me, me.get_by_role("button", name="Open my page"))
    expect(me.get_by_role("heading", level=1)).to_contain_text(f"Hello {GIVEN}")
    expect(me.locator("#appointments")).to_contain_text("Wednesday 17 March 2027 at 10:00")
    question = "Can my partner sit with me during the first infusion?"
    me.fill("#questions textarea[name=text]", question)
    submit(me, me.get_by_role("button", name="Keep this question"))
    expect(me.locator("#questions")).to_contain_text(question)

    submit(me, me.locator("#questionnaires").get_by_role("link", name="PHQ-9"))
    expect(me.get_by_role("heading", level=1)).to_contain_text("PHQ-9")
    answers = [2, 2, 1, 2, 1, 2, 1, 1, 0]  # total 12; item 9 (self-harm) 0
    # Leaving one out first: the form comes back asking for it, with the answers kept.
    for number, value in enumerate(answers[:-1], start=1):
        me.check(f"input[name=q{number}][value='{value}']")
    submit(me, me.get_by_role("button", name="Send my answers"))
    expect(me.get_by_text("Answer question 9.")).to_be_visible()
    expect(me.locator("input[name=q1][value='2']")).to_be_checked()
    me.check("input[name=q9][value='0']")
    submit(me, me.get_by_role("button", name="Send my answers"))
    expect(me.get_by_text("your PHQ-9 answers were sent to your care team")).to_be_visible()
    expect(me.get_by_text(f"Your total is {sum(answers)} out of 27")).to_be_visible()

    # The front desk, who gave the link, sees the link part only (what the patient sent is
    # clinical); a nurse sees it, and the psychiatrist sees the question at the consultation.
    j.go(page, f"/patients/{j.patient_id}/portal-link")
    expect(page.get_by_role("heading", name="Links given")).to_be_visible()
    expect(page.locator("#from-patient")).to_have_count(0)
    j.go(j.nurse, f"/patients/{j.patient_id}/portal-link")
    sent = j.nurse.locator("#from-patient")
    expect(sent).to_contain_text(question)
    expect(sent.locator("tr", has_text="PHQ9")).to_contain_text(str(sum(answers)))
    j.go(j.psychiatrist, f"/patients/{j.patient_id}/consultation")
    expect(j.psychiatrist.locator("#questions")).to_contain_text(question)


# ---- 5 and 6. infusion days ---------------------------------------------------------------------


def check_in_and_seat(j: Journey, day: date, *, try_without_driver: bool) -> None:
    """Front desk checks the patient in on the board (with the driver); the nurse seats them."""
    j.now(at(day, 9, 50))
    page = j.frontdesk
    j.go(page, "/clinics/aus/board")
    card = page.locator("section.chair", has=page.get_by_role("heading", name=j.chair, exact=True))
    expect(card).to_contain_text(NAME)
    expect(card.locator(".badge")).to_have_text("booked")
    if try_without_driver:
        # No driver named: refused with a sentence that says what to write; nothing changes.
        with page.expect_navigation() as refused:
            card.get_by_role("button", name="Check in").click()
        assert refused.value is not None and refused.value.status == 400
        clean(page)
        expect(page.get_by_role("alert")).to_contain_text("Name who is driving the patient home")
        submit(page, page.get_by_role("link", name="Go back"))
        card = page.locator("section.chair", has=page.get_by_role("heading", name=j.chair, exact=True))
        expect(card.locator(".badge")).to_have_text("booked")
    card.get_by_label("Driver name and phone").fill(DRIVER)
    submit(page, card.get_by_role("button", name="Check in"))
    card = page.locator("section.chair", has=page.get_by_role("heading", name=j.chair, exact=True))
    expect(card.locator(".badge")).to_have_text("checked in")
    expect(card).to_contain_text("Driver: Dana Reyes, 555-0100")  # the phone, to call at discharge

    j.now(at(day, 9, 55))
    nurse = j.nurse
    j.go(nurse, "/clinics/aus/board")
    card = nurse.locator("section.chair", has=nurse.get_by_role("heading", name=j.chair, exact=True))
    submit(nurse, card.get_by_role("button", name="Seat and open infusion"))
    match = re.search(r"/sessions/([0-9a-f-]{36})$", nurse.url)
    assert match, nurse.url
    j.sessions.append(match.group(1))
    expect(nurse.get_by_role("heading", level=1)).to_contain_text(NAME)
    expect(nurse.locator("main")).to_contain_text(f"{j.chair} · infusion {len(j.sessions)}")
    expect(nurse.locator("main")).to_contain_text("No dose ordered yet")


def order_dose(j: Journey, day: date) -> None:
    j.now(at(day, 9, 57))
    page = j.psychiatrist
    j.go(page, f"/sessions/{j.sessions[-1]}")
    page.select_option("select[name=protocol]", "depression-induction")
    submit(page, page.get_by_role("button", name="Order dose"))
    order = page.locator("section.card", has=page.get_by_role("heading", name="Dose order"))
    # 0.5 mg/kg (the induction protocol) x 72.5 kg = 36.25 mg over 40 min.
    expect(order).to_contain_text("0.5 mg/kg × 72.5 kg")
    expect(order).to_contain_text("over 40 min")


def chart_vitals(page: Page, bp: str, hr: str, spo2: str, rr: str, sedation: str = "5") -> Locator:
    """Chart vitals with the sedation level (MOAA/S) on the session page; the newest row of the table."""
    page.fill("#vitals-form input[name=bp]", bp)
    page.fill("#vitals-form input[name=heart_rate]", hr)
    page.fill("#vitals-form input[name=spo2]", spo2)
    page.fill("#vitals-form input[name=respiratory_rate]", rr)
    page.select_option("#vitals-form select[name=sedation]", sedation)
    submit(page, page.get_by_role("button", name="Chart vitals"))
    row = page.locator("#vitals tbody tr").first
    expect(row).to_contain_text(bp)
    return row


def pump(page: Page, kind: str, reason: str | None = None) -> None:
    """Press a pump action in its own form; Stop is confirmed first, as the page asks."""
    form = page.locator(f"#pump-{kind.lower()}")
    if reason is not None:
        form.locator("input[name=reason]").fill(reason)
    if kind == "Stop":
        form.locator("input[name=confirm]").check()
    submit(page, form.get_by_role("button", name=kind, exact=True))
    expect(page.locator("ul.events li").last).to_contain_text(kind.lower())
    expect(page.locator("p.error")).to_have_count(0)


def first_infusion(j: Journey) -> None:
    day = INFUSION_DAYS[0]
    check_in_and_seat(j, day, try_without_driver=True)
    order_dose(j, day)
    sid = j.sessions[-1]
    nurse = j.nurse
    j.now(at(day, 10, 0))
    j.go(nurse, f"/sessions/{sid}")
    expect(chart_vitals(nurse, "124/78", "72", "98", "14")).to_contain_text("normal")
    pump(nurse, "Start")
    expect(nurse.locator("main .badge").first).to_have_text("running")
    # Comfort as she asked: music and dimmed light (each toggle saves itself), in the same
    # minute of the frozen clock: the later save is the one in force.
    j.now(at(day, 10, 2))
    for toggle in ("music", "dimmed_light"):
        with nurse.expect_navigation():
            nurse.check(f"#comfort input[name={toggle}]")
        clean(nurse)
    expect(nurse.locator("#comfort input[name=music]")).to_be_checked()
    expect(nurse.locator("#comfort input[name=dimmed_light]")).to_be_checked()
    expect(nurse.locator("#comfort")).to_contain_text("Set at 10:02")

    # Eighteen minutes in, the patient asks to go to the restroom (charted by the nurse: the
    # patient has no button of their own); the board shows the request until she has helped.
    j.now(at(day, 10, 18))
    j.go(nurse, f"/sessions/{sid}")
    asked = nurse.locator("#assistance form").first
    asked.locator("select[name=reason]").select_option("restroom")
    submit(nurse, asked.get_by_role("button", name="Chart request"))
    expect(nurse.locator("#assistance")).to_contain_text("restroom at 10:18")
    expect(nurse.locator("section.now-open")).to_contain_text("Asked for help (restroom) at 10:18")

    # Before walking her there, the nurse takes vitals: a blood pressure at the stop level (which,
    # unlike a pause-level reading, needs no confirming recheck), classified as typed and charted.
    j.now(at(day, 10, 20))
    j.go(nurse, f"/sessions/{sid}")
    nurse.fill("#vitals-form input[name=bp]", "204/122")
    expect(nurse.locator("#vitals-check")).to_contain_text("Before charting: stop")
    row = chart_vitals(nurse, "204/122", "96", "97", "16", sedation="4")
    expect(row.locator(".level")).to_have_text("stop")
    expect(row).to_contain_text("Systolic blood pressure 204 mmHg is high")
    expect(row).to_contain_text("Sedation MOAA/S 4 (Lethargic response to name spoken in normal tone)")
    # The pause reason is suggested from the alert; the nurse writes her own.
    expect(nurse.locator("#pump-pause input[name=reason]")).to_have_value(re.compile("204"))
    pump(nurse, "Pause", "BP 204/122; psychiatrist informed, recheck in 5 min")
    expect(nurse.locator("main .badge").first).to_have_text("paused")
    expect(nurse.locator("ul.events")).to_contain_text("BP 204/122; psychiatrist informed")

    # The board: the patient in the chair, the stop-level alert and the waiting request. The
    # front desk sees who is where, the state and the request, not the vital signs.
    j.now(at(day, 10, 21))
    desk = j.frontdesk
    j.go(desk, "/clinics/aus/board")
    desk_card = desk.locator("section.chair", has=desk.get_by_role("heading", name=j.chair, exact=True))
    expect(desk_card.locator(".badge")).to_have_text("paused")
    expect(desk_card.locator("p.request")).to_have_text("Needs help: restroom (asked 3 min ago)")
    expect(desk_card.locator(".vitals")).to_have_count(0)
    expect(desk_card.locator("p.alert")).to_have_count(0)
    board = j.nurse
    j.go(board, "/clinics/aus/board")
    card = board.locator("section.chair", has=board.get_by_role("heading", name=j.chair, exact=True))
    expect(card.get_by_role("link", name=NAME)).to_be_visible()
    expect(card.locator(".badge")).to_have_text("paused")
    expect(card.locator(".vitals")).to_contain_text("BP 204/122")
    expect(card.locator(".vitals .level")).to_have_text("■ stop")
    expect(card.locator("p.alert").first).to_contain_text("Systolic blood pressure 204 mmHg is high")
    expect(card.locator("p.request")).to_have_text("Needs help: restroom (asked 3 min ago)")
    j.shot(board, "chair-board.png")

    j.now(at(day, 10, 22))
    j.go(nurse, f"/sessions/{sid}")
    submit(nurse, nurse.locator("#assistance").get_by_role("button", name="Helped"))
    expect(nurse.locator("#assistance")).to_contain_text("helped 10:22 (after 4 min)")

    j.now(at(day, 10, 26))
    j.go(nurse, f"/sessions/{sid}")
    expect(chart_vitals(nurse, "138/86", "84", "98", "15")).to_contain_text("normal")
    pump(nurse, "Resume")
    expect(nurse.locator("main .badge").first).to_have_text("running")
    j.go(board, "/clinics/aus/board")
    card = board.locator("section.chair", has=board.get_by_role("heading", name=j.chair, exact=True))
    expect(card.locator(".badge")).to_have_text("running")
    expect(card.locator("p.request")).to_have_count(0)

    # Nausea, and what the nurse did about it.
    j.now(at(day, 10, 30))
    j.go(nurse, f"/sessions/{sid}")
    side = nurse.locator("#side-effects form").first
    side.locator("select[name=kind]").select_option("nausea")
    side.locator("select[name=severity]").select_option("moderate")
    submit(nurse, side.get_by_role("button", name="Chart side effect"))
    expect(nurse.get_by_text("Side effect: nausea (moderate) since 10:30")).to_be_visible()
    act = nurse.locator("form[data-intervention]")
    act.locator("select[name=kind]").select_option("action")
    act.locator("input[name=description]").fill("Reassurance, cool cloth, window opened")
    act.locator("select[name=side_effect_id]").select_option(label="nausea from 10:30")
    submit(nurse, act.get_by_role("button", name="Chart intervention"))
    expect(nurse.locator("#interventions ul.facts")).to_contain_text(
        "10:30 Reassurance, cool cloth, window opened (for nausea)"
    )

    # A CADSS rating near the end.
    j.now(at(day, 10, 40))
    j.go(nurse, f"/sessions/{sid}")
    nurse.locator("#cadss summary").click()
    ratings = [1, 1, 0, 2, 1, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0]
    for number, value in enumerate(ratings, start=1):  # one radio group per item (issue 19 item 6)
        nurse.check(f"#cadss input[name=item_{number}][value='{value}']")
    submit(nurse, nurse.get_by_role("button", name="Score and save CADSS"))
    expect(nurse.locator("#cadss ul.facts")).to_contain_text(f"10:40: total {sum(ratings)} of 92")
    expect(nurse.locator("#levels-summary")).to_contain_text(re.compile(r"^Now:"))
    j.shot(nurse, "infusion-session.png")

    # The pump ran 20 + 20 minutes (paused 6); stop at the end of the 40 minutes.
    j.now(at(day, 10, 46))
    j.go(nurse, f"/sessions/{sid}")
    pump(nurse, "Stop", "")
    expect(nurse.locator("main .badge").first).to_have_text("stopped")
    expect(nurse.locator("#levels-summary")).to_contain_text(re.compile(r"^Now:"))

    # Thirty minutes after the stop: vitals are back to normal, but the observation is not over.
    j.now(at(day, 11, 16))
    j.go(nurse, f"/sessions/{sid}")
    expect(chart_vitals(nurse, "128/80", "76", "98", "14")).to_contain_text("normal")
    submit(nurse, nurse.get_by_role("link", name="Recovery and discharge"))
    fill_discharge(nurse)
    submit(nurse, nurse.get_by_role("button", name="Discharge the patient"))
    refusal = nurse.locator("#discharge-error")
    expect(refusal).to_contain_text("The patient cannot be discharged yet")
    expect(refusal).to_contain_text("Observed 30 of at least 120 minutes after the infusion ended.")
    expect(nurse.locator("#criterion-observation .badge")).to_have_text("not met")
    expect(nurse.locator("#criterion-sedation .badge")).to_have_text("met")  # MOAA/S 5 with the vitals
    expect(nurse.locator("main")).not_to_contain_text("Discharged")
    expect(nurse.locator("input[name=driver]")).to_have_value(DRIVER)  # what was typed is kept

    # The nausea has settled; past the two hours, with normal vitals, the discharge goes through.
    j.now(at(day, 12, 48))
    j.go(nurse, f"/sessions/{sid}")
    submit(nurse, nurse.locator("#side-effects").get_by_role("button", name="Resolved"))
    expect(nurse.locator("#side-effects ul.facts")).to_contain_text("resolved 12:48")
    chart_vitals(nurse, "122/78", "70", "99", "14")
    discharge(j, sid, "12:48")


def fill_discharge(page: Page) -> None:
    # The repeat suicide-risk screen: the nurse asks the two questions shown on the page.
    expect(page.locator("#criterion-suicidal_ideation")).to_contain_text("thoughts of killing yourself?")
    page.select_option("select[name=mental_status]", "baseline")
    page.select_option("select[name=suicidal_ideation]", "none")
    page.fill("input[name=score]", "10")
    page.check("input[name=walks_with_help]")
    page.select_option("select[name=nausea]", "none")
    page.fill("input[name=driver]", DRIVER)
    page.fill("input[name=relationship]", "partner")
    page.check("input[name=instructions_given]")


def discharge(j: Journey, sid: str, hhmm: str) -> None:
    nurse = j.nurse
    j.go(nurse, f"/sessions/{sid}/discharge")
    expect(nurse.locator("#criterion-observation .badge")).to_have_text("met")
    fill_discharge(nurse)
    submit(nurse, nurse.get_by_role("button", name="Discharge the patient"))
    done = nurse.locator("section.discharged")
    expect(done).to_contain_text(f"{hhmm} on")
    expect(done).to_contain_text("Mental status: baseline · suicidal ideation at the screen: none.")
    expect(done).to_contain_text("with Dana Reyes (partner), 555-0100")
    submit(nurse, done.get_by_role("link", name="Printable after-care instructions"))
    expect(nurse.get_by_role("heading", level=1)).to_have_text("After your ketamine infusion")
    expect(nurse.locator("dl.facts")).to_contain_text("Taken home by")
    expect(nurse.locator("dl.facts")).to_contain_text("Dana Reyes")
    expect(nurse.locator("ol.instructions")).to_contain_text("Do not drive")


def second_infusion(j: Journey) -> None:
    day = INFUSION_DAYS[1]
    check_in_and_seat(j, day, try_without_driver=False)
    order_dose(j, day)
    sid = j.sessions[-1]
    nurse = j.nurse
    j.now(at(day, 10, 0))
    j.go(nurse, f"/sessions/{sid}")
    expect(chart_vitals(nurse, "122/76", "70", "98", "14")).to_contain_text("normal")
    pump(nurse, "Start")
    j.now(at(day, 10, 20))
    j.go(nurse, f"/sessions/{sid}")
    expect(chart_vitals(nurse, "134/84", "80", "98", "15")).to_contain_text("normal")
    j.now(at(day, 10, 40))
    j.go(nurse, f"/sessions/{sid}")
    pump(nurse, "Stop", "")
    expect(nurse.locator("main .badge").first).to_have_text("stopped")
    j.now(at(day, 12, 42))
    j.go(nurse, f"/sessions/{sid}")
    chart_vitals(nurse, "120/76", "68", "99", "14")
    discharge(j, sid, "12:42")


# ---- 7. the course; 8. another clinic's nurse ---------------------------------------------------


def course(j: Journey) -> None:
    j.now(at(INFUSION_DAYS[1], 13, 0))
    page = j.psychiatrist
    j.go(page, f"/patients/{j.patient_id}")
    infusions = page.locator("section.card", has=page.get_by_role("heading", name="Infusions (2)"))
    expect(infusions.locator("tbody tr")).to_have_count(2)
    expect(infusions).to_contain_text("17 Mar 2027 09:55")
    expect(infusions).to_contain_text("19 Mar 2027 09:55")
    submit(page, page.get_by_role("link", name="Course of treatment"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Course review: {NAME}")
    infusions = page.locator("section.card", has=page.get_by_role("heading", name="Infusions (2)"))
    expect(infusions.locator("tbody tr")).to_have_count(2)
    expect(infusions.locator("tbody tr").first).to_contain_text("204/122")
    questionnaires = page.locator("section.card", has=page.get_by_role("heading", name="Questionnaires"))
    expect(questionnaires).to_contain_text("PHQ-9")
    expect(questionnaires.locator("tr", has_text="15 Mar 2027")).to_contain_text("12")
    # The outcome trajectory counts both infusions and starts the PHQ-9 at the patient's answer.
    submit(page, page.get_by_role("link", name="Outcome trajectory"))
    expect(page.locator("main")).to_contain_text("2 infusions, 17 Mar 2027 to 19 Mar 2027")
    expect(page.locator("#status-phq9")).to_contain_text("12")


def other_clinic_refused(j: Journey, new_page: Callable[[], Page]) -> None:
    denver = new_page()
    sign_in(denver, j.base, "nurse1.den")
    for path in (f"/patients/{j.patient_id}", f"/sessions/{j.sessions[0]}"):
        response = denver.goto(f"{j.base}{path}")
        assert response is not None and response.status == 403, path
        clean(denver)
        expect(denver.get_by_role("alert")).to_have_text(
            "That record belongs to a clinic you are not a member of."
        )
        expect(denver.locator("main")).not_to_contain_text(FAMILY)


@pytest.mark.parametrize(
    "server",
    ["live_server", pytest.param("live_server_postgres", marks=pytest.mark.postgres)],
    ids=["sqlite", "postgres"],
)
def test_one_patient_from_registration_to_the_second_discharge(
    server: str, request: pytest.FixtureRequest, new_page: Callable[[], Page]
) -> None:
    live_server: LiveServer = request.getfixturevalue(server)
    staff = {}
    for who in ("frontdesk1.aus", "psychiatrist1.aus", "nurse1.aus"):
        staff[who] = new_page()
        sign_in(staff[who], live_server.url, who)
    j = Journey(live_server, staff["frontdesk1.aus"], staff["psychiatrist1.aus"], staff["nurse1.aus"])

    register_and_book_consultation(j)
    consult(j)
    book_infusions(j)
    book_neighbours(j)
    patient_page(j, new_page)
    first_infusion(j)
    second_infusion(j)
    course(j)
    other_clinic_refused(j, new_page)
