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

