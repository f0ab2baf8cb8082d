"""`planner import`: each format read, checked and stored, with what was stored returned for printing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from models import Catalog, MeasurementRecord, Store
from planner.errors import InputError
from planner.formats.fleet import read_fleet
from planner.formats.measurements_csv import read_measurements_csv
from planner.formats.mlenergy import read_mlenergy_v2, read_mlenergy_v3
from planner.formats.reference import read_reference_run
from planner.store_setup import store_bundle
from telemetry.errors import TelemetryError
from telemetry.exposition import Series, fetch_prometheus, parse_exposition

MLENERGY_FORMATS = ("mlenergy-v2", "mlenergy-v3")


@dataclass(frozen=True)
class ImportReport:
    lines: tuple[str, ...]
    """What was read and stored, one line each."""
    table: pd.DataFrame | None = None
    """Per stored window (fleet formats)."""
    notes: tuple[str, ...] = ()
    """What was skipped, for the error stream."""


def untrusted_energy(records: Sequence[MeasurementRecord]) -> tuple[str, ...]:
    """Each record stored with a window whose energy cannot be trusted: its key and why."""
    lines = []
    for record in records:
        notes = [w.note or "unusable" for w in (record.decode, record.prefill) if w is not None and not w.usable]
        if notes:
            lines.append(f"stored with untrusted energy: {record.source_key} ({'; '.join(notes)})")
    return tuple(lines)


def import_file(store: Store, fmt: str, source: Path, catalog: Catalog) -> ImportReport:
    """csv, reference and the ML.ENERGY folders: all or nothing per file or folder."""
    if not source.exists():
        raise InputError(f"{source} does not exist. To fix: pass the path of the file or folder to import.")
    if fmt == "csv":
        if not source.is_file():
            raise InputError(f"{source} is not a file. To fix: pass a measurement CSV (--format csv).")
        records = read_measurements_csv(source, catalog)
        counts = store.add_measurements(records)
        summary = f"{source}: {len(records)} rows read, {counts.added} added, {counts.already_present} already stored."
        return ImportReport((summary,), notes=untrusted_energy(records))
    if fmt in MLENERGY_FORMATS:
        if not source.is_dir():
            raise InputError(f"{source} is not a folder. To fix: pass the folder that holds the leaderboard's JSON files.")
        report = (read_mlenergy_v2 if fmt == "mlenergy-v2" else read_mlenergy_v3)(source, catalog)
        if report.errors:
            raise InputError(
                f"{len(report.errors)} file(s) under {source} cannot be imported; nothing was stored "
                f"(the first: {report.errors[0]}). To fix: correct or remove them and import again."
            )
        counts = store.add_measurements(report.records)
        return ImportReport((f"{source}: {report.summary()}.", f"{counts.added} added, {counts.already_present} already stored."))
    if not (source / "results.json").is_file():
        raise InputError(f"{source} has no results.json. To fix: pass a folder written by measure_decode.py.")
    bundle = read_reference_run(source, catalog)
    added, samples_added = store_bundle(store, bundle)
    summary = f"{source}: {len(bundle.measurements)} measurements read, {added} added; {samples_added} samples added."
    return ImportReport((summary,), notes=untrusted_energy(bundle.measurements))


def read_exporter_dump(path: Path) -> list[Series]:
    """The scraped series of a dcgm-exporter / vLLM text dump."""
    if not path.is_file():
        raise InputError(f"{path} is not a file. To fix: pass an exporter text dump (--format dcgm).")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read {path}: {error}. To fix: pass a UTF-8 text dump.") from error
    try:
        return parse_exposition(text, str(path))
    except TelemetryError as error:
        raise InputError(str(error)) from error


def import_fleet(
    store: Store,
    fmt: str,
    source: str,
    start_s: float | None,
    end_s: float | None,
    join_labels: tuple[str, ...],
    catalog: Catalog,
) -> ImportReport:
    """GPU energy counters joined with vLLM token counters per host, one stored window per host."""
    if fmt == "prometheus":
        if start_s is None or end_s is None:
            raise InputError(
                "--format prometheus needs --start and --end. To fix: pass the window, "
                "e.g. --start 2026-11-20T10:00Z --end 2026-11-20T11:00Z."
            )
        if end_s <= start_s:
            raise InputError("--end is not after --start. To fix: swap them or widen the window.")
        series, origin = fetch_prometheus(source, start_s, end_s), f"prometheus {source}"
    else:
        path = Path(source)
        series, origin = read_exporter_dump(path), f"dcgm {path.name}"
    found = read_fleet(series, origin, start_s, end_s, catalog, join_labels)
    rows = []
    for bundle in found.bundles:
        added, samples_added = store_bundle(store, bundle)
        (m,) = bundle.measurements
        energy_j, uncertainty_j = m.decode.energy_j or 0.0, m.decode.uncertainty_j or 0.0
        rows.append(
            {
                "host": bundle.run.host or "-",
                "model": m.model,
                "hardware": f"{m.hardware} x{m.gpus_per_replica}",
                "window_s": round(m.decode.window_s, 1),
                "tok_s": round(m.output_tok_s, 1),
                "W": round(m.busy_power_w or 0),
                "mJ_per_tok": round(energy_j / m.decode_tokens * 1000, 2),
                "+-mJ": round(uncertainty_j / m.decode_tokens * 1000, 2),
                "tpot_p95_ms": round(m.tpot_ms, 1),
                "added": added,
                "samples": samples_added,
            }
        )
    return ImportReport((), pd.DataFrame(rows), tuple(f"skipped {host}" for host in found.skipped))
