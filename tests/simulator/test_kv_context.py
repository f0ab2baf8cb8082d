"""Decode steps that follow the KV context held: by hand, across a run of growing steps cut by an arrival."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.performance import BatchPoint, KvCost, fit
from simulator.serving import ReplicaModel, ReplicaSpec, simulate
from simulator.traffic import Trace

CURVES = fit([BatchPoint(b, b * 100 / (1.0 + 0.01 * b), 10.0 + 0.1 * b, 300 + 50 * b / (b + 8)) for b in (1, 4, 16, 64)], 100)
KV = KvCost(s_per_token=2e-6, j_per_token=1e-3, reference_tokens=500, basis="test")
PREFILL_S_PER_TOKEN = 1e-4


def replica(kv: KvCost | None = KV) -> ReplicaSpec:
    model = ReplicaModel(CURVES, prefill_s_per_token=PREFILL_S_PER_TOKEN, max_batch=8, kv_capacity_tokens=100_000, idle_power_w=100.0, kv=kv)
    return ReplicaSpec(model, {"w": 1.0})


def requests(arrivals: list[float], prompt: int, output: int) -> dict[str, Trace]:
    n = len(arrivals)
    return {"w": Trace(np.asarray(arrivals, dtype=float), np.full(n, prompt), np.full(n, output))}


def test_each_decode_step_pays_for_the_context_it_reads():
    result = simulate([replica()], requests([0.0], prompt=1000, output=5))
    # the prefill step caches the prompt and gives token 1; decode step k reads 1000 + k tokens
    steps_s = [CURVES.tpot(1) / 1000 + KV.s_per_token * (1000 + k - 500) for k in range(4)]
    steps_j = [CURVES.power(1) * CURVES.tpot(1) / 1000 + KV.j_per_token * (1000 + k - 500) for k in range(4)]
    prefill_s = 1000 * PREFILL_S_PER_TOKEN
    assert result.ttft_s[0] == pytest.approx(prefill_s)
    assert result.finish_s[0] == pytest.approx(prefill_s + sum(steps_s))
    assert result.tpot_s[0] == pytest.approx(sum(steps_s) / 4)
    assert result.energy_j[0] == pytest.approx(CURVES.power(1) * prefill_s + sum(steps_j))
    # against the same replica blind to context: longer steps, more joules, exactly by the slopes
    blind = simulate([replica(kv=None)], requests([0.0], prompt=1000, output=5))
    assert result.finish_s[0] - blind.finish_s[0] == pytest.approx(KV.s_per_token * sum(500 + k for k in range(4)))


@pytest.mark.parametrize("second_arrival_s", [0.05, 0.1, 0.1105, 0.2, 0.2345, 0.4, 0.6])
def test_an_arrival_cuts_a_run_of_growing_steps_where_a_single_step_would_have_let_it_in(second_arrival_s: float):
    prompt, output = 1000, 60
    result = simulate([replica()], requests([0.0, second_arrival_s], prompt=prompt, output=output))
    # request 0 alone: its prefill step, then decode steps k = 0, 1, ... reading prompt + k tokens
    boundary_s, k = prompt * PREFILL_S_PER_TOKEN, 0
    while boundary_s < second_arrival_s - 1e-12:
        boundary_s += CURVES.tpot(1) / 1000 + KV.s_per_token * (prompt + k - 500)
        k += 1
    # the next step decodes request 0 (k tokens further on) and prefills request 1 in one go
    joint_s = CURVES.tpot(1) / 1000 + KV.s_per_token * (prompt + k - 500) + prompt * PREFILL_S_PER_TOKEN
    assert result.ttft_s[1] == pytest.approx(boundary_s + joint_s - second_arrival_s)
    assert result.output_tokens.sum() == 2 * output and not np.isnan(result.finish_s).any()
    # every joule the replica spent is in its power over time, the growing runs' included (the
    # last bin runs past the last finish at idle power)
    [power_w] = result.power_w(np.zeros(1, dtype=np.int64), resolution_s=0.01)
    tail_s = len(power_w) * 0.01 - result.horizon_s
    assert power_w.sum() * 0.01 == pytest.approx(result.energy_j[0] + 100.0 * tail_s, rel=1e-9)


def test_a_kv_cost_is_never_negative():
    with pytest.raises(ValueError, match="never negative"):
        KvCost(s_per_token=-1e-6, j_per_token=1e-3, reference_tokens=500, basis="test")
