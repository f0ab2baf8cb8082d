"""What each token of KV cache held costs a configuration's decode step: slopes fitted across the
prompt lengths the Store measured it at, or the memory-bandwidth roofline where it holds one.

A decode step reads the weights once and every running sequence's KV cache, so at a fixed batch
its time and energy grow linearly with the tokens held (data/runs/README.md: on a lent H100 the
slope was the same at batch 1, 16 and 64 within 10 %). The fit compares, batch by batch, the
decode windows measured at different prompt lengths: one slope for time and one for energy, each
batch its own intercept, so the batch curves stay what they are and only the context moves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from models import Catalog, GpuSpec, LlmSpec
from optimizer.operating_point import OperatingPoint
from simulator.performance import KvCost

STATIC_CACHE_RUNTIMES = frozenset({"torch-decode"})
"""Runtimes whose decode steps read a static cache of prompt + output slots per sequence (the
built-in decoder attends over all of them under a mask); the others read what a sequence holds,
prompt + half the output on average over its decode steps."""
ROOFLINE_BANDWIDTH_SHARE = 0.92
"""Share of the datasheet bandwidth at which KV reads ran where it was measured: 93 % on a lent
H100 and 92 % on a lent H200 (llama-3.1-8b, torch-decode, 2026-11-28)."""

KV_MEMORY_SHARE = 0.9
"""Share of a replica's GPU memory that weights and KV cache may fill (vLLM's default
`gpu_memory_utilization`); the rest is activations and the runtime's own."""

ConfigurationKey = tuple[str, str, str, int]
"""(model, hardware, runtime, GPUs per replica)."""


@dataclass(frozen=True)
class KvSlopes:
    s_per_token: float
    j_per_token: float
    prompts: tuple[int, ...]
    """The prompt lengths the slopes were fitted across."""
    batches: tuple[int, ...]
    """The batches measured at two or more of them."""


def kv_capacity_tokens(llm: LlmSpec, gpu: GpuSpec, gpus_per_replica: int) -> int:
    """KV tokens a replica holds beside its weights (negative where the weights alone do not fit)."""
    return int((gpus_per_replica * gpu.memory_gb * 1e9 * KV_MEMORY_SHARE - llm.weight_bytes) / llm.kv_bytes_per_token)


def reference_tokens(runtime: str, prompt_tokens: int | None, output_tokens: int) -> float | None:
    """KV tokens per sequence a measured decode step read on average; None without a prompt length."""
    if prompt_tokens is None:
        return None
    return prompt_tokens + (output_tokens if runtime in STATIC_CACHE_RUNTIMES else output_tokens / 2)


def configuration_key(point: OperatingPoint) -> ConfigurationKey:
    return (point.model, point.hardware, point.runtime, point.gpus_per_replica)


def decode_windows(points: Sequence[OperatingPoint]) -> dict[ConfigurationKey, list[OperatingPoint]]:
    """The points whose decode was measured apart, with a prompt length, by configuration (a
    point derived for other lengths is no measurement of them)."""
    found: dict[ConfigurationKey, list[OperatingPoint]] = defaultdict(list)
    for point in points:
        if point.lengths_from is None and point.decode_step_s is not None and point.decode_j_per_step is not None and point.prompt_tokens is not None:
            found[configuration_key(point)].append(point)
    return found


def fitted_slopes(windows: Sequence[OperatingPoint]) -> KvSlopes | None:
    """Step seconds and joules per KV token held, fitted on the batches measured at two or more
    prompt lengths (each batch and output length its own intercept); None where no batch was, or
    where a slope comes out negative (noise larger than the context's effect)."""
    groups: dict[tuple[int, int], list[tuple[float, float, float, int]]] = defaultdict(list)
    for w in windows:
        tokens = reference_tokens(w.runtime, w.prompt_tokens, w.output_tokens)
        if tokens is None or w.decode_step_s is None or w.decode_j_per_step is None or w.prompt_tokens is None:
            continue
        groups[(w.load, w.output_tokens)].append((w.load * tokens, w.decode_step_s, w.decode_j_per_step, w.prompt_tokens))
    x_parts, s_parts, j_parts = [], [], []
    prompts: set[int] = set()
    batches: set[int] = set()
    for (batch, _), rows in groups.items():
        array = np.asarray(rows, dtype=float)
        if len(set(array[:, 0])) < 2:
            continue
        centred = array[:, :3] - array[:, :3].mean(axis=0)
        x_parts.append(centred[:, 0])
        s_parts.append(centred[:, 1])
        j_parts.append(centred[:, 2])
        prompts.update(int(p) for p in array[:, 3])
        batches.add(batch)
    if not x_parts:
        return None
    x, s, j = np.concatenate(x_parts), np.concatenate(s_parts), np.concatenate(j_parts)
    s_per_token, j_per_token = float(x @ s / (x @ x)), float(x @ j / (x @ x))
    if s_per_token <= 0 or j_per_token <= 0:
        return None
    return KvSlopes(s_per_token, j_per_token, tuple(sorted(prompts)), tuple(sorted(batches)))


def roofline_slopes(point: OperatingPoint, catalog: Catalog) -> tuple[float, float]:
    """KV bytes at the measured share of the replica's datasheet bandwidth, drawing its GPUs' TDP
    (the lent H100 drew 590 W and the H200 685 W of 700 W extra while reading KV)."""
    gpu, llm = catalog.gpus[point.hardware], catalog.llm(point.model)
    s_per_token = llm.kv_bytes_per_token / (point.gpus_per_replica * gpu.memory_bandwidth_tb_s * 1e12 * ROOFLINE_BANDWIDTH_SHARE)
    return s_per_token, s_per_token * point.gpus_per_replica * gpu.tdp_w


def kv_cost(point: OperatingPoint, windows: Mapping[ConfigurationKey, Sequence[OperatingPoint]], catalog: Catalog, notes: list[str]) -> KvCost | None:
    """How a replica of `point`'s configuration, stepped by the curves of `point`'s sweep, follows
    the context its requests hold, from that configuration's decode windows (`decode_windows`,
    grouped once by the caller); None (and a note) where the sweep has no prompt length to
    measure the context from."""
    where = f"{point.hardware}/{point.runtime} {point.model}"
    reference = reference_tokens(point.runtime, point.prompt_tokens, point.output_tokens)
    if reference is None:
        notes.append(f"{where}: decode steps do not follow the context held (the sweep publishes no prompt length)")
        return None
    slopes = fitted_slopes(windows.get(configuration_key(point), []))
    if slopes is not None:
        return KvCost(slopes.s_per_token, slopes.j_per_token, reference, f"measured at prompts {', '.join(map(str, slopes.prompts))}")
    notes.append(f"{where}: KV context cost from the bandwidth roofline (the Store has its decode at one prompt length)")
    s_per_token, j_per_token = roofline_slopes(point, catalog)
    return KvCost(s_per_token, j_per_token, reference, "roofline")
