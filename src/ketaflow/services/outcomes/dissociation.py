"""The open question: does peak dissociation (CADSS) in the first infusions go with response?"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from ketaflow.analytics import (
    CADSS_INFUSIONS,
    DissociationAssociation,
    Proportion,
    dissociation_response_association,
    proportion,
)
from ketaflow.clinical.rules import ClinicalRules
from ketaflow.errors import InvalidInput
from ketaflow.services.outcomes.common import (
    NETWORK,
    Bind,
    Scope,
    connection,
    outcome_definitions,
    resolve_scope,
)
from ketaflow.store import outcome_queries as q


@dataclass(frozen=True)
class DemoTruth:
    """What the demo generator was told to produce (present only on a demo database)."""

    response_fraction: float
    log_odds_response_per_sd_cadss: float
    response_rate_in_ci: bool
    association_in_ci: bool
    # How far the recovered response rate is from the setting, in standard errors of a
    # proportion at the setting (sqrt(p(1-p)/n)): a 95% interval misses its target about one
    # network in twenty, at about 2 SE or more.
    response_rate_z: float | None = None


@dataclass(frozen=True)
class DissociationReport:
    """The open question answered with the uncertainty shown, plus the ground truth on demo data."""

    scope: str
    association: DissociationAssociation
    response: Proportion
    statement: str
    demo_truth: DemoTruth | None


def dissociation_report(
    bind: Bind,
    *,
    clinic: str | None = None,
    clinic_ids: Sequence[uuid.UUID] | None = None,
    label: str | None = None,
    rules: ClinicalRules | None = None,
) -> DissociationReport:
    """Association of mean peak CADSS (first infusions) with response, adjusted for baseline PHQ-9."""
    d = outcome_definitions(rules)
    scope = resolve_scope(bind, clinic) if clinic_ids is None else Scope(label or NETWORK, tuple(clinic_ids))
    with connection(bind) as conn:
        rows = q.dissociation_rows(conn, d, scope.clinic_ids, infusions=CADSS_INFUSIONS)
        truth = q.demo_ground_truth(conn)
    if len(rows) < 10:
        raise InvalidInput(
            f"Only {len(rows)} patients completed induction with CADSS at the first "
            f"{CADSS_INFUSIONS} infusions; too few to estimate the association."
        )
    cadss, base, resp = zip(*rows, strict=True)
    a = dissociation_response_association(cadss, base, resp)
    response = proportion(int(sum(resp)), len(resp))
    direction = "higher" if a.log_odds_per_sd_cadss > 0 else "lower"
    clear = a.ci_low > 0 or a.ci_high < 0
    statement = (
        f"Among {a.patients} patients ({a.responders} responders), each SD ({a.cadss_sd_points:.1f} points) "
        f"more mean peak CADSS over the first {a.infusions_averaged} infusions went with {direction} odds of "
        f"response at the end of induction: odds ratio {a.odds_ratio_per_sd_cadss:.2f} (95% CI "
        f"{a.odds_ratio_ci_low:.2f} to {a.odds_ratio_ci_high:.2f}), adjusted for baseline PHQ-9"
        + ("." if clear else "; the interval includes no association.")
    )
    demo = None
    if truth is not None:
        beta = float(truth["log_odds_response_per_sd_cadss"])
        rate = float(truth["response_fraction"])
        demo = DemoTruth(
            response_fraction=rate,
            log_odds_response_per_sd_cadss=beta,
            response_rate_in_ci=bool(
                response.ci_low is not None and response.ci_low <= rate <= (response.ci_high or 0)
            ),
            association_in_ci=a.ci_low <= beta <= a.ci_high,
            response_rate_z=(
                (response.estimate - rate) / math.sqrt(rate * (1 - rate) / response.n)
                if response.estimate is not None and response.n and 0 < rate < 1
                else None
            ),
        )
    return DissociationReport(scope.label, a, response, statement, demo)
