"""The measurement CSV layout (`planner import FILE.csv`), validated row by row.

One row = one operating point. Column names carry their unit; a file with another unit in a
column name (`busy_power_mw`, `tpot_s`) or values that only make sense in another unit is
refused with the line and column to fix. A file is imported whole or not at all.

Required columns: source, model, hardware, runtime, gpus_per_replica, output_tokens, energy_scope, output_tok_s, tpot_ms, tpot_stat, decode_window_s, decode_tokens,
decode_j; prompt_tokens or workload_profile. Optional: every other field of `MeasurementRow`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from models import Catalog, CatalogError, MeasurementRecord
from models.records import EnergyScope, LatencyStatistic
from planner.errors import InputError
from telemetry import TelemetryError, assess_window

UNIT_SUFFIXES = ("_w", "_mw", "_kw", "_j", "_mj", "_kj", "_s", "_ms", "_us", "_tok_s", "_gb")
MAX_POWER_PER_GPU_FACTOR = 2.0
"""A power column above this multiple of the GPUs' TDP is not in watts."""
INT32_MAX = 2**31 - 1
"""The Store's integer columns are 32-bit on PostgreSQL: a larger count is refused at the file."""
MIN_LATENCY_MS = 0.1
"""No GPU decodes a token in under 0.1 ms: a smaller latency was written in seconds."""


