"""`planner demand-series`: a demand series for `planner schedule` from the token counters a
fleet's monitoring holds (vLLM's `vllm:generation_tokens_total`, per engine, labelled with the
served `model_name`).

Each interval's output tokens/s of a model is the sum over its engines of each counter's rate
within the interval (first to last scrape inside it, resets left out, telemetry/fleet.py's
counter arithmetic). An engine with no two scrapes in an interval adds nothing; a model none of
whose engines has two, has no value there, and the series is refused rather than given a gap.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from planner.errors import InputError
from planner.formats.placement import write_text_atomically
from planner.formats.time_series import MAX_STEP, MIN_STEP
from telemetry.exposition import Series
from telemetry.fleet import TOKENS_METRIC, counter_increase


def demand_rows(series: Sequence[Series], start_s: float, end_s: float, step_s: float, workloads: Mapping[str, str]) -> list[tuple[str, str, float]]:
    """(timestamp, workload, tokens_per_s) per interval and model; `workloads` renames models
    (a model not named keeps its own name)."""
    if not MIN_STEP.total_seconds() <= step_s <= MAX_STEP.total_seconds():
        raise InputError(f"--step {step_s:g} s is outside 5 minutes to an hour. To fix: e.g. --step 3600.")
    count = math.floor((end_s - start_s) / step_s + 1e-9)
    if count < 2:
        raise InputError("the window holds fewer than two steps. To fix: widen --start/--end or shorten --step.")
    engines: dict[str, list[Series]] = defaultdict(list)
    for one in series:
        if one.name == TOKENS_METRIC:
            engines[one.label("model_name") or "(no model_name)"].append(one)
    if not engines:
        raise InputError(f"no {TOKENS_METRIC} series in the window. To fix: scrape the vLLM servers' /metrics, or widen the window.")
    unknown = sorted(set(workloads) - set(engines))
    if unknown:
        raise InputError(f"--workload names model {unknown[0]}, which no engine served. To fix: use one of {', '.join(sorted(engines))}.")
    rows = []
    for index in range(count):
        first_s = start_s + index * step_s
        stamp = datetime.fromtimestamp(first_s, UTC).isoformat().replace("+00:00", "Z")
        for model, counters in sorted(engines.items()):
            increases = [counter_increase(one.points, first_s, first_s + step_s) for one in counters]
            seen = [increase for increase in increases if increase is not None]
            if not seen:
                raise InputError(
                    f"model {model}: no engine has two scrapes in the interval from {stamp}. To fix: a window the monitoring "
                    "covers throughout, or a longer --step."
                )
            rows.append((stamp, workloads.get(model, model), sum(increase.rate for increase in seen)))
    return rows


def write_demand(rows: Sequence[tuple[str, str, float]], path: Path) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["timestamp", "workload", "tokens_per_s"])
    writer.writerows([stamp, workload, f"{tok_s:.3f}"] for stamp, workload, tok_s in rows)
    write_text_atomically(text.getvalue(), path)
