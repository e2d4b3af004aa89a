"""The demo generator's settings: the ground truth the synthetic network is drawn from.

Outcome analytics must recover these numbers from the generated records, so they
are stored with each build (`demo_builds.settings`). Where a number comes from the
literature its source is named; where no source was found, the comment says so and
the number is our choice for realistic-looking synthetic data, not a clinical rule.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import date
from typing import Any


@dataclass(frozen=True)
class DemoSettings:
    clinics: int = 9
    patients: int = 3500
    seed: int = 7
    # Day the history runs up to; appointments on or after it are booked, not charted.
    as_of: date = field(default_factory=date.today)
    history_days: int = 3 * 365

    # --- the series -----------------------------------------------------------------
    # Protocols (dose, duration, number of induction infusions) come from the clinical
    # rules (ketaflow.clinical), the same ones the app enforces. Induction spacing of
    # two to four days (two or three a week) as in Singh JB et al., Am J Psychiatry
    # 2016;173:816-826; maintenance offered on response (Oliver PA et al., J Clin
    # Psychiatry 2022;83(6):21m14336).
    # Drop-out before completing induction: 11.3% in a 5-year public-clinic cohort.
    # Gutierrez G, Kang MJY, Vasquez G et al., "IV low dose ketamine infusions for TRD:
    # results from a five-year study at a free public clinic in an academic hospital"
    # (journal and year not verified here).
    dropout_fraction: float = 0.113
    # Mean number of maintenance boosters for responders, and the gap between them.
    # No published distribution found; chosen so that the network averages about ten
    # infusions per patient, as the brief's model customer reports (35,000 / 3,500).
    boosters_mean: float = 13.0
    booster_gap_days: tuple[int, int] = (21, 42)
    # Screened out at consultation (contraindication found). No source found; our choice.
    ineligible_fraction: float = 0.03

    # --- outcomes (PHQ-9) -------------------------------------------------------------
    # Response (>=50% PHQ-9 reduction) 53.6% and remission (PHQ-9 < 5) 28.9% after
    # induction in community practices: McInnes LA et al., J Affect Disord 2022;301:486-495.
    # (Oliver 2022 reports 50% and 20% within 6 weeks.) Targets among completers.
    response_fraction: float = 0.536
    remission_fraction: float = 0.289
    baseline_phq9_mean: float = 18.5
    baseline_phq9_sd: float = 4.0
    # The open question (does dissociation go with response?): the generator's answer.
    # Log-odds of response per SD of a patient's dissociation propensity (their expected peak
    # CADSS at the first infusion, gamma-distributed: see below), and per SD of baseline PHQ-9
    # (a normal latent). Our choice (no settled literature value): a modest positive
    # association, so analytics have something real to find. The dissociation page estimates
    # it per SD of the mean peak CADSS over the first three infusions, a noisy measure of the
    # propensity; `ketaflow.demo.outcomes.mean_cadss_reliability` gives the (small) dilution.
    log_odds_response_per_sd_cadss: float = 0.40
    log_odds_response_per_sd_baseline: float = -0.20

    # --- dissociation (CADSS, 23 items scored 0-4, 0-92) --------------------------------
    # Peak CADSS total during IV ketamine for mood disorders: mean 7.7, SD 9.2 (110 patients);
    # low for most, high for a few (right-skewed). van Schalkwyk GI, Wilkinson ST, Davidson L,
    # Silverman WK, Sanacora G. Acute psychoactive effects of intravenous ketamine during
    # treatment of mood disorders: analysis of the Clinician Administered Dissociative State
    # Scale. J Affect Disord 2018;227:11-16. doi:10.1016/j.jad.2017.09.023.
    # The generator matches these at the first infusion: a patient's peak there is their
    # propensity P ~ gamma times a session factor (mean 1), with the gamma fitted by moments so
    # the product has this mean and SD (`ketaflow.demo.outcomes.cadss_propensity_gamma`).
    cadss_mean: float = 7.7
    cadss_sd: float = 9.2
    # Session-to-session variation of one patient's peak CADSS: a lognormal factor with mean 1
    # and this coefficient of variation (multiplicative, so a score never goes below zero).
    # Our choice; no published figure found.
    cadss_session_cv: float = 0.25
    # Each infusion's expected peak is this fraction below the previous one (dissociation
    # lessens over repeated infusions). Our choice, no per-infusion figure found; the same
    # relative step as the 0.6 of 14 points used before.
    cadss_decline_fraction_per_infusion: float = 0.04

    # --- vital signs --------------------------------------------------------------------
    # The blood-pressure model: `ketaflow.demo.blood_pressure` (why it has this shape).
    # A patient's own resting pressure: mean 122/71 mmHg, US adults 18 and over, NHANES 2001-2008
    # (Wright JD, Hughes JP, Ostchega Y, Yoon SS, Nwankwo T. Mean systolic and diastolic blood
    # pressure in adults aged 18 and over in the United States, 2001-2008. Natl Health Stat Report
    # 2011;(35):1-22). (Until issue 13 the generator drew 124/79, no source; its diastolic mean was
    # 8 mmHg above the population's, and most of its pauses were diastolic.)
    resting_systolic_mean: float = 122.0
    resting_diastolic_mean: float = 71.0
    # Between-patient spread: no source found (the report gives percentiles by age and sex, not
    # read here); our choice, the values the generator used before.
    resting_systolic_sd: float = 12.0
    resting_diastolic_sd: float = 8.0
    # Correlation of systolic with diastolic, used for the patient, the visit, the rise and the
    # reading noise alike: no source found; our choice (they move together; drawn independently
    # until issue 13, which charted a diastolic at or above the systolic in ~0.4% of readings).
    bp_correlation: float = 0.6
    # Visit-to-visit change of the resting pressure, and the noise of one charted reading (SD,
    # mmHg): no source found; our choice, the values the generator used before.
    visit_systolic_sd: float = 5.0
    visit_diastolic_sd: float = 4.0
    reading_systolic_sd: float = 4.0
    reading_diastolic_sd: float = 3.0
    # Mean change at 40 min (the peak, end of a 40-min infusion; BP charted every 10 min): systolic
    # 16.0 (SD 11.2), diastolic 11.0 (SD 8.45) mmHg; severe hypertension in 0.98% of 2,342 infusions.
    # Yale chart review, Gen Hosp Psychiatry 2024, doi:10.1016/j.genhosppsych.2024.07.001. The SDs
    # are of the change between two charted readings: the generator takes the two readings' noise
    # out of them (`blood_pressure.rise_sd`). The 0.98% is not a setting: it is what the model
    # should give, and the demo pauses an infusion only when its own readings reach the clinical
    # rules' pause (until issue 13 a forced 0.98% came on top of the model's own tail).
    # Other cohorts report smaller rises: +3.3/+3.2 mmHg at 30 min (Riva-Posse P et al., J Affect
    # Disord 2018, doi:10.1016/j.jad.2018.02.025, 684 infusions, none stopped), +7.4/+6.0 mmHg
    # ("Cardiovascular effects of repeated subanaesthetic ketamine infusion in depression", 135
    # patients, 741 infusions; journal and authors not verified here). The demo keeps Yale's.
    systolic_rise_mean: float = 16.0
    systolic_rise_sd: float = 11.2
    diastolic_rise_mean: float = 11.0
    diastolic_rise_sd: float = 8.45
    vitals_every_min: int = 5

    # --- side effects per infusion ------------------------------------------------------
    # Per-infusion rates: no single source gives them per infusion; these are our
    # choices in the range trial reports give per patient (Singh 2016; Short B et al.,
    # Lancet Psychiatry 2018;5:65-78, a systematic review of ketamine side effects).
    side_effect_rates: dict[str, float] = field(
        default_factory=lambda: {
            "nausea": 0.08,
            "dizziness": 0.10,
            "headache": 0.07,
            "blurred_vision": 0.05,
            "anxiety": 0.04,
            "faintness": 0.02,
            "vomiting": 0.01,
        }
    )
    restroom_request_fraction: float = 0.15

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat()
        data["booster_gap_days"] = list(self.booster_gap_days)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DemoSettings:
        """Settings as stored with a build; keys an older generator had and this one lacks are dropped.

        (An older build then reads with today's defaults for the rest, and a rerun is refused
        as "built with other settings", since its stored identity differs.)
        """
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["as_of"] = date.fromisoformat(values["as_of"])
        values["booster_gap_days"] = tuple(values["booster_gap_days"])
        return cls(**values)

    def identity(self) -> dict[str, Any]:
        """What must match for a rerun to finish (rather than rebuild) an earlier build."""
        return self.as_json()
