"""From one measurement to one end-to-end operating point: a replica serving whole requests.

With phase data a cycle of batch B lasts `prefill_s + output_tokens * tpot_s`, serves
`B * output_tokens` output tokens and costs `prefill_j + decode_j` (DESIGN.md). On the
reference H200, llama-8b at batch 256 spends 38 mJ/token in decode alone but 103 mJ/token
over whole cycles with its 512-token prefill: leaving prefill out flatters large batches.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MeasuredPoint:
    """What the optimizer needs of one stored measurement (per replica, SI units)."""

    measurement_id: int
    source: str
    source_key: str
    model: str
    hardware: str
    runtime: str
    gpus_per_replica: int
    load: int
    """Batch size, or concurrency when the generator drove a server."""
    prompt_tokens: int | None
    output_tokens: int
    energy_scope: str
    output_tok_s: float
    tpot_ms: float
    tpot_stat: str
    ttft_ms: float | None
    ttft_stat: str | None
    prefill_s: float | None
    prefill_j_per_prompt_token: float | None
    decode_j_per_token: float | None
    busy_power_w: float | None
    peak_power_w: float | None
    gpu_tdp_w: float
    workload_profile: str | None = None
    prefill_estimate: PrefillEstimate | None = None
    """For a decode-only measurement: what its prefill would cost (the planner supplies it)."""


@dataclass(frozen=True)
class PrefillEstimate:
    """Prefill cost per prompt token of one replica, taken from elsewhere than the measurement."""

    j_per_prompt_token: float
    s_per_prompt_token: float
    basis: str
    """Where it comes from: measured prefill windows of the same model and GPU, or the roofline."""


@dataclass(frozen=True)
class OperatingPoint:
    """One replica's steady state over whole requests at the measured prompt/output lengths."""

    measurement_id: int
    source: str
    source_key: str
    model: str
    hardware: str
    runtime: str
    gpus_per_replica: int
    load: int
    prompt_tokens: int | None
    output_tokens: int
    tok_s: float
    power_w: float
    peak_power_w: float
    ttft_ms: float | None
    ttft_stat: str | None
    tpot_ms: float
    tpot_stat: str
    prefill_energy_estimated: bool
    peak_power_estimated: bool
    workload_profile: str | None = None
    decode_step_s: float | None = None
    """Mean decode step where decode was measured in a window of its own (phase rows): with
    `decode_j_per_step`, what the KV context's cost is fitted on (planner/kv_context.py)."""
    decode_j_per_step: float | None = None
    lengths_from: LengthsFrom | None = None
    """Set where this point was moved to other prompt and output lengths than its measurement's
    (planner/derived_lengths.py); None: measured at its own lengths."""

    @property
    def joules_per_token(self) -> float:
        return self.power_w / self.tok_s

    @property
    def measurement(self) -> OperatingPoint:
        """The point as measured: itself, or the one it was moved to other lengths from (whose
        sweep is what a simulated replica steps on)."""
        return self.lengths_from.measured if self.lengths_from is not None else self

    @property
    def ttft_unverified(self) -> bool:
        return self.ttft_ms is None


@dataclass(frozen=True)
class LengthsFrom:
    """The measurement a derived point rests on, and what carried it to the new lengths."""

    measured: OperatingPoint
    basis: str
    """How the decode step follows the context: KV slopes measured across prompts, or the roofline."""


@dataclass(frozen=True)
class Unusable:
    measurement_id: int
    reason: str


def end_to_end(point: MeasuredPoint) -> OperatingPoint | Unusable:
    """The whole-request operating point of a measurement, or why it cannot give one. A decode
    window alone is never planned as if prefill were free: its prefill is charged from the
    measurement's own prefill window, else from the estimate the planner attached."""
    if point.decode_j_per_token is None:
        return Unusable(point.measurement_id, "decode energy unusable (window too short or implausible)")
    replica_tdp_w = point.gpus_per_replica * point.gpu_tdp_w
    prefill_estimated = False
    peak_estimated = point.peak_power_w is None
    peak_w = point.peak_power_w or 0.0
    if point.energy_scope == "whole_request":
        tok_s = point.output_tok_s
        power_w = point.decode_j_per_token * tok_s
        if peak_estimated:
            peak_w = replica_tdp_w
    else:
        if point.prompt_tokens is None:
            return Unusable(point.measurement_id, "decode energy without a prompt length: its prefill cannot be charged")
        prompt_tokens = point.load * point.prompt_tokens
        if point.energy_scope == "phases" and point.prefill_s is not None:
            prefill_s = point.prefill_s
            if point.prefill_j_per_prompt_token is not None:
                prefill_j = point.prefill_j_per_prompt_token * prompt_tokens
                peak_w = max(peak_w, prefill_j / prefill_s)
                peak_estimated = False  # both phases measured: the higher one is the peak
            else:
                # Prefill is compute-bound and runs at the power limit: charge it at TDP.
                prefill_j = prefill_s * replica_tdp_w
                prefill_estimated = True
                peak_w = max(peak_w, replica_tdp_w)
                peak_estimated = True
        elif point.prefill_estimate is not None:
            prefill_s = point.prefill_estimate.s_per_prompt_token * prompt_tokens
            prefill_j = point.prefill_estimate.j_per_prompt_token * prompt_tokens
            prefill_estimated = True
            peak_w = max(peak_w, prefill_j / prefill_s)
        else:
            return Unusable(point.measurement_id, "decode energy alone, with no prefill measurement or estimate to add")
        tokens = point.load * point.output_tokens
        cycle_s = prefill_s + point.output_tokens * point.tpot_ms / 1000
        tok_s = tokens / cycle_s
        power_w = (prefill_j + point.decode_j_per_token * tokens) / cycle_s
    peak_w = max(peak_w, power_w, point.busy_power_w or 0.0)
    return OperatingPoint(
        measurement_id=point.measurement_id,
        source=point.source,
        source_key=point.source_key,
        model=point.model,
        hardware=point.hardware,
        runtime=point.runtime,
        gpus_per_replica=point.gpus_per_replica,
        load=point.load,
        prompt_tokens=point.prompt_tokens,
        output_tokens=point.output_tokens,
        tok_s=tok_s,
        power_w=power_w,
        peak_power_w=peak_w,
        ttft_ms=point.ttft_ms,
        ttft_stat=point.ttft_stat,
        tpot_ms=point.tpot_ms,
        tpot_stat=point.tpot_stat,
        prefill_energy_estimated=prefill_estimated,
        peak_power_estimated=peak_estimated,
        workload_profile=point.workload_profile,
        decode_step_s=point.load / point.output_tok_s if point.energy_scope == "phases" else None,
        decode_j_per_step=point.decode_j_per_token * point.load if point.energy_scope == "phases" else None,
    )
