"""`planner.forecast()`: demand history + scenario -> a capacity timeline, month by month.

Each period is planned for its peak demand (at the chosen quantile of the prediction band)
with the same optimizer as `planner plan`; energy, dollars and CO2 come from the mean demand
at the plan's joules per token. The first period that cannot be planned is reported per site
with the constraint that binds and, where the scenario lists `purchasable` GPUs, the cheapest
purchase that restores feasibility.
"""

from __future__ import annotations

import calendar
import math
import os
import tempfile
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from models import CatalogError, Store, load_catalog
from optimizer.diagnosis import cheapest_addition
from optimizer.problem import Solution
from planner.errors import InputError
from planner.formats.scenario import Scenario
from planner.growth import GrowthFit, fit_growth
from planner.placement_content import placement_rows
from planner.planning import Plan, build_problem, plan_problem, resolve_scenario, scenario_sha256, solve_options
from planner.stored_points import usable_operating_points
from planner.wording import describe_addition

BAND = (0.1, 0.9)
MAX_DEMAND = 1e12
"""Tokens (or requests) per second above this are no demand a fleet serves: a unit or export error."""
MAX_HORIZON_MONTHS = 120
"""Ten years: growth curves fitted on months of history say nothing further out."""
HOURS_PER_MONTH = 730.0
DEFAULT_MONTH_LIMIT_S = 20.0
"""Without a limit, 2 of 36 months of data/scenarios/large.yaml took 5-9 minutes to prove 0.1 %."""
DEFAULT_MONTH_GAP = 0.01
"""A month is planned to within 1 % of the optimum, not `planner plan`'s 0.1 %: the demand it
plans for is a quantile of a band tens of percent wide. On 36 months of large.yaml, proving 0.1 %
took 6.4 times as long (one month ran into the 20 s limit) and moved no month's facility power by
more than 0.5 % or its GPUs by more than 2 (README, "Forecasts")."""


@dataclass(frozen=True)
class Forecast:
    timeline: pd.DataFrame
    """One row per period and site: demand, GPUs by type, power, energy, money, CO2, status."""
    demand: pd.DataFrame
    """One row per period and workload: mean, peak, band and the demand planned for."""
    exhaustion: pd.DataFrame
    """The first infeasible period of each site (or '-' for a workload no site can serve)."""
    fits: tuple[GrowthFit, ...]
    quantile: float
    plans: Mapping[str, Plan] = field(repr=False, default_factory=dict)
    """Each period's Plan; its `scenario` is the scenario with that period's planned demand."""
    additions: Mapping[str, list[str]] = field(default_factory=dict)

    def to_csv(self, path: str | Path) -> None:
        """The timeline as CSV, written to a temporary file and renamed: never half-written."""
        target = Path(path)
        if not target.parent.is_dir():
            raise InputError(f"folder {target.parent} does not exist. To fix: create it or write elsewhere.")
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
                self.timeline.to_csv(stream, index=False)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _months_between(first: pd.Period, later: pd.Period) -> int:
    return (later.year - first.year) * 12 + later.month - first.month


