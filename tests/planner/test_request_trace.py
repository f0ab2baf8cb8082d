"""Request traces as published (the bundled Azure traces) and as a user writes them; bad traces
end in one line naming the line and column to fix."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from models import load_catalog
from planner.errors import InputError
from planner.formats.request_trace import check_fits_the_model, read_request_trace

AZURE = Path(__file__).resolve().parents[2] / "data" / "public" / "azure-llm-inference-2023"


def test_the_bundled_azure_conversation_trace_reads_as_published() -> None:
    trace = read_request_trace(AZURE / "AzureLLMInferenceTrace_conv.csv")
    assert trace.requests == 19_366
    assert trace.duration_s == pytest.approx(3501.72, abs=0.01)  # about 58 minutes
    assert (trace.prompt_tokens.min(), trace.prompt_tokens.max(), np.median(trace.prompt_tokens)) == (2, 14_050, 1020)
    assert (trace.output_tokens.min(), trace.output_tokens.max(), np.median(trace.output_tokens)) == (7, 1000, 129)
    assert trace.interarrival_cv > 1  # arrivals come in bursts, not as a Poisson process


def test_the_bundled_azure_code_trace_reads_as_published() -> None:
    trace = read_request_trace(AZURE / "AzureLLMInferenceTrace_code.csv")
    assert trace.requests == 8_819 and np.median(trace.output_tokens) == 13


def test_the_project_layout_with_zones_or_seconds(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("timestamp,prompt_tokens,output_tokens,workload\n2026-11-20T10:00:00Z,512,128,chat\n"
                    "2026-11-20T11:00:00.5+01:00,100,10,chat\n")  # fmt: skip
    trace = read_request_trace(path)
    assert trace.arrival_s.tolist() == [0.0, 0.5] and trace.prompt_tokens.tolist() == [512, 100]
    seconds = tmp_path / "s.csv"
    seconds.write_text("timestamp,prompt_tokens,output_tokens\n10,5,5\n12.5,6,6\n")
    assert read_request_trace(seconds).arrival_s.tolist() == [0.0, 2.5]


HEADER = "timestamp,prompt_tokens,output_tokens\n"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("", "the header has nothing"),
        ("time,prompt,output\n1,2,3\n", "the header has time, prompt, output"),
        (HEADER, "has a header but no requests"),
        (HEADER + "2,5,5\n1,5,5\n", "line 3: the timestamp is earlier than the one before"),
        (HEADER + "1,5,5\n1,5,5\n", "line 3: the timestamp repeats the one before"),
        (HEADER + "1,0,5\n", "line 2, column prompt_tokens: '0' is not a number of tokens"),
        (HEADER + "1,5,-3\n", "line 2, column output_tokens: '-3' is not a number of tokens"),
        (HEADER + "1,5.5,3\n", "line 2, column prompt_tokens: '5.5' is not a number of tokens"),
        (HEADER + "2026-11-20T10:00:00,5,5\n", "has no zone"),
        (HEADER + "yesterday,5,5\n", "'yesterday' is not a time"),
        (HEADER + "1,5\n", "line 2: 2 cells for 3 columns"),
    ],
    ids=["empty", "missing columns", "no rows", "unsorted", "repeated", "zero prompt", "negative output",
         "fractional", "no zone", "not a time", "short row"],  # fmt: skip
)
def test_a_bad_trace_ends_in_one_line(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(InputError) as raised:
        read_request_trace(path)
    assert fragment in str(raised.value) and "To fix" in str(raised.value) and "\n" not in str(raised.value)


def test_a_request_longer_than_the_models_context_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text(HEADER + "0,9000,100\n1,100,100\n")
    trace = read_request_trace(path)
    small = load_catalog().llms["llama-3.1-8b"]
    check_fits_the_model(trace, small, "long.csv")  # 131,072 tokens of context: fits
    short = replace(small, max_context_tokens=8192)
    with pytest.raises(InputError, match="a request of 9100 tokens .* longer than llama-3.1-8b's context of 8192"):
        check_fits_the_model(trace, short, "long.csv")
