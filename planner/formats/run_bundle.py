"""A run bundle: one folder per run with `run.yaml`, `measurements.csv` and `samples.csv`.

It is the project's own on-disk format for a run with its raw samples: the bundled reference
data under `data/reference/` is kept in it, and a new Store is seeded from it.
"""

from __future__ import annotations

import csv
import io
import shutil
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import TypeAdapter, ValidationError

from models import Catalog, MeasurementRecord, RunRecord, SampleRecord, Store
from planner.errors import InputError
from planner.formats.measurements_csv import MeasurementRow, parse_measurement_rows, write_measurements_csv
from planner.formats.strict_yaml import load_yaml

SAMPLE_COLUMNS = [field.name for field in fields(SampleRecord)]


RUN_FILE_VERSION = 1
RUN_FIELDS = {field.name for field in fields(RunRecord)}
_run_adapter = TypeAdapter(RunRecord)


def parse_run_file(content: Any, label: str) -> RunRecord:
    """`run.yaml`: `version` plus the fields of RunRecord; unknown keys are refused."""
    if not isinstance(content, dict):
        raise InputError(f"{label}: expected a mapping of run fields. To fix: write `key: value` lines.")
    unknown = sorted(set(content) - RUN_FIELDS - {"version"})
    if unknown:
        raise InputError(f"{label}: unknown key {unknown[0]!r}. To fix: use only {', '.join(sorted(RUN_FIELDS))}.")
    if content.get("version", RUN_FILE_VERSION) != RUN_FILE_VERSION:
        raise InputError(f"{label}: version {content['version']} is not supported. To fix: use version 1.")
    try:
        return _run_adapter.validate_python({key: value for key, value in content.items() if key != "version"})
    except ValidationError as error:
        first = error.errors()[0]
        raise InputError(f"{label}, key {'.'.join(map(str, first['loc']))}: {first['msg']}. To fix: correct it.") from error


def run_file_content(run: RunRecord) -> dict[str, Any]:
    return {"version": RUN_FILE_VERSION, **_run_adapter.dump_python(run, mode="json", exclude_none=True)}


@dataclass(frozen=True)
class RunBundle:
    run: RunRecord
    measurements: tuple[MeasurementRecord, ...]
    samples: tuple[SampleRecord, ...]


def _sample(raw: dict[str, str], where: str) -> SampleRecord:
    values: dict[str, Any] = {}
    try:
        for field in fields(SampleRecord):
            cell = raw.get(field.name, "")
            if cell == "":
                values[field.name] = None
            elif field.name == "label":
                values[field.name] = cell
            elif field.name in ("gpu_index", "energy_mj"):
                values[field.name] = int(cell)
            else:
                values[field.name] = float(cell)
    except ValueError as error:
        raise InputError(f"{where}: {error}. To fix: correct that cell.") from error
    if values["gpu_index"] is None or values["t_s"] is None:
        raise InputError(f"{where}: gpu_index and t_s are required. To fix: fill them in.")
    return SampleRecord(**values)


