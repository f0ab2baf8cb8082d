"""Traffic: generated arrival processes have the rate and burstiness asked for; scaling a trace
keeps its requests and burstiness; the same seed gives the same trace."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.traffic import Trace, generated, scaled_to

LENGTHS = Trace(np.array([0.0, 1.0, 3.0]), np.array([100, 2000, 512]), np.array([10, 300, 128]))


@pytest.mark.parametrize("cv", [1.0, 3.0])
def test_a_generated_process_has_the_rate_and_burstiness_asked_for(cv: float) -> None:
    trace = generated(requests_per_s=20.0, duration_s=3600.0, lengths=LENGTHS, cv=cv, seed=7)
    assert trace.requests / trace.duration_s == pytest.approx(20.0, rel=0.05 * cv)
    assert trace.interarrival_cv == pytest.approx(cv, rel=0.1)
    pairs = set(zip(trace.prompt_tokens.tolist(), trace.output_tokens.tolist(), strict=True))
    assert pairs == {(100, 10), (2000, 300), (512, 128)}  # lengths resampled as pairs
    again = generated(requests_per_s=20.0, duration_s=3600.0, lengths=LENGTHS, cv=cv, seed=7)
    assert np.array_equal(trace.arrival_s, again.arrival_s)


def test_scaling_compresses_time_and_keeps_requests_and_burstiness() -> None:
    trace = generated(requests_per_s=5.0, duration_s=600.0, lengths=LENGTHS, cv=2.0, seed=3)
    doubled = scaled_to(trace, 2 * trace.output_tok_s)
    assert doubled.requests == trace.requests
    assert doubled.output_tok_s == pytest.approx(2 * trace.output_tok_s)
    assert doubled.duration_s == pytest.approx(trace.duration_s / 2)
    assert doubled.interarrival_cv == pytest.approx(trace.interarrival_cv)
    assert np.array_equal(doubled.output_tokens, trace.output_tokens)


@pytest.mark.parametrize(
    ("arrival", "prompt", "output"),
    [([0.0, 2.0, 1.0], [1, 1, 1], [1, 1, 1]), ([1.0, 2.0], [1, 1], [1, 1]), ([0.0, 1.0], [0, 5], [1, 1]), ([], [], [])],
    ids=["back in time", "not from zero", "no prompt", "empty"],
)
def test_a_trace_that_does_not_hold_together_is_refused(arrival, prompt, output) -> None:
    with pytest.raises(ValueError):
        Trace(np.array(arrival), np.array(prompt, dtype=np.int64), np.array(output, dtype=np.int64))
