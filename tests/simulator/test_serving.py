"""The serving simulator against hand-computed timelines, and its scheduler's limits under load."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.performance import BatchPoint, fit
from simulator.serving import ReplicaModel, ReplicaSpec, simulate
from simulator.traffic import Trace

# decode step 10 ms + 0.1 ms per running request; power 300 W + 50 W * b / (b + 8)
CURVES = fit([BatchPoint(b, b * 100 / (1.0 + 0.01 * b), 10.0 + 0.1 * b, 300 + 50 * b / (b + 8)) for b in (1, 4, 16, 64)], 100)


def replica(max_batch: int = 8, kv: int = 100_000, chunk: int | None = None, workload: str = "w", weight: float = 1.0) -> ReplicaSpec:
    model = ReplicaModel(CURVES, prefill_s_per_token=1e-4, max_batch=max_batch, kv_capacity_tokens=kv, idle_power_w=100.0,
                         prefill_tokens_per_step=chunk)  # fmt: skip
    return ReplicaSpec(model, {workload: weight})


def trace(arrivals: list[float], prompt: int = 1000, output: int = 3) -> Trace:
    n = len(arrivals)
    return Trace(np.asarray(arrivals, dtype=float), np.full(n, prompt), np.full(n, output))


def test_one_request_on_an_idle_replica_follows_the_steps_by_hand():
    result = simulate([replica()], {"w": trace([0.0, 10.0])})
    step_1 = CURVES.tpot(1) / 1000  # 10.1 ms
    # prefill of 1000 tokens alone (0.1 s) gives the first token; two decode steps give the rest
    assert result.ttft_s[0] == pytest.approx(0.1)
    assert result.tpot_s[0] == pytest.approx(step_1)
    assert result.finish_s[1] == pytest.approx(10.0 + 0.1 + 2 * step_1)
    busy_s = 2 * (0.1 + 2 * step_1)
    assert result.busy_s[0] == pytest.approx(busy_s)
    assert result.mean_batch[0] == pytest.approx(1.0)
    assert result.energy_j[0] == pytest.approx(CURVES.power(1) * busy_s + 100.0 * (result.horizon_s - busy_s))


def test_an_arrival_during_a_step_waits_for_the_next_and_prefills_beside_the_decodes():
    result = simulate([replica()], {"w": trace([0.0, 0.05], output=4)})
    # request 1 arrives in request 0's prefill step (0-0.1 s); the next step decodes 0 and prefills 1
    assert result.ttft_s[1] == pytest.approx(0.1 + CURVES.tpot(1) / 1000 + 0.1 - 0.05)


def test_the_batch_limit_and_the_kv_cache_hold_and_every_request_finishes():
    arrivals = list(np.linspace(0.0, 0.2, 40))
    roomy = simulate([replica(max_batch=4)], {"w": trace(arrivals, prompt=200, output=50)})
    assert roomy.most_running[0] == 4 and roomy.preemptions.sum() == 0
    assert 1 <= roomy.mean_batch[0] <= 4
    # room for about three requests' full length: running ones are preempted and recomputed
    tight = simulate([replica(max_batch=8, kv=800)], {"w": trace(arrivals, prompt=200, output=50)})
    assert tight.preemptions.sum() > 0
    assert not np.isnan(tight.finish_s).any()
    assert tight.finish_s.max() > roomy.finish_s.max()
    assert roomy.percentile("ttft_s", 100, "w") == pytest.approx(np.nanmax(roomy.ttft_s))
    assert roomy.percentile("tpot_s", 50) == pytest.approx(np.median(roomy.tpot_s))


def test_chunked_prefill_spreads_a_long_prompt_over_steps():
    whole = simulate([replica()], {"w": trace([0.0], prompt=4000)})
    chunked = simulate([replica(chunk=1000)], {"w": trace([0.0], prompt=4000)})
    assert whole.ttft_s[0] == pytest.approx(0.4)
    assert chunked.ttft_s[0] == pytest.approx(0.4)  # alone, the chunks add up to the same time
    burst = [0.0, 0.001]
    long_then_short = {"w": Trace(np.asarray(burst), np.asarray([8000, 100]), np.asarray([2, 2]))}
    # the short request's prefill waits behind the whole 0.8 s prompt unless it is chunked
    assert simulate([replica(chunk=1000)], long_then_short).ttft_s[1] < simulate([replica()], long_then_short).ttft_s[1]


def test_routers_split_traffic_by_weight_and_by_load():
    arrivals = [i * 1.0 for i in range(40)]  # far apart: every replica is idle at each arrival
    specs = [replica(weight=3.0), replica(weight=1.0)]
    counts = np.bincount(simulate(specs, {"w": trace(arrivals)}, policy="round_robin").replica, minlength=2)
    assert list(counts) == [30, 10]
    burst = [0.0] * 1 + [1e-6 * i for i in range(1, 8)]
    even = simulate([replica(), replica()], {"w": trace(burst)}, policy="least_outstanding")
    assert list(np.bincount(even.replica, minlength=2)) == [4, 4]
    a = simulate([replica(), replica(), replica()], {"w": trace(arrivals)}, policy="power_of_two", seed=3)
    b = simulate([replica(), replica(), replica()], {"w": trace(arrivals)}, policy="power_of_two", seed=3)
    assert np.array_equal(a.replica, b.replica)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="no replica serves workload"):
        simulate([replica()], {"other": trace([0.0])})
    with pytest.raises(ValueError, match="needs 1003 tokens of KV cache"):
        simulate([replica(kv=500)], {"w": trace([0.0])})


def test_a_shared_replica_takes_each_workloads_requests():
    shared = ReplicaSpec(replica().model, {"a": 1.0, "b": 1.0})
    result = simulate([shared, replica(workload="b")], {"a": trace([0.0, 0.5]), "b": trace([0.0, 0.0001])})
    assert list(result.replica[result.workload == "a"]) == [0, 0]
    assert sorted(result.replica[result.workload == "b"]) == [0, 1]


def test_batch_one_with_identical_requests_is_the_deterministic_queue_of_lindleys_recursion():
    """One replica, batch 1, identical requests: service S = prefill + (output - 1) decode steps,
    and each request starts at max(arrival, the previous finish): M/D/1, exactly."""
    rng = np.random.default_rng(7)
    arrivals = np.cumsum(rng.exponential(0.3, 400))
    arrivals -= arrivals[0]
    result = simulate([replica(max_batch=1)], {"w": trace(list(arrivals), prompt=1000, output=20)})
    service_s = 1000 * 1e-4 + 19 * CURVES.tpot(1) / 1000
    finish, expected_finish, expected_ttft = 0.0, [], []
    for arrival in arrivals:
        start = max(arrival, finish)
        finish = start + service_s
        expected_finish.append(finish)
        expected_ttft.append(start - arrival + 1000 * 1e-4)
    assert np.allclose(result.finish_s, expected_finish, rtol=0, atol=1e-9)
    assert np.allclose(result.ttft_s, expected_ttft, rtol=0, atol=1e-9)
    assert (result.ttft_s > 1000 * 1e-4 + 1e-9).any()  # some requests did queue


def test_tokens_and_joules_are_conserved_and_a_seed_repeats_the_run():
    rng = np.random.default_rng(11)
    arrivals = np.cumsum(rng.exponential(0.01, 300))
    arrivals -= arrivals[0]
    lengths = Trace(arrivals, rng.integers(50, 2000, 300), rng.integers(1, 300, 300))
    specs = [replica(max_batch=16, kv=20_000), replica(max_batch=16, kv=20_000)]
    first = simulate(specs, {"w": lengths}, policy="power_of_two", seed=5)
    again = simulate(specs, {"w": lengths}, policy="power_of_two", seed=5)
    assert np.array_equal(first.finish_s, again.finish_s) and np.array_equal(first.energy_j, again.energy_j)
    assert not np.isnan(first.finish_s).any() and (first.finish_s >= first.arrival_s).all()
    assert first.output_tokens.sum() == lengths.output_tokens.sum()
    # busy time never exceeds the span, and each replica's energy lies between all-idle and all-at-the-largest-batch power
    assert (first.busy_s <= first.horizon_s + 1e-9).all()
    assert (first.energy_j >= 100.0 * first.horizon_s - 1e-6).all()
    assert (first.energy_j <= CURVES.power(16) * first.horizon_s + 1e-6).all()


def test_power_over_time_holds_every_joule_and_the_step_by_hand():
    """Binned power: one request on an idle replica is the step powers by hand; on a busy mixed
    run, each group's bins add up to its replicas' joules (idle after the last finish aside)."""
    single = simulate([replica()], {"w": trace([0.0])})
    [series] = single.power_w(np.zeros(1, dtype=np.int64), resolution_s=0.05)
    step_1 = CURVES.tpot(1) / 1000
    assert series[0] == pytest.approx(CURVES.power(1))  # prefill, 0.1 s at the batch-of-one power
    assert series[1] == pytest.approx(CURVES.power(1))
    decode_s = 2 * step_1  # the two decode steps open the third bin of 50 ms, idle fills the rest
    assert len(series) == 3
    assert series[2] * 0.05 == pytest.approx(CURVES.power(1) * decode_s + 100.0 * (0.05 - decode_s))

    rng = np.random.default_rng(3)
    arrivals = np.cumsum(rng.exponential(0.02, 400))
    arrivals -= arrivals[0]
    lengths = Trace(arrivals, rng.integers(50, 3000, 400), rng.integers(1, 200, 400))
    specs = [replica(max_batch=16, kv=30_000) for _ in range(4)]
    result = simulate(specs, {"w": lengths})
    groups = np.array([0, 1, 1, 0])
    power = result.power_w(groups, resolution_s=1.0)
    tail_s = power.shape[1] * 1.0 - result.horizon_s  # the last bin runs past the last finish, idle
    for group in (0, 1):
        members = groups == group
        expected = result.energy_j[members].sum() + 100.0 * members.sum() * tail_s
        assert power[group].sum() * 1.0 == pytest.approx(expected, rel=1e-9)
    assert (power >= 2 * 100.0 - 1e-9).all() and (power <= 2 * CURVES.power(16) + 1e-9).all()


@pytest.mark.parametrize("policy", ["least_outstanding", "round_robin"])
def test_workloads_that_share_no_replica_simulate_apart_exactly_as_together(policy):
    from simulator.parallel import components, simulate_apart

    rng = np.random.default_rng(8)

    def burst(n: int) -> Trace:
        arrivals = np.cumsum(rng.exponential(0.01, n))
        return Trace(arrivals - arrivals[0], rng.integers(50, 1500, n), rng.integers(1, 150, n))

    specs = [replica(workload="a"), replica(workload="a", weight=2.0), replica(workload="b"),
             ReplicaSpec(replica().model, {"b": 1.0, "c": 1.0}), replica(workload="c")]  # fmt: skip
    traces = {"c": burst(150), "a": burst(300), "b": burst(200)}
    assert sorted((sorted(i), sorted(w)) for i, w in components(specs, list(traces))) == [([0, 1], ["a"]), ([2, 3, 4], ["b", "c"])]
    together = simulate(specs, traces, policy)
    apart = simulate_apart(specs, traces, policy, processes=2)
    for field in ("workload", "replica", "arrival_s", "ttft_s", "tpot_s", "finish_s", "busy_s", "mean_batch", "most_running"):
        assert np.array_equal(getattr(apart, field), getattr(together, field), equal_nan=field != "workload"), field
    assert np.allclose(apart.energy_j, together.energy_j, rtol=1e-12)  # idle to the end, added in two parts
    assert apart.horizon_s == together.horizon_s
    groups = np.array([0, 0, 1, 1, 1])
    assert np.allclose(apart.power_w(groups), together.power_w(groups))


def test_progress_counts_every_request_once():
    from simulator.parallel import simulate_apart

    rng = np.random.default_rng(2)
    arrivals = np.cumsum(rng.exponential(0.001, 25_000))
    lengths = Trace(arrivals - arrivals[0], rng.integers(10, 100, 25_000), rng.integers(1, 20, 25_000))
    heard: list[int] = []
    simulate([replica(max_batch=64, kv=400_000, workload="a")], {"a": lengths}, progress=heard.append)
    assert sum(heard) == 25_000 and len(heard) == 3  # two of 10,000 and the rest at the end
    heard.clear()
    specs = [replica(max_batch=64, kv=400_000, workload="a"), replica(max_batch=64, kv=400_000, workload="b")]
    simulate_apart(specs, {"a": lengths, "b": trace([0.0, 0.5])}, progress=heard.append, processes=2)
    assert sum(heard) == 25_002
