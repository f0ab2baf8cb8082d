"""How the Store's records become rows: measurements and samples inserted in one statement each,
and a stored key given again checked against what it holds (never silently kept or replaced)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from models.errors import StoreError
from models.records import MeasurementRecord, SampleRecord, WindowEnergy
from models.schema import Hardware, Llm, Measurement, Run, Sample


@dataclass(frozen=True)
class AddedCounts:
    added: int
    already_present: int


def insert_samples(connection: Connection, run_id: int, samples: Iterable[SampleRecord]) -> int:
    rows = [{"run_id": run_id, **asdict(sample)} for sample in samples]
    if rows:
        connection.execute(insert(Sample), rows)
    return len(rows)


def insert_measurements(connection: Connection, records: Sequence[MeasurementRecord]) -> AddedCounts:
    llm_ids = {name: id_ for name, id_ in connection.execute(select(Llm.name, Llm.id))}
    hardware_ids = {name: id_ for name, id_ in connection.execute(select(Hardware.name, Hardware.id))}
    run_ids = {key: id_ for key, id_ in connection.execute(select(Run.source_key, Run.id))}
    sources = {record.source for record in records}
    present = {
        (source, key)
        for source, key in connection.execute(
            select(Measurement.source, Measurement.source_key).where(Measurement.source.in_(sources))
        )
    }
    rows = []
    repeated = []
    batch: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        key = (record.source, record.source_key)
        row = _measurement_row(record, llm_ids, hardware_ids, run_ids)
        if key in batch and _difference(batch[key], row) is not None:
            raise StoreError(
                f"measurement {record.source_key!r} of source {record.source!r} is given twice with different values; "
                "nothing was stored. To fix: give each its own source_key."
            )
        batch[key] = row
        if key in present:
            repeated.append((key, row))
            continue
        present.add(key)
        rows.append(row)
    _refuse_changed_values(connection, repeated)
    if rows:
        connection.execute(insert(Measurement), rows)
    return AddedCounts(added=len(rows), already_present=len(records) - len(rows))


def _window_columns(prefix: str, window: WindowEnergy | None) -> dict[str, Any]:
    """All columns of one phase window, None where the phase was not measured (executemany
    needs the same keys in every row)."""
    return {
        f"{prefix}_window_s": window.window_s if window else None,
        f"{prefix}_j": window.energy_j if window else None,
        f"{prefix}_ticks": window.ticks if window else None,
        f"{prefix}_uncertainty_j": window.uncertainty_j if window else None,
        f"{prefix}_energy_note": window.note if window else None,
    }


def _same(stored: Any, given: Any) -> bool:
    if isinstance(stored, float) and isinstance(given, int | float):
        return math.isclose(stored, float(given), rel_tol=1e-9, abs_tol=1e-12)
    return bool(stored == given)


def _difference(stored: Mapping[str, Any], given: Mapping[str, Any], ignored: tuple[str, ...] = ()) -> str | None:
    """The first column of `given` whose value `stored` does not hold, or None."""
    return next((column for column, value in given.items() if column not in ignored and not _same(stored[column], value)), None)


def _refuse_changed_values(connection: Connection, repeated: list[tuple[tuple[str, str], dict[str, Any]]]) -> None:
    """A (source, source_key) already stored may come again only with the same values: importing
    a file twice adds nothing, but a changed value under a stored key would silently keep the old.
    The stored rows are read with one query per source."""
    keys_by_source: dict[str, list[str]] = defaultdict(list)
    for (source, source_key), _ in repeated:
        keys_by_source[source].append(source_key)
    stored: dict[tuple[str, str], Mapping[str, Any]] = {}
    for source, keys in keys_by_source.items():
        query = select(Measurement.__table__).where(Measurement.source == source, Measurement.source_key.in_(keys))
        stored |= {(row["source"], row["source_key"]): row for row in connection.execute(query).mappings()}
    for key, row in repeated:
        if key not in stored:  # repeated within this batch, with the same values
            continue
        column = _difference(stored[key], row, ignored=("run_id",))
        if column is not None:
            source, source_key = key
            raise StoreError(
                f"measurement {source_key!r} of source {source!r} is already stored with {column} = "
                f"{stored[key][column]!r}, and this import gives {row[column]!r}; nothing was stored. To fix: give the "
                "new measurement its own source_key (or source), or delete the stored one first."
            )


def _measurement_row(
    record: MeasurementRecord,
    llm_ids: dict[str, int],
    hardware_ids: dict[str, int],
    run_ids: dict[str, int],
) -> dict[str, Any]:
    for name, table, what in ((record.model, llm_ids, "model"), (record.hardware, hardware_ids, "GPU type")):
        if name not in table:
            raise StoreError(
                f"{what} {name!r} is not in this Store's catalog. To fix: run `planner db info` "
                "to list what it holds, or upgrade the Store so it carries the bundled catalog."
            )
    if record.run_key is not None and record.run_key not in run_ids:
        raise StoreError(f"run {record.run_key!r} is not in the Store. To fix: add the run first.")
    fields = asdict(record)
    for dropped in ("model", "hardware", "run_key", "decode", "prefill"):
        fields.pop(dropped)
    return {
        **fields,
        "llm_id": llm_ids[record.model],
        "hardware_id": hardware_ids[record.hardware],
        "run_id": run_ids.get(record.run_key) if record.run_key else None,
        **_window_columns("decode", record.decode),
        **_window_columns("prefill", record.prefill),
    }
