"""`planner plan` and `planner validate` end to end on the bundled data."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

import planner
from optimizer.candidates import Flag
from optimizer.problem import Solution
from planner.cli import main
from planner.formats.placement import read_placement
from planner.formats.scenario import Sources

EXAMPLE_TEXT = resources.files("planner_data").joinpath("scenarios/example.yaml").read_text()


def _scenario(tmp_path: Path, edit=None, name: str = "scenario.yaml") -> Path:
    content = yaml.safe_load(EXAMPLE_TEXT)
    if edit:
        edit(content)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return path


@pytest.fixture
def example(tmp_path: Path) -> Path:
    path = tmp_path / "example.yaml"
    path.write_text(EXAMPLE_TEXT)
    return path


def test_plan_then_validate(example, tmp_path, sqlite_url, capsys):
    output = tmp_path / "p.yaml"
    assert main(["--db", sqlite_url, "plan", str(example), "-o", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "HiGHS, status optimal" in printed and "placement written" in printed
    assert main(["--db", sqlite_url, "validate", str(output), str(example)]) == 0
    assert "valid against" in capsys.readouterr().out


def test_placement_file_can_be_checked_by_hand(example, tmp_path, sqlite_url):
    output = tmp_path / "p.json"
    assert main(["--db", sqlite_url, "plan", str(example), "-o", str(output)]) == 0
    content = json.loads(output.read_text())
    rows = content["placements"]
    sites = {s["name"]: s for s in content["sites"]}
    for row in rows:
        assert row["gpus"] == row["replicas"] * row["config"]["gpus_per_replica"]
        load = sum(share["tokens_per_s"] / share["replica_tokens_per_s"] for share in row["serves"])
        assert load <= content["max_utilization"] * row["replicas"] + 1e-6
        assert row["tokens_per_s"] == pytest.approx(sum(share["tokens_per_s"] for share in row["serves"]))
        (share,) = row["serves"]  # one workload per model here: nothing is shared
        assert not row["shared"]
        assert row["power_w"] == pytest.approx(row["replicas"] * share["replica_power_w"], rel=1e-6)
        assert share["source"].startswith("reference/")
    facility_w = sum(sites[r["site"]]["pue"] * r["power_w"] for r in rows)
    tokens = sum(r["tokens_per_s"] for r in rows)
    assert content["summary"]["joules_per_token"] == pytest.approx(facility_w / tokens, rel=1e-4)
    assert tokens == pytest.approx(sum(w["demand_tok_s"] for w in content["workloads"]))
    for name, site in sites.items():
        peak = sum(site["pue"] * r["peak_power_w"] for r in rows if r["site"] == name)
        assert peak <= site["power_budget_kw"] * 1000
    assert len(content["scenario"]["sha256"]) == 64


def test_tampered_placement_fails_validation(example, tmp_path, sqlite_url, capsys):
    output = tmp_path / "p.yaml"
    main(["--db", sqlite_url, "plan", str(example), "-o", str(output)])
    content = yaml.safe_load(output.read_text())
    content["placements"][0]["replicas"] -= 1
    content["placements"][-1]["replica_power_w"] *= 0.5
    output.write_text(yaml.safe_dump(content))
    capsys.readouterr()
    assert main(["--db", sqlite_url, "validate", str(output), str(example)]) == 1
    printed = capsys.readouterr().out
    assert "above" in printed and "at each candidate's utilisation cap" in printed
    assert "replica_power_w stated" in printed and "summary: replicas stated" in printed


def test_api_and_cli_agree(example, sqlite_url, capsys):
    plan = planner.plan(example, store=planner.open_store(sqlite_url))
    assert plan.status == "optimal"
    assert set(plan.placements["site"]) <= {"dc-east", "eu-north"}
    main(["--db", sqlite_url, "plan", str(example)])
    printed = capsys.readouterr().out
    assert f"{plan.summary['joules_per_token'] * 1000:.1f} mJ/token facility" in printed
    assert [b.name for b in plan.baselines] == ["best single GPU type", "max throughput"]


def test_impossible_tpot_is_infeasible_with_the_fastest_measured(tmp_path, sqlite_url, capsys):
    scenario = _scenario(tmp_path, lambda c: c["workloads"][0]["slo"].update(tpot_ms=2))
    output = tmp_path / "p.yaml"
    assert main(["--db", sqlite_url, "plan", str(scenario), "-o", str(output)]) == 3
    printed = capsys.readouterr().out
    assert "no measured configuration of llama-3.1-8b meets TPOT 2 ms; fastest is 5.9 ms on H200-SXM-141GB" in printed
    assert read_placement(output).status == "infeasible"


def test_too_little_power_names_the_site_and_kilowatts(tmp_path, sqlite_url, capsys):
    def squeeze(content):
        content["sites"][0]["power_budget_kw"] = 2
        content["sites"][1]["power_budget_kw"] = 2

    assert main(["--db", sqlite_url, "plan", str(_scenario(tmp_path, squeeze))]) == 3
    printed = capsys.readouterr().out
    assert "kW more" in printed and "site " in printed


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["workloads"][1].update(model="llama-3.1-405b"), "llama-3.1-405b has no usable measurement in the Store"),
        (lambda c: c["sites"][1].update(power_budget_kw=0.3), "sites[eu-north].power_budget_kw: 0.3 kW is below the smallest replica"),
        (lambda c: c.update(speed="max"), "unknown key 'speed'"),
        (lambda c: c["workloads"][0].update(tokens_per_s=0), "workloads[chat-8b].tokens_per_s"),
    ],
)
def test_invalid_scenarios_exit_2_in_one_line(tmp_path, sqlite_url, capsys, edit, message):
    store = planner.open_store(sqlite_url)
    with store.engine.begin() as connection:  # a model the Store holds no measurement of
        connection.execute(text("DELETE FROM measurement WHERE llm_id = (SELECT id FROM llm WHERE name = 'llama-3.1-405b')"))
    assert main(["--db", sqlite_url, "plan", str(_scenario(tmp_path, edit))]) == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1 and "To fix" in error


def test_bad_output_name_writes_nothing(example, tmp_path, sqlite_url, capsys):
    target = tmp_path / "p.txt"
    assert main(["--db", sqlite_url, "plan", str(example), "-o", str(target)]) == 2
    assert "end the name in .yaml, .yml or .json" in capsys.readouterr().err
    assert main(["--db", sqlite_url, "plan", str(example), "-o", str(tmp_path / "nowhere" / "p.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not [path for path in tmp_path.rglob("*") if "p." in path.name]


def test_current_placement_shows_moves(example, tmp_path, sqlite_url, capsys):
    today = tmp_path / "today.yaml"
    smaller = _scenario(tmp_path, lambda c: c["workloads"][0].update(tokens_per_s=20000), "smaller.yaml")
    main(["--db", sqlite_url, "plan", str(smaller), "-o", str(today)])
    capsys.readouterr()
    assert main(["--db", sqlite_url, "plan", str(example), "--current", str(today)]) == 0
    printed = capsys.readouterr().out
    assert "moves against the current placement:" in printed
    assert "+" in printed.split("moves against the current placement:")[1]


def test_objective_override(example, sqlite_url):
    store = planner.open_store(sqlite_url)
    energy = planner.plan(example, store=store, with_baselines=False, with_shadow_prices=False)
    carbon = planner.plan(example, store=store, objective="carbon", with_baselines=False, with_shadow_prices=False)
    assert carbon.problem.objective == "carbon"
    assert carbon.fleet.g_co2_per_hour <= energy.fleet.g_co2_per_hour + 1e-6
    assert energy.fleet.facility_power_w <= carbon.fleet.facility_power_w + 1e-6


def test_a_stored_row_without_batch_or_concurrency_is_refused_not_planned_at_batch_1(example, sqlite_url):
    store = planner.open_store(sqlite_url)
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE measurement SET batch = NULL, concurrency = NULL WHERE id = 1"))
    with pytest.raises(planner.USER_ERRORS, match="measurement 1 .* has neither batch nor concurrency"):
        planner.plan(example, store=store, with_baselines=False, with_shadow_prices=False)


def test_a_decode_only_row_is_planned_with_its_prefill_charged(example, tmp_path, sqlite_url):
    """The H200's llama-3.1-8b batch-64 decode window (72 mJ/token alone) imported as decode_only:
    planned as if prefill were free it undercut every whole-request row; charged, it does not."""
    store = planner.open_store(sqlite_url)
    before = planner.plan(example, store=store, with_baselines=False, with_shadow_prices=False).fleet
    measured = store.measurements(model="llama-3.1-8b", hardware="H200-SXM-141GB", runtime="graph")
    row = measured[(measured.batch == 64) & (measured.prompt_tokens == 512)].iloc[0]
    columns = ["source", "model", "hardware", "runtime", "gpus_per_replica", "batch", "prompt_tokens", "output_tokens",
               "energy_scope", "output_tok_s", "tpot_ms", "tpot_stat", "decode_window_s", "decode_tokens", "decode_j"]  # fmt: skip
    values = ["decode-only lab run", "llama-3.1-8b", "H200-SXM-141GB", "graph", 1, 64, 512, 128, "decode_only",
              row.output_tok_s, row.tpot_ms, row.tpot_stat, row.decode_window_s, row.decode_tokens, row.decode_j]  # fmt: skip
    csv_path = tmp_path / "decode-only.csv"
    csv_path.write_text(",".join(columns) + "\n" + ",".join(str(v) for v in values) + "\n")
    assert main(["--db", sqlite_url, "import", str(csv_path)]) == 0
    table = planner.operating_points_table(store, model="llama-3.1-8b", hardware="H200-SXM-141GB")
    decode_only = table[table.source == "decode-only lab run"].iloc[0]
    assert decode_only["mj_per_tok"] > 1.5 * decode_only["decode_mj_per_tok"]
    assert decode_only["note"].startswith("prefill estimated: median of")
    after = planner.plan(example, store=store, with_baselines=False, with_shadow_prices=False)
    assert after.fleet.joules_per_token >= before.joules_per_token * (1 - 2e-3)
    (candidate,) = [c for c in after.candidate_set.candidates if c.point.source == "decode-only lab run"]
    assert Flag("prefill_energy_estimated") in candidate.flags
    assert candidate.point.joules_per_token * 1e3 == pytest.approx(decode_only["mj_per_tok"], abs=0.05)


def test_sources_choose_the_data_a_plan_rests_on(example, tmp_path, sqlite_url, capsys):
    store = planner.open_store(sqlite_url)
    only_h200 = planner.plan(example, store=store, with_baselines=False, with_shadow_prices=False,
                             sources=Sources(include=["reference/h200-*"]))  # fmt: skip
    assert {c.point.source for c in only_h200.candidate_set.candidates} == {"reference/h200-2026-11-26"}
    no_bench = planner.plan(example, store=store, with_baselines=False, with_shadow_prices=False,
                            sources=Sources(exclude=["bench/*", "ML.ENERGY*"]))  # fmt: skip
    assert all(c.point.source.startswith("reference/") for c in no_bench.candidate_set.candidates)
    assert main(["--db", sqlite_url, "plan", str(example), "--source", "referense/*"]) == 2
    assert "sources.include: 'referense/*' matches no measurement source" in capsys.readouterr().err
    in_file = _scenario(tmp_path, lambda c: c.update(sources={"exclude": ["reference/*"]}), name="no-reference.yaml")
    assert main(["--db", sqlite_url, "plan", str(in_file), "--no-baselines"]) == 2  # qwen2.5-32b: measured in reference/ only
    assert "qwen2.5-32b has no usable measurement" in capsys.readouterr().err


def test_an_unknown_task_profile_is_refused_with_the_known_ones(tmp_path, sqlite_url, capsys):
    poetry = _scenario(tmp_path, lambda c: c["workloads"][0].update(profile="poetry"), name="poetry.yaml")
    assert main(["--db", sqlite_url, "plan", str(poetry)]) == 2
    assert "profile: no measurement in the Store was taken on task 'poetry'. To fix: use one of chat" in capsys.readouterr().err


def test_prices_and_carbon_are_needed_only_by_the_objective_that_uses_them(tmp_path, sqlite_url, capsys):
    def strip(content):
        for site in content["sites"]:
            del site["usd_per_kwh"], site["carbon_g_per_kwh"]

    bare = _scenario(tmp_path, strip, name="bare.yaml")
    output = tmp_path / "bare-plan.yaml"
    assert main(["--db", sqlite_url, "plan", str(bare), "-o", str(output), "--no-baselines"]) == 0
    printed = capsys.readouterr().out
    assert "$/M tokens left out (a site in use has no usd_per_kwh)" in printed
    assert "gCO2/M tokens left out (a site in use has no carbon_g_per_kwh)" in printed
    summary = read_placement(output).summary
    assert summary is not None and summary.usd_per_hour is None and summary.g_co2_per_million_tokens is None
    assert summary.joules_per_token == pytest.approx(0.1953, rel=1e-3)  # the energy plan is the example's
    assert main(["--db", sqlite_url, "validate", str(output), str(bare)]) == 0
    assert main(["--db", sqlite_url, "plan", str(bare), "--objective", "cost"]) == 2
    assert "objective cost needs usd_per_kwh at every site; dc-east has none" in capsys.readouterr().err


def test_no_solution_in_time_is_not_reported_as_infeasible(example, tmp_path, sqlite_url, capsys, monkeypatch):
    """The solver stopping at its limit without a placement is its own status and exit code."""
    import planner.planning

    monkeypatch.setattr(planner.planning, "solve", lambda problem, options, start_from=None: Solution(status="no_solution"))
    output = tmp_path / "p.yaml"
    assert main(["--db", sqlite_url, "plan", str(example), "--time-limit", "2", "-o", str(output)]) == 4
    printed = capsys.readouterr().out
    assert not any(line.startswith("infeasible") for line in printed.splitlines())
    assert "no placement found in time (not proven infeasible)" in printed
    assert "within the time limit of 2 s" in printed
    assert read_placement(output).status == "no_solution"


def test_a_scenario_sets_what_its_gpus_cost_globally_and_per_site(tmp_path, sqlite_url):
    def prices(content):
        content["usd_per_gpu_hour"] = {"H100-80GB": 1.0, "H200": 2.0}  # the names peers and clouds write
        content["sites"][1]["usd_per_gpu_hour"] = {"NVIDIA H200": 5.0}

    path = _scenario(tmp_path, prices, name="priced.yaml")
    result = planner.plan(path, planner.open_store(sqlite_url), with_baselines=False, with_shadow_prices=False)
    expected = {("dc-east", "H100-SXM-80GB"): 1.0, ("dc-east", "H200-SXM-141GB"): 2.0, ("eu-north", "H200-SXM-141GB"): 5.0}
    sites = {s.name: s for s in result.scenario.sites}
    usd = sum(
        row.gpus * expected[(row.site, row.hardware)] + sites[row.site].pue * row.power_w / 1000 * sites[row.site].usd_per_kwh
        for row in result.to_placement().placements
    )
    assert result.fleet.usd_per_hour == pytest.approx(usd, rel=1e-9)
    assert {row.site for row in result.to_placement().placements} == {"dc-east", "eu-north"}  # both prices were used
