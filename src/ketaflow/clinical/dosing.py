"""Weight-based dose orders and pump programming (rate in mL/h and volume in mL).

The pump is programmed with a volume to be infused (VTBI) and a rate. Both are rounded DOWN to
the pump's resolution, so the pump never delivers more, or faster, than ordered (the infusion
may run a few seconds longer); the dose the pump will actually deliver is recomputed from
the rounded values. The protocol's soft and hard limits are checked on the ordered values; the
absolute ceiling is checked on both the ordered and the delivered values, so rounding can never
carry an order over the ceiling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, localcontext

from ketaflow.clinical.levels import OrderStatus, Sex, WeightPolicy
from ketaflow.clinical.limits import (
    LimitCheck,
    check_ceiling,
    check_limit,
    check_protocol_limits,
    worst_status,
)
from ketaflow.clinical.rules import ClinicalRules, default_rules
from ketaflow.errors import InvalidInput

_CM_PER_INCH = 2.54


@dataclass(frozen=True)
class DosingWeight:
    """The weight the mg/kg dose is multiplied by, and how it was chosen."""

    weight_kg: float
    height_cm: float | None
    bmi_kg_per_m2: float | None
    dosing_weight_kg: float
    basis: WeightPolicy
    explanation: str


@dataclass(frozen=True)
class DoseOrder:
    """A checked dose order with its pump programme. ``status`` says whether it may run."""

    protocol: str
    dosing_weight_kg: float
    weight_basis: WeightPolicy
    bmi_kg_per_m2: float | None
    dose_mg_per_kg: float
    minutes: float
    dose_mg: float
    concentration_mg_per_ml: float
    volume_ml_exact: float
    volume_ml: float
    rate_ml_per_h_exact: float
    rate_ml_per_h: float
    delivered_dose_mg: float
    delivered_minutes: float
    rate_mg_per_kg_per_h: float
    rounding: str
    status: OrderStatus
    messages: tuple[str, ...]
    checks: tuple[LimitCheck, ...]
    # Why the pump cannot run this order that is not a limit (a bag too small or too strong, a
    # programme that rounds to nothing); any of these makes the status hard_limit.
    refusals: tuple[str, ...] = ()


def _finite_positive(name: str, value: float, unit: str) -> float:
    if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        shown = f"{value:g}" if isinstance(value, int | float) else repr(value)
        raise InvalidInput(f"{name} must be a number above 0 {unit}; got {shown}.")
    return float(value)


def _in_range(name: str, value: float, lo: float, hi: float, unit: str) -> None:
    if not lo <= value <= hi:
        raise InvalidInput(f"{name} must be between {lo:g} and {hi:g} {unit}; got {value:g}.")


def round_down(value: float, resolution: float) -> float:
    """Round a non-negative ``value`` down to a multiple of ``resolution`` (exact decimal steps)."""
    with localcontext() as ctx:
        ctx.prec = 80  # enough digits for any finite float quotient, so quantize cannot fail
        step = Decimal(str(resolution))
        return float((Decimal(str(value)) / step).quantize(Decimal(1), rounding=ROUND_DOWN) * step)


def ideal_body_weight_kg(height_cm: float, sex: Sex, rules: ClinicalRules | None = None) -> float:
    """Return the Devine (1974) ideal body weight for ``height_cm`` and ``sex``."""
    base = (rules or default_rules()).dosing_weight.ideal_weight_base_kg
    start = base.male if sex is Sex.MALE else base.female
    inches_over_60 = max(0.0, height_cm / _CM_PER_INCH - 60.0)
    return start + base.per_inch_over_60_kg * inches_over_60


def dosing_weight(
    weight_kg: float,
    *,
    height_cm: float | None = None,
    sex: Sex | None = None,
    rules: ClinicalRules | None = None,
) -> DosingWeight:
    """Choose the dosing weight by the clinic's policy (actual body weight by default).

    With the ``adjusted`` or ``ideal`` policy, a patient at or above the BMI cut-off is dosed on
    adjusted body weight (ideal + factor x (actual - ideal)) or ideal body weight; this needs
    height and sex. Below the cut-off, or with the ``actual`` policy, actual weight is used.
    """
    rules = rules or default_rules()
    dw = rules.dosing_weight
    weight_kg = _finite_positive("Weight", weight_kg, "kg")
    _in_range("Weight", weight_kg, dw.plausible_weight_kg.min, dw.plausible_weight_kg.max, "kg")
    bmi: float | None = None
    if height_cm is not None:
        height_cm = _finite_positive("Height", height_cm, "cm")
        _in_range("Height", height_cm, dw.plausible_height_cm.min, dw.plausible_height_cm.max, "cm")
        bmi = weight_kg / (height_cm / 100.0) ** 2
    if dw.policy is WeightPolicy.ACTUAL:
        why = "Actual body weight (clinic policy)."
        return DosingWeight(weight_kg, height_cm, bmi, weight_kg, WeightPolicy.ACTUAL, why)
    if height_cm is None or bmi is None:
        raise InvalidInput(
            f"This clinic doses on {dw.policy.value} body weight above a BMI of "
            f"{dw.bmi_cutoff.value:g}; enter the patient's height in cm."
        )
    if bmi < dw.bmi_cutoff.value:
        why = f"Actual body weight: BMI {bmi:.1f} is below the cut-off {dw.bmi_cutoff.value:g}."
        return DosingWeight(weight_kg, height_cm, bmi, weight_kg, WeightPolicy.ACTUAL, why)
    if sex is None:
        raise InvalidInput(
            f"BMI {bmi:.1f} is at or above {dw.bmi_cutoff.value:g}, so this clinic doses on "
            f"{dw.policy.value} body weight; enter the patient's sex (male or female)."
        )
    ibw = ideal_body_weight_kg(height_cm, sex, rules)
    if dw.policy is WeightPolicy.IDEAL:
        chosen = min(weight_kg, ibw)
        why = f"Ideal body weight (Devine) {ibw:.1f} kg: BMI {bmi:.1f} >= {dw.bmi_cutoff.value:g}."
    else:
        factor = dw.adjusted_factor.value
        chosen = min(weight_kg, ibw + factor * (weight_kg - ibw))
        why = (
            f"Adjusted body weight = {ibw:.1f} + {factor:g} x ({weight_kg:g} - {ibw:.1f}) kg: "
            f"BMI {bmi:.1f} >= {dw.bmi_cutoff.value:g}."
        )
    return DosingWeight(weight_kg, height_cm, bmi, round_down(chosen, 0.1), dw.policy, why)


def compute_dose_order(
    protocol: str,
    weight_kg: float,
    *,
    bag_mg: float,
    bag_ml: float,
    dose_mg_per_kg: float | None = None,
    minutes: float | None = None,
    height_cm: float | None = None,
    sex: Sex | None = None,
    rules: ClinicalRules | None = None,
) -> DoseOrder:
    """Compute and check a dose order and its pump programme.

    ``dose_mg_per_kg`` and ``minutes`` default to the protocol's. The bag holds ``bag_mg`` of
    ketamine in ``bag_ml`` of diluent. Raises InvalidInput for unusable input (a weight of 0, an
    unknown protocol); a dose outside the limits is not an error but a ``soft_limit`` or
    ``hard_limit`` status with messages.
    """
    rules = rules or default_rules()
    proto = rules.protocol(protocol)
    defaulted_dose = dose_mg_per_kg is None
    dose_mg_per_kg = _finite_positive(
        "Dose", proto.default_dose_mg_per_kg if dose_mg_per_kg is None else dose_mg_per_kg, "mg/kg"
    )
    minutes = _finite_positive("Duration", proto.default_minutes if minutes is None else minutes, "min")
    if not 1 <= minutes <= 24 * 60:
        raise InvalidInput(f"Duration must be between 1 and 1440 minutes; got {minutes:g}.")
    bag_mg = _finite_positive("Bag drug amount", bag_mg, "mg")
    bag_ml = _finite_positive("Bag volume", bag_ml, "mL")
    weight = dosing_weight(weight_kg, height_cm=height_cm, sex=sex, rules=rules)
    dw_kg = weight.dosing_weight_kg
    cap_notes: list[str] = []
    hourly_cap = proto.limits.rate_mg_per_h
    if defaulted_dose and hourly_cap is not None:
        capped = hourly_cap.hard_max * (minutes / 60.0) / dw_kg
        if capped < dose_mg_per_kg:
            cap_notes.append(
                f"The protocol's {dose_mg_per_kg:g} mg/kg would run at "
                f"{dose_mg_per_kg * dw_kg / (minutes / 60.0):.1f} mg/h; capped at "
                f"{hourly_cap.hard_max:g} mg/h as in its trial, so {round_down(capped, 0.01):g} mg/kg."
            )
            dose_mg_per_kg = round_down(capped, 0.01)

    dose_mg = dose_mg_per_kg * dw_kg
    conc = bag_mg / bag_ml
    if not 0 < conc < math.inf:  # each finite and above 0, yet their quotient over- or underflows
        raise InvalidInput(
            f"A bag of {bag_mg:g} mg in {bag_ml:g} mL has no concentration a pump can run "
            "(it rounds to nothing or to infinity); check the bag's drug amount and volume."
        )
    pump = rules.pump
    vol_res = pump.volume_resolution_ml.value
    rate_res = pump.rate_resolution_ml_per_h.value
    volume_exact = dose_mg / conc
    volume_ml = round_down(volume_exact, vol_res)
    rate_exact = volume_ml / (minutes / 60.0)
    rate_ml_per_h = round_down(rate_exact, rate_res)
    delivered_mg = volume_ml * conc
    rate_mg_per_kg_per_h = dose_mg_per_kg / (minutes / 60.0)

    checks: list[LimitCheck] = []
    hard_notes: list[str] = []
    if volume_ml <= 0 or rate_ml_per_h <= 0:
        hard_notes.append(
            f"The pump volume or rate rounds down to 0 at a resolution of {rate_res:g}; "
            "use a more dilute bag."
        )
        delivered_minutes = math.inf
        delivered_rate = math.inf
    else:
        delivered_minutes = volume_ml / rate_ml_per_h * 60.0
        delivered_rate = rate_ml_per_h * conc / dw_kg
    concentration = check_limit("concentration", conc, "mg/mL", pump.concentration_mg_per_ml)
    if concentration is not None:
        checks.append(concentration)
        if concentration.status is OrderStatus.HARD_LIMIT:
            hard_notes.append("Dilute ketamine for infusion (1 mg/mL, or 2 mg/mL where fluid is restricted).")
    if 0 < volume_ml < pump.min_volume_ml.value:
        hard_notes.append(
            f"The volume {volume_ml:g} mL is below the pump's minimum volume "
            f"{pump.min_volume_ml.value:g} mL; use a more dilute bag."
        )
    drift = pump.max_duration_drift_fraction.value
    if math.isfinite(delivered_minutes) and abs(delivered_minutes - minutes) > drift * minutes:
        hard_notes.append(
            f"Rounding the pump rate makes the infusion run {delivered_minutes:.1f} min instead of "
            f"{minutes:g} min (more than {drift:.1%} off); use a more dilute bag."
        )
    if volume_ml > bag_ml:
        hard_notes.append(
            f"The order needs {volume_ml:g} mL but the bag holds {bag_ml:g} mL ({bag_mg:g} mg); "
            "prepare a larger bag."
        )

    # Protocol limits judge the prescriber's intent; the absolute ceiling is also checked on
    # what the pump will really deliver after rounding, strictly, so rounding can never carry
    # an order over it.
    checks += check_protocol_limits(
        proto.limits,
        dose_mg_per_kg=dose_mg_per_kg,
        minutes=minutes,
        rate_mg_per_kg_per_h=rate_mg_per_kg_per_h,
        total_mg=dose_mg,
    )
    if hourly_cap is not None:
        hourly = check_limit("hourly rate", dose_mg / (minutes / 60.0), "mg/h", hourly_cap)
        if hourly is not None:
            checks.append(hourly)
    for dose_kg, rate, total in (
        (dose_mg_per_kg, rate_mg_per_kg_per_h, dose_mg),
        (delivered_mg / dw_kg, delivered_rate, delivered_mg),
    ):
        checks += check_ceiling(
            rules.ceiling, dose_mg_per_kg=dose_kg, rate_mg_per_kg_per_h=rate, total_mg=total
        )
    checks = _dedupe(checks)
    status = worst_status(checks)
    if hard_notes:
        status = OrderStatus.HARD_LIMIT
    messages = tuple(hard_notes) + tuple(c.message for c in checks) + tuple(cap_notes)
    rounding = (
        f"Volume rounded down to {vol_res:g} mL ({volume_exact:.4f} -> {volume_ml:g} mL); "
        f"rate rounded down to {rate_res:g} mL/h ({rate_exact:.4f} -> {rate_ml_per_h:g} mL/h); "
        f"the pump delivers {delivered_mg:.2f} mg."
    )
    return DoseOrder(
        protocol=protocol,
        dosing_weight_kg=dw_kg,
        weight_basis=weight.basis,
        bmi_kg_per_m2=None if weight.bmi_kg_per_m2 is None else round(weight.bmi_kg_per_m2, 1),
        dose_mg_per_kg=dose_mg_per_kg,
        minutes=minutes,
        dose_mg=round(dose_mg, 2),
        concentration_mg_per_ml=round(conc, 4),
        volume_ml_exact=round(volume_exact, 4),
        volume_ml=volume_ml,
        rate_ml_per_h_exact=round(rate_exact, 4),
        rate_ml_per_h=rate_ml_per_h,
        delivered_dose_mg=round(delivered_mg, 2),
        delivered_minutes=round(delivered_minutes, 1) if math.isfinite(delivered_minutes) else math.inf,
        rate_mg_per_kg_per_h=round(rate_mg_per_kg_per_h, 4),
        rounding=rounding,
        status=status,
        messages=messages,
        checks=tuple(checks),
        refusals=tuple(hard_notes),
    )


def _dedupe(checks: list[LimitCheck]) -> list[LimitCheck]:
    """Keep the most restrictive check per quantity; at equal status the ceiling is named."""
    best: dict[str, LimitCheck] = {}
    for check in checks:
        held = best.get(check.quantity)
        if held is None or (check.status.rank, check.is_ceiling) > (held.status.rank, held.is_ceiling):
            best[check.quantity] = check
    return list(best.values())
