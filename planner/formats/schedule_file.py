"""The schedule file (`planner schedule -o schedule.yaml|.json`, version 1): which replica groups
run in each interval of a horizon, with each interval's and the horizon's figures.

An interval's rows are the placement file's rows (planner/formats/placement.py), so a row means
the same in both; the file echoes the inputs it was planned from (scenario and series digests)
and the reconfiguration rules, so `planner validate` can rebuild every figure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from planner.formats.placement import PlacementRow, ScenarioRef, check_output_path, placement_text, read_content, validated, write_text_atomically


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SeriesRef(_Strict):
    path: str
    sha256: str


class Rules(_Strict):
    load_gb_per_s: float
    """Storage bandwidth a replica loads its weights at; a start costs that time at idle power."""
    max_changes_per_site: int | None
    min_up_intervals: int


class Totals(_Strict):
    """Facility energy, dollars and CO2 over some hours, starts included."""

    energy_kwh: float
    load_scaled_energy_kwh: float
    """Each replica charged its GPUs' idle power plus the rest in proportion to its load over the
    planned load: a floor under any power curve concave in load (optimizer/horizon.py)."""
    usd: float | None
    kg_co2: float | None
    tokens: float
    joules_per_token: float
    starts: int


class SitePower(_Strict):
    site: str
    facility_power_kw: float
    peak_facility_power_kw: float
    power_budget_kw: float
    carbon_g_per_kwh: float | None
    usd_per_kwh: float | None


class IntervalEntry(_Strict):
    start: str
    """ISO 8601, UTC."""
    demand_tok_s: dict[str, float]
    replicas: int
    gpus: int
    starts: int
    facility_power_kw: float
    totals: Totals
    sites: list[SitePower]
    placements: list[PlacementRow]


class BaselineTotals(_Strict):
    name: str
    description: str
    status: str
    totals: Totals | None = None
    schedule_saves: Totals | None = None
    """Baseline minus schedule: what the schedule saves (negative where it spends more)."""


class ScheduleFile(_Strict):
    version: Literal[1] = 1
    kind: Literal["schedule"] = "schedule"
    scenario: ScenarioRef
    demand: SeriesRef
    sites_series: SeriesRef | None
    """None: the sites kept the scenario's figures in every interval."""
    current: SeriesRef | None = None
    """Today's placement file, whose replicas ran before the first interval; None: it started free."""
    objective: str
    solver: str
    status: Literal["optimal", "feasible", "infeasible", "no_solution"]
    gap: float | None = None
    windows: int = 1
    reasons: list[str] = []
    interval_minutes: float
    max_utilization: float
    rules: Rules
    horizon: Totals | None = None
    baselines: list[BaselineTotals] = []
    intervals: list[IntervalEntry] = []
    notes: list[str] = []


def write_schedule(schedule: ScheduleFile, path: Path) -> None:
    """YAML or JSON by suffix, written whole or not at all."""
    check_output_path(path)
    write_text_atomically(placement_text(schedule, path.suffix), path)


def is_schedule_file(path: Path) -> bool:
    """A file that says `kind: schedule` near its top (a placement file never does)."""
    try:
        with path.open(encoding="utf-8") as stream:
            head = stream.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    return '"kind": "schedule"' in head or "\nkind: schedule\n" in head


def read_schedule(path: Path) -> ScheduleFile:
    return validated(ScheduleFile, read_content(path, "schedule", "planner schedule -o"), path, "planner schedule -o")
