"""The schema of the rating scales: Pydantic models that validate ``rules/scales.toml``.

Kept apart from :mod:`ketaflow.clinical.schema` (the whole rules, which re-exports these) so
that scoring a questionnaire builds only these few models: ``ketaflow score`` starts without the
dosing, screening, vitals and discharge schema (see tests/unit/test_cli_startup.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field, model_validator

from ketaflow.clinical.schema_base import Frozen as _Frozen
from ketaflow.clinical.schema_base import Source
from ketaflow.errors import InvalidInput


class MissingRule(_Frozen):
    max_missing: int = Field(ge=0)
    rule: str
    source: Source


class Band(_Frozen):
    min: int
    label: str


class Severity(_Frozen):
    bands: tuple[Band, ...] = Field(min_length=1)
    source: Source

    @model_validator(mode="after")
    def _ascending(self) -> Severity:
        mins = [b.min for b in self.bands]
        if mins != sorted(set(mins)) or mins[0] != 0:
            raise ValueError("severity bands must start at 0 and ascend strictly")
        return self


class Remission(_Frozen):
    max_total: int = Field(ge=0)
    source: Source


class ItemAlert(_Frozen):
    item: int = Field(ge=1)
    min_answer: int = Field(ge=0)
    kind: str
    message: str
    source: Source


class SkipRule(_Frozen):
    """Items left out, and scored 0, when an earlier item is answered 0."""

    when_item_is_zero: int = Field(ge=1)
    items: tuple[int, ...]
    source: Source


class Instrument(_Frozen):
    name: str
    title: str
    items: int = Field(ge=1)
    answer_min: int
    answer_max: int
    item6_max: int | None = None
    domains: tuple[tuple[int, ...], ...] | None = None
    item_labels: tuple[str, ...] | None = None
    # What the item texts are when they are not the published wording (a paraphrase, say):
    # shown with the form, so no one mistakes them for the instrument's own questions.
    item_labels_note: str | None = None
    answer_labels: tuple[str, ...] | None = None
    # The answer wording of question 6 where it has its own answers (the C-SSRS screener).
    item6_labels: tuple[str, ...] | None = None
    # What a patient reads above the questions when answering alone (the patient's page); the
    # page says "Over the last 2 weeks ..." (the PHQ-9's and GAD-7's own stem) when not given.
    patient_instructions: str | None = None
    source: Source
    missing: MissingRule
    skip: SkipRule | None = None
    severity: Severity
    remission: Remission | None = None
    alerts: tuple[ItemAlert, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Instrument:
        if self.item_labels is not None and len(self.item_labels) != self.items:
            raise ValueError(f"{self.name}: {len(self.item_labels)} item labels for {self.items} items")
        span = self.answer_max - self.answer_min + 1
        if self.answer_labels is not None and len(self.answer_labels) != span:
            raise ValueError(f"{self.name}: answer labels must cover {self.answer_min}-{self.answer_max}")
        if self.item6_labels is not None and (
            self.item6_max is None or len(self.item6_labels) != self.item6_max - self.answer_min + 1
        ):
            raise ValueError(
                f"{self.name}: question 6's answer labels must cover {self.answer_min}-{self.item6_max}"
            )
        for domain in self.domains or ():
            if any(not 1 <= i <= self.items for i in domain):
                raise ValueError(f"{self.name}: a domain names an item outside 1-{self.items}")
        for alert in self.alerts:
            if alert.item > self.items:
                raise ValueError(f"{self.name}: an alert names item {alert.item} of {self.items}")
        if self.skip is not None:
            named = (self.skip.when_item_is_zero, *self.skip.items)
            if any(not 1 <= i <= self.items for i in named):
                raise ValueError(f"{self.name}: the skip rule names an item outside 1-{self.items}")
        return self


class ResponseRule(_Frozen):
    min_reduction_fraction: float = Field(gt=0, le=1)
    source: Source


class ScaleRules(_Frozen):
    """The rating-scale part of the rules alone: the instruments and the response rule."""

    scales: dict[str, Instrument]
    response: ResponseRule

    def instrument(self, key: str) -> Instrument:
        """Return the rating scale named ``key`` or raise InvalidInput."""
        return find_instrument(self.scales, key)


def find_instrument(scales: Mapping[str, Instrument], key: str) -> Instrument:
    """Return the rating scale named ``key`` (aliases such as 'PHQ-9' or 'QIDS' allowed)."""
    norm = key.strip().lower().replace("_", "-")
    aliases = {"qids": "qids-sr16", "qidssr16": "qids-sr16", "c-ssrs": "cssrs", "phq-9": "phq9"}
    aliases["cssrs-screen"] = "cssrs"  # the stored instrument's name (vocabulary.Instrument.CSSRS_SCREEN)
    norm = aliases.get(norm, norm)
    if norm == "gad-7":
        norm = "gad7"
    try:
        return scales[norm]
    except KeyError:
        known = ", ".join(sorted(scales))
        raise InvalidInput(f"Unknown questionnaire '{key}'; choose one of: {known}.") from None
