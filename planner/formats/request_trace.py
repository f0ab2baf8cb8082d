"""Request traces (CSV): `timestamp, prompt_tokens, output_tokens[, workload]`, or the Azure LLM
inference layout `TIMESTAMP, ContextTokens, GeneratedTokens` read as published.

A timestamp is ISO 8601 with a zone or an offset, or seconds as a plain number; the Azure
traces give wall-clock times without a zone, which a trace only uses as differences. Every bad
line ends the read with the file, line and column to fix: a missing column, an empty file, a
timestamp that cannot be read, goes back in time or repeats the one before, a length that is not
a whole number of tokens of at least 1.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import datetime
from pathlib import Path

import numpy as np

from models import LlmSpec
from planner.errors import InputError
from simulator.traffic import Trace

LAYOUTS = {
    "project": ("timestamp", "prompt_tokens", "output_tokens"),
    "azure": ("TIMESTAMP", "ContextTokens", "GeneratedTokens"),
}


def _seconds(text: str, layout: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise InputError(f"{where}: {text!r} is not a time. To fix: use ISO 8601 with a zone (2026-11-20T10:00:00Z) or seconds.") from error
    if stamp.tzinfo is None and layout != "azure":
        raise InputError(f"{where}: {text!r} has no zone. To fix: add one (Z or +01:00), or give seconds.")
    return stamp.timestamp() if stamp.tzinfo else (stamp - datetime(1970, 1, 1)).total_seconds()


def _tokens(text: str, where: str) -> int:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value != int(value) or value < 1:
        raise InputError(f"{where}: {text!r} is not a number of tokens. To fix: give a whole number of at least 1.")
    return int(value)


def read_request_trace(path: Path) -> Trace:
    """The trace in a file, or an InputError naming the line to fix."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read {path}: {error}. To fix: pass a UTF-8 CSV request trace.") from error
    reader = csv.reader(io.StringIO(text))
    header = [column.strip() for column in next(reader, [])]
    layout = next((name for name, columns in LAYOUTS.items() if set(columns) <= set(header)), None)
    if layout is None:
        raise InputError(
            f"{path}: the header has {', '.join(header) or 'nothing'}. To fix: give columns timestamp, prompt_tokens, "
            "output_tokens (or the Azure trace's TIMESTAMP, ContextTokens, GeneratedTokens)."
        )
    indices = [header.index(column) for column in LAYOUTS[layout]]
    times: list[float] = []
    prompts: list[int] = []
    outputs: list[int] = []
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise InputError(f"{path} line {line}: {len(row)} cells for {len(header)} columns. To fix: complete the row.")
        stamp, prompt, output = (row[index] for index in indices)
        seconds = _seconds(stamp, layout, f"{path} line {line}, column {LAYOUTS[layout][0]}")
        if times and seconds <= times[-1]:
            how = "repeats the one before" if seconds == times[-1] else "is earlier than the one before"
            raise InputError(f"{path} line {line}: the timestamp {how}. To fix: sort the trace by time and drop repeats.")
        times.append(seconds)
        prompts.append(_tokens(prompt, f"{path} line {line}, column {LAYOUTS[layout][1]}"))
        outputs.append(_tokens(output, f"{path} line {line}, column {LAYOUTS[layout][2]}"))
    if not times:
        raise InputError(f"{path} has a header but no requests. To fix: give at least one request.")
    arrival_s = np.asarray(times) - times[0]
    return Trace(arrival_s, np.asarray(prompts, dtype=np.int64), np.asarray(outputs, dtype=np.int64))


def request_trace_csv(trace: Trace, mask: np.ndarray) -> str:
    """The masked requests in the project's layout, arrivals in seconds from the whole trace's
    first (repr keeps every distinct arrival distinct when read back)."""
    lines = ["timestamp,prompt_tokens,output_tokens"]
    for seconds, prompt, output in zip(trace.arrival_s[mask], trace.prompt_tokens[mask], trace.output_tokens[mask], strict=True):
        lines.append(f"{float(seconds)!r},{int(prompt)},{int(output)}")
    return "\n".join(lines) + "\n"


def check_fits_the_model(trace: Trace, llm: LlmSpec, label: str) -> None:
    """A request longer than the model's context cannot be served by any replica of it."""
    longest = int((trace.prompt_tokens + trace.output_tokens).max())
    if longest > llm.max_context_tokens:
        raise InputError(
            f"{label}: a request of {longest} tokens (prompt and output) is longer than {llm.name}'s context of "
            f"{llm.max_context_tokens}. To fix: drop or truncate those requests, or use a model with a longer context."
        )
