"""Rating scales as data: scoring, severity bands, derived alerts, response and remission.

Every function takes the rules to use: a clinic's :class:`~ketaflow.clinical.rules.ClinicalRules`,
or, when none is given, the packaged scales alone (:func:`default_scale_rules`, validated from
``rules/scales.toml`` without the rest of the rules, so that ``ketaflow score`` starts quickly).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from ketaflow.clinical.rule_files import read_packaged
from ketaflow.clinical.scale_schema import Instrument, ScaleRules
from ketaflow.clinical.schema_base import validated
from ketaflow.errors import InvalidInput

if TYPE_CHECKING:
    from ketaflow.clinical.schema import ClinicalRules

    # Any rules that hold the scales: a clinic's whole rules, or the packaged scales alone.
    Rules = ClinicalRules | ScaleRules

SUICIDE_REVIEW = "suicide_risk"


@lru_cache(maxsize=1)
def default_scale_rules() -> ScaleRules:
    """Return the packaged rating scales and response rule, validated (cached).

    The same tables as ``default_rules().scales`` and ``.response``, read from their own file.
    """
    data = read_packaged(("scales.toml",))
    return validated(ScaleRules, {"scales": data["scales"], "response": data["response"]})


@dataclass(frozen=True)
class ScaleAlert:
    """A derived alert, e.g. a same-day suicide-risk review."""

    kind: str
    item: int | None
    message: str
    source: str


@dataclass(frozen=True)
class ScaleScore:
    """The scored questionnaire."""

    instrument: str
    name: str
    total: int
    max_total: int
    severity: str
    alerts: tuple[ScaleAlert, ...]
    remission: bool | None
    answered: int
    source: str
    severity_source: str


@dataclass(frozen=True)
class SeriesOutcome:
    """Response and remission across a series of totals (the first is the baseline)."""

    instrument: str
    baseline: float
    latest: float
    reduction_fraction: float | None
    response: bool
    remission: bool | None
    first_response_index: int | None
    first_remission_index: int | None
    response_source: str
    remission_source: str | None


@dataclass(frozen=True)
class QuestionItem:
    """One question of an instrument, as a form would show it."""

    number: int
    label: str
    answer_min: int
    answer_max: int
    # The wording of each answer, answer_min first (None: the answers are numbers only).
    answer_labels: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Questionnaire:
    """An instrument's questions and allowed answers, for building a form."""

    instrument: str
    name: str
    title: str
    items: tuple[QuestionItem, ...]
    answer_labels: tuple[str, ...] | None
    missing_rule: str
    source: str
    item_note: str | None = None  # what the item texts are, when not the published wording
    instructions: str | None = None  # what a patient answering alone reads first (None: the form's own)


def describe_instrument(instrument: str, rules: Rules | None = None) -> Questionnaire:
    """Return the questions and allowed answers of the named instrument."""
    rules = rules or default_scale_rules()
    key, inst = _lookup(rules, instrument)
    labels = inst.item_labels or tuple(f"{inst.name} item {i}" for i in range(1, inst.items + 1))

    def own(i: int) -> bool:  # question 6 of the C-SSRS screener has answers of its own
        return inst.item6_max is not None and i == 6

    items = tuple(
        QuestionItem(
            i,
            label,
            inst.answer_min,
            inst.item6_max if own(i) and inst.item6_max is not None else inst.answer_max,
            inst.item6_labels if own(i) and inst.item6_labels is not None else inst.answer_labels,
        )
        for i, label in enumerate(labels, start=1)
    )
    return Questionnaire(
        key,
        inst.name,
        inst.title,
        items,
        inst.answer_labels,
        inst.missing.rule,
        inst.source,
        inst.item_labels_note,
        inst.patient_instructions,
    )


def _lookup(rules: Rules, instrument: str) -> tuple[str, Instrument]:
    """Return the rules key (e.g. 'qids-sr16' for 'QIDS') and the instrument it names."""
    inst = rules.instrument(instrument)
    return next(k for k, v in rules.scales.items() if v is inst), inst


def _result(
    key: str,
    inst: Instrument,
    total: int,
    alerts: tuple[ScaleAlert, ...],
    remission: bool | None,
    values: list[int | None],
) -> ScaleScore:
    return ScaleScore(
        instrument=key,
        name=inst.name,
        total=total,
        max_total=max_total(inst),
        severity=_band(inst, total),
        alerts=alerts,
        remission=remission,
        answered=sum(v is not None for v in values),
        source=inst.source,
        severity_source=inst.severity.source,
    )


def _domains(inst: Instrument) -> tuple[tuple[int, ...], ...]:
    return inst.domains or tuple((i,) for i in range(1, inst.items + 1))


def max_total(inst: Instrument) -> int:
    """Return the highest total the instrument can give."""
    if inst.item6_max is not None:  # C-SSRS screener: the total is the risk category 0-3
        return len(inst.severity.bands) - 1
    return len(_domains(inst)) * inst.answer_max


