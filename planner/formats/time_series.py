"""Series by the interval (CSV): a demand series per workload and a site series per site, the
inputs of `planner schedule` (README, "Schedules").

    demand: timestamp, workload, tokens_per_s | requests_per_s
    sites:  timestamp, site, carbon_g_per_kwh, usd_per_kwh[, power_budget_kw]   (any of the three)

A timestamp is ISO 8601 with a zone or an offset; each row holds the interval that starts then.
Every name has a row in every interval, the intervals are evenly spaced (5 minutes to an hour)
and values are finite and not negative. The first bad line ends the read with the file, line and
what to fix; nothing of a bad file is used.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from planner.errors import InputError

MIN_STEP = timedelta(minutes=5)
MAX_STEP = timedelta(hours=1)
DEMAND_COLUMNS = ("tokens_per_s", "requests_per_s")
SITE_COLUMNS = ("carbon_g_per_kwh", "usd_per_kwh", "power_budget_kw")


@dataclass(frozen=True)
class Series:
    """Values by name and column, one per interval, intervals starting at `starts`."""

    path: Path
    starts: tuple[datetime, ...]
    step: timedelta
    columns: tuple[str, ...]
    values: dict[str, dict[str, tuple[float, ...]]]

    @property
    def end(self) -> datetime:
        return self.starts[-1] + self.step


def _utc(text: str, where: str) -> datetime:
    try:
        stamp = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise InputError(f"{where}: {text!r} is not a time. To fix: use ISO 8601 with a zone, e.g. 2023-07-03T00:00:00Z.") from error
    if stamp.tzinfo is None:
        raise InputError(f"{where}: {text!r} has no zone. To fix: add one (Z or +02:00); a time without one names no instant.")
    return stamp.astimezone(UTC)


def _value(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InputError(f"{where}: {text!r} is not a number. To fix: give a finite number.")
    if value < 0:
        raise InputError(f"{where}: {value:g} is negative. To fix: give a value of 0 or more.")
    return value


def read_series(path: Path, name_column: str, value_columns: tuple[str, ...], exactly_one: bool) -> Series:
    """The series in `path`: a timestamp, a `name_column` and one (`exactly_one`) or any of
    `value_columns`."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read {path}: {error}. To fix: pass a UTF-8 CSV file.") from error
    reader = csv.reader(io.StringIO(text))
    header = [column.strip() for column in next(reader, [])]
    given = tuple(column for column in value_columns if column in header)
    wanted = " or ".join(value_columns) if exactly_one else "one or more of " + ", ".join(value_columns)
    if "timestamp" not in header or name_column not in header or not given or (exactly_one and len(given) > 1):
        raise InputError(f"{path}: the header has {', '.join(header) or 'nothing'}. To fix: give columns timestamp, {name_column} and {wanted}.")
    at = {column: header.index(column) for column in ("timestamp", name_column, *given)}
    rows: dict[str, list[tuple[datetime, tuple[float, ...]]]] = defaultdict(list)
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise InputError(f"{path} line {line}: {len(row)} cells for {len(header)} columns. To fix: complete the row.")
        name = row[at[name_column]].strip()
        if not name:
            raise InputError(f"{path} line {line}: no {name_column}. To fix: name one.")
        stamp = _utc(row[at["timestamp"]], f"{path} line {line}, column timestamp")
        earlier = rows[name][-1][0] if rows[name] else None
        if earlier is not None and stamp <= earlier:
            how = "repeats" if stamp == earlier else "is earlier than"
            raise InputError(f"{path} line {line}: {name}'s timestamp {how} its row before. To fix: one row per {name_column} and interval, in time order.")
        rows[name].append((stamp, tuple(_value(row[at[c]], f"{path} line {line}, column {c}") for c in given)))
    if not rows:
        raise InputError(f"{path} has a header but no rows. To fix: give at least one interval.")
    return _regular(path, name_column, given, rows)


def _regular(path: Path, name_column: str, given: tuple[str, ...], rows: dict[str, list[tuple[datetime, tuple[float, ...]]]]) -> Series:
    """Checks the intervals are evenly spaced, within the allowed step, and the same for every name."""
    starts = sorted({stamp for named in rows.values() for stamp, _ in named})
    if len(starts) < 2:
        raise InputError(f"{path}: one interval only. To fix: give at least two, 5 minutes to an hour apart.")
    step = starts[1] - starts[0]
    if not MIN_STEP <= step <= MAX_STEP:
        raise InputError(f"{path}: intervals {step} apart. To fix: give one row per 5 minutes to one hour.")
    for before, after in zip(starts, starts[1:], strict=False):
        if after - before != step:
            raise InputError(
                f"{path}: a gap between {before.isoformat()} and {after.isoformat()} (the step is {step}). "
                "To fix: give every interval, or resample the series to one step."
            )
    for name, named in rows.items():
        if len(named) != len(starts):
            have = {stamp for stamp, _ in named}
            missing = next(stamp for stamp in starts if stamp not in have)
            raise InputError(f"{path}: {name_column} {name} has no row for {missing.isoformat()}. To fix: give every {name_column} in every interval.")
    values = {name: {column: tuple(v[i] for _, v in named) for i, column in enumerate(given)} for name, named in rows.items()}
    return Series(path, tuple(starts), step, given, values)
