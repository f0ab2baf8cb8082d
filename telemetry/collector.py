"""The collector: a background sampler plus measurement windows on one energy source.

The sampler thread polls every GPU at `rate_hz` of wall time and hands samples to a writer thread in batches,
so neither a slow database nor a slow NVML call ever runs on the workload's thread. A window
reads the counters itself at its edges (the sampler's 10 Hz grid would blur them by up to 100 ms)
and uses the sampler's readings in between for counter resets and peak power.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields

from models.records import SampleRecord
from telemetry.errors import TelemetryError
from telemetry.sources import EnergySource, GpuLostError, GpuReading
from telemetry.windows import GpuWindow, WindowMeasurement, gpu_window

SampleSink = Callable[[Sequence[SampleRecord]], None]
DEFAULT_RATE_HZ = 10.0
DEFAULT_MIN_WINDOW_S = 1.0
"""The hardware floor: 10 counter ticks. A benchmark asks for more (10 s)."""
WRITE_BATCH = 1000
FLUSH_EVERY_S = 1.0

MAX_RATE_HZ = 1000.0
"""NVML's counters move every ~100 ms on Hopper; polling faster than 1 kHz only costs CPU."""


@dataclass
class OpenWindow:
    label: str
    start: dict[int, GpuReading]
    result: WindowMeasurement | None = None


@dataclass
class _Stop:
    pass


@dataclass
class CollectorStats:
    samples_taken: int = 0
    samples_written: int = 0
    errors: list[str] = field(default_factory=list)