def _validate(inst: Instrument, answers: Sequence[int | None]) -> list[int | None]:
    if len(answers) != inst.items:
        raise InvalidInput(f"{inst.name} needs {inst.items} answers; got {len(answers)}.")
    out: list[int | None] = []
    for i, a in enumerate(answers, start=1):
        if a is None:
            out.append(None)
            continue
        top = inst.item6_max if (inst.item6_max is not None and i == 6) else inst.answer_max
        if isinstance(a, bool) or not isinstance(a, int) or not inst.answer_min <= a <= top:
            raise InvalidInput(f"{inst.name} item {i} must be {inst.answer_min} to {top}; got {a}.")
        out.append(a)
    if inst.skip is not None and out[inst.skip.when_item_is_zero - 1] == 0:
        for i in inst.skip.items:
            if out[i - 1] is None:
                out[i - 1] = 0  # skipped by the instrument's own skip logic
    missing = [i for i, a in enumerate(out, start=1) if a is None]
    if len(missing) > inst.missing.max_missing:
        if len(missing) == 1:
            which = f"item {missing[0]} is"
        else:
            which = "items " + ", ".join(map(str, missing[:-1])) + f" and {missing[-1]} are"
        rule = inst.missing.rule.split(".")[0]
        raise InvalidInput(f"{inst.name} {which} unanswered; {rule[0].lower() + rule[1:]}.")
    # Even where a clinic allows unanswered items, an item that raises an alert (the suicide
    # item) must be answered: scored as 0 it would silently hide the alert.
    for alert in inst.alerts:
        if out[alert.item - 1] is None:
            raise InvalidInput(
                f"{inst.name} item {alert.item} is unanswered; it is the item that raises a "
                f"{alert.kind.replace('_', '-')} review, so it must be answered."
            )
    return out


def _band(inst: Instrument, total: int) -> str:
    label = inst.severity.bands[0].label
    for band in inst.severity.bands:
        if total >= band.min:
            label = band.label
    return label


def score(instrument: str, answers: Sequence[int | None], rules: Rules | None = None) -> ScaleScore:
    """Score ``answers`` (item order; None = unanswered) on the named instrument."""
    rules = rules or default_scale_rules()
    key, inst = _lookup(rules, instrument)
    values = _validate(inst, answers)
    if inst.item6_max is not None:
        return _score_cssrs(key, inst, values)
    total = 0
    for domain in _domains(inst):
        got = [values[i - 1] for i in domain if values[i - 1] is not None]
        total += max((g for g in got if g is not None), default=0)
    alerts = tuple(
        ScaleAlert(a.kind, a.item, a.message, a.source)
        for a in inst.alerts
        if (values[a.item - 1] or 0) >= a.min_answer
    )
    remission = None if inst.remission is None else total <= inst.remission.max_total
    return _result(key, inst, total, alerts, remission, values)


def _score_cssrs(key: str, inst: Instrument, values: list[int | None]) -> ScaleScore:
    q = [v or 0 for v in values]
    wish, thoughts, method, intent, plan, behaviour = q
    if intent or plan or behaviour == 2:
        risk = 3
    elif method or behaviour == 1:
        risk = 2
    elif wish or thoughts:
        risk = 1
    else:
        risk = 0
    alerts: tuple[ScaleAlert, ...] = ()
    # A positive screen is any "yes" (low risk or above) and raises a suicide-risk review: the
    # screener's triage (Columbia Lighthouse Project; instrument Posner K et al. Am J Psychiatry
    # 2011;168(12):1266-1277), its source carried by the alert (scales.toml [scales.cssrs.severity]).
    if risk:
        urgency = "now, before the infusion" if risk == 3 else "the same day"
        msg = (
            f"Positive C-SSRS screen ({_band(inst, risk)}): suicide-risk review by the "
            f"psychiatrist {urgency}."
        )
        alerts = (ScaleAlert(SUICIDE_REVIEW, None, msg, inst.severity.source),)
    return _result(key, inst, risk, alerts, None, values)


def series_outcome(instrument: str, totals: Sequence[float], rules: Rules | None = None) -> SeriesOutcome:
    """Return response (>= 50% reduction from the first total) and remission across a series."""
    rules = rules or default_scale_rules()
    key, inst = _lookup(rules, instrument)
    if len(totals) < 1:
        raise InvalidInput("A series needs at least a baseline score.")
    top = max_total(inst)
    for t in totals:
        if not 0 <= t <= top:
            raise InvalidInput(f"{inst.name} totals must be 0 to {top}; got {t:g}.")
    need = rules.response.min_reduction_fraction
    baseline = float(totals[0])

    def reduction(t: float) -> float | None:
        return None if baseline <= 0 else (baseline - t) / baseline

    def responded(t: float) -> bool:
        r = reduction(t)
        return r is not None and r >= need - 1e-12

    def remitted(t: float) -> bool:
        return inst.remission is not None and t <= inst.remission.max_total

    later = list(enumerate(totals))[1:]
    first_resp = next((i for i, t in later if responded(t)), None)
    first_rem = next((i for i, t in later if remitted(t)), None) if inst.remission else None
    latest = float(totals[-1])
    return SeriesOutcome(
        instrument=key,
        baseline=baseline,
        latest=latest,
        reduction_fraction=None if reduction(latest) is None else round(reduction(latest) or 0.0, 4),
        response=len(totals) > 1 and responded(latest),
        remission=None if inst.remission is None else (len(totals) > 1 and remitted(latest)),
        first_response_index=first_resp,
        first_remission_index=first_rem,
        response_source=rules.response.source,
        remission_source=None if inst.remission is None else inst.remission.source,
    )
