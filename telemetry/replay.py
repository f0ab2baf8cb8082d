"""Recorded traces: read, write, and play back on a virtual clock.

Two layouts are read. The reference layout (`../shared/reference/*/trace.csv`, and what
`planner collect --record` writes) has NVML's own units:
`t_s,label,power_mW,power_instant_mW,energy_mJ,sm_MHz,mem_MHz,temp_C,util_gpu,util_mem`, plus an
optional leading `gpu_index` for hosts with several GPUs. The sample layout is the Store's sample
table (`samples.csv` of a run bundle): `gpu_index,t_s,energy_mj,power_w,...,label`.
"""

from __future__ import annotations

import bisect
import csv
import io
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from models.records import SampleRecord
from telemetry.collector import Collector, OpenWindow
from telemetry.errors import TelemetryError
from telemetry.sources import GpuInfo, GpuLostError, GpuReading
from telemetry.windows import WindowMeasurement

REFERENCE_COLUMNS = (
    "t_s", "label", "power_mW", "power_instant_mW", "energy_mJ", "sm_MHz", "mem_MHz", "temp_C", "util_gpu", "util_mem",
)  # fmt: skip
"""Reference layout column -> (SampleRecord field, divisor to SI; None: taken as is)."""
_REFERENCE_FIELDS = {
    "gpu_index": ("gpu_index", None),
    "t_s": ("t_s", 1),
    "label": ("label", None),
    "power_mW": ("power_w", 1000),
    "power_instant_mW": ("power_instant_w", 1000),
    "energy_mJ": ("energy_mj", None),
    "sm_MHz": ("sm_mhz", 1),
    "mem_MHz": ("mem_mhz", 1),
    "temp_C": ("temp_c", 1),
    "util_gpu": ("util_gpu_pct", 1),
    "util_mem": ("util_mem_pct", 1),
}
_SAMPLE_FIELDS = {name: (name, None if name in ("gpu_index", "energy_mj", "label") else 1) for name in SampleRecord.__dataclass_fields__}
GPU_LOST_AFTER_INTERVALS = 5
"""A GPU whose samples stop this many median intervals before the others' is taken as lost."""


def _column_map(header: Sequence[str], where: str) -> dict[str, tuple[str, int | None]]:
    required: tuple[str, ...]
    if "energy_mJ" in header or "power_mW" in header:
        layout, required = _REFERENCE_FIELDS, ("t_s", "energy_mJ")
        expected = ",".join(REFERENCE_COLUMNS)
    else:
        layout, required = _SAMPLE_FIELDS, ("gpu_index", "t_s", "energy_mj")
        expected = ",".join(_SAMPLE_FIELDS)
    missing = [name for name in required if name not in header]
    if missing:
        raise TelemetryError(
            f"{where}: trace lacks column(s) {', '.join(missing)}. To fix: write the header as {expected}."
        )
    return {column: layout[column] for column in header if column in layout}


def _cell(text: str, target: str, divisor: int | None) -> object:
    if target == "label":
        return text
    if target in ("gpu_index", "energy_mj"):
        return int(float(text))
    assert divisor is not None
    return float(text) / divisor


