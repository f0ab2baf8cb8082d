"""Serving simulator speed: the Azure conversation trace over many replicas, wall time against
simulated time (the issue's bar: one hour, 19,366 requests, >= 50 replicas, <= 10 s)."""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from planner.formats.request_trace import read_request_trace
from planner.model_check import sweeps
from planner.store_setup import open_store
from planner.stored_points import usable_operating_points
from simulator.performance import BatchPoint, fit
from simulator.serving import ReplicaModel, ReplicaSpec, simulate
from simulator.traffic import scaled_to

TRACE = Path(__file__).resolve().parents[1] / "data" / "public" / "azure-llm-inference-2023" / "AzureLLMInferenceTrace_conv.csv"
SWEEP = ("llama-3.1-8b", "H200-SXM-141GB", "graph", 1, "512", 128, "reference/h200-2026-11-26")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", default="50,200", help="replica counts, one run each")
    parser.add_argument("--load", type=float, default=0.6,
                        help="demand as a share of the replicas' tok/s at batch 64 (0: the trace at its own pace, one hour)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        points = sweeps(usable_operating_points(open_store(f"sqlite:///{folder}/store.db")))[SWEEP]
    curves = fit([BatchPoint(p.load, p.tok_s, p.tpot_ms, p.power_w) for p in points], 128)
    model = ReplicaModel(curves, prefill_s_per_token=2.0e-5, max_batch=64, kv_capacity_tokens=800_000, idle_power_w=75.0)
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


if __name__ == "__main__":
    main()
