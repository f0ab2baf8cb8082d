"""Points moved to a workload's lengths: exact on the linear model they assume, close on the bundled
GPU runs held out prompt by prompt, and planned, flagged and validated only where a scenario asks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from models import load_catalog
from optimizer.candidates import WorkloadSpec
from optimizer.operating_point import OperatingPoint
from planner import plan
from planner.cli import main
from planner.derived_lengths import derived_point, derived_points
from planner.formats.scenario import parse_scenario
from planner.kv_context import decode_windows, reference_tokens
from planner.model_check import lengths_check, sweeps
from planner.planning import workload_specs
from planner.store_setup import open_store
from planner.stored_points import usable_operating_points

S_PER_KV_TOKEN, J_PER_KV_TOKEN = 4e-8, 2.5e-5
PREFILL_S_PER_TOKEN, PREFILL_J_PER_TOKEN = 2e-5, 0.012


def whole_request(batch: int, prompt: int, output: int) -> OperatingPoint:
    """A replica on the model derived points assume: prefill linear in prompt tokens, decode steps
    linear in the KV tokens held, each batch its own intercept."""
    step_s = 0.008 + 1e-5 * batch + S_PER_KV_TOKEN * batch * (reference_tokens("torch-decode", prompt, output) or 0)
    step_j = 2.9 + 0.02 * batch + J_PER_KV_TOKEN * batch * (reference_tokens("torch-decode", prompt, output) or 0)
    cycle_s = PREFILL_S_PER_TOKEN * batch * prompt + output * step_s
    cycle_j = PREFILL_J_PER_TOKEN * batch * prompt + output * step_j
    return OperatingPoint(
        measurement_id=batch * 100_000 + prompt, source="test", source_key=f"test/{batch}/{prompt}/{output}", model="llama-3.1-8b",
        hardware="H100-SXM-80GB", runtime="torch-decode", gpus_per_replica=1, load=batch, prompt_tokens=prompt, output_tokens=output,
        tok_s=batch * output / cycle_s, power_w=cycle_j / cycle_s, peak_power_w=700.0, ttft_ms=1000 * PREFILL_S_PER_TOKEN * batch * prompt,
        ttft_stat="mean", tpot_ms=1000 * step_s, tpot_stat="mean", prefill_energy_estimated=False, peak_power_estimated=False,
        decode_step_s=step_s, decode_j_per_step=step_j,
    )  # fmt: skip


def workload_specs_of(lengths: list[tuple[int, int]]) -> tuple[WorkloadSpec, ...]:
    """Workloads of llama-3.1-8b at these (prompt, output) lengths, read as a scenario reads them."""
    scenario = parse_scenario(
        {"version": 1, "name": "t", "sites": [{"name": "a", "power_budget_kw": 10, "gpus": {"H100-SXM-80GB": 1}}],
         "workloads": [{"name": f"w{p}", "model": "llama-3.1-8b", "tokens_per_s": 100, "prompt_tokens": p, "output_tokens": o,
                        "slo": {"tpot_ms": 50}} for p, o in lengths]},
        load_catalog(),
    )  # fmt: skip
    return workload_specs(scenario)


def test_on_the_linear_model_a_moved_point_is_the_point_measured_there():
    measured = [whole_request(b, p, 128) for b in (1, 16) for p in (512, 4096)]
    windows, catalog = decode_windows(measured), load_catalog()
    moved = derived_point(measured[0], 2900, 70, windows, catalog)
    truth = whole_request(1, 2900, 70)
    assert moved is not None and moved.lengths_from is not None and moved.measurement == measured[0] and measured[0].measurement is measured[0]
    for field in ("tok_s", "power_w", "tpot_ms", "ttft_ms", "decode_step_s", "decode_j_per_step"):
        assert getattr(moved, field) == pytest.approx(getattr(truth, field), rel=1e-9), field
    assert moved.lengths_from.basis == "KV cost measured at prompts 512, 4096"
    # moved to its own lengths it is itself
    same = derived_point(measured[2], 512, 128, windows, catalog)
    assert same is not None and same.tok_s == pytest.approx(measured[2].tok_s) and same.power_w == pytest.approx(measured[2].power_w)
    # a batch whose KV cache cannot fit the replica: 64 x 32,896 tokens x 128 KiB is 276 GB, the H100 has 80
    assert derived_point(whole_request(64, 512, 128), 32768, 128, windows, catalog) is None
    # a window without its phases has nothing to move
    assert derived_point(replace(measured[0], decode_step_s=None), 2900, 70, windows, catalog) is None


def test_derived_points_are_no_measurement_of_the_lengths_they_were_moved_to():
    measured = [whole_request(b, p, 128) for b in (1, 16) for p in (512, 4096)]
    workloads = workload_specs_of([(3000, 70), (520, 128)])
    moved = derived_points(measured, workloads, load_catalog())
    # the 3000/70 workload gets every batch from its nearest prompt (4096); the 520/128 one is served as measured
    assert sorted((p.load, p.prompt_tokens, p.lengths_from.measured.prompt_tokens) for p in moved if p.lengths_from) == [(1, 3000, 4096), (16, 3000, 4096)]
    everything = measured + moved
    assert sum(len(w) for w in decode_windows(everything).values()) == len(measured)
    assert sum(len(s) for s in sweeps(everything).values()) == len(measured)


def test_the_bundled_runs_are_predicted_at_other_prompt_lengths(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    table = lengths_check(open_store(sqlite_url), model="llama-3.1-8b")
    ratio = (table["prompt"] / table["from prompt"]).where(table["prompt"] >= table["from prompt"], table["from prompt"] / table["prompt"])
    near = table[ratio <= 4]
    assert len(near) >= 20 and set(near["runtime"]) == {"graph", "torch-decode"}
    short = near[(near["prompt"] <= 8192) & (near["from prompt"] <= 8192)]
    for column in ("tok/s %", "J/tok %"):
        assert near[column].abs().median() <= 3 and short[column].abs().max() <= 8, column
    assert near["TPOT %"].abs().max() <= 2
    # at 32k prompts prefill is no longer linear in the prompt (attention): the errors grow, and are shown
    assert table[table["prompt"] == 32768]["J/tok %"].abs().min() > 10
    assert main(["--db", sqlite_url, "model-check", "--lengths", "--hardware", "h200"]) == 0
    printed = capsys.readouterr().out
    assert "H200-SXM-141GB" in printed and "H100-SXM-80GB" not in printed and "median |error|" in printed
    assert main(["--db", sqlite_url, "model-check", "--lengths", "--context"]) == 2


LONG_PROMPTS = {
    "version": 1,
    "name": "long-prompts",
    "workloads": [{"name": "long", "model": "llama-3.1-8b", "tokens_per_s": 3000, "prompt_tokens": 2900, "output_tokens": 70,
                   "slo": {"tpot_ms": 30, "statistic": "mean"}}],
    "sites": [{"name": "a", "power_budget_kw": 40, "gpus": {"H100-SXM-80GB": 8, "H200-SXM-141GB": 8}}],
}  # fmt: skip


def test_a_scenario_plans_on_moved_points_only_where_it_asks_and_validate_recomputes_them(sqlite_url: str, tmp_path: Path) -> None:
    store = open_store(sqlite_url)
    as_measured = plan(LONG_PROMPTS, store=store, with_baselines=False, with_shadow_prices=False)
    assert as_measured.status == "infeasible" and "no measurement of llama-3.1-8b near prompt 2900" in as_measured.reason_lines()[0]
    scenario = tmp_path / "long.yaml"
    scenario.write_text(yaml.safe_dump({**LONG_PROMPTS, "derive_lengths": True}))
    placement = tmp_path / "p.yaml"
    assert main(["--db", sqlite_url, "plan", str(scenario), "-o", str(placement), "--no-baselines"]) == 0
    content = yaml.safe_load(placement.read_text())
    shares = [share for row in content["placements"] for share in row["serves"]]
    assert shares and all(any(flag.startswith("lengths_derived: from prompt") for flag in share["flags"]) for share in shares)
    # each planned figure is the measurement moved again here, not read from the plan
    catalog, points = load_catalog(), usable_operating_points(store)
    windows, by_source = decode_windows(points), {f"{p.source} [{p.source_key}]": p for p in points}
    for share in shares:
        moved = derived_point(by_source[share["source"]], 2900, 70, windows, catalog)
        assert moved is not None and share["replica_tokens_per_s"] == pytest.approx(moved.tok_s)
        assert share["joules_per_token"] == pytest.approx(moved.joules_per_token)
    assert main(["--db", sqlite_url, "validate", str(placement), str(scenario)]) == 0
    content["placements"][0]["serves"][0]["replica_tokens_per_s"] *= 1.05
    placement.write_text(yaml.safe_dump(content))
    assert main(["--db", sqlite_url, "validate", str(placement), str(scenario)]) == 1