def read_history(source: pd.DataFrame | str | Path, scenario: Scenario) -> pd.DataFrame:
    """A validated history: columns timestamp, workload, tok_s; or an InputError naming the line."""
    label = "history"
    if not isinstance(source, pd.DataFrame):
        label = str(source)
        try:
            source = pd.read_csv(source)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            raise InputError(f"cannot read {label}: {error}. To fix: pass a CSV with timestamp, workload and tokens_per_s.") from error
    frame = source.copy()
    missing = [column for column in ("timestamp",) if column not in frame.columns]
    name_column = "workload" if "workload" in frame.columns else "model" if "model" in frame.columns else None
    value_column = next((c for c in ("tokens_per_s", "requests_per_s") if c in frame.columns), None)
    if missing or name_column is None or value_column is None:
        raise InputError(
            f"{label}: needs columns timestamp, workload (or model) and tokens_per_s (or requests_per_s); "
            f"it has {', '.join(map(str, frame.columns))}. To fix: rename or add the columns."
        )
    if frame.empty:
        raise InputError(f"{label} has no rows. To fix: give at least two months of demand per workload.")
    workloads = {w.label: w for w in scenario.workloads}
    by_model: dict[str, list[str]] = defaultdict(list)
    catalog = load_catalog()
    for w in scenario.workloads:
        by_model[w.model].append(w.label)
    names = []
    numbers = []
    for index, (raw_time, name, value) in enumerate(zip(frame["timestamp"], frame[name_column], frame[value_column], strict=True)):
        line = index + 2
        if pd.isna(raw_time) or pd.isna(name) or pd.isna(value):
            raise InputError(f"{label} line {line}: a value is missing. To fix: fill in timestamp, {name_column} and {value_column}.")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{label} line {line}, column {value_column}: {value!r} is not a number. To fix: correct that cell.") from None
        if number < 0:
            raise InputError(f"{label} line {line}, column {value_column}: {value} is negative. To fix: demand is 0 or more.")
        if not number <= MAX_DEMAND:
            raise InputError(
                f"{label} line {line}, column {value_column}: {value} is beyond any fleet ({MAX_DEMAND:g} a second at most). "
                "To fix: check the unit (tokens or requests per second)."
            )
        numbers.append(number)
        if name_column == "workload":
            if name not in workloads:
                raise InputError(f"{label} line {line}: workload {name!r} is not in the scenario ({', '.join(workloads)}).")
            names.append(name)
        else:
            try:
                model = catalog.resolve("llm", str(name))
            except CatalogError as error:
                raise InputError(f"{label} line {line}: {error}") from error
            candidates = by_model.get(model, [])
            if len(candidates) != 1:
                what = "no workload" if not candidates else f"several workloads ({', '.join(candidates)})"
                raise InputError(f"{label} line {line}: model {name!r} matches {what}. To fix: use a workload column.")
            names.append(candidates[0])
    try:
        stamps = pd.to_datetime(frame["timestamp"], utc=True)
    except (ValueError, TypeError) as error:
        raise InputError(f"{label}: timestamps cannot be read ({error}). To fix: use ISO 8601, e.g. 2026-01-31T12:00Z.") from error
    tidy = pd.DataFrame({"timestamp": stamps, "workload": names, "line": np.arange(len(frame)) + 2})
    values = np.asarray(numbers)
    if value_column == "requests_per_s":
        values = values * np.array([workloads[n].output_tokens for n in names])
    tidy["tok_s"] = values
    for name, rows in tidy.groupby("workload", sort=False):
        steps = rows["timestamp"].diff().dt.total_seconds().to_numpy()[1:]
        bad = np.nonzero(steps <= 0)[0]
        if bad.size:
            line = int(rows["line"].iloc[bad[0] + 1])
            kind = "repeats the timestamp before it" if steps[bad[0]] == 0 else "is earlier than the line before it"
            raise InputError(f"{label} line {line}: {name}'s timestamp {kind}. To fix: sort the history and drop duplicates.")
        if rows["timestamp"].dt.tz_convert(None).dt.to_period("M").nunique() < 2:
            raise InputError(f"{label}: {name} has {len(rows)} point(s) in one month; a trend needs at least two months.")
    return tidy.drop(columns="line")


def _monthly(history: pd.DataFrame) -> dict[str, tuple[pd.Period, np.ndarray, float]]:
    """Per workload: first month, monthly means, and the median monthly peak/mean ratio."""
    result = {}
    for name, rows in history.groupby("workload"):
        months = rows["timestamp"].dt.tz_convert(None).dt.to_period("M")
        grouped = rows.groupby(months)["tok_s"]
        means = grouped.mean()
        full = pd.period_range(means.index.min(), means.index.max(), freq="M")
        if len(full) != len(means):
            missing = sorted(set(full) - set(means.index))
            raise InputError(f"history: {name} has no demand in {missing[0]}. To fix: fill the gap month.")
        ratios = (grouped.max() / means.replace(0, np.nan)).dropna()
        peak_factor = float(ratios.median()) if len(ratios) else 1.0
        result[str(name)] = (means.index.min(), means.to_numpy(dtype=float), max(peak_factor, 1.0))
    return result


