"""Operating points moved to a workload's prompt and output lengths from a measurement of the
same configuration at other lengths (a scenario's `derive_lengths: true`).

A trace's slices ask for lengths nobody measured (403/85, 2,905/70 on the Azure conversation
trace). A measurement whose phases were timed apart says what each part of its cycle costs:
prefill per prompt token (compute-bound, linear in tokens) and a decode step whose time and
energy grow with the KV tokens held, at the rate planner/kv_context.py fits across prompt lengths
(or the bandwidth roofline). Together they give the cycle at other lengths,
`prefill(p) + o x step(context(p, o))`: the model the serving simulator steps, so a plan on
derived points and its simulation rest on the same physics. `planner model-check --lengths` and
tests/planner/test_derived_lengths.py measure how far it carries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace

from models import Catalog
from optimizer.candidates import WorkloadSpec, length_distance, serves
from optimizer.operating_point import LengthsFrom, OperatingPoint
from planner.kv_context import ConfigurationKey, configuration_key, decode_windows, kv_capacity_tokens, kv_cost, reference_tokens


def derived_point(point: OperatingPoint, prompt_tokens: int, output_tokens: int, windows: Mapping[ConfigurationKey, Sequence[OperatingPoint]],
                  catalog: Catalog) -> OperatingPoint | None:  # fmt: skip
    """`point`'s configuration and batch at other lengths; None where the point has no phases or
    prompt length to move from, or the batch's KV cache would not fit the replica's memory."""
    if point.decode_step_s is None or point.decode_j_per_step is None or point.prompt_tokens is None:
        return None
    if point.load * (prompt_tokens + output_tokens) > kv_capacity_tokens(catalog.llm(point.model), catalog.gpus[point.hardware], point.gpus_per_replica):
        return None
    kv = kv_cost(point, windows, catalog, [])
    measured_context = reference_tokens(point.runtime, point.prompt_tokens, point.output_tokens)
    new_context = reference_tokens(point.runtime, prompt_tokens, output_tokens)
    if kv is None or measured_context is None or new_context is None:
        return None
    # the measured cycle split into its phases: what prefill took is what decode did not
    cycle_s = point.load * point.output_tokens / point.tok_s
    prefill_s = cycle_s - point.output_tokens * point.decode_step_s
    prefill_j = point.power_w * cycle_s - point.output_tokens * point.decode_j_per_step
    if prefill_s <= 0 or prefill_j <= 0:
        return None
    prompt_scale = prompt_tokens / point.prompt_tokens
    step_s = point.decode_step_s + kv.s_per_token * point.load * (new_context - measured_context)
    step_j = point.decode_j_per_step + kv.j_per_token * point.load * (new_context - measured_context)
    if step_s <= 0 or step_j <= 0:
        return None
    new_cycle_s = prefill_s * prompt_scale + output_tokens * step_s
    power_w = (prefill_j * prompt_scale + output_tokens * step_j) / new_cycle_s
    return replace(
        point,
        prompt_tokens=prompt_tokens,
        output_tokens=output_tokens,
        tok_s=point.load * output_tokens / new_cycle_s,
        power_w=power_w,
        peak_power_w=max(point.peak_power_w, power_w, step_j / step_s),
        ttft_ms=None if point.ttft_ms is None else point.ttft_ms * prompt_scale,
        tpot_ms=point.tpot_ms * step_s / point.decode_step_s,
        decode_step_s=step_s,
        decode_j_per_step=step_j,
        lengths_from=LengthsFrom(point, f"KV cost {kv.basis}"),
    )


def derived_points(points: Sequence[OperatingPoint], workloads: Sequence[WorkloadSpec], catalog: Catalog) -> list[OperatingPoint]:
    """For each workload, each configuration and batch of its model measured with phases but at
    no lengths near the workload's (a configuration measured near them is planned as measured),
    moved from its nearest measured lengths (every repeat at them) to the workload's."""
    windows = decode_windows(points)
    found: dict[tuple[int, int, int], OperatingPoint] = {}
    for workload in workloads:
        of_model = [p for p in points if p.model == workload.model and p.workload_profile is None]
        covered = {configuration_key(p) for p in of_model if serves(p, workload)}
        movable: dict[tuple[ConfigurationKey, int], list[OperatingPoint]] = defaultdict(list)
        for point in of_model:
            if point.decode_step_s is not None and configuration_key(point) not in covered:
                movable[(configuration_key(point), point.load)].append(point)
        for group in movable.values():
            nearest = min(length_distance(p, workload) for p in group)
            for point in group:
                key = (point.measurement_id, workload.prompt_tokens, workload.output_tokens)
                if length_distance(point, workload) == nearest and key not in found:
                    derived = derived_point(point, workload.prompt_tokens, workload.output_tokens, windows, catalog)
                    if derived is not None:
                        found[key] = derived
    return list(found.values())
