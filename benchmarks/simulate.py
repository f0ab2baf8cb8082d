"""Serving simulator speed: the Azure conversation trace over many replicas, wall time against
simulated time (the issue's bar: one hour, 19,366 requests, >= 50 replicas, <= 10 s); with
`--week`, both Azure traces at their own pace repeated for 7 x 24 hours on two pools of replicas
(two workloads that share none), in one process and apart (simulator/parallel.py)."""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from planner.formats.request_trace import read_request_trace
from planner.model_check import sweeps
from planner.store_setup import open_store
from planner.stored_points import usable_operating_points
from simulator.parallel import simulate_apart
from simulator.performance import BatchPoint, fit
from simulator.serving import ReplicaModel, ReplicaSpec, simulate
from simulator.traffic import Trace, scaled_to

AZURE = Path(__file__).resolve().parents[1] / "data" / "public" / "azure-llm-inference-2023"
TRACE = AZURE / "AzureLLMInferenceTrace_conv.csv"
SWEEP = ("llama-3.1-8b", "H200-SXM-141GB", "graph", 1, "512", 128, "reference/h200-2026-11-26")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", default="50,200", help="replica counts, one run each")
    parser.add_argument("--load", type=float, default=0.6,
                        help="demand as a share of the replicas' tok/s at batch 64 (0: the trace at its own pace, one hour)")
    parser.add_argument("--week", action="store_true", help="a week of both traces at their own pace instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        points = sweeps(usable_operating_points(open_store(f"sqlite:///{folder}/store.db")))[SWEEP]
    curves = fit([BatchPoint(p.load, p.tok_s, p.tpot_ms, p.power_w) for p in points], 128)
    model = ReplicaModel(curves, prefill_s_per_token=2.0e-5, max_batch=64, kv_capacity_tokens=800_000, idle_power_w=75.0)
    if args.week:
        _week(model)
        return
    trace = read_request_trace(TRACE)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"trace {TRACE.name}: {trace.requests:,} requests over {trace.duration_s:,.0f} s")
    print(f"{'replicas':>8} {'requests':>9} {'simulated s':>11} {'wall s':>7} {'x real time':>11} {'us/request':>10}")
    for count in (int(n) for n in args.replicas.split(",")):
        scaled = scaled_to(trace, args.load * count * curves.tok_s(64)) if args.load else trace
        specs = [ReplicaSpec(model, {"chat": 1.0}) for _ in range(count)]
        started = time.perf_counter()
        result = simulate(specs, {"chat": scaled})
        wall_s = time.perf_counter() - started
        print(f"{count:>8} {trace.requests:>9,} {result.horizon_s:>11,.0f} {wall_s:>7.2f} {result.horizon_s / wall_s:>11,.0f} "
              f"{1e6 * wall_s / trace.requests:>10,.0f}")


def _repeated(trace: Trace, hours: int) -> Trace:
    """The trace once an hour (its arrivals span just under one)."""
    arrivals = np.concatenate([trace.arrival_s + 3600.0 * hour for hour in range(hours)])
    return Trace(arrivals, np.tile(trace.prompt_tokens, hours), np.tile(trace.output_tokens, hours))


def _week(model: ReplicaModel) -> None:
    traces = {name: _repeated(read_request_trace(AZURE / f"AzureLLMInferenceTrace_{name}.csv"), 7 * 24) for name in ("conv", "code")}
    specs = [ReplicaSpec(model, {"conv": 1.0}) for _ in range(50)] + [ReplicaSpec(model, {"code": 1.0}) for _ in range(25)]
    requests = sum(len(t.arrival_s) for t in traces.values())
    print(f"machine: {platform.machine()}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}; "
          f"a week of conv (50 replicas) and code (25): {requests:,} requests")  # fmt: skip
    print(f"{'run':>12} {'simulated s':>11} {'wall s':>7} {'x real time':>11} {'us/request':>10}")
    for label, run in (("one process", lambda: simulate(specs, traces)), ("apart", lambda: simulate_apart(specs, traces))):
        started = time.perf_counter()
        result = run()
        wall_s = time.perf_counter() - started
        print(f"{label:>12} {result.horizon_s:>11,.0f} {wall_s:>7.1f} {result.horizon_s / wall_s:>11,.0f} {1e6 * wall_s / requests:>10,.1f}")


if __name__ == "__main__":
    main()
