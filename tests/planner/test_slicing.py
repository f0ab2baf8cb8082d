"""`planner slices`: a trace's lengths bucketed into workloads that keep its requests and tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from planner.cli import main
from planner.formats.request_trace import read_request_trace
from planner.slicing import quantile_edges, slices

CODE_TRACE = Path(__file__).resolve().parents[2] / "data" / "public" / "azure-llm-inference-2023" / "AzureLLMInferenceTrace_code.csv"


def test_slices_keep_every_request_and_token_of_the_trace():
    trace = read_request_trace(CODE_TRACE)
    found = slices(trace, quantile_edges(trace.prompt_tokens, 3), quantile_edges(trace.output_tokens, 2))
    assert sum(s.requests for s in found) == trace.requests
    assert sum(s.output_tok_s for s in found) == pytest.approx(trace.output_tok_s, rel=1e-9)
    for piece in found:
        assert piece.prompt_range[0] <= piece.prompt_tokens <= piece.prompt_range[1]
        assert piece.output_range[0] <= piece.output_tokens <= piece.output_range[1]
    scaled = slices(trace, [1000], [50], total_output_tok_s=10_000)
    assert sum(s.output_tok_s for s in scaled) == pytest.approx(10_000)
    assert len(scaled) <= 4 and all(s.prompt_range[1] < 1000 or s.prompt_range[0] >= 1000 for s in scaled)


def test_slices_command_writes_workloads_a_scenario_takes(tmp_path, capsys):
    output = tmp_path / "slices.yaml"
    code = main(["slices", str(CODE_TRACE), "--model", "llama-3.1-8b", "--prompt-edges", "1024", "--output-edges", "32",
                 "--tokens-per-s", "5000", "--tpot-ms", "40", "-o", str(output)])  # fmt: skip
    assert code == 0
    workloads = yaml.safe_load(output.read_text())["workloads"]
    assert sum(w["tokens_per_s"] for w in workloads) == pytest.approx(5000, rel=1e-6)
    assert {w["slo"]["tpot_ms"] for w in workloads} == {40.0} and {w["model"] for w in workloads} == {"llama-3.1-8b"}
    assert "4 workloads" in capsys.readouterr().out or len(workloads) < 4


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--prompt-edges", "2048,512"], "must be increasing"),
        (["--prompt-edges", "a,b"], "not a comma-separated list"),
        (["--tokens-per-s", "0"], "must be positive"),
        (["--prompt-buckets", "0"], "give at least 1"),
    ],
)
def test_bad_slicing_options_say_what_to_fix(extra, fragment, capsys):
    assert main(["slices", str(CODE_TRACE), "--model", "llama-3.1-8b", *extra]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "To fix" in err



def test_each_slice_trace_holds_exactly_its_requests_and_a_scenario_reads_it(tmp_path):
    output = tmp_path / "scenario" / "slices.yaml"
    output.parent.mkdir()
    code = main(["slices", str(CODE_TRACE), "--model", "llama-3.1-8b", "--prompt-edges", "1024", "--output-edges", "32",
                 "--tpot-ms", "40", "--trace-dir", str(tmp_path / "traces"), "-o", str(output)])  # fmt: skip
    assert code == 0
    trace = read_request_trace(CODE_TRACE)
    workloads = yaml.safe_load(output.read_text())["workloads"]
    read_back = [read_request_trace(output.parent / w["trace"]) for w in workloads]
    assert [w["trace"] for w in workloads] == [f"../traces/{w['name']}.csv" for w in workloads]
    assert sum(t.requests for t in read_back) == trace.requests
    for workload, piece in zip(workloads, read_back, strict=True):
        # every request in its own slice's bounds, and the slice's mean lengths and rate are its trace's
        assert piece.prompt_tokens.mean() == pytest.approx(workload["prompt_tokens"], abs=0.5)
        assert piece.output_tokens.mean() == pytest.approx(workload["output_tokens"], abs=0.5)
        assert (piece.prompt_tokens < 1024).all() or (piece.prompt_tokens >= 1024).all()
    assert sorted(int(p) for t in read_back for p in t.prompt_tokens) == sorted(int(p) for p in trace.prompt_tokens)
    (tmp_path / "traces.txt").write_text("")
    assert main(["slices", str(CODE_TRACE), "--model", "llama-3.1-8b", "--trace-dir", str(tmp_path / "traces.txt")]) == 2
