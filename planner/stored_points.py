"""Stored measurements -> the optimizer's end-to-end operating points, as a table."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import replace

import pandas as pd

from models import Catalog, CatalogError, Store, StoreError, load_catalog
from optimizer.operating_point import MeasuredPoint, OperatingPoint, PrefillEstimate, end_to_end


def _optional(value: object) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)  # type: ignore[arg-type]


def _text(value: object) -> str | None:
    """A text cell, None where the database had NULL (pandas may hand back NaN)."""
    return value if isinstance(value, str) else None


def measured_points(measurements: pd.DataFrame, catalog: Catalog) -> list[MeasuredPoint]:
    """The optimizer's view of stored rows, each decode window that lacks its own prefill given
    an estimate of it (see `with_prefill_estimates`)."""
    points = []
    for row in measurements.itertuples(index=False):
        prefill_j = _optional(row.prefill_j)
        decode_j = _optional(row.decode_j)
        load = _optional(row.batch) or _optional(row.concurrency)
        if load is None:
            # every importer requires one of them; a row without either was written around them
            raise StoreError(
                f"measurement {row.id} ({row.source_key}) has neither batch nor concurrency, so its operating point "
                "is unknown. To fix: set one of them in the Store, or delete the row."
            )
        points.append(
            MeasuredPoint(
                measurement_id=int(row.id),
                source=row.source,
                source_key=row.source_key,
                model=row.model,
                hardware=row.hardware,
                runtime=row.runtime,
                gpus_per_replica=int(row.gpus_per_replica),
                load=int(load),
                prompt_tokens=None if _optional(row.prompt_tokens) is None else int(row.prompt_tokens),
                output_tokens=int(row.output_tokens),
                energy_scope=row.energy_scope,
                output_tok_s=float(row.output_tok_s),
                tpot_ms=float(row.tpot_ms),
                tpot_stat=row.tpot_stat,
                ttft_ms=_optional(row.ttft_ms),
                ttft_stat=_text(row.ttft_stat),
                prefill_s=_optional(row.prefill_s),
                prefill_j_per_prompt_token=None if prefill_j is None else prefill_j / float(row.prefill_tokens),
                decode_j_per_token=None if decode_j is None else decode_j / float(row.decode_tokens),
                busy_power_w=_optional(row.busy_power_w),
                peak_power_w=_optional(row.peak_power_w),
                gpu_tdp_w=float(row.hardware_tdp_w),
                workload_profile=_text(row.workload_profile),
            )
        )
    return with_prefill_estimates(points, catalog)


def _lacks_prefill(point: MeasuredPoint) -> bool:
    return point.energy_scope == "decode_only" or (point.energy_scope == "phases" and point.prefill_s is None)


def with_prefill_estimates(points: list[MeasuredPoint], catalog: Catalog) -> list[MeasuredPoint]:
    """A decode window without its own prefill gets the median measured prefill (J and s per
    prompt token) of the same model, GPU type and GPUs per replica, else (where the catalog has the
    GPU's tensor peak) the compute roofline at the power limit: 2 x active parameters FLOPs per
    prompt token at the dense BF16 peak, the replica drawing its TDP. Prefill is compute-bound and ran at 680-730 W on the 700 W
    reference cards, so the roofline's time is a lower bound and its power an upper one."""
    measured: dict[tuple[str, str, int], list[tuple[float, float]]] = defaultdict(list)
    for p in points:
        if p.energy_scope == "phases" and p.prefill_s and p.prefill_j_per_prompt_token is not None and p.prompt_tokens:
            measured[(p.model, p.hardware, p.gpus_per_replica)].append(
                (p.prefill_j_per_prompt_token, p.prefill_s / (p.load * p.prompt_tokens))
            )
    estimated = []
    for p in points:
        if not _lacks_prefill(p):
            estimated.append(p)
            continue
        windows = measured.get((p.model, p.hardware, p.gpus_per_replica))
        estimate = None
        if windows:
            estimate = PrefillEstimate(
                j_per_prompt_token=statistics.median(j for j, _ in windows),
                s_per_prompt_token=statistics.median(s for _, s in windows),
                basis=f"median of {len(windows)} measured prefill window(s) of {p.model} on {p.hardware}",
            )
        elif p.model in catalog.llms and p.hardware in catalog.gpus and catalog.gpus[p.hardware].bf16_dense_tflops:
            llm, gpu = catalog.llms[p.model], catalog.gpus[p.hardware]
            s_per_token = 2 * llm.active_params_b * 1e9 / (p.gpus_per_replica * (gpu.bf16_dense_tflops or 0) * 1e12)
            estimate = PrefillEstimate(
                j_per_prompt_token=s_per_token * p.gpus_per_replica * gpu.tdp_w,
                s_per_prompt_token=s_per_token,
                basis=f"compute roofline of {p.hardware} at its {gpu.tdp_w:g} W power limit",
            )
        estimated.append(replace(p, prefill_estimate=estimate))
    return estimated


def usable_operating_points(store: Store) -> list[OperatingPoint]:
    """Every stored measurement that yields a whole-request operating point."""
    results = (end_to_end(point) for point in measured_points(store.measurements(), load_catalog()))
    return [result for result in results if isinstance(result, OperatingPoint)]


def roofline_fraction(point: MeasuredPoint, catalog: Catalog) -> float | None:
    """Share of the replica's datasheet memory bandwidth one decode step uses: the weights plus
    every sequence's KV cache (prompt and half the output, on average) read once per step.
    Decode is memory-bound, so this says how much of the hardware the runtime leaves unused."""
    try:
        llm = catalog.llm(point.model)
        gpu = catalog.gpu(point.hardware)
    except CatalogError:
        return None
    context_tokens = (point.prompt_tokens or 0) + point.output_tokens / 2
    step_bytes = llm.active_params_b * 1e9 * llm.bytes_per_param + point.load * context_tokens * llm.kv_bytes_per_token
    bandwidth_bytes_s = gpu.memory_bandwidth_tb_s * 1e12 * point.gpus_per_replica
    return step_bytes / (point.tpot_ms / 1000) / bandwidth_bytes_s


def _prefill_note(point: MeasuredPoint) -> str:
    if point.prefill_estimate is not None:
        return f"prefill estimated: {point.prefill_estimate.basis}"
    return "prefill J estimated at TDP"


def operating_points_table(store: Store, model: str | None = None, hardware: str | None = None) -> pd.DataFrame:
    """One row per stored measurement: decode-only and end-to-end J/token side by side."""
    measurements = store.measurements(model=model, hardware=hardware)
    catalog = load_catalog()
    rows = []
    for point in measured_points(measurements, catalog):
        result = end_to_end(point)
        row = {
            "id": point.measurement_id,
            "model": point.model,
            "hardware": point.hardware,
            "runtime": point.runtime,
            "gpus": point.gpus_per_replica,
            "load": point.load,
            "prompt": point.prompt_tokens if point.prompt_tokens is not None else point.workload_profile,
            "output": point.output_tokens,
            "tpot_ms": round(point.tpot_ms, 2),
            "decode_mj_per_tok": None if point.decode_j_per_token is None else round(point.decode_j_per_token * 1e3, 1),
            "roofline": None if (share := roofline_fraction(point, catalog)) is None else round(share, 3),
            "source": point.source,
        }
        if isinstance(result, OperatingPoint):
            row.update(
                tok_s=round(result.tok_s),
                power_w=round(result.power_w),
                peak_w=round(result.peak_power_w),
                mj_per_tok=round(result.joules_per_token * 1e3, 1),
                note=_prefill_note(point) if result.prefill_energy_estimated else "",
            )
        else:
            row.update(tok_s=None, power_w=None, peak_w=None, mj_per_tok=None, note=result.reason)
        rows.append(row)
    return pd.DataFrame(rows)
