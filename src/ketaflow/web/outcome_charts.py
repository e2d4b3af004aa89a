"""Geometry for the outcome pages' inline SVG charts (no JavaScript needed to read them).

Two charts: a forest plot (each clinic's proportion with its 95% interval beside the pooled
figure, so a difference inside the intervals' overlap is not read as a signal) and a
questionnaire trajectory (totals over time with the infusions marked and the response and
remission cut-offs drawn). The templates only place what these functions compute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from ketaflow.analytics import Proportion
from ketaflow.services.outcomes import InfusionMark, InstrumentTrajectory


@dataclass(frozen=True)
class ForestRow:
    label: str
    y: float
    x: float | None
    x_low: float | None
    x_high: float | None
    text: str
    pooled: bool


@dataclass(frozen=True)
class Forest:
    title: str
    width: int
    height: int
    left: int
    right: int
    rows: tuple[ForestRow, ...]
    ticks: tuple[tuple[float, str], ...]
    pooled_x: float | None


def percent(p: Proportion, counts: bool = True) -> str:
    """'41% (36–46%), 140/340' (one decimal under 10%), or 'none evaluable' when n is 0."""
    if p.estimate is None or p.ci_low is None or p.ci_high is None:
        return "none evaluable"
    fmt = ".1%" if p.ci_high < 0.1 else ".0%"
    text = f"{p.estimate:{fmt}} ({p.ci_low:{fmt}}–{p.ci_high:{fmt}})"
    return f"{text}, {p.successes:,}/{p.n:,}" if counts else text


def forest(title: str, rows: list[tuple[str, Proportion]], pooled: tuple[str, Proportion] | None) -> Forest:
    """A forest plot of proportions: a dot and its interval per row, the pooled row last in bold."""
    every = rows + ([pooled] if pooled else [])
    highs = [p.ci_high for _, p in every if p.ci_high is not None]
    lows = [p.ci_low for _, p in every if p.ci_low is not None]
    lo = math.floor(min(lows, default=0.0) * 10) / 10
    hi = math.ceil(max(highs, default=1.0) * 10) / 10
    if hi - lo < 0.2:
        lo, hi = max(0.0, lo - 0.1), min(1.0, hi + 0.1)
    left, right, width, row_h, top = 180, 200, 760, 22, 24
    span = width - left - right

    def x(v: float | None) -> float | None:
        return None if v is None else round(left + (v - lo) / (hi - lo) * span, 1)

    out = []
    for i, (label, p) in enumerate(every):
        out.append(
            ForestRow(
                label=label,
                y=top + i * row_h + row_h / 2,
                x=x(p.estimate),
                x_low=x(p.ci_low),
                x_high=x(p.ci_high),
                text=percent(p),
                pooled=pooled is not None and i == len(every) - 1,
            )
        )
    step = 0.1 if hi - lo <= 0.6 else 0.2
    n_ticks = round((hi - lo) / step)
    ticks = tuple((x(lo + k * step) or 0.0, f"{lo + k * step:.0%}") for k in range(n_ticks + 1))
    return Forest(
        title=title,
        width=width,
        height=top + len(every) * row_h + 30,
        left=left,
        right=right,
        rows=tuple(out),
        ticks=ticks,
        pooled_x=x(pooled[1].estimate) if pooled else None,
    )


@dataclass(frozen=True)
class TrajectoryChart:
    instrument: str
    width: int
    height: int
    points: str  # polyline
    dots: tuple[tuple[float, float, int, str], ...]  # x, y, total, when
    infusions: tuple[tuple[float, int, str], ...]  # x, series number, date
    y_ticks: tuple[tuple[float, int], ...]
    response_y: float | None
    remission_y: float | None
    x_labels: tuple[tuple[float, str], ...]


def trajectory_chart(
    inst: InstrumentTrajectory, marks: tuple[InfusionMark, ...], *, zone: tzinfo = UTC, fmt: str = "%d %b"
) -> TrajectoryChart | None:
    """Totals over time on a 0..max scale, with infusion ticks and the response/remission lines."""
    if not inst.points:
        return None
    top = inst.max_total or max(p.total for p in inst.points) or 1
    times: list[datetime] = [p.answered_at for p in inst.points] + [mk.at for mk in marks]
    t0, t1 = min(times), max(times)
    span = max((t1 - t0).total_seconds(), 1.0)
    width, height, left, right, upper, lower = 760, 200, 40, 20, 12, 36

    def x(at: datetime) -> float:
        return round(left + (at - t0).total_seconds() / span * (width - left - right), 1)

    def y(total: float) -> float:
        return round(upper + (1 - total / top) * (height - upper - lower), 1)

    dots = tuple(
        (
            x(p.answered_at),
            y(p.total),
            p.total,
            p.answered_at.astimezone(zone).strftime(fmt)
            + (f", before infusion {p.series_number}" if p.series_number else ", at home"),
        )
        for p in inst.points
    )
    step = 5 if top <= 30 else 10
    first_day, last_day = t0.astimezone(zone).strftime(fmt), t1.astimezone(zone).strftime(fmt)
    return TrajectoryChart(
        instrument=inst.instrument,
        width=width,
        height=height,
        points=" ".join(f"{dx},{dy}" for dx, dy, _, _ in dots),
        dots=dots,
        infusions=tuple((x(mk.at), mk.series_number, mk.at.astimezone(zone).strftime(fmt)) for mk in marks),
        y_ticks=tuple((y(v), v) for v in range(0, top + 1, step)),
        response_y=None if inst.response_at_or_below is None else y(inst.response_at_or_below),
        remission_y=None if inst.remission_at_or_below is None else y(inst.remission_at_or_below),
        x_labels=((float(left), first_day), (float(width - right), last_day)),
    )
