"""Stored measurements -> the optimizer's end-to-end operating points, as a table."""

from __future__ import annotations

import math

import pandas as pd

from models import Catalog, CatalogError, Store, StoreError, load_catalog
from optimizer.operating_point import MeasuredPoint, OperatingPoint, end_to_end


def _optional(value: object) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)  # type: ignore[arg-type]


def _text(value: object) -> str | None:
    """A text cell, None where the database had NULL (pandas may hand back NaN)."""
    return value if isinstance(value, str) else None


def measured_points(measurements: pd.DataFrame) -> list[MeasuredPoint]:
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
    return points


def usable_operating_points(store: Store) -> list[OperatingPoint]:
    """Every stored measurement that yields a whole-request operating point."""
    results = (end_to_end(point) for point in measured_points(store.measurements()))
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


def operating_points_table(store: Store, model: str | None = None, hardware: str | None = None) -> pd.DataFrame:
    """One row per stored measurement: decode-only and end-to-end J/token side by side."""
    measurements = store.measurements(model=model, hardware=hardware)
    catalog = load_catalog()
    rows = []
    for point in measured_points(measurements):
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
                note="prefill J estimated at TDP" if result.prefill_energy_estimated else "",
            )
        else:
            row.update(tok_s=None, power_w=None, peak_w=None, mj_per_tok=None, note=result.reason)
        rows.append(row)
    return pd.DataFrame(rows)
