"""Smart-pump style limit checks: soft limits, hard limits and the absolute ceiling.

`judge_limits` is the one place that decides what the crossed limits mean for an order or a
treatment plan: beyond a hard limit (or the ceiling) it is refused, whatever reason is written;
beyond a soft limit it stands only with the psychiatrist's written reason, which is kept
naming the limits it goes beyond.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ketaflow.clinical.levels import OrderStatus
from ketaflow.clinical.rules import Ceiling, Limit, ProtocolLimits
from ketaflow.errors import InvalidInput

# Float noise (0.5 mg/kg x 40 min -> 0.7500000000000001 mg/kg/h) must not trip a limit set at
# exactly that value; a relative tolerance of one part in a million is far below any dose step.
_REL_TOL = 1e-6


@dataclass(frozen=True)
class LimitCheck:
    """One limit that an order value crossed, with what it means and where the limit comes from."""

    quantity: str
    value: float
    unit: str
    status: OrderStatus
    message: str
    source: str
    is_ceiling: bool = False  # the absolute ceiling rather than a protocol limit


def _above(value: float, bound: float) -> bool:
    return value > bound * (1 + _REL_TOL)


def _below(value: float, bound: float) -> bool:
    return value < bound * (1 - _REL_TOL)


def check_limit(quantity: str, value: float, unit: str, limit: Limit) -> LimitCheck | None:
    """Return the crossed limit for ``value`` (hard before soft), or None when within limits."""
    shown = f"{quantity.replace('_', ' ')} {value:.3g} {unit}"
    if _above(value, limit.hard_max):
        msg = f"{shown} is above the hard maximum {limit.hard_max:g} {unit}; the order is refused."
        return LimitCheck(quantity, value, unit, OrderStatus.HARD_LIMIT, msg, limit.source)
    if limit.hard_min is not None and _below(value, limit.hard_min):
        msg = f"{shown} is below the hard minimum {limit.hard_min:g} {unit}; the order is refused."
        return LimitCheck(quantity, value, unit, OrderStatus.HARD_LIMIT, msg, limit.source)
    if limit.soft_max is not None and _above(value, limit.soft_max):
        msg = (
            f"{shown} is above the soft maximum {limit.soft_max:g} {unit}; "
            "it stands only with the psychiatrist's written reason."
        )
        return LimitCheck(quantity, value, unit, OrderStatus.SOFT_LIMIT, msg, limit.source)
    if limit.soft_min is not None and _below(value, limit.soft_min):
        msg = (
            f"{shown} is below the soft minimum {limit.soft_min:g} {unit}; "
            "it stands only with the psychiatrist's written reason."
        )
        return LimitCheck(quantity, value, unit, OrderStatus.SOFT_LIMIT, msg, limit.source)
    return None


def check_protocol_limits(
    limits: ProtocolLimits,
    *,
    dose_mg_per_kg: float,
    minutes: float,
    rate_mg_per_kg_per_h: float,
    total_mg: float,
) -> list[LimitCheck]:
    """Check the four limited quantities of an order against its protocol's limits."""
    found = [
        check_limit("dose", dose_mg_per_kg, "mg/kg", limits.dose_mg_per_kg),
        check_limit("duration", minutes, "min", limits.minutes),
        check_limit("rate", rate_mg_per_kg_per_h, "mg/kg/h", limits.rate_mg_per_kg_per_h),
        check_limit("total dose", total_mg, "mg", limits.total_mg),
    ]
    return [c for c in found if c is not None]


def check_ceiling(
    ceiling: Ceiling, *, dose_mg_per_kg: float, rate_mg_per_kg_per_h: float, total_mg: float
) -> list[LimitCheck]:
    """Return a hard-limit check for every value above the absolute ceiling.

    The comparison is strict (no tolerance): the ceiling is the last line of defence.
    """
    out: list[LimitCheck] = []
    items = (
        ("dose", dose_mg_per_kg, "mg/kg", ceiling.dose_mg_per_kg),
        ("rate", rate_mg_per_kg_per_h, "mg/kg/h", ceiling.rate_mg_per_kg_per_h),
        ("total dose", total_mg, "mg", ceiling.total_mg),
    )
    for quantity, value, unit, bound in items:
        if not value <= bound.value:  # written so that a NaN value or bound is refused too
            msg = (
                f"{quantity} {value:.3g} {unit} is above the absolute ceiling {bound.value:g} {unit}, "
                "set below the anaesthetic range; the order is refused and no setting can allow it."
            )
            out.append(LimitCheck(quantity, value, unit, OrderStatus.HARD_LIMIT, msg, bound.source, True))
    return out


def worst_status(checks: Iterable[LimitCheck]) -> OrderStatus:
    """Return the most restrictive status among ``checks`` (OK when there are none)."""
    status = OrderStatus.OK
    for check in checks:
        if check.status.rank > status.rank:
            status = check.status
    return status


# The input to change when a limit refuses an order or plan (parameter names of
# `compute_dose_order`, and the form fields of the order and plan forms).
LIMITED_INPUT: Mapping[str, str] = {
    "dose": "dose_mg_per_kg",
    "rate": "dose_mg_per_kg",
    "total dose": "dose_mg_per_kg",
    "duration": "minutes",
}


@dataclass(frozen=True)
class LimitVerdict:
    """An order or plan the limits allow: its status and the reason to store with it."""

    status: OrderStatus
    # The written reason for going beyond a soft limit, naming the limits; None within limits.
    override_reason: str | None


def judge_limits(
    checks: Sequence[LimitCheck],
    reason: str,
    *,
    what: str,
    refusals: Sequence[str] = (),
    field_of: Mapping[str, str] = LIMITED_INPUT,
) -> LimitVerdict:
    """Decide whether an order or plan (``what``: "dose", "plan") may stand, or refuse it.

    ``checks`` are the limits it crosses; ``refusals`` are reasons it cannot run that are not
    limits (a pump programme that rounds to nothing, a bag too small). Raises InvalidInput
    (tied to the form field of the first hard limit in ``field_of``) beyond a hard limit or the
    ceiling, with or without a reason; and (tied to ``reason``) beyond a soft limit when no
    reason is written. A reason of blanks is no reason.
    """
    written = reason.strip()
    hard = [c for c in checks if c.status is OrderStatus.HARD_LIMIT]
    if refusals or hard:
        first = hard[0].quantity if hard and not refusals else None
        field = field_of.get(first) if first is not None else None
        message = "Refused by the hard limit: " + " ".join([*refusals, *(c.message for c in hard)])
        raise InvalidInput(message, field=field)
    soft = [c for c in checks if c.status is OrderStatus.SOFT_LIMIT]
    if not soft:
        return LimitVerdict(OrderStatus.OK, None)
    if not written:
        raise InvalidInput(
            f"This {what} is beyond a soft limit ("
            + " ".join(c.message for c in soft)
            + "); write your reason to go beyond it.",
            field="reason",
        )
    crossed = ", ".join(dict.fromkeys(c.quantity for c in soft))
    return LimitVerdict(OrderStatus.SOFT_LIMIT, f"Outside the protocol's soft limits ({crossed}): {written}")
