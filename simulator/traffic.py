"""Request traffic as arrays: a recorded trace, a generated arrival process, and a trace scaled to a demand."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Trace:
    """Requests in arrival order: seconds from the first arrival, prompt and output tokens."""

    arrival_s: np.ndarray
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray

    def __post_init__(self) -> None:
        sizes = {len(self.arrival_s), len(self.prompt_tokens), len(self.output_tokens)}
        if len(sizes) != 1 or not len(self.arrival_s):
            raise ValueError("a trace needs one arrival, prompt and output length per request, and at least one request")
        if np.any(np.diff(self.arrival_s) < 0) or self.arrival_s[0] != 0:
            raise ValueError("arrivals must start at 0 s and never go back in time")
        if np.any(self.prompt_tokens < 1) or np.any(self.output_tokens < 1):
            raise ValueError("every request needs at least one prompt and one output token")

    @property
    def requests(self) -> int:
        return len(self.arrival_s)

    @property
    def duration_s(self) -> float:
        """From the first arrival to the last (0 for one request)."""
        return float(self.arrival_s[-1])

    @property
    def output_tok_s(self) -> float:
        """Mean output tokens a second the trace asks for, over its span."""
        return float(self.output_tokens.sum()) / self.duration_s if self.duration_s else float("inf")

    @property
    def interarrival_cv(self) -> float:
        """Coefficient of variation of the gaps between arrivals: 1 for Poisson, above for bursts."""
        gaps = np.diff(self.arrival_s)
        return float(gaps.std() / gaps.mean()) if len(gaps) and gaps.mean() > 0 else 0.0


def scaled_to(trace: Trace, output_tok_s: float) -> Trace:
    """The same requests in the same order with every gap stretched or compressed by one factor,
    so that they ask for `output_tok_s` on average. Time compression keeps the lengths and the
    burstiness (the inter-arrival CV is unchanged), where thinning would drop requests."""
    if not output_tok_s > 0:
        raise ValueError(f"a demand of {output_tok_s} output tokens/s cannot be traced")
    factor = trace.output_tok_s / output_tok_s
    return Trace(trace.arrival_s * factor, trace.prompt_tokens, trace.output_tokens)


def generated(requests_per_s: float, duration_s: float, lengths: Trace, cv: float = 1.0, seed: int = 0) -> Trace:
    """Arrivals of a renewal process with Gamma gaps of mean 1/rate and coefficient of variation
    `cv` (1: Poisson; above 1: burstier), lengths resampled (prompt and output together) from
    `lengths`; the same seed gives the same trace."""
    if not requests_per_s > 0 or not duration_s > 0 or not cv > 0:
        raise ValueError("rate, duration and coefficient of variation must be positive")
    rng = np.random.default_rng(seed)
    shape = 1.0 / cv**2
    chunk = int(requests_per_s * duration_s) + 100
    arrival_s = np.zeros(1)
    while arrival_s[-1] <= duration_s:
        gaps = rng.gamma(shape, 1.0 / (requests_per_s * shape), size=chunk)
        arrival_s = np.concatenate((arrival_s, arrival_s[-1] + np.cumsum(gaps)))
    arrival_s = arrival_s[arrival_s <= duration_s]
    picks = rng.integers(0, lengths.requests, size=len(arrival_s))
    return Trace(arrival_s, lengths.prompt_tokens[picks], lengths.output_tokens[picks])