def _read_run_file(folder: Traversable) -> RunRecord:
    label = f"{getattr(folder, 'name', folder)}/run.yaml"
    try:
        content = load_yaml(folder.joinpath("run.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise InputError(f"{label}: {error}. To fix: correct the run file.") from error
    return parse_run_file(content, label)


def bundled_run_key(folder: Traversable) -> str:
    """The run's source_key, read without parsing its samples."""
    return _read_run_file(folder).source_key


def read_run_bundle(folder: Traversable, catalog: Catalog) -> RunBundle:
    label = getattr(folder, "name", str(folder))
    run = _read_run_file(folder)
    measurements_text = folder.joinpath("measurements.csv").read_text(encoding="utf-8")
    measurements = parse_measurement_rows(
        csv.DictReader(io.StringIO(measurements_text)), catalog, f"{label}/measurements.csv"
    )
    samples_text = folder.joinpath("samples.csv").read_text(encoding="utf-8")
    samples = tuple(
        _sample(raw, f"{label}/samples.csv line {line}")
        for line, raw in enumerate(csv.DictReader(io.StringIO(samples_text)), start=2)
    )
    return RunBundle(run=run, measurements=tuple(measurements), samples=samples)


def write_run_bundle(
    folder: Path, run: RunRecord, measurement_rows: list[dict[str, Any]], samples: list[SampleRecord]
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.yaml").write_text(
        yaml.safe_dump(run_file_content(run), sort_keys=False), encoding="utf-8"
    )
    write_measurements_csv(measurement_rows, folder / "measurements.csv")
    with (folder / "samples.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=SAMPLE_COLUMNS)
        writer.writeheader()
        for sample in samples:
            writer.writerow(asdict(sample))


def _cell(value: Any, whole: bool = False) -> Any:
    """A Store value as a CSV cell: missing (NaN, NaT) as None, numpy scalars as Python, and a
    whole-number column's floats (pandas widens an int column holding NULLs) as int."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, datetime) and value.tzinfo is None:  # SQLite keeps the UTC times naive
        return value.replace(tzinfo=UTC)
    return int(value) if whole and isinstance(value, float) else value


def _whole_fields(model_fields: dict[str, Any]) -> set[str]:
    return {name for name, info in model_fields.items() if "int" in str(info.annotation) or info.annotation is int}


@dataclass(frozen=True)
class ExportReport:
    measurements: int
    samples: int
    left_out: tuple[str, ...]
    """Source keys of the measurements left out, each with why."""


def _notes(*cells: object) -> list[str]:
    """The text cells among `cells` (pandas hands a NULL text back as NaN)."""
    return [cell for cell in cells if isinstance(cell, str)]


def export_run_bundle(store: Store, run_key: str, folder: Path) -> ExportReport:
    """Write a stored run as a bundle (measurements, samples) into a new folder, through a
    `.partial` folder so that a failure leaves nothing half-written. A bundle under
    data/runs/ ships with the package and seeds every new Store. A measurement whose energy
    the Store keeps as untrusted (None) is left out, and named: the CSV layout has no place for it."""
    runs = store.runs()
    found = runs[runs.source_key == run_key]
    if found.empty:
        recent = ", ".join(runs.source_key.tail(3)) or "none"
        raise InputError(f"no run {run_key!r} in the Store (latest: {recent}). To fix: pass a key from `planner db info`.")
    if folder.exists():
        raise InputError(f"{folder} already exists. To fix: pass a new folder; nothing was written.")
    row = found.iloc[0]
    run = parse_run_file({key: _cell(row[key]) for key in RUN_FIELDS if _cell(row[key]) is not None}, run_key)
    measured = store.measurements(run_id=int(row["id"]))
    trusted = measured.decode_j.notna() & (measured.energy_scope.ne("phases") | measured.prefill_j.notna())
    usable = measured[trusted]
    left_out = tuple(
        f"{record.source_key} ({'; '.join(_notes(record.decode_energy_note, record.prefill_energy_note)) or 'energy not stored'})"
        for record in measured[~trusted].itertuples()
    )
    columns = [name for name in MeasurementRow.model_fields if name in measured.columns]
    whole = _whole_fields(MeasurementRow.model_fields)
    rows = [
        {name: _cell(record[name], name in whole) for name in columns} | {"power_limit_w": run.power_limit_w, "run_key": run.source_key}
        for _, record in usable.iterrows()
    ]
    samples = [
        SampleRecord(**{field.name: _cell(sample[field.name], field.name in ("gpu_index", "energy_mj")) for field in fields(SampleRecord)})
        for _, sample in store.samples(int(row["id"])).iterrows()
    ]
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    write_run_bundle(partial, run, rows, samples)
    partial.rename(folder)
    return ExportReport(len(rows), len(samples), left_out)
