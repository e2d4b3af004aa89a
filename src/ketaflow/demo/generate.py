"""Build the rows of a deterministic synthetic clinic network (no database access here).

`network_rows` gives the organization, clinics, chairs and staff; `clinic_rows` gives
one clinic's patients and everything charted for them. Both are pure functions of the
settings, so a rerun regenerates exactly the same rows (and the same UUIDs), which is
what lets an interrupted build be finished rather than rebuilt.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from ketaflow.clinical import ProtocolSummary, ScreeningLevel, list_protocols, screen
from ketaflow.controlled.registration import with_check_digit
from ketaflow.demo import catalog
from ketaflow.demo import hours as demo_hours
from ketaflow.demo.context import ClinicContext, Network, Rows, make_id
from ketaflow.demo.controlled_stock import stock_rows
from ketaflow.demo.outcomes import (
    PatientCourse,
    cadss_total,
    draw_course,
    end_of_induction_phq9,
    phq9_total,
    response_intercept,
)
from ketaflow.demo.schedule import ChairBook
from ketaflow.demo.sessions import chart_infusion, questionnaire
from ketaflow.demo.settings import DemoSettings

PAIN_PROTOCOL = "chronic-pain-crps"
INDUCTION_PROTOCOL = "depression-induction"

# Insertion order respects foreign keys.
TABLE_ORDER = [
    "organizations",
    "clinics",
    "chairs",
    "staff_users",
    "staff_roles",
    "clinic_hours",
    "clinic_closures",
    "patients",
    "patient_message_settings",
    "body_measurements",
    "diagnoses",
    "medications",
    "allergies",
    "consultations",
    "consents",
    "treatment_plans",
    "appointments",
    "infusion_sessions",
    "dose_orders",
    "administration_events",
    "vital_signs",
    "side_effects",
    "interventions",
    "comfort_settings",
    "assistance_requests",
    "discharges",
    "questionnaire_responses",
    "drug_products",
    "storage_locations",
    "drug_lots",
    "drug_vials",
    "controlled_ledger",
    "audit_events",
]


def network_rows(settings: DemoSettings, password_hash: str) -> Network:
    rng = random.Random(f"{settings.seed}:network")
    created = datetime.combine(settings.as_of, time(0), UTC) - timedelta(days=settings.history_days + 30)
    org_id = make_id(rng)
    rows: Rows = defaultdict(list)
    rows["organizations"].append({"id": org_id, "name": "Blue Heron Ketamine Clinics", "created_at": created})
    clinic_ids: list[uuid.UUID] = []
    chair_ids: dict[int, list[uuid.UUID]] = {}
    staff: dict[int, dict[str, list[uuid.UUID]]] = {}
    logins: list[tuple[str, str, str]] = []
    for ci in range(settings.clinics):
        code, city, region, postal, tz, chairs = catalog.CLINICS[ci % len(catalog.CLINICS)]
        if ci >= len(catalog.CLINICS):
            code = f"{code}{ci // len(catalog.CLINICS) + 1}"
        cid = make_id(rng)
        clinic_ids.append(cid)
        rows["clinics"].append(
            {
                "id": cid,
                "organization_id": org_id,
                "code": code,
                "name": f"Blue Heron {city}" + (f" {ci // len(catalog.CLINICS) + 1}" if ci >= 9 else ""),
                "address_line": f"{rng.randint(100, 9999)} {rng.choice(catalog.STREETS)}",
                "city": city,
                "region": region,
                "postal_code": postal,
                "country": "US",
                "phone": f"555-01{ci:02d}",
                # A made-up number of the right shape (F: a clinic; B: Blue Heron), never a real one.
                "dea_registration": with_check_digit("FB", f"{990000 + ci:06d}"),
                "timezone": tz,
                "created_at": created,
                "booking_horizon_days": demo_hours.HORIZON_DAYS,
                "version": 1,
            }
        )
        _hours_rows(rows, settings, cid, code)
        chair_ids[ci] = []
        for k in range(chairs):
            chair_id = make_id(rng)
            chair_ids[ci].append(chair_id)
            rows["chairs"].append(
                {"id": chair_id, "clinic_id": cid, "label": f"Chair {k + 1}", "position": k, "active": True}
            )
        staff[ci] = defaultdict(list)
        for role, count in catalog.STAFF_PLAN:
            for n in range(count):
                uid = make_id(rng)
                given = rng.choice(catalog.FEMALE_NAMES + catalog.MALE_NAMES)
                family = rng.choice(catalog.FAMILY_NAMES)
                email = f"{role.replace('_', '')}{n + 1}.{code}@demo.ketaflow.org"
                prefix = "Dr. " if role == "psychiatrist" else ""
                rows["staff_users"].append(
                    {
                        "id": uid,
                        "organization_id": org_id,
                        "email": email,
                        "full_name": f"{prefix}{given} {family}",
                        "password_hash": password_hash,
                        "active": True,
                        "created_at": created,
                        "version": 1,
                    }
                )
                rows["staff_roles"].append(
                    {
                        "id": make_id(rng),
                        "user_id": uid,
                        "clinic_id": cid,
                        "role": role,
                        "granted_at": created,
                    }
                )
                staff[ci][role].append(uid)
                if n == 0:
                    logins.append((email, role, code))
    # One network administrator, holding the admin role at every clinic.
    admin_id = make_id(rng)
    rows["staff_users"].append(
        {
            "id": admin_id,
            "organization_id": org_id,
            "email": "admin@demo.ketaflow.org",
            "full_name": "Network Administrator",
            "password_hash": password_hash,
            "active": True,
            "created_at": created,
            "version": 1,
        }
    )
    for cid in clinic_ids:
        rows["staff_roles"].append(
            {
                "id": make_id(rng),
                "user_id": admin_id,
                "clinic_id": cid,
                "role": "admin",
                "granted_at": created,
            }
        )
    logins.insert(0, ("admin@demo.ketaflow.org", "admin", "all clinics"))
    return Network(dict(rows), org_id, clinic_ids, chair_ids, {k: dict(v) for k, v in staff.items()}, logins)


def closed_days(settings: DemoSettings) -> tuple[date, date, list[tuple[date, str]]]:
    """The window the demo books in (its history and a year past the as-of day) and the
    holiday closures within it."""
    first = settings.as_of - timedelta(days=settings.history_days + 30)
    last = settings.as_of + timedelta(days=demo_hours.HORIZON_DAYS)
    return first, last, demo_hours.holidays(first, last)


def _hours_rows(rows: Rows, settings: DemoSettings, clinic_id: uuid.UUID, code: str) -> None:
    for weekday, opens, closes in demo_hours.hours_of(code).rows():
        rows["clinic_hours"].append(
            {
                "id": demo_hours.row_id(clinic_id, f"hours:{weekday}:{opens}"),
                "clinic_id": clinic_id,
                "weekday": weekday,
                "opens_min": opens,
                "closes_min": closes,
            }
        )
    created = datetime.combine(settings.as_of, time(0), UTC) - timedelta(days=settings.history_days + 30)
    for day, reason in closed_days(settings)[2]:
        rows["clinic_closures"].append(
            {
                "id": demo_hours.row_id(clinic_id, f"closure:{day.isoformat()}"),
                "clinic_id": clinic_id,
                "first_day": day,
                "last_day": day,
                "reason": reason,
                "created_at": created,
                "created_by_id": None,
            }
        )


def patients_per_clinic(settings: DemoSettings) -> list[int]:
    """Split the patients across clinics in proportion to their chairs (largest remainder)."""
    chairs = [catalog.CLINICS[i % len(catalog.CLINICS)][5] for i in range(settings.clinics)]
    exact = [settings.patients * c / sum(chairs) for c in chairs]
    counts = [int(x) for x in exact]
    order = sorted(range(len(exact)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in order[: settings.patients - sum(counts)]:
        counts[i] += 1
    return counts


def clinic_rows(
    settings: DemoSettings,
    network: Network,
    index: int,
    *,
    courses: dict[uuid.UUID, PatientCourse] | None = None,
) -> Rows:
    """Every patient of clinic `index` with their whole record.

    `courses`, when given, is filled with each treated patient's outcome draws (responder,
    latent dissociation and severity), so a test can compare what the analytics find course
    by course with what the generator drew. Filling it changes neither the rows nor the draws.
    """
    zone = ZoneInfo(catalog.CLINICS[index % len(catalog.CLINICS)][4])
    ctx = ClinicContext(
        settings=settings,
        network=network,
        index=index,
        rng=random.Random(f"{settings.seed}:clinic:{index}"),
        rows=defaultdict(list),
        book=ChairBook(network.chair_ids[index], zone, {d for d, _ in closed_days(settings)[2]}),
        zone=zone,
        intercept=response_intercept(settings),
        courses=courses,
    )
    count = patients_per_clinic(settings)[index]
    starts = sorted(ctx.rng.randrange(settings.history_days) for _ in range(count))
    first_day = settings.as_of - timedelta(days=settings.history_days)
    for k, offset in enumerate(starts):
        _patient(ctx, mrn=f"KF{index + 1:02d}{k + 1:05d}", consult_day=first_day + timedelta(days=offset))
    stock_rows(ctx)
    ctx.add(
        "audit_events",
        clinic_id=ctx.clinic_id,
        occurred_at=datetime.combine(settings.as_of, time(0), UTC),
        actor_user_id=None,
        actor_label="cli:demo-data",
        action="demo.generate_clinic",
        entity_type="clinic",
        entity_id=ctx.clinic_id,
        patient_id=None,
        ip_address=None,
        user_agent=None,
        details={"patients": count, "seed": settings.seed},
        outcome="success",
        event_type="110100",  # DICOM Application Activity (ketaflow.audit_codes)
        event_subtype=None,
        agent_role="operator",
        purpose_of_use=None,
        source_observer=None,
    )
    return dict(ctx.rows)


def _weighted_choice(rng: random.Random, options: list[Any], weights: list[float]) -> Any:
    return rng.choices(options, weights=weights, k=1)[0]


def _patient(ctx: ClinicContext, *, mrn: str, consult_day: date) -> None:
    rng, s = ctx.rng, ctx.settings
    female = rng.random() < 0.62
    given = rng.choice(catalog.FEMALE_NAMES if female else catalog.MALE_NAMES)
    family = rng.choice(catalog.FAMILY_NAMES)
    age = max(18, min(80, round(rng.gauss(44, 13))))
    dob = consult_day - timedelta(days=age * 365 + rng.randrange(365))
    weight = max(45.0, min(160.0, rng.lognormvariate(4.31 if female else 4.47, 0.2)))
    height = rng.gauss(163, 7) if female else rng.gauss(177, 7)
    consult_at = ctx.book.local_to_utc(consult_day, time(rng.choice([9, 11, 13, 15]), 0))
    created = consult_at - timedelta(days=rng.randint(3, 14))
    escort_family = rng.choice(catalog.FAMILY_NAMES)
    escort = {
        "name": f"{rng.choice(catalog.FEMALE_NAMES + catalog.MALE_NAMES)} {escort_family}",
        "phone": f"555-01{rng.randint(0, 99):02d}",
        "relationship": rng.choice(catalog.ESCORT_RELATIONSHIPS),
    }
    pid = ctx.add(
        "patients",
        organization_id=ctx.network.org_id,
        mrn=mrn,
        given_name=given,
        family_name=family,
        date_of_birth=dob,
        sex="female" if female else "male",
        phone=f"555-01{rng.randint(0, 99):02d}",
        email=f"{given.lower()}.{family.lower()}{rng.randint(1, 99)}@example.com",
        address=f"{rng.randint(1, 9999)} {rng.choice(catalog.STREETS)}",
        emergency_contact_name=escort["name"],
        emergency_contact_phone=escort["phone"],
        emergency_contact_relationship=escort["relationship"],
        created_at=created,
        version=1,
    )
    # Messages (issue 17): the synthetic address counts as confirmed at registration. The id is
    # derived from the patient's and the row appended as it is: `ctx.add` draws an id from the
    # generator even when one is given, which would shift every row generated after this one.
    ctx.rows["patient_message_settings"].append(
        {
            "id": uuid.uuid5(pid, "patient_message_settings"),
            "clinic_id": ctx.clinic_id,
            "patient_id": pid,
            "email": ctx.rows["patients"][-1]["email"],
            "confirmed_at": created,
            "confirm_token_sha256": None,
            "opted_out": [],
            "updated_at": created,
            "version": 1,
        }
    )
    psych = ctx.staff_of("psychiatrist")
    fact = {"recorded_at": consult_at, "recorded_by_id": psych, "amends_id": None, "amendment_reason": None}
    ctx.add(
        "body_measurements",
        patient_id=pid,
        measured_at=consult_at,
        weight_kg=round(weight, 1),
        height_cm=round(height, 1),
        **fact,
    )
    code, desc, _share, pain = _weighted_choice(rng, catalog.INDICATIONS, [i[2] for i in catalog.INDICATIONS])
    ctx.add(
        "diagnoses",
        patient_id=pid,
        code=code,
        description=desc,
        is_indication=True,
        status="active",
        noted_on=consult_day,
        **fact,
    )
    written_meds: list[str] = []
    for written, generic, share in catalog.MEDICATIONS:
        if rng.random() < share:
            written_meds.append(rng.choice(written))
            ctx.add(
                "medications",
                patient_id=pid,
                as_written=written_meds[-1],
                normalized_name=generic,
                status="active",
                **fact,
            )
    for substance, reaction, share in catalog.ALLERGIES:
        if rng.random() < share:
            ctx.add(
                "allergies", patient_id=pid, substance=substance, reaction=reaction, status="active", **fact
            )
    eligible = rng.random() >= s.ineligible_fraction
    level, findings = _screening_findings(written_meds, eligible)
    consult_id = ctx.add(
        "consultations",
        patient_id=pid,
        psychiatrist_id=psych,
        held_at=consult_at,
        indication=desc,
        screening_level=level,
        screening_findings=findings,
        patient_questions="How soon might I feel a difference?\nCan I keep taking my other medicines?",
        notes=None if eligible else "Not eligible at present; see screening findings.",
        eligible=eligible,
        **fact,
    )
    if not eligible:
        return
    ctx.add(
        "consents",
        patient_id=pid,
        consultation_id=consult_id,
        kind="ketamine_treatment",
        status="given",
        text_version="2024-01",
        signed_at=consult_at,
        obtained_by_id=psych,
        **fact,
    )
    protocol = PAIN_PROTOCOL if pain else INDUCTION_PROTOCOL
    plan = protocol_plan(protocol)
    plan_id = ctx.add(
        "treatment_plans",
        patient_id=pid,
        consultation_id=consult_id,
        protocol_code=protocol,
        planned_infusions=plan.infusions,
        target_dose_mg_per_kg=plan.dose_mg_per_kg,
        infusion_minutes=plan.minutes,
        status="active",
        notes=None,
        created_by_id=psych,
        created_at=consult_at,
        updated_at=consult_at,
        version=1,
    )
    course = draw_course(rng, s, ctx.intercept)
    if ctx.courses is not None:
        ctx.courses[pid] = course
    _series(ctx, pid, plan_id, course, consult_day, weight, escort, pain)


def _screening_findings(written_meds: list[str], eligible: bool) -> tuple[str, list[dict[str, Any]]]:
    """Screen with the clinical rules, one medication at a time (cached: the pool is small)."""
    results = [_screen_one(None, med) for med in written_meds]
    if not eligible:
        results.append(_screen_one("uncontrolled hypertension", None))
    findings = [f for r in results for f in r[1]]
    level = max((r[0] for r in results), key=lambda lv: lv.rank, default=ScreeningLevel.CLEAR)
    return level.value, findings


@cache
def _screen_one(condition: str | None, medication: str | None) -> tuple[ScreeningLevel, list[dict[str, Any]]]:
    result = screen(
        conditions=[condition] if condition else [], medications=[medication] if medication else []
    )
    findings = [
        {"level": f.level.value, "item": f.item, "reason": f.reason, "advice": f.advice, "source": f.source}
        for f in result.findings
    ]
    return result.level, findings


@cache
def protocol_plan(key: str) -> ProtocolSummary:
    return next(p for p in list_protocols() if p.key == key)


def _series(
    ctx: ClinicContext,
    pid: uuid.UUID,
    plan_id: uuid.UUID,
    course: PatientCourse,
    consult_day: date,
    weight: float,
    escort: dict[str, str],
    pain: bool,
) -> None:
    rng, s = ctx.rng, ctx.settings
    induction = protocol_plan(PAIN_PROTOCOL if pain else INDUCTION_PROTOCOL).infusions
    dropout_at = rng.randint(1, induction - 1) if rng.random() < s.dropout_fraction else None
    total = dropout_at or induction
    if dropout_at is not None or pain:
        pass  # stopped during induction (no boosters, no follow-up); pain series have no boosters
    elif course.responder:
        total += min(30, int(rng.expovariate(1 / s.boosters_mean)))
    elif rng.random() < 0.3:
        total += rng.randint(1, 3)  # a few more titrated infusions after a non-response
    day = consult_day + timedelta(days=rng.randint(3, 10))
    transport = rng.random() < 0.03
    booked_future = 0
    for n in range(1, total + 1):
        if n > 1:
            if pain:
                gap = 1  # daily on weekdays (Cohen 2018: daily for 10 days)
            elif n <= induction:
                gap = rng.choice([2, 2, 3, 3, 4])
            else:
                gap = rng.randint(*s.booster_gap_days)
            day = day + timedelta(days=gap)
        if day >= s.as_of:
            if booked_future < 2:
                ctx.book.book(
                    ctx,
                    pid=pid,
                    plan_id=plan_id,
                    day=day,
                    escort=escort,
                    transport=transport,
                    whole_day=pain,
                    charted=False,
                )
                booked_future += 1
            continue
        phase = "induction" if n <= induction else "maintenance"
        if pain:
            protocol = PAIN_PROTOCOL
        elif n > induction:
            protocol = "depression-maintenance" if course.responder else "depression-titration"
        elif not course.responder and n > 3:
            protocol = "depression-titration"  # non-response with good tolerance
        else:
            protocol = INDUCTION_PROTOCOL
        phq9 = phq9_total(rng, course, n, induction)
        cadss = cadss_total(rng, s, course, n)
        day = chart_infusion(
            ctx,
            pid=pid,
            plan_id=plan_id,
            day=day,
            series_number=n,
            phase=phase,
            weight_kg=weight,
            protocol=protocol,
            escort=escort,
            transport=transport,
            phq9=phq9,
            cadss=cadss,
        )
        if n == induction and not dropout_at:
            questionnaire(
                ctx,
                pid,
                None,
                "phq9",
                end_of_induction_phq9(rng, course),
                day + timedelta(days=7),
                respondent="patient",
            )
        if n in (1, induction):
            questionnaire(
                ctx,
                pid,
                None,
                "gad7",
                min(21, round(phq9 * 0.7 + rng.gauss(0, 2))),
                day,
                respondent="patient",
            )
