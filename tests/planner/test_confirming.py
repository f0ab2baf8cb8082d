"""`planner plan --trace --confirm`: caps lowered where the fleet simulation misses an SLO, until it
holds; the placement records the shares and `validate` checks them."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.cli import main
from planner.confirming import confirmed_plan
from planner.formats.placement import read_placement
from planner.planning import workload_specs
from planner.simulating import simulate_placement, slo_margin
from planner.store_setup import open_store

DATA = Path(__file__).resolve().parents[2] / "data"
SCENARIO = DATA / "scenarios" / "example.yaml"
CONV = DATA / "public" / "azure-llm-inference-2023" / "AzureLLMInferenceTrace_conv.csv"
TRACES = {"chat-8b": CONV, "assistant-32b": CONV}


def test_the_fleet_meets_every_slo_once_the_missed_workloads_caps_are_lowered(sqlite_url: str, tmp_path: Path) -> None:
    store = open_store(sqlite_url)
    result, rounds = confirmed_plan(SCENARIO, store, TRACES, rounds=3, confirm_s=30.0, with_baselines=False)
    # the caps themselves leave chat-8b short in the fleet; each round scales them by the miss
    assert rounds[0].cap_scales == {} and rounds[0].missed == ["chat-8b"]
    assert len(rounds) >= 2 and not rounds[-1].missed
    for before, after in zip(rounds, rounds[1:], strict=False):
        for name in before.missed:
            assert after.cap_scales[name] == pytest.approx(before.cap_scales.get(name, 1.0) * min(max(before.margins[name], 0.5), 0.95))
        assert after.gpus >= before.gpus
    # the plan returned (solved again with its follow-ups) is the one the last round simulated
    summary = result.to_placement().summary
    assert summary is not None and summary.gpus == rounds[-1].gpus
    assert summary.joules_per_token == pytest.approx(rounds[-1].facility_j_per_token)
    # the margins are the simulation's own: the final plan, simulated again, meets every statistic
    path = tmp_path / "confirmed.yaml"
    result.to_file(path)
    placement = read_placement(path)
    assert placement.traces["chat-8b"].cap_scale == pytest.approx(rounds[-1].cap_scales["chat-8b"])
    assert placement.traces["chat-8b"].cap_scale < 1.0
    assert placement.traces["assistant-32b"].cap_scale == 1.0
    simulation = simulate_placement(path, SCENARIO, store, TRACES, duration_s=30.0)
    assert all(slo_margin(simulation.result, w) >= 1.0 for w in workload_specs(result.scenario))
    assert simulation.table["meets SLO"].all()


def test_the_command_prints_the_rounds_and_a_hand_edited_share_is_caught(sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "p.yaml"
    traces = [f"--trace={name}={path}" for name, path in TRACES.items()]
    assert main(["--db", sqlite_url, "plan", str(SCENARIO), *traces, "--confirm", "2", "--confirm-duration", "30", "--no-baselines", "-o", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "the caps themselves" in printed and "chat-8b x0." in printed
    assert main(["--db", sqlite_url, "validate", str(output), str(SCENARIO), *traces]) == 0
    edited = tmp_path / "edited.yaml"
    text = output.read_text()
    share = read_placement(output).traces["chat-8b"].cap_scale
    edited.write_text(text.replace(f"cap_scale: {share}", "cap_scale: 1.0"))
    assert main(["--db", sqlite_url, "validate", str(edited), str(SCENARIO), *traces]) == 1
    assert "max_utilization stated" in capsys.readouterr().out


def test_confirm_needs_traces_and_a_round(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", sqlite_url, "plan", str(SCENARIO), "--confirm", "2"]) == 2
    assert "--confirm simulates the plan under its workloads' traces" in capsys.readouterr().err
    assert main(["--db", sqlite_url, "plan", str(SCENARIO), f"--trace=chat-8b={CONV}", f"--trace=assistant-32b={CONV}", "--confirm", "0"]) == 2
    assert "must be at least 1" in capsys.readouterr().err