class Collector:
    """Use as a context manager to run the sampler; `window()` works with or without it."""

    def __init__(
        self,
        source: EnergySource,
        sink: SampleSink | None = None,
        rate_hz: float = DEFAULT_RATE_HZ,
        min_window_s: float = DEFAULT_MIN_WINDOW_S,
    ) -> None:
        if not 0 < rate_hz <= MAX_RATE_HZ:
            raise TelemetryError(f"sampling rate {rate_hz} Hz is out of range. To fix: pick 0 < rate <= {MAX_RATE_HZ:g} Hz.")
        self.source = source
        self.rate_hz = rate_hz
        self.min_window_s = min_window_s
        self.stats = CollectorStats()
        self._sink = sink
        self._gpus = {info.gpu_index: info for info in source.gpus()}
        self._lost: set[int] = set()
        self._label: str | None = None
        self._readings: dict[int, list[GpuReading]] = {index: [] for index in self._gpus}
        self._open: list[OpenWindow] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._queue: queue.Queue[SampleRecord | _Stop] = queue.Queue()
        self._threads: list[threading.Thread] = []

    # -- sampling ------------------------------------------------------------------------------

    def _read(self, gpu_index: int) -> GpuReading | None:
        try:
            return self.source.read(gpu_index)
        except GpuLostError as error:
            with self._lock:
                if gpu_index not in self._lost:
                    self._lost.add(gpu_index)
                    self.stats.errors.append(str(error))
            return None

    def sample_once(self) -> None:
        """Poll every GPU still answering once; keep the readings that open windows need."""
        for gpu_index in self._gpus:
            if gpu_index in self._lost:
                continue
            reading = self._read(gpu_index)
            if reading is None:
                continue
            with self._lock:
                if self._open:
                    self._readings[gpu_index].append(reading)
                self.stats.samples_taken += 1
                label = self._label
            if self._sink is not None:
                self._queue.put(_sample(reading, label or reading.label))

    def _sample_loop(self) -> None:
        period_s = 1.0 / self.rate_hz
        next_s = time.perf_counter()
        while not self._stop.is_set():
            self.sample_once()
            next_s += period_s
            wait_s = next_s - time.perf_counter()
            if wait_s < 0:  # fell behind (a slow poll): skip the missed slots rather than burst
                next_s = time.perf_counter()
                wait_s = 0
            self._stop.wait(wait_s)

    def _write_loop(self) -> None:
        """One transaction per second (or per WRITE_BATCH samples): a commit per poll would cost
        more CPU than the polling itself."""
        batch: list[SampleRecord] = []
        flush_at = time.perf_counter() + FLUSH_EVERY_S
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, flush_at - time.perf_counter()))
            except queue.Empty:
                item = None
            stopping = isinstance(item, _Stop)
            if isinstance(item, SampleRecord):
                batch.append(item)
            if batch and (stopping or len(batch) >= WRITE_BATCH or time.perf_counter() >= flush_at):
                self._write(batch)
                batch = []
            if time.perf_counter() >= flush_at:
                flush_at = time.perf_counter() + FLUSH_EVERY_S
            if stopping:
                return

    def _write(self, batch: list[SampleRecord]) -> None:
        assert self._sink is not None
        try:
            self._sink(batch)
            self.stats.samples_written += len(batch)
        except Exception as error:  # the sampler must outlive a failing store; the error is reported
            self.stats.errors.append(f"writing {len(batch)} samples failed: {error}")

    def __enter__(self) -> Collector:
        self._stop.clear()
        self._threads = [threading.Thread(target=self._sample_loop, name="planner-sampler", daemon=True)]
        if self._sink is not None:
            self._threads.append(threading.Thread(target=self._write_loop, name="planner-writer", daemon=True))
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop sampling and write every sample taken so far."""
        self._stop.set()
        if self._threads:
            self._threads[0].join()
        self.flush()
        self._threads = []

    def flush(self) -> None:
        """Write what is queued (also used without the threads, as in a replay)."""
        if self._sink is None:
            return
        if len(self._threads) > 1:
            self._queue.put(_Stop())
            self._threads[1].join()
            return
        pending: list[SampleRecord] = []
        while not self._queue.empty():
            item = self._queue.get()
            if not isinstance(item, _Stop):
                pending.append(item)
        if pending:
            self._write(pending)

    # -- windows -------------------------------------------------------------------------------

    def begin_window(self, label: str) -> OpenWindow:
        start = {index: reading for index in self._gpus if index not in self._lost and (reading := self._read(index))}
        window = OpenWindow(label=label, start=start)
        with self._lock:
            self._open.append(window)
            self._label = label
        return window

    def end_window(self, window: OpenWindow) -> WindowMeasurement:
        end = {index: self._read(index) for index in window.start if index not in self._lost}
        with self._lock:
            self._open.remove(window)
            self._label = self._open[-1].label if self._open else None
            gpus: list[GpuWindow] = []
            for index, first in window.start.items():
                last = end.get(index)
                if last is None:
                    continue
                between = [r for r in self._readings[index] if first.t_s < r.t_s < last.t_s]
                gpus.append(gpu_window([first, *between, last], self._gpus[index].power_limit_w))
            lost = tuple(sorted(index for index in window.start if end.get(index) is None))
            oldest_s = min((min(r.t_s for r in w.start.values()) for w in self._open if w.start), default=None)
            for index, readings in self._readings.items():
                self._readings[index] = [] if oldest_s is None else [r for r in readings if r.t_s >= oldest_s]
        starts = [reading.t_s for reading in window.start.values()]
        ends = [reading.t_s for reading in end.values() if reading is not None]
        window.result = WindowMeasurement(
            label=window.label,
            start_s=min(starts) if starts else self.source.now_s(),
            duration_s=(max(ends) - min(starts)) if starts and ends else 0.0,
            gpus=tuple(gpus),
            min_window_s=self.min_window_s,
            lost_gpus=lost,
        )
        return window.result

    @contextmanager
    def window(self, label: str) -> Iterator[OpenWindow]:
        """`with collector.window("decode") as w:` ... then `w.result` holds the measurement."""
        opened = self.begin_window(label)
        try:
            yield opened
        finally:
            self.end_window(opened)

    @property
    def lost_gpus(self) -> tuple[int, ...]:
        return tuple(sorted(self._lost))


def _sample(reading: GpuReading, label: str | None) -> SampleRecord:
    """The stored sample of a reading: the same fields, the counter's lower value, this label."""
    shared = {name: getattr(reading, name) for name in (f.name for f in fields(SampleRecord)) if name != "label"}
    return SampleRecord(**shared, label=label)