def forecast(
    history: pd.DataFrame | str | Path | None,
    scenario_or_path: Scenario | str | Path | dict,
    horizon_months: int = 12,
    quantile: float = 0.9,
    store: Store | None = None,
    start: str | None = None,
    time_limit_s: float | None = DEFAULT_MONTH_LIMIT_S,
    progress: bool = False,
    gap_rel: float = DEFAULT_MONTH_GAP,
) -> Forecast:
    """Plan each month of the horizon for its demand; see the module docstring. Each month's
    solve stops at `time_limit_s` with its incumbent (status `feasible` and its gap), or once it
    proves `gap_rel`."""
    from planner.store_setup import open_store

    if not 1 <= horizon_months <= MAX_HORIZON_MONTHS:
        raise InputError(
            f"a horizon of {horizon_months} months is outside 1..{MAX_HORIZON_MONTHS}. "
            f"To fix: give 1 to {MAX_HORIZON_MONTHS} months (a fitted growth curve says nothing beyond ten years)."
        )
    options = solve_options(time_limit_s, gap_rel)
    if not 0 < quantile < 1:
        raise InputError(f"quantile {quantile} is not in (0, 1). To fix: e.g. 0.9 plans for the 90th percentile.")
    catalog = load_catalog()
    scenario, _ = resolve_scenario(scenario_or_path, catalog)
    store = store or open_store()
    fits: dict[str, GrowthFit] = {}
    first_month: dict[str, pd.Period] = {}
    if history is not None:
        for name, (first, means, peak_factor) in _monthly(read_history(history, scenario)).items():
            fits[name] = fit_growth(name, means, peak_factor)
            first_month[name] = first
        last = max(first_month[name] + fits[name].months_observed - 1 for name in fits)
    if start:
        try:
            begin = pd.Period(start, freq="M")
        except (ValueError, TypeError) as error:
            raise InputError(f"--start {start!r} is not a month ({error}). To fix: give YYYY-MM, e.g. 2027-01.") from error
    elif fits:
        begin = last + 1
    else:
        begin = pd.Period(pd.Timestamp.now(tz="UTC").tz_convert(None), freq="M") + 1
    periods = [begin + step for step in range(horizon_months)]
    demand_rows = []
    for step, period in enumerate(periods, start=1):
        for workload in scenario.workloads:
            name = workload.label
            if name in fits:
                fit = fits[name]
                month = _months_between(first_month[name], period)
                mean = fit.mean_at(month)
                low, high, planned = (fit.quantile_at(month, q) * fit.peak_factor for q in (*BAND, quantile))
                peak = mean * fit.peak_factor
            else:
                growth = scenario.growth.get(name, 0.0)
                peak = workload.demand_tok_s * (1 + growth) ** step
                mean = low = high = planned = peak
            demand_rows.append(
                {"period": str(period), "workload": name, "mean_tok_s": mean, "peak_tok_s": peak,
                 f"p{int(BAND[0] * 100)}_tok_s": low, f"p{int(BAND[1] * 100)}_tok_s": high, "planned_tok_s": planned}
            )
    demand = pd.DataFrame(demand_rows)
    timeline_rows: list[dict[str, Any]] = []
    plans: dict[str, Plan] = {}
    additions: dict[str, list[str]] = {}
    gpu_types = sorted({gpu for site in scenario.sites for gpu in site.gpus} | set(scenario.purchasable))
    # the candidates do not depend on demand: load and build them once, change demands per month
    base_problem, candidate_set = build_problem(scenario, usable_operating_points(store), catalog)
    previous: Solution | None = None
    for period in tqdm(periods, desc="forecast", unit="month", disable=not progress):
        key = str(period)
        rows = demand[demand["period"] == key].set_index("workload")
        planned_tok_s = {name: max(float(rows.loc[name, "planned_tok_s"]), 1e-6) for name in rows.index}
        problem = replace(
            base_problem, workloads=tuple(replace(w, demand_tok_s=planned_tok_s[w.name]) for w in base_problem.workloads)
        )
        period_scenario = scenario.model_copy(
            update={
                "name": f"{scenario.name} {period}",
                "workloads": [
                    w.model_copy(update={"tokens_per_s": planned_tok_s[w.label], "requests_per_s": None}) for w in scenario.workloads
                ],
                "growth": {},
                "purchasable": {},
                "extra_power": {},
            }
        )
        result = plan_problem(period_scenario, scenario_sha256(period_scenario), problem, candidate_set, options, False, False, start_from=previous)
        previous = result.solution if result.solution.has_solution else previous
        plans[key] = result
        timeline_rows.extend(_site_rows(key, result, rows, gpu_types))
        if result.status == "infeasible" and not additions and (scenario.purchasable or scenario.extra_power):
            gpu_prices = {catalog.resolve("gpu", g): spec["usd_per_gpu_hour"] for g, spec in scenario.purchasable.items()}
            power_prices = {site: spec["usd_per_kw_month"] / HOURS_PER_MONTH for site, spec in scenario.extra_power.items()}
            purchases = cheapest_addition(result.problem, gpu_prices, power_prices, options)
            additions[key] = [describe_addition(a) for a in purchases]
    timeline = pd.DataFrame(timeline_rows)
    return Forecast(timeline, demand, _exhaustion(plans, scenario), tuple(fits.values()), quantile, plans, additions)


