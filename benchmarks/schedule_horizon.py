"""Schedule speed: data/scenarios/large.yaml over the bundled week of demand and site data,
24 hours and 7 x 24 hours (the issue's bars: <= 10 s and <= 60 s with the gap reached), and what
the schedule saves against the static peak plan."""

from __future__ import annotations

import argparse
import csv
import os
import platform
import tempfile
import time
from pathlib import Path

from optimizer.problem import SolveOptions
from planner.scheduling import schedule, static_peak_plan
from planner.store_setup import open_store

DATA = Path(__file__).resolve().parents[1] / "data"
SCENARIO = DATA / "scenarios" / "large.yaml"
DEMAND = DATA / "schedules" / "large-week-demand.csv"
SITES = DATA / "schedules" / "large-week-sites.csv"


def _first_hours(source: Path, hours: int, target: Path) -> None:
    """The rows of the first `hours` hours of a series."""
    with source.open() as stream:
        rows = list(csv.reader(stream))
    stamps = sorted({row[0] for row in rows[1:]})[:hours]
    with target.open("w", newline="") as stream:
        csv.writer(stream).writerows([rows[0], *(row for row in rows[1:] if row[0] in stamps)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--horizons", default="24:10,168:60", help="HOURS:LIMIT_S pairs, one run each")
    parser.add_argument("--objective", default="energy", choices=["energy", "cost", "carbon"])
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}")
    print(f"{'hours':>5} {'limit s':>7} {'wall s':>7} {'status':>8} {'gap %':>6} {'kWh':>9} {'static kWh':>10} "
          f"{'saved %':>7} {'load-scaled saved %':>19} {'starts':>6}")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{folder}/store.db")
        for pair in args.horizons.split(","):
            hours, limit_s = (float(part) for part in pair.split(":"))
            demand, sites = Path(folder) / "demand.csv", Path(folder) / "sites.csv"
            _first_hours(DEMAND, int(hours), demand)
            _first_hours(SITES, int(hours), sites)
            started = time.perf_counter()
            result = schedule(SCENARIO, demand, sites, store=store, objective=args.objective, time_limit_s=limit_s, with_baselines=False)
            wall_s = time.perf_counter() - started
            figures = result.figures
            # the static peak plan is solved outside the timed call, to the default gap
            static = static_peak_plan(result.problem, SolveOptions(), result.idle_w).figures
            if figures is None or static is None:
                print(f"{hours:>5.0f} {limit_s:>7.0f} {wall_s:>7.1f} {result.status:>8}")
                continue
            gap = "-" if result.solution.gap is None else f"{100 * result.solution.gap:.3f}"
            saved = 100 * (1 - figures.energy_kwh / static.energy_kwh)
            scaled = 100 * (1 - figures.load_scaled_energy_kwh / static.load_scaled_energy_kwh)
            print(f"{hours:>5.0f} {limit_s:>7.0f} {wall_s:>7.1f} {result.status:>8} {gap:>6} {figures.energy_kwh:>9,.0f} "
                  f"{static.energy_kwh:>10,.0f} {saved:>7.1f} {scaled:>19.1f} {figures.starts:>6}")  # fmt: skip


if __name__ == "__main__":
    main()
