"""Results of the reference decode benchmark (`results.json` + `trace.csv`) as a run bundle.

The layout is the one `../shared/reference/measure_decode.py` writes: one results row per
(model, runtime, batch, prompt) with separate prefill and decode windows, and a 10 Hz trace.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models import Catalog, RunRecord, SampleRecord
from planner.errors import InputError
from planner.formats.measurements_csv import parse_measurement_rows
from planner.formats.run_bundle import RunBundle, write_run_bundle
from telemetry.errors import TelemetryError
from telemetry.replay import parse_trace

HF_RUNTIME = "hf-eager"
"""Its `generate` window covers the prefill too, so its energy is whole-request."""


def _timestamp(probe: dict[str, Any]) -> datetime | None:
    field = probe.get("NVML_FI_DEV_ENERGY") or {}
    stamp_us = field.get("ts_us")
    return datetime.fromtimestamp(stamp_us / 1e6, tz=UTC) if stamp_us else None


def _measurement_row(result: dict[str, Any], meta: dict[str, Any], source: str, hardware: str) -> dict[str, Any]:
    batch = int(result["batch"])
    prefill_reps = int(result.get("prefill_reps", 1))
    whole_request = result["runtime"] == HF_RUNTIME
    key = "/".join(
        [result["model"], result["runtime"], f"b{batch}", f"p{result['prompt_len']}", f"r{result.get('repeat', 0)}"]
    )
    row: dict[str, Any] = {
        "source": source,
        "source_key": key,
        "model": result["model"],
        "hardware": hardware,
        "runtime": result["runtime"],
        "runtime_version": f"torch {meta.get('torch')}",
        "gpus_per_replica": 1,
        "tensor_parallel": 1,
        "pipeline_parallel": 1,
        "batch": batch,
        "prompt_tokens": int(result["prompt_len"]),
        "output_tokens": int(result["gen_len"]),
        "energy_scope": "whole_request" if whole_request else "phases",
        "output_tok_s": result["decode_tok_per_s"],
        "tpot_ms": result["tpot_ms"],
        "tpot_stat": "mean",
        "ttft_ms": result["ttft_ms"],
        "ttft_stat": "mean",
        "prefill_s": result["prefill_s"],
        "decode_window_s": result["decode_s"],
        "decode_tokens": int(result["decode_tokens"]),
        "decode_j": result["decode_J"],
        "busy_power_w": result["decode_power_W"],
        "idle_power_w": round(meta["idle_after_cuda_init"]["W"], 2),
        "power_limit_w": meta["probe_start"]["power_limit_mW"] / 1000,
        "gpu_memory_peak_gb": result.get("gpu_mem_peak_GB"),
        "run_key": source,
    }
    if not whole_request:
        row["prefill_window_s"] = result.get("prefill_window_s", result["prefill_s"] * prefill_reps)
        row["prefill_tokens"] = int(result["prefill_tokens"])
        row["prefill_j"] = result["prefill_J"]
    return row


def convert_reference_run(
    folder: Path, catalog: Catalog
) -> tuple[RunRecord, list[dict[str, Any]], list[SampleRecord]]:
    """The run metadata, measurement CSV rows and samples of one reference folder."""
    try:
        results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        samples = parse_trace((folder / "trace.csv").read_text(encoding="utf-8"), str(folder / "trace.csv"))
    except (OSError, json.JSONDecodeError, TelemetryError) as error:
        raise InputError(f"cannot read reference run {folder}: {error}") from error
    meta = results["meta"]
    probe = meta["probe_start"]
    hardware = catalog.resolve("gpu", probe["name"])
    source = f"reference/{folder.name}"
    run = RunRecord(
        source_key=source,
        source=(
            f"{source}: measure_decode.py on one {probe['name']} (driver {probe['driver']}); "
            "energy from the NVML energy counter around each window after a device synchronize"
        ),
        gpu_name=probe["name"],
        driver_version=probe["driver"],
        power_limit_w=probe["power_limit_mW"] / 1000,
        tool="measure_decode.py",
        tool_version=f"torch {meta.get('torch')}, transformers {meta.get('transformers')}",
        started_at=_timestamp(probe),
        ended_at=_timestamp(meta.get("probe_end", {})),
        notes=json.dumps(
            {
                "idle_after_cuda_init_w": meta["idle_after_cuda_init"]["W"],
                "idle_end_w": meta.get("idle_end", {}).get("W"),
                "update_rate": meta.get("update_rate"),
            }
        ),
    )
    rows = [_measurement_row(result, meta, source, hardware) for result in results["results"]]
    return run, rows, samples


def read_reference_run(folder: Path, catalog: Catalog) -> RunBundle:
    """A reference folder as a validated run bundle, ready for the Store."""
    run, rows, samples = convert_reference_run(folder, catalog)
    records = parse_measurement_rows(rows, catalog, f"{folder}/results.json")
    return RunBundle(run=run, measurements=tuple(records), samples=tuple(samples))


def write_reference_bundle(source_folder: Path, bundle_folder: Path, catalog: Catalog) -> None:
    """Convert one reference folder into the project's run-bundle format."""
    run, rows, samples = convert_reference_run(source_folder, catalog)
    write_run_bundle(bundle_folder, run, rows, samples)


if __name__ == "__main__":
    import sys

    from models import load_catalog

    write_reference_bundle(Path(sys.argv[1]), Path(sys.argv[2]), load_catalog())
