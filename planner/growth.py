"""Demand growth from a history: monthly mean and peak, a fitted curve, and a prediction band.

Three curves are fitted with scipy to the monthly means (linear, exponential, logistic) and
compared on held-out months (rolling origin: fit on the months before each origin in the second
half of the history, forecast up to three months past it); the one with the smallest error is
refitted on every month. The logistic must beat the others by 20 %: its extra parameter bends a
noisy exponential and would understate growth. Capacity is planned for the peak (mean x the median monthly peak/mean ratio of
the history), energy for the mean. The band is log-normal around the curve, its width the fit's
residual spread growing with the square root of the months ahead.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

GrowthCurve = Literal["linear", "exponential", "logistic"]
CURVES: tuple[GrowthCurve, ...] = ("linear", "exponential", "logistic")
MIN_MONTHS_TO_COMPARE = 4
HOLDOUT_AHEAD = 3
LOGISTIC_MARGIN = 0.8


def _linear(t: np.ndarray, a: float, b: float) -> np.ndarray:
    return a + b * t


def _exponential(t: np.ndarray, a: float, b: float) -> np.ndarray:
    return a * np.exp(b * t)


def _logistic(t: np.ndarray, capacity: float, rate: float, midpoint: float) -> np.ndarray:
    return capacity / (1.0 + np.exp(-rate * (t - midpoint)))


FUNCTIONS: Mapping[GrowthCurve, Callable[..., np.ndarray]] = {
    "linear": _linear,
    "exponential": _exponential,
    "logistic": _logistic,
}


@dataclass(frozen=True)
class GrowthFit:
    workload: str
    curve: GrowthCurve
    params: tuple[float, ...]
    holdout_error: Mapping[str, float]
    """RMS log error of each curve on the held-out months (~ relative error; empty when too few months)."""
    log_sigma: float
    peak_factor: float
    months_observed: int

    def mean_at(self, month: float) -> float:
        """Mean demand (tok/s) at `month` counted from the first observed month (0)."""
        return max(float(FUNCTIONS[self.curve](np.array([month]), *self.params)[0]), 0.0)

    def quantile_at(self, month: float, quantile: float) -> float:
        """The mean demand's `quantile` at `month`: wider the further past the history."""
        ahead = max(month - (self.months_observed - 1), 0.0)
        spread = self.log_sigma * math.sqrt(1.0 + ahead)
        return self.mean_at(month) * math.exp(NormalDist().inv_cdf(quantile) * spread)

    @property
    def monthly_growth(self) -> float:
        """Relative growth per month at the last observed month."""
        last = self.months_observed - 1
        before = self.mean_at(last - 1)
        return self.mean_at(last) / before - 1.0 if before > 0 else float("nan")


def _fit(curve: GrowthCurve, t: np.ndarray, y: np.ndarray) -> tuple[float, ...]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        if curve == "linear":
            slope, intercept = np.polyfit(t, y, 1)
            return (float(intercept), float(slope))
        if curve == "exponential":
            slope, intercept = np.polyfit(t, np.log(np.maximum(y, 1e-9)), 1)
            params, _ = curve_fit(_exponential, t, y, p0=(math.exp(intercept), slope), maxfev=20_000)
            return tuple(float(p) for p in params)
        top = float(np.max(y))
        params, _ = curve_fit(
            _logistic,
            t,
            y,
            p0=(2 * top, 0.3, float(t[-1])),
            bounds=([top * 0.5, 1e-4, -120.0], [top * 50, 5.0, 240.0]),
            maxfev=20_000,
        )
        return tuple(float(p) for p in params)


def _holdout_error(curve: GrowthCurve, t: np.ndarray, y: np.ndarray) -> float:
    """Rolling-origin error: fit on the months before each origin from the middle of the history
    on, forecast up to HOLDOUT_AHEAD months past it, and take the RMS of the log errors."""
    errors: list[float] = []
    for origin in range(max(MIN_MONTHS_TO_COMPARE - 1, len(t) // 2), len(t)):
        try:
            params = _fit(curve, t[:origin], y[:origin])
        except (RuntimeError, ValueError, TypeError):
            return float("inf")
        end = min(origin + HOLDOUT_AHEAD, len(t))
        predicted = np.maximum(FUNCTIONS[curve](t[origin:end], *params), 1e-9)
        errors.extend(np.log(predicted) - np.log(np.maximum(y[origin:end], 1e-9)))
    return float(np.sqrt(np.mean(np.square(errors))))


def fit_growth(workload: str, monthly_mean: np.ndarray, peak_factor: float) -> GrowthFit:
    """The best curve for one workload's monthly means (month 0 = the first observed)."""
    months = len(monthly_mean)
    t = np.arange(months, dtype=float)
    errors: dict[str, float] = {}
    best: GrowthCurve = "exponential"  # two or three months cannot tell curves apart
    if months >= MIN_MONTHS_TO_COMPARE:
        errors = {curve: _holdout_error(curve, t, monthly_mean) for curve in CURVES}
        best = min(("linear", "exponential"), key=lambda curve: errors[curve])
        # The logistic's third parameter bends any noisy exponential: it must clearly win.
        if errors["logistic"] < LOGISTIC_MARGIN * errors[best]:
            best = "logistic"
    params = _fit(best, t, monthly_mean)
    residuals = np.log(np.maximum(monthly_mean, 1e-9)) - np.log(np.maximum(FUNCTIONS[best](t, *params), 1e-9))
    dof = max(months - len(params), 1)
    sigma = float(np.sqrt(np.sum(residuals**2) / dof))
    return GrowthFit(workload, best, params, errors, sigma, peak_factor, months)
