"""Smart-pump style limit checks: soft limits, hard limits and the absolute ceiling."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ketaflow.clinical.levels import OrderStatus
from ketaflow.clinical.rules import Ceiling, Limit, ProtocolLimits

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
