"""CLI commands for ketaflow.clinical: dose, screen, score, vitals-check, discharge-check.

Each command prints a short human summary, or JSON with ``--json``. Bad input exits with code 2
and one plain sentence. ``--clinic-rules FILE`` applies a clinic's TOML override.

The clinical rules are imported inside the commands, not here: every `ketaflow` command loads
this module to list its commands, and only these commands need the rules. `ketaflow.clinical`
loads each name lazily, so `score` imports the scales and not the rest of the rules.
"""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ketaflow.cli.output import emit_json, fail
from ketaflow.errors import InvalidInput

if TYPE_CHECKING:
    from ketaflow.clinical import ClinicalRules, Sex, VitalSigns

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
RulesOpt = Annotated[
    Path | None,
    typer.Option("--clinic-rules", help="A clinic's TOML override of the default rules."),
]
_MISSING = {"-", "?", "na", "n/a", "none", "skip"}


def _rules(path: Path | None) -> "ClinicalRules":
    from ketaflow.clinical import load_rules

    if path is None:
        return load_rules()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise InvalidInput(f"Cannot read the clinic rules file {path}.") from None
    return load_rules(text)


def _answers(raw: list[str]) -> list[int | None]:
    """Parse answers given as separate words or comma-separated ('1,2,0'); '-' = unanswered."""
    tokens = [t for part in raw for t in part.split(",") if t.strip()]
    out: list[int | None] = []
    for i, token in enumerate(tokens, start=1):
        t = token.strip().lower()
        if t in _MISSING:
            out.append(None)
            continue
        try:
            out.append(int(t))
        except ValueError:
            raise InvalidInput(
                f"Answer {i} must be a whole number (or '-' if unanswered); got '{token}'."
            ) from None
    return out


def _sex(value: str | None) -> "Sex | None":
    """The --sex option as the dosing rules' Sex, or one sentence naming the accepted values."""
    from ketaflow.clinical import Sex

    if value is None:
        return None
    try:
        return Sex(value.strip().lower())
    except ValueError:
        accepted = " or ".join(s.value for s in Sex)
        raise InvalidInput(f"--sex must be {accepted}; got '{value}'.") from None


def _vitals(
    bp: str | None,
    hr: float | None,
    spo2: float | None,
    rr: float | None,
    rules: "ClinicalRules",
    sedation: int | None = None,
) -> "VitalSigns":
    from ketaflow.clinical import VitalSigns, parse_bp

    return VitalSigns(
        bp=parse_bp(bp, rules) if bp is not None else None,
        heart_rate_per_min=hr,
        spo2_percent=spo2,
        respiratory_rate_per_min=rr,
        sedation_score=sedation,
    )


SedationOpt = Annotated[
    int | None,
    typer.Option(
        "--sedation",
        help="Sedation level on the MOAA/S: 5 responds readily to name in a normal tone ... "
        "0 no response to a painful trapezius squeeze.",
    ),
]


