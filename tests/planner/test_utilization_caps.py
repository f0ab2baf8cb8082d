"""`planner caps`: each candidate's highest load under a trace, by bisection on the simulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from models import load_catalog
from planner.cli import main
from planner.formats.request_trace import read_request_trace
from planner.formats.scenario import load_scenario
from planner.kv_context import decode_windows, kv_cost
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
    from planner.utilization_caps import _CAPS

    cached = len(_CAPS)
    assert caps(SCENARIO, store, {"chat-8b": AZURE / "AzureLLMInferenceTrace_conv.csv"})[0] == found
    assert len(_CAPS) == cached  # the second ask is answered from the cache, per candidate and trace
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
        kv = kv_cost(point, decode_windows(points), catalog, [])
        assert meets_slo(point, sweep, workload, trace, cap.cap, kv)
        if cap.cap < 1.0:  # a bisection bracket: just above the cap, the SLO statistic fails
            assert not meets_slo(point, sweep, workload, trace, min(cap.cap + TOLERANCE + 1e-3, 1.0), kv)
        assert LOWEST <= cap.cap <= 1.0


def test_caps_command_prints_a_verdict_per_candidate(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    trace = f"assistant-32b={AZURE / 'AzureLLMInferenceTrace_code.csv'}"
    assert main(["--db", sqlite_url, "caps", str(SCENARIO), "--trace", trace]) == 0
    printed = capsys.readouterr().out
    assert "assistant-32b" in printed and "chat-8b" not in printed.split("each cap")[0]
    assert "unsafe" in printed or "unplanned" in printed
    assert main(["--db", sqlite_url, "caps", str(SCENARIO), "--trace", f"nobody={AZURE / 'AzureLLMInferenceTrace_code.csv'}"]) == 2


def test_a_plan_with_caps_from_traffic_holds_each_candidate_to_its_cap_and_validates(sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    conv = AZURE / "AzureLLMInferenceTrace_conv.csv"
    traces = ["--trace", f"chat-8b={conv}", "--trace", f"assistant-32b={conv}"]
    placement = tmp_path / "auto.yaml"
    assert main(["--db", sqlite_url, "plan", str(SCENARIO), "-o", str(placement), "--no-baselines", *traces]) == 0
    content = yaml.safe_load(placement.read_text())
    assert set(content["traces"]) == {"chat-8b", "assistant-32b"}
    for row in content["placements"]:
        planned = sum(share["tokens_per_s"] / (share["max_utilization"] * share["replica_tokens_per_s"]) for share in row["serves"])
        assert planned <= row["replicas"] * (1 + 1e-6)  # each share within its own cap
        assert all(0 < share["max_utilization"] <= 1 for share in row["serves"])
    capsys.readouterr()
    validate = ["--db", sqlite_url, "validate", str(placement), str(SCENARIO)]
    assert main([*validate, *traces]) == 0
    assert main(validate) == 1
    assert "pass them to check it" in capsys.readouterr().out
    other = tmp_path / "other.csv"
    other.write_text(conv.read_text().replace("\n2023", "\n2023", 1) + "\n")
    assert main([*validate, "--trace", f"chat-8b={other}", "--trace", f"assistant-32b={conv}"]) == 1
    assert "is not the one planned with" in capsys.readouterr().out
    edited = yaml.safe_load(placement.read_text())
    edited["placements"][0]["serves"][0]["max_utilization"] = 1.0
    tampered = tmp_path / "tampered.yaml"
    tampered.write_text(yaml.safe_dump(edited, sort_keys=False))
    assert main(["--db", sqlite_url, "validate", str(tampered), str(SCENARIO), *traces]) == 1
    assert "max_utilization stated 1.0" in capsys.readouterr().out


def _auto_scenario(tmp_path: Path, edit=None) -> Path:  # type: ignore[no-untyped-def]
    import shutil

    import yaml

    content = yaml.safe_load(SCENARIO.read_text())
    content["max_utilization"] = "auto"
    shutil.copy(AZURE / "AzureLLMInferenceTrace_conv.csv", tmp_path / "conv.csv")
    for workload in content["workloads"]:
        workload["trace"] = "conv.csv"  # read from the scenario's folder
    if edit is not None:
        edit(content)
    path = tmp_path / "auto.yaml"
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return path


def test_max_utilization_auto_plans_and_validates_with_the_scenarios_traces(sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    scenario = _auto_scenario(tmp_path)
    placement = tmp_path / "p.yaml"
    assert main(["--db", sqlite_url, "plan", str(scenario), "-o", str(placement), "--no-baselines"]) == 0
    content = yaml.safe_load(placement.read_text())
    assert content["max_utilization"] == "auto" and set(content["traces"]) == {"chat-8b", "assistant-32b"}
    assert all(share["max_utilization"] is not None for row in content["placements"] for share in row["serves"])
    assert main(["--db", sqlite_url, "validate", str(placement), str(scenario)]) == 0
    conv = tmp_path / "conv.csv"
    plain = tmp_path / "plain.yaml"
    traces = ["--trace", f"chat-8b={conv}", "--trace", f"assistant-32b={conv}"]
    assert main(["--db", sqlite_url, "plan", str(SCENARIO), "-o", str(plain), "--no-baselines", *traces]) == 0
    # the same caps, the same plan (loads split in floating point from other blanket caps)
    rows = yaml.safe_load(plain.read_text())["placements"]
    assert [(r["site"], r["configuration"], r["replicas"]) for r in rows] == [(r["site"], r["configuration"], r["replicas"]) for r in content["placements"]]
    assert [r["tokens_per_s"] for r in rows] == pytest.approx([r["tokens_per_s"] for r in content["placements"]], rel=1e-9)


@pytest.mark.parametrize(
    ("edit", "command", "fragment"),
    [
        (lambda c: c["workloads"][1].pop("trace"), "plan", "workload 'assistant-32b' has no trace"),
        (lambda c: c.update(max_utilization=0.8), "plan", "which is read with max_utilization: auto only"),
        (None, "forecast", "forecasts and schedules plan at one cap"),
    ],
)
def test_auto_without_what_it_needs_ends_in_one_line(edit, command: str, fragment: str, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    scenario = _auto_scenario(tmp_path, edit)
    assert main(["--db", sqlite_url, command, str(scenario)]) == 2
    error = capsys.readouterr().err
    assert fragment in error and len(error.strip().splitlines()) == 1
