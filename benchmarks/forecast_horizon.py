"""Forecast time: a 36-month horizon on data/scenarios/large.yaml with 3 % monthly growth.

Run: python benchmarks/forecast_horizon.py [--months 36] [--growth 0.03] [--gap 0.01]
Uses a temporary SQLite Store seeded from the bundled data; prints total and per-month time.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from importlib import resources
from pathlib import Path

import yaml

from planner.forecasting import DEFAULT_MONTH_GAP, forecast
from planner.store_setup import open_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--growth", type=float, default=0.03)
    parser.add_argument("--gap", type=float, default=DEFAULT_MONTH_GAP, help="relative gap per month (default: the forecast's)")
    args = parser.parse_args()
    scenario = yaml.safe_load(resources.files("planner_data").joinpath("scenarios/large.yaml").read_text())
    scenario["growth"] = {workload["name"]: args.growth for workload in scenario["workloads"]}
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{Path(folder) / 'bench.db'}")
        started = time.perf_counter()
        result = forecast(None, scenario, horizon_months=args.months, store=store, start="2027-01", progress=True, gap_rel=args.gap)
        elapsed = time.perf_counter() - started
    statuses = result.timeline.groupby("period")["status"].first()
    feasible = int((statuses != "infeasible").sum())
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{args.months} months of data/scenarios/large.yaml at {args.growth:.0%}/month, gap {args.gap:g}: {elapsed:.1f} s "
          f"({elapsed / args.months:.2f} s/month); {feasible} months planned, {args.months - feasible} infeasible")
    for row in result.exhaustion.itertuples(index=False):
        print(f"  {row.site}: first infeasible {row.period} ({row.constraint})")


if __name__ == "__main__":
    main()