def _site_rows(period: str, result: Plan, demand: pd.DataFrame, gpu_types: list[str]) -> list[dict[str, Any]]:
    """Per site: GPUs, peak power at the planned demand, energy, money and CO2 at the mean demand."""
    year, month = (int(part) for part in period.split("-"))
    hours = calendar.monthrange(year, month)[1] * 24
    problem = result.problem
    group_rows = placement_rows(problem, result.solution.groups)
    mean_share = (demand["mean_tok_s"] / demand["planned_tok_s"]).to_dict()
    fleet_demand_tok_s = float(demand["planned_tok_s"].sum())
    rows = []
    for site in problem.sites:
        row: dict[str, Any] = {"period": period, "site": site.name, "status": result.status}
        if not result.solution.has_solution:
            rows.append({**row, "fleet_demand_tok_s": fleet_demand_tok_s})
            continue
        placed = [r for r in group_rows if r.site == site.name]
        gpus: dict[str, int] = defaultdict(int)
        for group in placed:
            gpus[group.hardware] += group.gpus
        shares = [share for group in placed for share in group.serves]
        mean_tok_s = sum(s.tokens_per_s * mean_share[s.workload] for s in shares)
        avg_it_w = sum(s.tokens_per_s * mean_share[s.workload] * s.joules_per_token for s in shares)
        avg_kw = site.pue * avg_it_w / 1000
        peak_kw = sum(site.pue * group.peak_power_w for group in placed) / 1000
        mwh = avg_kw * hours / 1000
        gpu_usd = sum(count * site.gpu_hour_usd(hw, problem.usd_per_gpu_hour) for hw, count in gpus.items()) * hours
        inventory = sum(site.inventory.values())
        row.update(
            fleet_demand_tok_s=fleet_demand_tok_s,
            site_tok_s=sum(group.tokens_per_s for group in placed),
            **{f"gpus_{hw}": gpus.get(hw, 0) for hw in gpu_types},
            replicas=sum(group.replicas for group in placed),
            peak_kw=peak_kw,
            avg_kw=avg_kw,
            mwh=mwh,
            usd=math.nan if site.usd_per_kwh is None else gpu_usd + mwh * 1000 * site.usd_per_kwh,
            t_co2=math.nan if site.carbon_g_per_kwh is None else mwh * site.carbon_g_per_kwh / 1000,
            joules_per_token=(avg_kw * 1000 / mean_tok_s) if mean_tok_s else math.nan,
            power_budget_used=peak_kw * 1000 / site.power_budget_w,
            inventory_used=sum(gpus.values()) / inventory if inventory else math.nan,
        )
        rows.append(row)
    return rows


CONSTRAINT_NAMES = {"power_budget": "power budget", "inventory": "inventory"}


def _exhaustion(plans: Mapping[str, Plan], scenario: Scenario) -> pd.DataFrame:
    """First infeasible period per site that lacks something; workload-level reasons under '-'."""
    found: dict[str, dict[str, str]] = {}
    for period, result in plans.items():
        if result.status != "infeasible":
            continue
        for shortfall, line in zip(result.reasons, result.reason_lines(), strict=True):
            site = shortfall.site or "-"
            if site not in found:
                constraint = CONSTRAINT_NAMES.get(shortfall.constraint, "no candidate")
                found[site] = {"site": site, "period": period, "constraint": constraint, "reason": line}
    return pd.DataFrame(list(found.values()), columns=["site", "period", "constraint", "reason"])
