"""Plain-text rendering of plans for the terminal (the dashboard draws its own)."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import pandas as pd

from planner.formats.placement import Placement

if TYPE_CHECKING:
    from planner.forecast import Forecast


def _table(frame: pd.DataFrame) -> str:
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 250):
        return frame.to_string(index=False, na_rep="-")


def render_plan(placement: Placement) -> str:
    lines = [f"scenario {placement.scenario.name}: objective {placement.objective}, {placement.solver}, status {placement.status}"
             + (f" (gap {placement.gap:.2%})" if placement.status == "feasible" and placement.gap is not None else "")]
    if placement.status == "infeasible":
        lines.append("infeasible:")
        lines.extend(f"  - {reason}" for reason in placement.reasons)
        return "\n".join(lines)
    rows = [
        {
            "site": r.site,
            "workload": r.workload,
            "hardware": r.hardware,
            "runtime": r.config["runtime"],
            "batch": r.config["batch"],
            "replicas": r.replicas,
            "gpus": r.gpus,
            "tok/s": round(r.tokens_per_s),
            "util": f"{r.utilization:.0%}",
            "kW": round(r.power_w / 1000, 2),
            "peak kW": round(r.peak_power_w / 1000, 2),
            "mJ/tok": round(r.joules_per_token * 1000, 1),
            f"TPOT ms": f"{r.tpot_ms:.1f} {r.tpot_statistic}",
            "flags": len(r.flags),
        }
        for r in placement.placements
    ]
    lines += ["", _table(pd.DataFrame(rows))]
    peak: dict[str, float] = defaultdict(float)
    for r in placement.placements:
        pue = next(s.pue for s in placement.sites if s.name == r.site)
        peak[r.site] += pue * r.peak_power_w / 1000
    site_rows = [
        {"site": s.name, "peak kW (PUE incl.)": round(peak[s.name], 2), "budget kW": s.power_budget_kw,
         "budget used": f"{peak[s.name] / s.power_budget_kw:.0%}"}
        for s in placement.sites
    ]
    lines += ["", _table(pd.DataFrame(site_rows))]
    summary = placement.summary
    if summary is not None:
        lines += [
            "",
            f"fleet: {summary.tokens_per_s:,.0f} tok/s on {summary.gpus} GPUs; IT {summary.it_power_kw:.2f} kW, "
            f"facility {summary.facility_power_kw:.2f} kW",
            f"       {summary.joules_per_token * 1000:.1f} mJ/token facility ({summary.it_joules_per_token * 1000:.1f} IT), "
            f"${summary.usd_per_million_tokens:.3f}/M tokens, {summary.g_co2_per_million_tokens:.1f} gCO2/M tokens",
        ]
        for baseline in summary.baselines:
            if baseline.joules_per_token is None:
                lines.append(f"baseline {baseline.name}: {baseline.status} ({baseline.description})")
            else:
                lines.append(
                    f"baseline {baseline.name} ({baseline.description}): {baseline.joules_per_token * 1000:.1f} mJ/token; "
                    f"the plan spends {baseline.plan_saves_pct:.1f}% fewer joules per token"
                )
    for price in placement.shadow_prices:
        if price.objective_change_per_unit is None:
            value = "no solution"
        else:
            value = f"{price.objective_change_per_unit:,.2f} (+-{price.resolution:,.2f} from solver gaps)"
        lines.append(f"value of +1 {price.unit} {price.resource}: {value} {price.objective_unit} less ({price.method})")
    if placement.candidates_pruned:
        lines.append("candidates left out: " + "; ".join(f"{n} {why}" for why, n in placement.candidates_pruned.items()))
    lines += [f"note: {note}" for note in placement.notes]
    return "\n".join(lines)


def render_moves(current: Placement, new: Placement) -> str:
    """Replicas to add or remove per (site, workload, hardware, batch) against today's placement."""
    def counts(placement: Placement) -> dict[tuple[str, str, str, int], int]:
        table: dict[tuple[str, str, str, int], int] = defaultdict(int)
        for r in placement.placements:
            table[(r.site, r.workload, r.hardware, r.config["batch"])] += r.replicas
        return table

    before, after = counts(current), counts(new)
    moves = []
    for key in sorted(set(before) | set(after)):
        change = after.get(key, 0) - before.get(key, 0)
        if change:
            site, workload, hardware, batch = key
            moves.append(f"  {change:+d} replica(s) of {workload} on {hardware} (batch {batch}) at {site}")
    if not moves:
        return "moves against the current placement: none"
    return "moves against the current placement:\n" + "\n".join(moves)


def render_forecast(forecast: Forecast) -> str:
    lines = []
    for fit in forecast.fits:
        errors = ", ".join(f"{curve} {error:.2%}" for curve, error in fit.holdout_error.items()) or "too few months to compare"
        lines.append(
            f"{fit.workload}: {fit.curve} growth, {fit.monthly_growth:+.1%}/month at the last observed month; "
            f"peak {fit.peak_factor:.2f}x the monthly mean; held-out error {errors}"
        )
    timeline = forecast.timeline
    if not timeline.empty:
        gpu_columns = [c for c in timeline.columns if c.startswith("gpus_")]
        table = timeline[["period", "site", "status"]].copy()
        if gpu_columns:
            table["GPUs"] = timeline[gpu_columns].sum(axis=1, min_count=1)
        for column, label, digits in (("peak_kw", "peak kW", 1), ("mwh", "MWh", 1), ("usd", "$", 0), ("t_co2", "tCO2", 2)):
            if column in timeline:
                table[label] = timeline[column].round(digits)
        if "power_budget_used" in timeline:
            table["budget"] = timeline["power_budget_used"].map(lambda v: "-" if pd.isna(v) else f"{v:.0%}")
        lines += ["", _table(table)]
    lines.append("")
    if forecast.exhaustion.empty:
        lines.append("every month of the horizon can be planned")
    for row in forecast.exhaustion.itertuples(index=False):
        where = f"site {row.site}" if row.site != "-" else "demand"
        lines.append(f"{where}: first infeasible in {row.period} ({row.constraint}): {row.reason}")
    for period, options in forecast.additions.items():
        if options:
            lines.append(f"cheapest single addition for {period}: {options[0]}" + (f" (also: {'; '.join(options[1:])})" if len(options) > 1 else ""))
        else:
            lines.append(f"no single purchasable addition restores {period}; see the needs above")
    return "\n".join(lines)
