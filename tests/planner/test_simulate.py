"""`planner simulate`: the bundled example replayed at its own request shape, and bad input refused."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import yaml

from planner.cli import main
from planner.simulating import simulate_placement
from planner.store_setup import open_store

EXAMPLE_TEXT = resources.files("planner_data").joinpath("scenarios/example.yaml").read_text()


def _poisson_trace(path: Path, rate_per_s: float, seconds: float, seed: int) -> Path:
    """Requests at the scenario's own shape (512-token prompts, 128-token outputs)."""
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1 / rate_per_s, int(rate_per_s * seconds)))
    lines = ["timestamp,prompt_tokens,output_tokens"] + [f"{t - arrivals[0]:.9f},512,128" for t in arrivals]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path, dict[str, Path]]:
    folder = tmp_path_factory.mktemp("simulate")
    url = f"sqlite:///{folder / 'store.db'}"
    scenario = folder / "example.yaml"
    scenario.write_text(EXAMPLE_TEXT)
    placement = folder / "p.yaml"
    assert main(["--db", url, "plan", str(scenario), "-o", str(placement), "--no-baselines"]) == 0
    demand = {w["name"]: w["tokens_per_s"] for w in yaml.safe_load(EXAMPLE_TEXT)["workloads"]}
    traces = {name: _poisson_trace(folder / f"{name}.csv", tok_s / 128, 25, seed) for seed, (name, tok_s) in enumerate(demand.items())}
    return url, scenario, placement, traces


def test_at_the_planned_shape_the_simulation_serves_the_demand_near_the_planned_energy(planned):
    url, scenario, placement, traces = planned
    simulation = simulate_placement(placement, scenario, open_store(url), traces, duration_s=20)
    result = simulation.result
    planned_tok_s, simulated_tok_s = simulation.energy["output tok/s"]
    # every request served: tokens over the span (arrivals plus the drain) match the demand over the arrivals
    assert not np.isnan(result.finish_s).any()
    assert simulated_tok_s * result.horizon_s == pytest.approx(result.output_tokens.sum(), rel=1e-3)
    assert result.horizon_s < 20 + 5  # the queue drains within seconds: the plan has the capacity
    planned_mj, simulated_mj = simulation.energy["IT mJ/token"]
    assert simulated_mj == pytest.approx(planned_mj, rel=0.15)
    assert set(simulation.table["workload"]) == {"chat-8b", "assistant-32b"}
    assert (simulation.table["preempted"] == 0).all()
    assert len(simulation.replicas) == 12 and (simulation.replicas["busy"] <= 1).all()
    assert simulation.replicas["wh"].sum() * 3600 == pytest.approx(result.energy_j.sum(), rel=1e-4)


def test_simulate_command_prints_the_percentiles(planned, capsys):
    url, scenario, placement, traces = planned
    arguments = [f"{name}={path}" for name, path in traces.items()]
    report = placement.parent / "report.json"
    code = main(["--db", url, "simulate", str(placement), str(scenario), "--duration", "5", "-o", str(report),
                 *sum((["--trace", a] for a in arguments), [])])  # fmt: skip
    captured = capsys.readouterr()
    content = json.loads(report.read_text())
    assert {w["workload"] for w in content["workloads"]} == {"chat-8b", "assistant-32b"} and len(content["replicas"]) == 12
    assert "TPOT p95 ms" in captured.out and "chat-8b" in captured.out and "simulated (trace scaled to it)" in captured.out
    # the reference TPOTs are decode-only; prefill stalls push chat-8b past its 15 ms mean: the gate says so
    assert code == 5 and "SLO missed by" in captured.err


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--trace", "chat-8b"], "is not WORKLOAD=FILE"),
        (["--trace", "nobody=x.csv"], "not in the placement"),
        (["--duration", "0"], "must be positive"),
        (["--chunked-prefill", "0"], "must be a positive token count"),
        (["-o", "report.csv"], "the report is JSON"),
    ],
)
def test_bad_simulate_input_is_refused_with_a_fix(planned, extra, fragment, capsys):
    url, scenario, placement, traces = planned
    assert main(["--db", url, "simulate", str(placement), str(scenario), *extra]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "To fix" in err


def test_a_placement_that_does_not_validate_is_not_simulated(planned, tmp_path, capsys):
    url, scenario, placement, traces = planned
    content = yaml.safe_load(placement.read_text())
    content["placements"][0]["replicas"] += 5
    tampered = tmp_path / "tampered.yaml"
    tampered.write_text(yaml.safe_dump(content))
    arguments = sum((["--trace", f"{name}={path}"] for name, path in traces.items()), [])
    assert main(["--db", url, "simulate", str(tampered), str(scenario), *arguments]) == 2
    assert "does not validate" in capsys.readouterr().err


def test_a_plan_whose_slos_hold_under_its_traffic_exits_0(planned, tmp_path, capsys):
    url, _, _, traces = planned
    content = yaml.safe_load(EXAMPLE_TEXT)
    for workload in content["workloads"]:
        workload["slo"]["tpot_ms"] *= 2  # room for the prefill stalls the decode-only TPOTs leave out
    scenario = tmp_path / "loose.yaml"
    scenario.write_text(yaml.safe_dump(content))
    placement = tmp_path / "p.yaml"
    assert main(["--db", url, "plan", str(scenario), "-o", str(placement), "--no-baselines"]) == 0
    arguments = sum((["--trace", f"{name}={path}"] for name, path in traces.items()), [])
    assert main(["--db", url, "simulate", str(placement), str(scenario), "--duration", "5", *arguments]) == 0
    assert "SLO missed" not in capsys.readouterr().err


def test_a_trace_longer_than_the_models_context_is_refused(planned, tmp_path, capsys):
    url, scenario, placement, traces = planned
    too_long = tmp_path / "long.csv"
    too_long.write_text("timestamp,prompt_tokens,output_tokens\n0,200000,10\n1,512,128\n")
    arguments = ["--trace", f"chat-8b={too_long}", "--trace", f"assistant-32b={traces['assistant-32b']}"]
    assert main(["--db", url, "simulate", str(placement), str(scenario), *arguments]) == 2
    assert "longer than llama-3.1-8b's context" in capsys.readouterr().err


def test_site_power_by_the_second_adds_up_and_holds_the_budget(planned, tmp_path):
    url, scenario, placement, traces = planned
    simulation = simulate_placement(placement, scenario, open_store(url), traces, duration_s=10)
    sites = simulation.sites.set_index("site")
    pue = {site["name"]: site["pue"] for site in yaml.safe_load(EXAMPLE_TEXT)["sites"]}
    for name, frame in simulation.site_power.groupby("site"):
        assert len(frame) == int(np.ceil(simulation.result.horizon_s))
        replicas = simulation.replicas[simulation.replicas["site"] == name]
        # the bins hold each replica's joules (and idle power in the last bin's tail past the last finish)
        assert frame["facility kW"].sum() / 3600 == pytest.approx(pue[name] * replicas["wh"].sum() / 1000, rel=0.02)
        assert sites.loc[name, "peak kW (1 s)"] == pytest.approx(frame["facility kW"].max(), abs=0.01)
    # the plan held each budget at every replica's measured peak: the traffic draws less
    assert sites["within budget"].all() and not simulation.over_budget
    report = tmp_path / "report.json"
    simulation.to_json(report)
    content = json.loads(report.read_text())
    assert set(content["site_power_kw"]) == set(sites.index) and content["sites"][0]["budget kW"] > 0
