"""Outcome statistics, pure NumPy/SciPy: proportions, logistic models, the dissociation question.

The SQL lives in :mod:`ketaflow.store.outcome_queries`; use cases that combine the two
in :mod:`ketaflow.services.outcomes`.
"""

from ketaflow.analytics.dissociation import (
    CADSS_INFUSIONS,
    DissociationAssociation,
    dissociation_response_association,
)
from ketaflow.analytics.logistic import Coefficient, LogisticFit, NoConvergence, fit_logistic, standardise
from ketaflow.analytics.proportions import (
    HomogeneityTest,
    Proportion,
    clopper_pearson_interval,
    homogeneity_test,
    proportion,
    wilson_interval,
)
from ketaflow.analytics.summaries import MeanSummary, mean_from_sums, quantile_from_counts

__all__ = [
    "CADSS_INFUSIONS",
    "Coefficient",
    "DissociationAssociation",
    "HomogeneityTest",
    "LogisticFit",
    "MeanSummary",
    "NoConvergence",
    "Proportion",
    "clopper_pearson_interval",
    "dissociation_response_association",
    "fit_logistic",
    "homogeneity_test",
    "mean_from_sums",
    "proportion",
    "quantile_from_counts",
    "standardise",
    "wilson_interval",
]
