"""Enumerations shared by the clinical rules: order status, screening and vital-sign levels."""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    """Outcome of checking a dose order against the smart-pump style limits."""

    OK = "ok"
    SOFT_LIMIT = "soft_limit"  # stands only with a psychiatrist's written reason
    HARD_LIMIT = "hard_limit"  # refused

    @property
    def rank(self) -> int:
        return _ORDER_RANK[self]


_ORDER_RANK = {OrderStatus.OK: 0, OrderStatus.SOFT_LIMIT: 1, OrderStatus.HARD_LIMIT: 2}


class ScreeningLevel(StrEnum):
    """How serious a screening finding is, from least to most serious."""

    CLEAR = "clear"  # overall level only: nothing found
    INFORMATION = "information"
    CAUTION = "caution"
    PSYCHIATRIST_REVIEW = "psychiatrist_review"
    DEFER = "defer"  # not startable today (e.g. blood pressure at the pause level): reassess
    CONTRAINDICATED = "contraindicated"

    @property
    def rank(self) -> int:
        return _SCREENING_RANK[self]


class VitalLevel(StrEnum):
    """What a vital-sign reading asks of the nurse, from least to most urgent."""

    NORMAL = "normal"
    WATCH = "watch"
    PAUSE = "pause"  # pause the infusion
    STOP = "stop"  # stop the infusion and call the psychiatrist

    @property
    def rank(self) -> int:
        return _VITAL_RANK[self]


# Each level's place in its order, worked out once (`rank` is asked for every reading assessed).
_SCREENING_RANK = {level: i for i, level in enumerate(ScreeningLevel)}
_VITAL_RANK = {level: i for i, level in enumerate(VitalLevel)}


class WeightPolicy(StrEnum):
    """Which body weight the mg/kg dose is multiplied by."""

    ACTUAL = "actual"
    ADJUSTED = "adjusted"  # adjusted body weight at or above the BMI cut-off
    IDEAL = "ideal"  # ideal body weight at or above the BMI cut-off


class Sex(StrEnum):
    """Sex used by the ideal-body-weight formula."""

    MALE = "male"
    FEMALE = "female"


class PregnancyStatus(StrEnum):
    """What the consultation knows about pregnancy."""

    PREGNANT = "pregnant"
    POSSIBLE = "possible"  # could be pregnant, not tested
    TEST_NEGATIVE = "test_negative"  # could become pregnant; a test was negative
    NOT_APPLICABLE = "not_applicable"  # cannot become pregnant


class Route(StrEnum):
    """How the ketamine is given (some interactions matter only for some routes)."""

    IV = "iv"
    IM = "im"
    INTRANASAL = "intranasal"
    ORAL = "oral"
    SUBLINGUAL = "sublingual"


class MonitoringStatus(StrEnum):
    """Where a periodic maintenance check stands."""

    NOT_APPLICABLE = "not_applicable"  # not (yet) on maintenance
    UP_TO_DATE = "up_to_date"
    DUE = "due"
    OVERDUE = "overdue"
