"""How one replica configuration's speed and power change with its running batch, fitted from a
measured batch sweep, with a leave-one-out check of the fit.

The shapes are the memory-bandwidth roofline's: once the weights are read each step, a cycle of b
requests (their prefill, then `output_tokens` decode steps) lasts alpha + beta * b seconds, so
throughput b * output / (alpha + beta * b) rises and saturates; the decode step (TPOT) is
a + c * b (weights once, KV per sequence); power saturates, p0 + p1 * b / (b + k), toward the
board's limit (on the reference H200, llama-3.1-8b drew 435, 447, 515, 655, 704 W at batch 1,
4, 16, 64, 256). Against power linear in ln b that shape cut the largest interpolated
leave-one-out power error from 9.7 to 5.5 % (reference H100), 19.0 to 2.7 % and 26.5 to 1.1 %
(the H100 torch-decode runs), at 0.3-1.6 points worse on three ML.ENERGY sweeps; with fewer
than four batches, or where it does not converge, power is linear in ln b. Each curve keeps its
residuals; a batch outside the measured range is extrapolated and says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import curve_fit


@dataclass(frozen=True)
class BatchPoint:
    """One measured operating point of a sweep: whole requests at one batch (or concurrency)."""

    batch: int
    tok_s: float
    tpot_ms: float
    power_w: float

    @property
    def j_per_token(self) -> float:
        return self.power_w / self.tok_s


@dataclass(frozen=True)
class Line:
    intercept: float
    slope: float
    rms_residual: float
    """Root mean square of the fit's residuals on the points it was fitted to (0 through two)."""

    def at(self, x: float) -> float:
        return self.intercept + self.slope * x


def _line(x: Sequence[float], y: Sequence[float]) -> Line:
    slope, intercept = np.polyfit(np.asarray(x, dtype=float), np.asarray(y, dtype=float), 1)
    residuals = np.asarray(y) - (intercept + slope * np.asarray(x))
    return Line(float(intercept), float(slope), float(np.sqrt(np.mean(residuals**2))))


def _saturating(batch: np.ndarray, p0: float, p1: float, k: float) -> np.ndarray:
    return p0 + p1 * batch / (batch + k)


@dataclass(frozen=True)
class PowerCurve:
    shape: str
    """"saturating" (p0 + p1 b / (b + k)) or "log-linear" (p0 + p1 ln b)."""
    parameters: tuple[float, ...]
    rms_residual: float

    def at(self, batch: float) -> float:
        if self.shape == "saturating":
            p0, p1, k = self.parameters
            return p0 + p1 * batch / (batch + k)
        p0, p1 = self.parameters
        return p0 + p1 * math.log(batch)


def _power_curve(batches: Sequence[int], power_w: Sequence[float]) -> PowerCurve:
    x, y = np.asarray(batches, dtype=float), np.asarray(power_w, dtype=float)
    if len(set(batches)) >= 4:
        try:
            guess = [float(y.min()), float(np.ptp(y)) or 1.0, float(np.median(x))]
            found, _ = curve_fit(_saturating, x, y, p0=guess, bounds=([0, 0, 1e-3], [np.inf, np.inf, np.inf]), maxfev=5000)
            residuals = y - _saturating(x, *found)
            return PowerCurve("saturating", tuple(float(v) for v in found), float(np.sqrt(np.mean(residuals**2))))
        except RuntimeError:
            pass  # no convergence: the log-linear shape below
    line = _line(np.log(x).tolist(), power_w)
    return PowerCurve("log-linear", (line.intercept, line.slope), line.rms_residual)


@dataclass(frozen=True)
class BatchCurves:
    output_tokens: int
    cycle_s: Line
    """Seconds per cycle of b requests, against b."""
    tpot_ms: Line
    """Decode step in ms, against b."""
    power_w: PowerCurve
    measured_batches: tuple[int, int]

    def tok_s(self, batch: float) -> float:
        return batch * self.output_tokens / self.cycle_s.at(batch)

    def tpot(self, batch: float) -> float:
        return self.tpot_ms.at(batch)

    def power(self, batch: float) -> float:
        return self.power_w.at(batch)

    def j_per_token(self, batch: float) -> float:
        return self.power(batch) / self.tok_s(batch)

    def extrapolated(self, batch: float) -> bool:
        return not self.measured_batches[0] <= batch <= self.measured_batches[1]


def fit(points: Sequence[BatchPoint], output_tokens: int) -> BatchCurves:
    """The curves through a sweep of at least two distinct batches."""
    batches = sorted({p.batch for p in points})
    if len(batches) < 2 or output_tokens < 1:
        raise ValueError("a fit needs measurements at two or more batch sizes and at least one output token")
    cycle_s = [p.batch * output_tokens / p.tok_s for p in points]
    return BatchCurves(
        output_tokens=output_tokens,
        cycle_s=_line([p.batch for p in points], cycle_s),
        tpot_ms=_line([p.batch for p in points], [p.tpot_ms for p in points]),
        power_w=_power_curve([p.batch for p in points], [p.power_w for p in points]),
        measured_batches=(batches[0], batches[-1]),
    )


@dataclass(frozen=True)
class HeldOut:
    """One point predicted from the others: relative errors (predicted / measured - 1)."""

    point: BatchPoint
    tok_s_error: float
    tpot_error: float
    j_per_token_error: float
    extrapolated: bool


def leave_one_out(points: Sequence[BatchPoint], output_tokens: int) -> list[HeldOut]:
    """Each point predicted by the curves through all the others; a sweep of fewer than three
    batches has nothing to hold out."""
    held = []
    for index, point in enumerate(points):
        others = [p for k, p in enumerate(points) if k != index]
        if len({p.batch for p in others}) < 2:
            continue
        curves = fit(others, output_tokens)
        held.append(
            HeldOut(
                point=point,
                tok_s_error=curves.tok_s(point.batch) / point.tok_s - 1,
                tpot_error=curves.tpot(point.batch) / point.tpot_ms - 1,
                j_per_token_error=curves.j_per_token(point.batch) / point.j_per_token - 1,
                extrapolated=curves.extrapolated(point.batch),
            )
        )
    return held
