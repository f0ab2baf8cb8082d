"""Request-size slices of a trace: each bucket of (prompt, output) lengths a workload of its own.

One average request shape hides that a trace's long prompts and long outputs want different
configurations (Mélange's observation). Bucketing the lengths turns a trace into workloads of one
model, with their rates and representative lengths, that the planner then packs onto shared
replicas. A bucket's lengths are its means, so each slice asks for exactly the tokens its
requests hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from planner.errors import InputError
from simulator.traffic import Trace


@dataclass(frozen=True)
class Slice:
    bucket: tuple[int, int]
    """(prompt bucket, output bucket): which requests of the trace it holds (`requests_by_bucket`)."""
    prompt_range: tuple[int, int]
    output_range: tuple[int, int]
    requests: int
    prompt_tokens: int
    output_tokens: int
    output_tok_s: float
    """At the trace's own pace (or scaled, see `slices`)."""

    def name(self, prefix: str) -> str:
        return f"{prefix}-p{self.prompt_range[0]}-{self.prompt_range[1]}-o{self.output_range[0]}-{self.output_range[1]}"


def quantile_edges(values: np.ndarray, buckets: int) -> list[int]:
    """Inner edges splitting `values` into `buckets` groups of about equal count."""
    if buckets < 1:
        raise InputError(f"{buckets} buckets: give at least 1. To fix: e.g. --prompt-buckets 2.")
    inner = np.quantile(values, [k / buckets for k in range(1, buckets)], method="higher")
    return sorted({int(edge) for edge in inner})


def slices(trace: Trace, prompt_edges: Sequence[int], output_edges: Sequence[int], total_output_tok_s: float | None = None) -> list[Slice]:
    """The trace's requests by bucket; a request of length L falls in the bucket whose lower
    edge is the largest edge <= L. `total_output_tok_s` scales every slice by one factor so that
    they sum to it (the trace's mix kept); without it, the trace's own mean rate."""
    for name, edges in (("prompt", prompt_edges), ("output", output_edges)):
        if list(edges) != sorted(set(edges)) or any(edge < 1 for edge in edges):
            raise InputError(f"{name} edges {list(edges)} must be increasing positive token counts. To fix: e.g. 512,2048.")
    if trace.duration_s <= 0:
        raise InputError("the trace spans no time (one request, or all at once). To fix: give a trace of several arrivals.")
    scale = 1.0 if total_output_tok_s is None else total_output_tok_s / trace.output_tok_s
    found = []
    for bucket, chosen in requests_by_bucket(trace, prompt_edges, output_edges).items():
        prompts, outputs = trace.prompt_tokens[chosen], trace.output_tokens[chosen]
        found.append(
            Slice(
                bucket=bucket,
                prompt_range=(int(prompts.min()), int(prompts.max())),
                output_range=(int(outputs.min()), int(outputs.max())),
                requests=int(chosen.sum()),
                prompt_tokens=round(float(prompts.mean())),
                output_tokens=round(float(outputs.mean())),
                output_tok_s=scale * float(outputs.sum()) / trace.duration_s,
            )
        )
    return found


def requests_by_bucket(trace: Trace, prompt_edges: Sequence[int], output_edges: Sequence[int]) -> dict[tuple[int, int], np.ndarray]:
    """Each (prompt, output) bucket that holds requests, with the mask of those requests, in
    bucket order."""
    prompt_bucket = np.searchsorted(np.asarray(prompt_edges), trace.prompt_tokens, side="right")
    output_bucket = np.searchsorted(np.asarray(output_edges), trace.output_tokens, side="right")
    masks = {}
    for i in range(len(prompt_edges) + 1):
        for j in range(len(output_edges) + 1):
            chosen = np.asarray((prompt_bucket == i) & (output_bucket == j))
            if chosen.any():
                masks[(i, j)] = chosen
    return masks


def workload_entries(found: Sequence[Slice], model: str, prefix: str, slo: dict[str, object]) -> list[dict[str, object]]:
    """Scenario `workloads:` entries, one per slice, each with the same SLO."""
    return [
        {
            "name": piece.name(prefix),
            "model": model,
            "tokens_per_s": round(piece.output_tok_s, 3),
            "prompt_tokens": piece.prompt_tokens,
            "output_tokens": piece.output_tokens,
            "slo": dict(slo),
        }
        for piece in found
    ]
