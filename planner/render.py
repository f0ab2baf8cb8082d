"""Plans as tables: numbers for the dashboard, plain text for the terminal."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import pandas as pd

from planner.formats.placement import Placement, PlacementRow

if TYPE_CHECKING:
    from planner.forecasting import Forecast


def _figure(value: float | None, template: str, name: str, missing_field: str) -> str:
    """A figure, or why it is left out (a site in use gives no price or carbon intensity)."""
    if value is None:
        return f"{name} left out (a site in use has no {missing_field})"
    return template.format(value)


def _table(frame: pd.DataFrame) -> str:
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 250):
        return frame.to_string(index=False, na_rep="-")


def _serves(row: PlacementRow) -> str:
    if len(row.serves) == 1:
        return row.serves[0].workload
    return ", ".join(f"{s.workload} {s.tokens_per_s / row.tokens_per_s:.0%}" for s in row.serves) if row.tokens_per_s else "-"


def placement_table(placement: Placement) -> pd.DataFrame:
    """One row per replica group, in numbers (the terminal and the dashboard format them). Its
    TPOT is the slowest of the workloads it serves."""
    return pd.DataFrame(
        [
            {
                "site": r.site,
                "serves": _serves(r),
                "hardware": r.hardware,
                "runtime": r.config["runtime"],
                "batch": r.config["batch"],
                "replicas": r.replicas,
                "gpus": r.gpus,
                "tok/s": round(r.tokens_per_s),
                "util": r.utilization,
                "kW": round(r.power_w / 1000, 2),
                "peak kW": round(r.peak_power_w / 1000, 2),
                "mJ/tok": round(r.power_w / r.tokens_per_s * 1000, 1) if r.tokens_per_s else None,
                "TPOT ms": max((s.tpot_ms for s in r.serves), default=None),
                "TPOT stat": r.serves[0].tpot_statistic if r.serves else None,
                "flags": sum(len(s.flags) for s in r.serves),
            }
            for r in placement.placements
        ]
    )


def site_power_table(placement: Placement) -> pd.DataFrame:
    """Each site's peak facility power (PUE included) against its budget."""
    peak_kw: dict[str, float] = defaultdict(float)
    pue = {s.name: s.pue for s in placement.sites}
    for r in placement.placements:
        peak_kw[r.site] += pue[r.site] * r.peak_power_w / 1000
    return pd.DataFrame(
        [
            {"site": s.name, "peak kW": peak_kw[s.name], "budget kW": s.power_budget_kw,
             "budget used": peak_kw[s.name] / s.power_budget_kw}
            for s in placement.sites
        ]
    )  # fmt: skip


def render_plan(placement: Placement) -> str:
    lines = [f"scenario {placement.scenario.name}: objective {placement.objective}, {placement.solver}, status {placement.status}"
             + (f" (gap {placement.gap:.2%})" if placement.status == "feasible" and placement.gap is not None else "")]
    if placement.status in ("infeasible", "no_solution"):
        lines.append("infeasible:" if placement.status == "infeasible" else "no placement found in time (not proven infeasible):")
        lines.extend(f"  - {reason}" for reason in placement.reasons)
        return "\n".join(lines)
    rows = placement_table(placement)
    rows["util"] = [f"{share:.0%}" for share in rows["util"]]
    rows["TPOT ms"] = [f"{ms:.1f} {stat}" for ms, stat in zip(rows["TPOT ms"], rows["TPOT stat"], strict=True)]
    lines += ["", _table(rows.drop(columns=["TPOT stat"]))]
    sites = site_power_table(placement)
    sites["peak kW"] = sites["peak kW"].round(2)
    sites["budget used"] = [f"{share:.0%}" for share in sites["budget used"]]
    lines += ["", _table(sites.rename(columns={"peak kW": "peak kW (PUE incl.)"}))]
    summary = placement.summary
    if summary is not None:
        lines += [
            "",
            f"fleet: {summary.tokens_per_s:,.0f} tok/s on {summary.gpus} GPUs; IT {summary.it_power_kw:.2f} kW, "
            f"facility {summary.facility_power_kw:.2f} kW",
            f"       {summary.joules_per_token * 1000:.1f} mJ/token facility ({summary.it_joules_per_token * 1000:.1f} IT), "
            f"{_figure(summary.usd_per_million_tokens, '${:.3f}/M tokens', '$/M tokens', 'usd_per_kwh')}, "
            f"{_figure(summary.g_co2_per_million_tokens, '{:.1f} gCO2/M tokens', 'gCO2/M tokens', 'carbon_g_per_kwh')}",
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
        head = f"value of +1 {price.unit} {price.resource}"
        if price.objective_change_per_unit is None:
            lines.append(f"{head}: {price.method}")
        else:
            value = f"{price.objective_change_per_unit:,.2f} (+-{price.resolution:,.2f} from solver gaps)"
            lines.append(f"{head}: {value} {price.objective_unit} less ({price.method})")
    if placement.candidates_pruned:
        lines.append("candidates left out: " + "; ".join(f"{n} {why}" for why, n in placement.candidates_pruned.items()))
    lines += [f"note: {note}" for note in placement.notes]
    return "\n".join(lines)


def render_moves(current: Placement, new: Placement) -> str:
    """Replicas to add or remove per (site, configuration) against today's placement."""
    def counts(placement: Placement) -> dict[tuple[str, str], int]:
        table: dict[tuple[str, str], int] = defaultdict(int)
        for r in placement.placements:
            table[(r.site, r.configuration)] += r.replicas
        return table

    serving = {(r.site, r.configuration): _serves(r) for r in [*current.placements, *new.placements]}
    before, after = counts(current), counts(new)
    moves = []
    for key in sorted(set(before) | set(after)):
        change = after.get(key, 0) - before.get(key, 0)
        if change:
            site, configuration = key
            moves.append(f"  {change:+d} replica(s) of {configuration} at {site} (serving {serving[key]})")
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