class MeasurementRow(BaseModel):
    """One CSV row; units are in the names (W, J, s, ms, tokens/s)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    source: str = Field(min_length=1, description="where the numbers come from")
    source_key: str | None = Field(None, description="stable id within the source; default: a hash of the row")
    model: str
    hardware: str
    runtime: str = Field(min_length=1)
    runtime_version: str | None = None
    workload_profile: str | None = None
    gpus_per_replica: int = Field(ge=1)
    tensor_parallel: int | None = Field(None, ge=1)
    pipeline_parallel: int | None = Field(None, ge=1)
    batch: int | None = Field(None, ge=1)
    concurrency: int | None = Field(None, ge=1)
    prompt_tokens: int | None = Field(None, ge=1)
    output_tokens: int = Field(ge=1)
    energy_scope: EnergyScope
    output_tok_s: float = Field(gt=0)
    tpot_ms: float = Field(gt=0)
    tpot_stat: LatencyStatistic
    ttft_ms: float | None = Field(None, gt=0)
    ttft_stat: LatencyStatistic | None = None
    prefill_s: float | None = Field(None, gt=0)
    prefill_window_s: float | None = Field(None, gt=0)
    prefill_tokens: int | None = Field(None, ge=1)
    prefill_j: float | None = Field(None, ge=0)
    prefill_ticks: int | None = Field(None, ge=0)
    decode_window_s: float = Field(gt=0)
    decode_tokens: int = Field(ge=1)
    decode_j: float = Field(ge=0)
    decode_ticks: int | None = Field(None, ge=0)
    busy_power_w: float | None = Field(None, ge=0)
    peak_power_w: float | None = Field(None, ge=0)
    idle_power_w: float | None = Field(None, ge=0)
    power_limit_w: float | None = Field(None, gt=0, description="all GPUs of the replica; default: their TDP")
    gpu_memory_peak_gb: float | None = Field(None, ge=0)
    run_key: str | None = None

    @field_validator(
        "gpus_per_replica", "tensor_parallel", "pipeline_parallel", "batch", "concurrency", "prompt_tokens",
        "output_tokens", "prefill_tokens", "prefill_ticks", "decode_tokens", "decode_ticks",
    )  # fmt: skip
    @classmethod
    def _fits_the_store(cls, value: int | None) -> int | None:
        if value is not None and value > INT32_MAX:
            raise ValueError(f"{value} is more than the Store's integer columns hold ({INT32_MAX:,})")
        return value

    @field_validator("tpot_ms", "ttft_ms")
    @classmethod
    def _milliseconds(cls, value: float | None) -> float | None:
        if value is not None and value < MIN_LATENCY_MS:
            raise ValueError(f"{value:g} is under {MIN_LATENCY_MS} ms: is it in seconds? Give milliseconds")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MeasurementRow:
        if self.batch is None and self.concurrency is None:
            raise ValueError("give batch or concurrency (the operating point's load)")
        if self.ttft_ms is not None and self.ttft_stat is None:
            raise ValueError("ttft_ms needs ttft_stat (mean, p50, p90, p95 or p99)")
        if self.prompt_tokens is None and self.workload_profile is None:
            raise ValueError("give prompt_tokens, or workload_profile for published data measured on a task's own prompts")
        phase_fields = (self.prompt_tokens, self.prefill_window_s, self.prefill_tokens, self.prefill_j)
        if self.energy_scope == "phases" and any(value is None for value in phase_fields):
            raise ValueError("energy_scope=phases needs prompt_tokens, prefill_window_s, prefill_tokens and prefill_j")
        if self.energy_scope != "phases" and self.prefill_j is not None:
            raise ValueError(f"energy_scope={self.energy_scope} takes no prefill_j (use phases)")
        parallel = (self.tensor_parallel or 1) * (self.pipeline_parallel or 1)
        if (self.tensor_parallel or self.pipeline_parallel) and parallel != self.gpus_per_replica:
            raise ValueError(
                f"tensor_parallel x pipeline_parallel = {parallel} but gpus_per_replica = {self.gpus_per_replica}"
            )
        return self


def _unit_hint(column: str) -> str:
    stem = column
    for suffix in sorted(UNIT_SUFFIXES, key=len, reverse=True):
        if column.endswith(suffix):
            stem = column[: -len(suffix)]
            break
    same_stem = [name for name in MeasurementRow.model_fields if name.startswith(stem + "_")]
    if stem != column and same_stem:
        return f" This layout takes {same_stem[0]} (units are in the name): convert the values and rename the column."
    return f" Known columns: {', '.join(MeasurementRow.model_fields)}."


def _row_key(raw: dict[str, Any]) -> str:
    content = "\x1f".join(f"{key}={raw[key]}" for key in sorted(raw))
    return "sha256:" + hashlib.sha256(content.encode()).hexdigest()[:16]


def _to_record(row: MeasurementRow, catalog: Catalog, raw: dict[str, Any]) -> MeasurementRecord:
    gpu = catalog.gpu(row.hardware)
    tdp_w = gpu.tdp_w * row.gpus_per_replica
    for column in ("busy_power_w", "peak_power_w", "idle_power_w"):
        value = getattr(row, column)
        if value is not None and value > MAX_POWER_PER_GPU_FACTOR * tdp_w:
            raise ValueError(
                f"{column}={value:g} is over {MAX_POWER_PER_GPU_FACTOR:g}x the TDP of "
                f"{row.gpus_per_replica} x {gpu.name} ({tdp_w:g} W): is it in milliwatts? Give watts"
            )
    power_limit_w = row.power_limit_w or tdp_w
    decode = assess_window(row.decode_j, row.decode_window_s, power_limit_w, row.decode_ticks)
    prefill = None
    if row.prefill_window_s is not None and row.prefill_j is not None:
        prefill = assess_window(row.prefill_j, row.prefill_window_s, power_limit_w, row.prefill_ticks)
    return MeasurementRecord(
        source=row.source,
        source_key=row.source_key or _row_key(raw),
        model=catalog.resolve("llm", row.model),
        hardware=gpu.name,
        runtime=row.runtime,
        runtime_version=row.runtime_version,
        workload_profile=row.workload_profile,
        gpus_per_replica=row.gpus_per_replica,
        tensor_parallel=row.tensor_parallel or row.gpus_per_replica // (row.pipeline_parallel or 1),
        pipeline_parallel=row.pipeline_parallel or 1,
        batch=row.batch,
        concurrency=row.concurrency,
        prompt_tokens=row.prompt_tokens,
        output_tokens=row.output_tokens,
        energy_scope=row.energy_scope,
        output_tok_s=row.output_tok_s,
        tpot_ms=row.tpot_ms,
        tpot_stat=row.tpot_stat,
        ttft_ms=row.ttft_ms,
        ttft_stat=row.ttft_stat,
        prefill_s=row.prefill_s,
        prefill=prefill,
        prefill_tokens=row.prefill_tokens,
        decode=decode,
        decode_tokens=row.decode_tokens,
        busy_power_w=row.busy_power_w,
        peak_power_w=row.peak_power_w,
        idle_power_w=row.idle_power_w,
        gpu_memory_peak_gb=row.gpu_memory_peak_gb,
        run_key=row.run_key,
    )


def parse_measurement_rows(
    rows: Iterable[dict[str, Any]], catalog: Catalog, file_label: str, row_label: str = "line {}", first_row: int = 2
) -> list[MeasurementRecord]:
    """Validate every row; the first bad cell raises InputError naming file, row and column.
    `row_label` names a row (CSV lines count from 2, after the header)."""
    records = []
    for line_number, raw in enumerate(rows, start=first_row):
        where = f"{file_label} {row_label.format(line_number)}".rstrip()
        if None in raw:
            raise InputError(f"{where}: more cells than header columns. To fix: quote commas.")
        cleaned = {key: value for key, value in raw.items() if value not in ("", None)}
        try:
            row = MeasurementRow.model_validate(cleaned)
            records.append(_to_record(row, catalog, cleaned))
        except ValidationError as error:
            first = error.errors()[0]
            column = ".".join(str(part) for part in first["loc"]) or "(row)"
            value = f" (value {cleaned[column]!r})" if column in cleaned else ""
            message = re.sub(r"^Value error, ", "", first["msg"])
            raise InputError(f"{where}, column {column}{value}: {message}. To fix: correct that cell.") from error
        except (CatalogError, TelemetryError) as error:
            raise InputError(f"{where}: {error}") from error
        except ValueError as error:
            raise InputError(f"{where}: {error}. To fix: correct that row.") from error
    return records


def read_measurements_csv(path: Path, catalog: Catalog) -> list[MeasurementRecord]:
    """All rows of a measurement CSV, or an InputError; nothing is stored here."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # Excel writes UTF-8 with a byte-order mark
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read {path}: {error}. To fix: pass a UTF-8 CSV file.") from error
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    if not header:
        raise InputError(f"{path} is empty. To fix: give a CSV with a header row.")
    repeated = sorted({column for column in header if header.count(column) > 1})
    if repeated:
        raise InputError(f"{path}: column {repeated[0]} appears twice in the header (the first would be lost). To fix: keep one.")
    unknown = [column for column in header if column not in MeasurementRow.model_fields]
    if unknown:
        raise InputError(f"{path}, column {unknown[0]}: not a column of this layout.{_unit_hint(unknown[0])}")
    required = [name for name, field in MeasurementRow.model_fields.items() if field.is_required()]
    missing = [column for column in required if column not in header]
    if missing:
        raise InputError(
            f"{path}: missing column(s) {', '.join(missing)}. To fix: add them (see `planner import --help`)."
        )
    records = parse_measurement_rows(reader, catalog, str(path))
    if not records:
        raise InputError(f"{path} has a header but no rows. To fix: add measurements.")
    return records


def write_measurements_csv(rows: list[dict[str, Any]], path: Path) -> None:
    columns = [name for name in MeasurementRow.model_fields if any(row.get(name) is not None for row in rows)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="raise")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: row.get(key) for key in columns})

