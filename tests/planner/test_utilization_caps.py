"""`planner caps`: each candidate's highest load under a trace, by bisection on the simulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from models import load_catalog
from planner.cli import main
from planner.formats.request_trace import read_request_trace
from planner.formats.scenario import load_scenario
from planner.model_check import sweep_key, sweeps
from planner.planning import build_problem
from planner.store_setup import open_store
from planner.stored_points import usable_operating_points
from planner.utilization_caps import LOWEST, TOLERANCE, caps, meets_slo

DATA = Path(__file__).resolve().parents[2] / "data"
SCENARIO = DATA / "scenarios" / "example.yaml"
AZURE = DATA / "public" / "azure-llm-inference-2023"


def test_each_cap_is_where_the_slo_stops_holding(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    found, blanket = caps(SCENARIO, store, {"chat-8b": AZURE / "AzureLLMInferenceTrace_conv.csv"})
    assert blanket == 0.8 and {c.workload for c in found} == {"chat-8b"}
    capped = [c for c in found if c.cap is not None]
    assert capped and any(c.cap < 0.8 for c in capped) and any(c.cap > 0.8 for c in capped)
    catalog = load_catalog()
    points = usable_operating_points(store)
    problem, _ = build_problem(load_scenario(SCENARIO, catalog)[0], points, catalog)
    candidates = {c.id: c for c in problem.candidates}
    workload = next(w for w in problem.workloads if w.name == "chat-8b")
    trace = read_request_trace(AZURE / "AzureLLMInferenceTrace_conv.csv")
    by_sweep = sweeps(points)
    for cap in capped:
        point = candidates[cap.candidate].point
        sweep = by_sweep[sweep_key(point)]
        assert meets_slo(point, sweep, workload, trace, cap.cap)
        if cap.cap < 1.0:  # a bisection bracket: just above the cap, the SLO statistic fails
            assert not meets_slo(point, sweep, workload, trace, min(cap.cap + TOLERANCE + 1e-3, 1.0))
        assert LOWEST <= cap.cap <= 1.0


def test_caps_command_prints_a_verdict_per_candidate(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    trace = f"assistant-32b={AZURE / 'AzureLLMInferenceTrace_code.csv'}"
    assert main(["--db", sqlite_url, "caps", str(SCENARIO), "--trace", trace]) == 0
    printed = capsys.readouterr().out
    assert "assistant-32b" in printed and "chat-8b" not in printed.split("each cap")[0]
    assert "unsafe" in printed or "unplanned" in printed
    assert main(["--db", sqlite_url, "caps", str(SCENARIO), "--trace", f"nobody={AZURE / 'AzureLLMInferenceTrace_code.csv'}"]) == 2
