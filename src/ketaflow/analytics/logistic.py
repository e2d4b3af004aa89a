"""Logistic regression by Newton-Raphson (iteratively reweighted least squares) in NumPy.

Kept in NumPy so the shipped analytics need no statsmodels; the tests check it against
statsmodels' ``Logit`` on the same data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats


class NoConvergence(ValueError):
    """The fit did not converge (e.g. complete separation: a predictor splits the outcome)."""


@dataclass(frozen=True)
class Coefficient:
    """One fitted log-odds coefficient with its Wald interval."""

    name: str
    estimate: float
    standard_error: float
    ci_low: float
    ci_high: float
    p_value: float


@dataclass(frozen=True)
class LogisticFit:
    """A fitted logistic model: intercept first, then the predictors in the order given."""

    coefficients: tuple[Coefficient, ...]
    n: int
    events: int
    iterations: int
    log_likelihood: float
    confidence: float

    def coefficient(self, name: str) -> Coefficient:
        """Return the coefficient called `name`."""
        for c in self.coefficients:
            if c.name == name:
                return c
        raise KeyError(name)


def fit_logistic(
    predictors: ArrayLike,
    outcome: ArrayLike,
    names: Sequence[str],
    *,
    confidence: float = 0.95,
    max_iterations: int = 50,
    tolerance: float = 1e-10,
) -> LogisticFit:
    r"""Fit :math:`\operatorname{logit} P(y=1) = b_0 + X b` by maximum likelihood.

    Newton-Raphson on the log-likelihood, which for the logistic model is IRLS: each
    step solves :math:`(X^T W X)\,\delta = X^T (y - p)` with :math:`W = p(1-p)`. Standard
    errors are the square roots of the diagonal of :math:`(X^T W X)^{-1}` at the optimum
    (the inverse observed information); intervals and p-values are Wald's.

    Parameters
    ----------
    predictors
        Array of shape (n, k), without an intercept column (one is added).
    outcome
        Array of n values, each 0 or 1.
    names
        The k predictor names (the intercept is called ``"intercept"``).

    Returns
    -------
    LogisticFit

    Raises
    ------
    NoConvergence
        When the iterations do not converge, as under complete separation.

    References
    ----------
    McCullagh P, Nelder JA. Generalized Linear Models, 2nd ed. Chapman & Hall 1989, sec. 4.4.
    Hosmer DW, Lemeshow S, Sturdivant RX. Applied Logistic Regression, 3rd ed. Wiley 2013.
    doi:10.1002/9781118548387
    """
    x = np.asarray(predictors, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    y = np.asarray(outcome, dtype=float)
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError("predictors must be (n, k) and outcome length n.")
    if len(names) != x.shape[1]:
        raise ValueError(f"Got {len(names)} names for {x.shape[1]} predictors.")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("The outcome must be 0 or 1.")
    if not np.all(np.isfinite(x)):
        raise ValueError("The predictors must be finite numbers.")
    n = x.shape[0]
    design = np.column_stack([np.ones(n), x])
    if n <= design.shape[1] or y.sum() == 0 or y.sum() == n:
        raise ValueError("Too few patients, or no variation in the outcome, to fit a logistic model.")

    beta: NDArray[np.float64] = np.zeros(design.shape[1])
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 - reported in the fit
        p = special.expit(design @ beta)
        w = p * (1 - p)
        info = design.T @ (design * w[:, None])
        step = np.linalg.solve(info, design.T @ (y - p))
        beta = beta + step
        if float(np.max(np.abs(step))) < tolerance:
            break
        if float(np.max(np.abs(beta))) > 30:  # odds beyond e^30: separation, no finite MLE
            raise NoConvergence("The outcome is perfectly separated by the predictors; no finite estimate.")
    else:
        raise NoConvergence(f"The logistic fit did not converge in {max_iterations} iterations.")

    eta = design @ beta
    p = special.expit(eta)
    info = design.T @ (design * (p * (1 - p))[:, None])
    se = np.sqrt(np.diag(np.linalg.inv(info)))
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    # log L = sum(y * eta - log(1 + e^eta)), written stably.
    log_lik = float(np.sum(y * eta - np.logaddexp(0.0, eta)))
    coefs = tuple(
        Coefficient(
            name=name,
            estimate=float(b),
            standard_error=float(s),
            ci_low=float(b - z * s),
            ci_high=float(b + z * s),
            p_value=float(2 * stats.norm.sf(abs(b / s))) if s > 0 else math.nan,
        )
        for name, b, s in zip(("intercept", *names), beta, se, strict=True)
    )
    return LogisticFit(coefs, n, int(y.sum()), iterations, log_lik, confidence)


def standardise(values: ArrayLike) -> tuple[NDArray[np.float64], float, float]:
    """Return ``(z, mean, sd)`` with z = (values - mean) / sd, sd with n - 1 in the denominator."""
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        raise ValueError("Standardising needs at least two values.")
    mean = float(v.mean())
    sd = float(v.std(ddof=1))
    if sd == 0:
        raise ValueError("All values are equal; there is no spread to standardise by.")
    return (v - mean) / sd, mean, sd
