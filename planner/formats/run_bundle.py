"""A run bundle: one folder per run with `run.yaml`, `measurements.csv` and `samples.csv`.

It is the project's own on-disk format for a run with its raw samples: the bundled reference
data under `data/reference/` is kept in it, and a new Store is seeded from it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from models import Catalog, MeasurementRecord, RunRecord, SampleRecord
from planner.errors import InputError
from planner.formats.measurements_csv import parse_measurement_rows, write_measurements_csv

SAMPLE_COLUMNS = [field.name for field in fields(SampleRecord)]


class RunFile(BaseModel):
    """`run.yaml`: the run's metadata and provenance."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    source_key: str
    source: str
    host: str | None = None
    gpu_name: str | None = None
    driver_version: str | None = None
    power_limit_w: float | None = None
    runtime: str | None = None
    runtime_version: str | None = None
    tool: str | None = None
    tool_version: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    notes: str | None = None

    def to_record(self) -> RunRecord:
        return RunRecord(**self.model_dump(exclude={"version"}))


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


def _read_run_file(folder: Traversable) -> RunFile:
    label = getattr(folder, "name", str(folder))
    try:
        return RunFile.model_validate(yaml.safe_load(folder.joinpath("run.yaml").read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as error:
        raise InputError(f"{label}/run.yaml: {error}. To fix: correct the run file.") from error


def bundled_run_key(folder: Traversable) -> str:
    """The run's source_key, read without parsing its samples."""
    return _read_run_file(folder).source_key


def read_run_bundle(folder: Traversable, catalog: Catalog) -> RunBundle:
    label = getattr(folder, "name", str(folder))
    run_file = _read_run_file(folder)
    run = run_file.to_record()
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
    folder: Path, run: RunFile, measurement_rows: list[dict[str, Any]], samples: list[SampleRecord]
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.yaml").write_text(
        yaml.safe_dump(run.model_dump(mode="json", exclude_none=True), sort_keys=False), encoding="utf-8"
    )
    write_measurements_csv(measurement_rows, folder / "measurements.csv")
    with (folder / "samples.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=SAMPLE_COLUMNS)
        writer.writeheader()
        for sample in samples:
            writer.writerow(asdict(sample))
