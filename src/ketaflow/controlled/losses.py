"""Why stock was adjusted, and the draft theft-or-loss report (DEA Form 106).

An adjustment books a discrepancy a count found, once the director has investigated it.
Its cause says what the investigation concluded. A confirmed theft or loss must be reported:

- 21 CFR 1301.76(b): a registrant notifies the DEA Field Division Office in writing of
  the theft or significant loss of any controlled substance within one business day of
  discovery, and completes DEA Form 106 (filed through DEA's online Theft/Loss Reporting).
  1301.76(b)(1)-(6) lists what decides whether a loss is "significant" (quantity,
  the substance, a pattern of losses, diversion risk...); the director decides, so
  ketaflow drafts a Form 106 for every adjustment confirmed as theft or loss and never
  files it itself.
- The fields below follow DEA Form 106 as the lead knows it (registrant and DEA number,
  date of discovery, principal business, county, police report, thefts and losses in the
  past 24 months, type of theft or loss, purchase value, security measures, and each
  substance's NDC, name, strength, dosage form and quantity). The current form was not
  retrieved in this workplace: check the draft against DEA's online form before filing
  (listed in docs/clinical-review.md).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from ketaflow.errors import InvalidInput


class AdjustmentCause(StrEnum):
    """What the investigation of a discrepancy concluded."""

    COUNTING_ERROR = "counting_error"  # a miscount or a booking mistake, put right
    BREAKAGE = "breakage"  # a vial broken or spilled, seen by the witness
    LOSS = "loss"  # gone, cause unknown: a reportable loss
    THEFT = "theft"  # taken: a reportable theft
    FOUND = "found"  # more in the safe than the ledger said

    @property
    def reportable(self) -> bool:
        """Theft and loss are drafted as a DEA Form 106."""
        return self in {AdjustmentCause.LOSS, AdjustmentCause.THEFT}

    @property
    def label(self) -> str:
        return CAUSE_LABELS[self]


CAUSE_LABELS = {
    AdjustmentCause.COUNTING_ERROR: "Counting or booking error",
    AdjustmentCause.BREAKAGE: "Breakage or spill (witnessed)",
    AdjustmentCause.LOSS: "Loss (cause unknown)",
    AdjustmentCause.THEFT: "Theft",
    AdjustmentCause.FOUND: "Stock found (more than the ledger)",
}


def check_cause(cause: AdjustmentCause, mg: Decimal) -> None:
    """A cause must fit the sign of the adjustment (negative: stock missing)."""
    if cause is AdjustmentCause.FOUND and mg < 0:
        raise InvalidInput(
            "'Stock found' is for more in the safe than the ledger says; a missing amount is a "
            "counting error, breakage, loss or theft.",
            field="cause",
        )
    if cause in {AdjustmentCause.BREAKAGE, AdjustmentCause.LOSS, AdjustmentCause.THEFT} and mg > 0:
        raise InvalidInput(
            f"A {cause.value} takes stock out: give the missing amount as a negative number of mg.",
            field="cause",
        )


# 21 CFR 1301.76(b): written notice within one business day of discovery. ketaflow shows the
# next calendar day and says "business day"; clinic holidays are not known here.
NOTICE_WITHIN = timedelta(days=1)


@dataclass(frozen=True)
class Registrant:
    name: str
    dea_number: str | None  # None: not recorded in ketaflow; the form cannot be filed without it
    address: str
    phone: str | None


@dataclass(frozen=True)
class LostSubstance:
    ndc: str
    name: str
    strength: str  # e.g. "50 mg/mL"
    dosage_form: str  # e.g. "injection, solution; 10 mL multi-dose vial"
    quantity_mg: Decimal
    quantity_ml: Decimal
    lot: str


@dataclass(frozen=True)
class Form106Draft:
    """What ketaflow knows for DEA Form 106; `to_complete` lists what a person must add."""

    adjustment_id: uuid.UUID
    registrant: Registrant
    principal_business: str
    discovered_on: date
    notify_by: date
    type_of_loss: str
    substances: tuple[LostSubstance, ...]
    reason: str
    witness: str
    booked_by: str
    losses_in_past_24_months: int  # this one included
    to_complete: tuple[str, ...]


def form_106(
    *,
    adjustment_id: uuid.UUID,
    cause: AdjustmentCause,
    discovered_at: datetime,
    registrant: Registrant,
    substances: tuple[LostSubstance, ...],
    reason: str,
    booked_by: str,
    witness: str,
    earlier_losses: list[date],
) -> Form106Draft:
    """The draft report of one adjustment confirmed as theft or loss."""
    if not cause.reportable:
        raise InvalidInput(
            f"This adjustment was booked as '{cause.label}', not as a theft or loss; "
            "only a theft or loss is reported on DEA Form 106."
        )
    discovered = discovered_at.date()
    recent = [d for d in earlier_losses if discovered - timedelta(days=730) <= d <= discovered]
    to_complete = [
        "County in which the registrant is located",
        "Was the theft or loss reported to the police? If so, the department's name and phone",
        "Purchase value to the registrant of the substances lost",
        "Measures taken to prevent a recurrence",
    ]
    if registrant.dea_number is None:
        to_complete.insert(
            0,
            "The clinic's DEA registration number (not recorded in ketaflow; the director enters it "
            "on the controlled-substances page)",
        )
    if cause is AdjustmentCause.THEFT:
        to_complete.append(
            "Type of theft: night break-in, armed robbery, employee pilferage, customer theft "
            "or other (explain)"
        )
    return Form106Draft(
        adjustment_id=adjustment_id,
        registrant=registrant,
        principal_business="Practitioner (ketamine infusion clinic)",
        discovered_on=discovered,
        notify_by=discovered + NOTICE_WITHIN,
        type_of_loss="Theft (type to be chosen)"
        if cause is AdjustmentCause.THEFT
        else "Loss (cause unknown)",
        substances=substances,
        reason=reason,
        witness=witness,
        booked_by=booked_by,
        losses_in_past_24_months=len(recent) + 1,
        to_complete=tuple(to_complete),
    )