def dose(
    protocol: Annotated[str, typer.Option(help="Protocol key, e.g. depression-induction.")],
    weight_kg: Annotated[float, typer.Option(help="Actual body weight in kg.")],
    bag_mg: Annotated[float, typer.Option(help="Ketamine in the bag, mg.")],
    bag_ml: Annotated[float, typer.Option(help="Bag volume, mL.")],
    height_cm: Annotated[float | None, typer.Option(help="Height in cm (for BMI).")] = None,
    sex: Annotated[str | None, typer.Option(help="male or female (ideal body weight).")] = None,
    dose_mg_per_kg: Annotated[float | None, typer.Option(help="Dose in mg/kg (protocol default).")] = None,
    minutes: Annotated[
        float | None, typer.Option(help="Infusion time in minutes (protocol default).")
    ] = None,
    clinic_rules: RulesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compute a dose order and pump programme, checked against the limits."""
    from ketaflow.clinical import compute_dose_order

    try:
        rules = _rules(clinic_rules)
        order = compute_dose_order(
            protocol,
            weight_kg,
            bag_mg=bag_mg,
            bag_ml=bag_ml,
            dose_mg_per_kg=dose_mg_per_kg,
            minutes=minutes,
            height_cm=height_cm,
            sex=_sex(sex),
            rules=rules,
        )
    except InvalidInput as exc:
        fail(str(exc))
    if as_json:
        emit_json(order)
        return
    typer.echo(f"Status: {order.status.value}")
    typer.echo(
        f"Dosing weight {order.dosing_weight_kg:g} kg ({order.weight_basis.value}); "
        f"{order.dose_mg_per_kg:g} mg/kg over {order.minutes:g} min = {order.dose_mg:g} mg"
    )
    typer.echo(
        f"Pump: {order.rate_ml_per_h:g} mL/h, volume {order.volume_ml:g} mL "
        f"at {order.concentration_mg_per_ml:g} mg/mL"
    )
    typer.echo(order.rounding)
    for message in order.messages:
        typer.echo(f"- {message}")


def screen_cmd(
    med: Annotated[
        list[str] | None, typer.Option("--med", help="A medication or substance, as written.")
    ] = None,
    condition: Annotated[
        list[str] | None, typer.Option("--condition", help="A condition, as written.")
    ] = None,
    bp: Annotated[str | None, typer.Option("--bp", help="Pre-infusion blood pressure, e.g. 150/95.")] = None,
    age: Annotated[
        float | None, typer.Option("--age", help="Age in years (under 18 is not treated).")
    ] = None,
    pregnancy: Annotated[
        str | None,
        typer.Option(
            "--pregnancy", help="Pregnancy status: pregnant, possible, test_negative or not_applicable."
        ),
    ] = None,
    route: Annotated[
        str, typer.Option("--route", help="iv (default), im, intranasal, oral or sublingual.")
    ] = "iv",
    clinic_rules: RulesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Screen conditions and medications for contraindications and interactions."""
    from ketaflow.clinical import parse_bp, parse_pregnancy_status, parse_route, screen

    try:
        rules = _rules(clinic_rules)
        if age is not None and not 0 <= age <= 120:
            raise InvalidInput(f"Age must be between 0 and 120 years; got {age:g}.")
        result = screen(
            conditions=condition or [],
            medications=med or [],
            blood_pressure=parse_bp(bp, rules) if bp is not None else None,
            age_years=age,
            pregnancy=parse_pregnancy_status(pregnancy),
            route=parse_route(route),
            rules=rules,
        )
    except InvalidInput as exc:
        fail(str(exc))
    if as_json:
        emit_json(result)
        return
    typer.echo(f"Overall: {result.level.value}")
    for f in result.findings:
        typer.echo(f"- [{f.level.value}] {f.item}: {f.matched}. {f.reason} Advice: {f.advice}")
    for g in result.guidance:
        typer.echo(f"Preparation: {g.text}")


def score_cmd(
    instrument: Annotated[str, typer.Argument(help="phq9, gad7, madrs, qids-sr16, cadss or cssrs.")],
    answers: Annotated[list[str], typer.Argument(help="Answers in item order ('-' = unanswered).")],
    clinic_rules: RulesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Score a questionnaire: total, severity and alerts."""
    from ketaflow.clinical import score

    try:
        # Without a clinic's file the packaged scales alone are enough (and quick to load); a
        # clinic's file is an override of the whole rules, checked as a whole.
        rules = _rules(clinic_rules) if clinic_rules is not None else None
        result = score(instrument, _answers(answers), rules)
    except InvalidInput as exc:
        fail(str(exc))
    if as_json:
        emit_json(result)
        return
    typer.echo(f"{result.name}: {result.total}/{result.max_total} ({result.severity})")
    for alert in result.alerts:
        typer.echo(f"ALERT: {alert.message}")


def vitals_check(
    bp: Annotated[str | None, typer.Option("--bp", help="Blood pressure, e.g. 176/104.")] = None,
    hr: Annotated[float | None, typer.Option("--hr", help="Heart rate, beats/min.")] = None,
    spo2: Annotated[float | None, typer.Option("--spo2", help="SpO2, %.")] = None,
    rr: Annotated[float | None, typer.Option("--rr", help="Respiratory rate, breaths/min.")] = None,
    baseline: Annotated[str | None, typer.Option("--baseline", help="Baseline blood pressure.")] = None,
    baseline_hr: Annotated[float | None, typer.Option("--baseline-hr", help="Baseline heart rate.")] = None,
    sedation: SedationOpt = None,
    during_infusion: Annotated[
        bool,
        typer.Option(
            "--during-infusion",
            help="The reading was taken during the infusion: a missing SpO2 or sedation level is flagged.",
        ),
    ] = False,
    previous_bp: Annotated[
        str | None,
        typer.Option(
            "--previous-bp",
            help="An earlier blood pressure in this infusion: at the pause level within the "
            "confirmation window, it confirms a pause.",
        ),
    ] = None,
    previous_minutes_ago: Annotated[
        float | None,
        typer.Option(
            "--previous-minutes-ago", help="How many minutes before this reading --previous-bp was taken."
        ),
    ] = None,
    symptom: Annotated[
        list[str] | None,
        typer.Option(
            "--symptom",
            help="A symptom the patient has now that confirms a blood-pressure pause "
            "(headache, blurred_vision, hypertension); repeatable.",
        ),
    ] = None,
    clinic_rules: RulesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Classify a vital-sign reading: normal, watch, pause, or stop and call.

    A blood pressure at the pause level pauses only when confirmed, by a second reading within
    the window (--previous-bp, --previous-minutes-ago) or a symptom (--symptom); otherwise it asks
    for a recheck. The same rule, by the same function, as the infusion page and the board.
    """
    from ketaflow.clinical import EarlierReading, assess_infusion_reading, confirming_symptom

    try:
        rules = _rules(clinic_rules)
        if bp is None and hr is None and spo2 is None and rr is None and sedation is None:
            raise InvalidInput("Give at least one reading: --bp, --hr, --spo2, --rr or --sedation.")
        now = _vitals(bp, hr, spo2, rr, rules, sedation)
        base = None
        if baseline is not None or baseline_hr is not None:
            base = _vitals(baseline, baseline_hr, None, None, rules)
        earlier = []
        if previous_bp is not None and previous_minutes_ago is None:
            raise InvalidInput("Give --previous-minutes-ago with --previous-bp (when it was taken).")
        if previous_minutes_ago is not None:
            if previous_bp is None:
                raise InvalidInput("Give --previous-bp with --previous-minutes-ago (what it read).")
            if not previous_minutes_ago >= 0:  # also refuses NaN
                raise InvalidInput(
                    f"--previous-minutes-ago must be 0 or more minutes; got {previous_minutes_ago:g}."
                )
            earlier.append(
                EarlierReading(previous_minutes_ago, _vitals(previous_bp, None, None, None, rules))
            )
        symptoms = [confirming_symptom(s, rules) for s in symptom or []]
        phase = "infusion" if during_infusion else None
        result = assess_infusion_reading(
            now, baseline=base, earlier=earlier, symptoms=bool(symptoms), rules=rules, phase=phase
        )
    except InvalidInput as exc:
        fail(str(exc))
    if as_json:
        emit_json(result)
        return
    typer.echo(f"Level: {result.level.value}")
    for alert in result.alerts:
        typer.echo(f"- {alert.message}")
    for action in result.actions:
        typer.echo(f"Action: {action}")


def discharge_check(
    minutes_since_end: Annotated[float, typer.Option(help="Minutes since the infusion ended.")],
    bp: Annotated[str | None, typer.Option("--bp", help="Blood pressure now.")] = None,
    hr: Annotated[float | None, typer.Option("--hr", help="Heart rate now.")] = None,
    spo2: Annotated[float | None, typer.Option("--spo2", help="SpO2 now, %.")] = None,
    rr: Annotated[float | None, typer.Option("--rr", help="Respiratory rate now.")] = None,
    baseline: Annotated[str | None, typer.Option("--baseline", help="Baseline blood pressure.")] = None,
    aldrete: Annotated[int | None, typer.Option(help="Modified Aldrete score 0-10.")] = None,
    padss: Annotated[int | None, typer.Option(help="PADSS score 0-10.")] = None,
    walks_with_help: Annotated[
        bool, typer.Option("--walks-with-help", help="Walks steadily with help.")
    ] = False,
    nausea: Annotated[str, typer.Option(help="none, mild, moderate or severe.")] = "none",
    driver: Annotated[str | None, typer.Option(help="Driver's name and phone.")] = None,
    instructions_given: Annotated[
        bool, typer.Option("--instructions-given", help="After-care instructions given.")
    ] = False,
    sedation: SedationOpt = None,
    mental_status: Annotated[
        str | None,
        typer.Option(help="baseline (back to the patient's own mental status) or altered."),
    ] = None,
    suicidal_ideation: Annotated[
        str | None,
        typer.Option(
            help="none or present: the repeat suicide-risk screen at discharge "
            "(C-SSRS screener questions 1-2, about today). Not given = not asked yet (unmet)."
        ),
    ] = None,
    clinic_phone: Annotated[str | None, typer.Option(help="Clinic phone for the instructions.")] = None,
    clinic_rules: RulesOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check discharge readiness and list every unmet criterion."""
    from ketaflow.clinical import evaluate_discharge

    try:
        rules = _rules(clinic_rules)
        base = _vitals(baseline, None, None, None, rules) if baseline is not None else None
        result = evaluate_discharge(
            minutes_since_end=minutes_since_end,
            vitals=_vitals(bp, hr, spo2, rr, rules, sedation),
            baseline=base,
            aldrete=aldrete,
            padss=padss,
            walks_with_help=walks_with_help,
            nausea=nausea,
            driver=driver,
            instructions_given=instructions_given,
            mental_status=mental_status,
            suicidal_ideation=suicidal_ideation,
            clinic_phone=clinic_phone,
            rules=rules,
        )
    except InvalidInput as exc:
        fail(str(exc))
    if as_json:
        payload: dict[str, Any] = {
            "ready": result.ready,
            "unmet": result.unmet,
            "vitals_level": result.vitals_level,
            "driver": result.driver,
            "aftercare": result.aftercare,
        }
        emit_json(payload)
        return
    typer.echo("Ready for discharge." if result.ready else "Not ready for discharge:")
    for u in result.unmet:
        typer.echo(f"- {u.message}")


def register(app: typer.Typer) -> None:
    """Add this topic's commands to the main app."""
    app.command("dose")(dose)
    app.command("screen")(screen_cmd)
    # A negative answer ("-1") must reach the range check, not be taken for an unknown option.
    app.command("score", context_settings={"ignore_unknown_options": True})(score_cmd)
    app.command("vitals-check")(vitals_check)
    app.command("discharge-check")(discharge_check)
