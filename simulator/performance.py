"""How one replica configuration's speed and power change with its running batch, fitted from a
measured batch sweep, with a leave-one-out check of the fit.

The shapes are the memory-bandwidth roofline's: once the weights are read each step, a cycle of b
requests (their prefill, then `output_tokens` decode steps) lasts alpha + beta * b seconds, so
throughput b * output / (alpha + beta * b) rises and saturates; the decode step (TPOT) is
a + c * b (weights once, KV per sequence); and a cycle's energy is A + B * b joules for the same
reason (the weights' reads once per step, each request's prefill and KV reads on top), so power
is (A + B b) / (alpha + beta b), saturating toward B / beta. Fitting the cycle's energy as a line
instead of power as a free saturating curve (p0 + p1 b / (b + k), or linear in ln b below four
batches) cut the median held-out J/token error of `planner model-check --simulate` from 10.1 to
3.8 % over 73 points and the batch-1 extrapolations of the torch-decode sweeps from 43-57 % to
within 5 % (2026-11-28). Each line keeps its residuals; a batch outside the measured range is
extrapolated and says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


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


@dataclass(frozen=True)
class BatchCurves:
    output_tokens: int
    cycle_s: Line
    """Seconds per cycle of b requests, against b."""
    cycle_j: Line
    """Joules per cycle of b requests, against b."""
    tpot_ms: Line
    """Decode step in ms, against b."""
    measured_batches: tuple[int, int]

    def tok_s(self, batch: float) -> float:
        return batch * self.output_tokens / self.cycle_s.at(batch)

    def tpot(self, batch: float) -> float:
        return self.tpot_ms.at(batch)

    def power(self, batch: float) -> float:
        return self.cycle_j.at(batch) / self.cycle_s.at(batch)

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
        cycle_j=_line([p.batch for p in points], [p.power_w * seconds for p, seconds in zip(points, cycle_s, strict=True)]),
        tpot_ms=_line([p.batch for p in points], [p.tpot_ms for p in points]),
        measured_batches=(batches[0], batches[-1]),
    )


@dataclass(frozen=True)
class KvCost:
    """What each token of KV cache a decode step reads adds to that step: a step reads the
    weights once and every running sequence's cache, so at a given batch its time and energy grow
    linearly with the context held (on a lent H100, llama-3.1-8b: 0.31-0.34 ms and 0.19-0.20 J
    per GB read at batch 1, 16 and 64 alike; data/runs/README.md). The batch curves were fitted
    at `reference_tokens` per sequence; a step holding more or less than that moves by these slopes."""

    s_per_token: float
    j_per_token: float
    reference_tokens: float
    """Tokens per sequence the curves' sweep read each decode step."""
    basis: str
    """Where the slopes come from: measured across prompt lengths, or the bandwidth roofline."""

    def __post_init__(self) -> None:
        if self.s_per_token < 0 or self.j_per_token < 0 or self.reference_tokens < 0:
            raise ValueError(f"a KV cost's slopes and reference context are never negative: {self}")

    def extra_s(self, decoding: int, context_tokens: float) -> float:
        return self.s_per_token * (context_tokens - decoding * self.reference_tokens)

    def extra_j(self, decoding: int, context_tokens: float) -> float:
        return self.j_per_token * (context_tokens - decoding * self.reference_tokens)


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
