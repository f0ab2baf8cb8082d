"""Forecasts: growth fitting, the exhaustion month, per-period plans that validate, bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import planner
from models import load_catalog
from planner.cli import main
from planner.errors import InputError
from planner.forecasting import forecast
from planner.growth import fit_growth
from planner.planning import build_problem, resolve_scenario, scenario_yaml
from planner.stored_points import usable_operating_points
from planner.validate import check_placement

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "data" / "scenarios" / "example.yaml"
HISTORY = ROOT / "data" / "history" / "example-demand.csv"

GROWING = {
    "version": 1,
    "name": "grow",
    "workloads": [
        {"name": "chat-8b", "model": "llama-3.1-8b", "tokens_per_s": 20000, "prompt_tokens": 512,
         "output_tokens": 128, "slo": {"tpot_ms": 15, "statistic": "mean"}}
    ],
    "sites": [{"name": "dc", "power_budget_kw": 5, "pue": 1.0, "carbon_g_per_kwh": 300, "usd_per_kwh": 0.1,
               "gpus": {"H200-SXM-141GB": 8}}],
    "growth": {"chat-8b": 0.1},
    "purchasable": {"H200-SXM-141GB": {"usd_per_gpu_hour": 3.5}},
    "extra_power": {"dc": {"usd_per_kw_month": 120}},
}


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
@pytest.mark.parametrize("rate", [0.05, 0.10, 0.20])
def test_exponential_growth_rate_is_recovered_within_5_percent(seed, rate):
    # Two years of monthly means with 2 % noise (at 3 %/month over 15 months linear and
    # exponential are within the noise of each other; the planner then reports which it chose).
    rng = np.random.default_rng(seed)
    months = np.arange(24)
    means = 5000 * (1 + rate) ** months * rng.lognormal(0, 0.02, months.size)
    fit = fit_growth("w", means, peak_factor=1.4)
    assert fit.curve == "exponential"
    assert fit.monthly_growth == pytest.approx(rate, rel=0.05)


def test_linear_history_is_told_from_exponential():
    rng = np.random.default_rng(4)
    months = np.arange(18)
    fit = fit_growth("w", 1000 + 250 * months + rng.normal(0, 20, months.size), peak_factor=1.0)
    assert fit.curve == "linear"
    assert fit.params[1] == pytest.approx(250, rel=0.05)
    assert fit.holdout_error["linear"] < fit.holdout_error["exponential"]


def test_band_widens_with_the_horizon():
    rng = np.random.default_rng(5)
    fit = fit_growth("w", 3000 * 1.05 ** np.arange(12) * rng.lognormal(0, 0.05, 12), 1.0)
    near = fit.quantile_at(12, 0.9) / fit.mean_at(12)
    far = fit.quantile_at(30, 0.9) / fit.mean_at(30)
    assert 1.0 < near < far
    assert fit.quantile_at(12, 0.1) < fit.mean_at(12)


def test_exhaustion_month_matches_a_hand_computation(sqlite_url):
    store = planner.open_store(sqlite_url)
    catalog = load_catalog()
    scenario, _ = resolve_scenario(GROWING, catalog)
    problem, _ = build_problem(scenario, usable_operating_points(store), catalog)
    best = max(problem.candidates, key=lambda c: c.tok_s / c.peak_power_w)
    budget_w, u = 5000.0, 0.8
    replicas = min(8, math.floor(budget_w / best.peak_power_w))
    feasible_up_to = replicas * u * best.tok_s  # a homogeneous fleet of the best candidate fits
    ceiling = budget_w * u * max(c.tok_s / c.peak_power_w for c in problem.candidates)  # no mix exceeds this
    demand = [20000 * 1.1**m for m in range(1, 13)]
    first_bad = next(m for m, d in enumerate(demand, start=1) if d > ceiling)
    assert all(d <= feasible_up_to for d in demand[: first_bad - 1])  # the hand computation is unambiguous
    result = forecast(None, GROWING, horizon_months=12, store=store, start="2027-01")
    expected = str(pd.Period("2027-01", freq="M") + (first_bad - 1))
    assert first_bad == 7 and expected == "2027-07"
    row = result.exhaustion.set_index("site").loc["dc"]
    assert row["period"] == expected and row["constraint"] == "power budget"
    assert "site dc needs" in row["reason"] and "kW more" in row["reason"]
    statuses = result.timeline.set_index("period")["status"]
    assert (statuses[: "2027-06"] != "infeasible").all() and (statuses["2027-07":] == "infeasible").all()
    assert result.additions[expected][0].startswith("0.7 kW (dc 0.7)")


def test_every_period_plan_passes_validate(sqlite_url, tmp_path):
    store = planner.open_store(sqlite_url)
    result = forecast(HISTORY, EXAMPLE, horizon_months=3, store=store)
    assert len(result.plans) == 3
    for period, plan in result.plans.items():
        scenario_file = tmp_path / f"{period}.yaml"
        scenario_file.write_text(scenario_yaml(plan.scenario.model_dump(mode="json", exclude_none=True)))
        placement = plan.to_placement()
        assert placement.status in ("optimal", "feasible")
        assert check_placement(placement, scenario_file, store) == []
    fits = {fit.workload: fit for fit in result.fits}
    assert fits["chat-8b"].monthly_growth == pytest.approx(0.08, rel=0.1)  # data/history/README.md: 8 % a month
    assert 1.3 < fits["chat-8b"].peak_factor < 1.8  # diurnal +-35 % plus noise
    assert set(result.timeline["period"]) == {"2026-11", "2026-12", "2027-01"}
    assert (result.timeline["mwh"] > 0).all() and (result.timeline["peak_kw"] >= result.timeline["avg_kw"]).all()


def _history(rows):
    return pd.DataFrame(rows, columns=["timestamp", "workload", "tokens_per_s"])


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("2026-01-15", "chat-8b", 100.0)], "a trend needs at least two months"),
        ([("2026-01-15", "chat-8b", 100.0), ("2026-02-15", "chat-8b", -5.0)], "line 3, column tokens_per_s: -5.0 is negative"),
        ([("2026-01-15", "chat-8b", 100.0), ("2026-02-15", "chat-8b", None)], "line 3: a value is missing"),
        ([("2026-01-15", "chat-8b", 100.0), ("2026-02-15", "nope", 10.0)], "line 3: workload 'nope' is not in the scenario"),
        ([("2026-02-15", "chat-8b", 100.0), ("2026-01-15", "chat-8b", 120.0)], "line 3: chat-8b's timestamp is earlier"),
        ([("2026-01-15", "chat-8b", 100.0), ("2026-01-15", "chat-8b", 120.0), ("2026-02-15", "chat-8b", 130.0)],
         "line 3: chat-8b's timestamp repeats"),
        ([("2026-01-15", "chat-8b", 100.0), ("2026-03-15", "chat-8b", 120.0)], "no demand in 2026-02"),
    ],
)
def test_bad_histories(sqlite_url, rows, message):
    with pytest.raises(InputError, match=message):
        forecast(_history(rows), GROWING, horizon_months=2, store=planner.open_store(sqlite_url))


@pytest.mark.parametrize(("horizon", "quantile", "message"), [(0, 0.9, "horizon of 0"), (3, 1.5, "quantile 1.5")])
def test_bad_horizon_or_quantile(horizon, quantile, message, sqlite_url):
    with pytest.raises(InputError, match=message):
        forecast(None, GROWING, horizon_months=horizon, quantile=quantile, store=planner.open_store(sqlite_url))


def test_cli_writes_the_timeline_and_refuses_bad_input(sqlite_url, tmp_path, capsys):
    output = tmp_path / "timeline.csv"
    args = ["--db", sqlite_url, "forecast", str(EXAMPLE), "--history", str(HISTORY), "--horizon", "2", "-o", str(output)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "chat-8b:" in printed and "growth" in printed and "timeline written" in printed
    timeline = pd.read_csv(output)
    assert list(timeline["period"].unique()) == ["2026-11", "2026-12"] and len(timeline) == 4
    assert main(["--db", sqlite_url, "forecast", str(EXAMPLE), "--history", str(tmp_path / "none.csv")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["--db", sqlite_url, "forecast", str(EXAMPLE), "--history", str(HISTORY), "-o", str(tmp_path / "no" / "t.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()
