r"""The open question: does stronger dissociation during the first infusions go with response?

Effect size (what is estimated, stated so it can be compared honestly)
---------------------------------------------------------------------
For each patient who completed induction and has an end-of-induction PHQ-9:

- exposure: the mean of the peak CADSS total charted at each of the first three
  infusions (CADSS is charted once per infusion, at its peak near the end of the
  infusion, so "peak" is that charted value);
- outcome: response at the end of induction (the clinical rules' definition, at least
  a 50% fall in PHQ-9 from baseline);
- adjustment: baseline PHQ-9 (the first one charted).

The effect is the log-odds of response per one standard deviation (across these
patients) of mean peak CADSS, adjusted for baseline PHQ-9 per standard deviation, from
a logistic model fitted by maximum likelihood, with a 95% Wald interval.

Why per SD of the mean of three: a single CADSS measures a patient's dissociation
propensity with noise (session to session variation). Regression on a noisy exposure
is biased towards zero by the reliability ratio (regression dilution): with exposure
:math:`x = t + e`, the slope per SD of :math:`x` is the slope per SD of :math:`t` times
:math:`\sqrt{\lambda}`, :math:`\lambda = \operatorname{var} t / \operatorname{var} x`
(Frost & Thompson 2000). Averaging three infusions divides the noise variance by three
and raises :math:`\lambda`. The demo generator draws a patient's peak CADSS as their
propensity (gamma-distributed, SD 8.7 points) times a session factor (mean 1, coefficient of
variation 0.25) and a 4% decline per infusion, and plants its effect per SD of the propensity;
for the mean of three infusions :math:`\lambda` (here the squared correlation of that mean with
the propensity) is about 0.964 (``ketaflow.demo.outcomes.mean_cadss_reliability``), so the
expected attenuation is about 1.8% (0.40 becomes 0.393): far inside the interval at any
realistic sample size. In real clinics the noise is larger and the estimate is a lower bound
on the association with the underlying propensity.

This is observational: patients are not assigned their dissociation, and anything that
drives both (dose, expectation, other medicines) may explain an association.

References
----------
Bremner JD et al. Measurement of dissociative states with the Clinician-Administered
Dissociative States Scale (CADSS). J Trauma Stress 1998;11:125-136. doi:10.1023/A:1024465317902
Frost C, Thompson SG. Correcting for regression dilution bias. J R Stat Soc A
2000;163:173-189. doi:10.1111/1467-985X.00164
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ketaflow.analytics.logistic import fit_logistic, standardise

CADSS_INFUSIONS = 3  # the exposure is the mean peak CADSS over the first three infusions

CAVEAT = (
    "Observational association, not an effect of dissociation: patients were not assigned how "
    "strongly they dissociate, and whatever drives both (dose, expectation, other medicines) "
    "may explain it."
)


@dataclass(frozen=True)
class DissociationAssociation:
    """Log-odds of response per SD of mean peak CADSS (first infusions), adjusted for baseline PHQ-9."""

    patients: int
    responders: int
    log_odds_per_sd_cadss: float
    ci_low: float
    ci_high: float
    p_value: float
    odds_ratio_per_sd_cadss: float
    odds_ratio_ci_low: float
    odds_ratio_ci_high: float
    cadss_sd_points: float
    cadss_mean_points: float
    log_odds_per_sd_baseline_phq9: float
    baseline_ci_low: float
    baseline_ci_high: float
    confidence: float
    infusions_averaged: int
    caveat: str


def dissociation_response_association(
    mean_peak_cadss: ArrayLike,
    baseline_phq9: ArrayLike,
    response: ArrayLike,
    *,
    confidence: float = 0.95,
) -> DissociationAssociation:
    """Estimate the association of early dissociation with response (see the module docstring).

    Parameters
    ----------
    mean_peak_cadss
        Per patient, the mean of the CADSS totals charted at infusions 1 to 3.
    baseline_phq9
        Per patient, the baseline PHQ-9 total.
    response
        Per patient, 1 if responding at the end of induction, else 0.
    """
    cadss = np.asarray(mean_peak_cadss, dtype=float)
    base = np.asarray(baseline_phq9, dtype=float)
    y = np.asarray(response, dtype=float)
    if not cadss.shape == base.shape == y.shape:
        raise ValueError("CADSS, baseline and response need one value per patient each.")
    z_cadss, cadss_mean, cadss_sd = standardise(cadss)
    z_base, _, _ = standardise(base)
    fit = fit_logistic(
        np.column_stack([z_cadss, z_base]), y, ["cadss_per_sd", "baseline_phq9_per_sd"], confidence=confidence
    )
    c = fit.coefficient("cadss_per_sd")
    b = fit.coefficient("baseline_phq9_per_sd")
    return DissociationAssociation(
        patients=fit.n,
        responders=fit.events,
        log_odds_per_sd_cadss=c.estimate,
        ci_low=c.ci_low,
        ci_high=c.ci_high,
        p_value=c.p_value,
        odds_ratio_per_sd_cadss=float(np.exp(c.estimate)),
        odds_ratio_ci_low=float(np.exp(c.ci_low)),
        odds_ratio_ci_high=float(np.exp(c.ci_high)),
        cadss_sd_points=cadss_sd,
        cadss_mean_points=cadss_mean,
        log_odds_per_sd_baseline_phq9=b.estimate,
        baseline_ci_low=b.ci_low,
        baseline_ci_high=b.ci_high,
        confidence=confidence,
        infusions_averaged=CADSS_INFUSIONS,
        caveat=CAVEAT,
    )