def parse_trace(text: str, where: str) -> list[SampleRecord]:
    """Samples of a trace in either layout, in time order per GPU."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise TelemetryError(f"{where}: the trace is empty. To fix: record one with `planner collect --record FILE`.")
    columns = _column_map([name.strip() for name in header], where)
    samples = []
    for line_number, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise TelemetryError(f"{where}, line {line_number}: {len(row)} cells for {len(header)} columns. To fix: complete the row.")
        values: dict[str, object] = {"gpu_index": 0}
        for column, text in zip(header, row, strict=True):
            if column.strip() in columns and text != "":
                target, divisor = columns[column.strip()]
                try:
                    values[target] = _cell(text, target, divisor)
                except ValueError as error:
                    raise TelemetryError(f"{where}, line {line_number}, column {column}: {text!r} is not a number. To fix: correct the cell.") from error
        if "energy_mj" not in values or "t_s" not in values:
            raise TelemetryError(f"{where}, line {line_number}: t_s and the energy counter are required. To fix: fill them in.")
        samples.append(SampleRecord(**values))  # type: ignore[arg-type]
    if not samples:
        raise TelemetryError(f"{where}: the trace has a header but no samples. To fix: record a longer run.")
    return sorted(samples, key=lambda sample: (sample.gpu_index, sample.t_s))


def read_trace(path: Path | str) -> list[SampleRecord]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TelemetryError(f"cannot read trace {path}: {error.strerror}. To fix: check the path.") from error
    return parse_trace(text, str(path))


def _scaled(value: float | None, scale: float) -> str:
    return "" if value is None else f"{value * scale:.0f}" if scale != 1 else f"{value:g}"


def write_trace(samples: Iterable[SampleRecord], path: Path) -> int:
    """Write samples in the reference layout (plus `gpu_index`) through a temporary file, so an
    interrupted recording never leaves half a trace under the final name."""
    partial = path.with_name(path.name + ".partial")
    count = 0
    with partial.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("gpu_index", *REFERENCE_COLUMNS))
        for sample in samples:
            writer.writerow(
                (
                    sample.gpu_index,
                    f"{sample.t_s:.4f}",
                    sample.label or "",
                    _scaled(sample.power_w, 1000),
                    _scaled(sample.power_instant_w, 1000),
                    "" if sample.energy_mj is None else sample.energy_mj,
                    _scaled(sample.sm_mhz, 1),
                    _scaled(sample.mem_mhz, 1),
                    _scaled(sample.temp_c, 1),
                    _scaled(sample.util_gpu_pct, 1),
                    _scaled(sample.util_mem_pct, 1),
                )
            )
            count += 1
    partial.replace(path)
    return count


@dataclass(frozen=True)
class LabelSpan:
    """A stretch of a trace under one label: it began between `before_s` and `first_s` and
    ended between `last_s` and `after_s` (None at the trace's edges)."""

    label: str
    before_s: float | None
    first_s: float
    last_s: float
    after_s: float | None

    @property
    def start_s(self) -> float:
        return self.first_s if self.before_s is None else (self.before_s + self.first_s) / 2

    @property
    def end_s(self) -> float:
        return self.last_s if self.after_s is None else (self.last_s + self.after_s) / 2


class ReplaySource:
    """Plays a trace back: a read at virtual time t gives the last sample at or before t, and
    the next sample's counter as the upper bound, which is all a 10 Hz trace knows.

    The clock moves by `advance_to` (a replay walked step by step), or, given a `speed`, with the
    wall clock at that speed so the threaded sampler can run on it. Past the trace's end the
    readings hold still, and a window there reads 0 J and is flagged."""

    def __init__(
        self, samples: Sequence[SampleRecord], infos: Sequence[GpuInfo] = (), speed: float | None = None
    ) -> None:
        by_gpu: dict[int, list[SampleRecord]] = {}
        for sample in sorted(samples, key=lambda sample: sample.t_s):
            if sample.energy_mj is not None:
                by_gpu.setdefault(sample.gpu_index, []).append(sample)
        if not by_gpu:
            raise TelemetryError("the trace holds no energy-counter readings. To fix: record one with the counter column.")
        self._samples = by_gpu
        self._times = {gpu: [sample.t_s for sample in rows] for gpu, rows in by_gpu.items()}
        given = {info.gpu_index: info for info in infos}
        self._infos = tuple(
            given.get(gpu, GpuInfo(gpu_index=gpu, name="replayed trace", driver_version=None, power_limit_w=float("inf")))
            for gpu in sorted(by_gpu)
        )
        intervals = [b - a for times in self._times.values() for a, b in zip(times, times[1:], strict=False) if b > a]
        self.interval_s = median(intervals) if intervals else 0.1
        self.start_s = min(times[0] for times in self._times.values())
        self.end_s = max(times[-1] for times in self._times.values())
        self._now_s = self.start_s
        self._speed = speed
        self._wall_start_s = time.perf_counter()

    @classmethod
    def from_file(cls, path: Path | str, infos: Sequence[GpuInfo] = (), speed: float | None = None) -> ReplaySource:
        return cls(read_trace(path), infos, speed)

    def gpus(self) -> tuple[GpuInfo, ...]:
        return self._infos

    def samples(self) -> list[SampleRecord]:
        return sorted((s for rows in self._samples.values() for s in rows), key=lambda s: (s.t_s, s.gpu_index))

    def read(self, gpu_index: int) -> GpuReading:
        times, rows = self._times[gpu_index], self._samples[gpu_index]
        now_s = self.now_s()
        if times[-1] + GPU_LOST_AFTER_INTERVALS * self.interval_s < now_s <= self.end_s:
            raise GpuLostError(f"GPU {gpu_index}: the trace stops at {times[-1]:.2f} s while the others go on")
        position = max(0, bisect.bisect_right(times, now_s) - 1)
        held = rows[position]
        upper = rows[position + 1] if position + 1 < len(rows) and times[position] < now_s else held
        return GpuReading(
            gpu_index=gpu_index,
            t_s=now_s,
            energy_mj=int(held.energy_mj or 0),
            energy_upper_mj=int(upper.energy_mj or 0),
            power_w=held.power_w,
            power_instant_w=held.power_instant_w,
            sm_mhz=held.sm_mhz,
            mem_mhz=held.mem_mhz,
            temp_c=held.temp_c,
            util_gpu_pct=held.util_gpu_pct,
            util_mem_pct=held.util_mem_pct,
            label=held.label,
        )

    def label_spans(self) -> list[LabelSpan]:
        """The trace's labelled stretches, in time order, on the first GPU's timeline."""
        rows = self._samples[self._infos[0].gpu_index]
        spans: list[LabelSpan] = []
        first = 0
        for index in range(1, len(rows) + 1):
            if index < len(rows) and rows[index].label == rows[first].label:
                continue
            spans.append(
                LabelSpan(
                    label=rows[first].label or "",
                    before_s=rows[first - 1].t_s if first > 0 else None,
                    first_s=rows[first].t_s,
                    last_s=rows[index - 1].t_s,
                    after_s=rows[index].t_s if index < len(rows) else None,
                )
            )
            first = index
        return spans

    def now_s(self) -> float:
        if self._speed is None:
            return self._now_s
        return self.start_s + self._speed * (time.perf_counter() - self._wall_start_s)

    def advance_to(self, t_s: float) -> None:
        self._now_s = max(self._now_s, t_s)

    def close(self) -> None:
        pass


def replay_windows(
    source: ReplaySource, collector: Collector, skip_labels: Collection[str] = ("idle", "")
) -> list[WindowMeasurement]:
    """Walk the whole trace through the collector: every sample is taken as the sampler would
    take it, and each labelled stretch becomes a window from the moment its label appears to
    the moment it ends (the midpoint between the samples on either side of each change)."""
    events: list[tuple[float, int, LabelSpan]] = []
    for order, span in enumerate(source.label_spans()):
        if span.label not in skip_labels:
            events += [(span.start_s, 2 * order, span), (span.end_s, 2 * order + 1, span)]
    events.sort(key=lambda event: (event[0], event[1]))
    sample_times = sorted({sample.t_s for sample in source.samples()})
    opened: dict[int, OpenWindow] = {}
    measured: list[WindowMeasurement] = []
    position = 0
    for t_s in sample_times:
        while position < len(events) and events[position][0] < t_s:
            event_s, key, span = events[position]
            source.advance_to(event_s)
            if key % 2 == 0:
                opened[key] = collector.begin_window(span.label)
            else:
                measured.append(collector.end_window(opened.pop(key - 1)))
            position += 1
        source.advance_to(t_s)
        collector.sample_once()
    for event_s, key, _span in events[position:]:
        source.advance_to(event_s)
        if key % 2 == 1 and key - 1 in opened:
            measured.append(collector.end_window(opened.pop(key - 1)))
    collector.flush()
    return measured
