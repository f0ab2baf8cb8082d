"""`planner collect`: passive sampling into the Store, or a recorded trace replayed window by window."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from models import SampleRecord, Store
from planner.runs import rounded, sample_writer, start_run
from telemetry.collector import Collector
from telemetry.replay import ReplaySource, replay_windows, write_trace
from telemetry.sources import EnergySource
from telemetry.windows import WindowMeasurement


@dataclass(frozen=True)
class CollectResult:
    run_key: str
    samples_written: int
    windows: tuple[WindowMeasurement, ...]
    errors: tuple[str, ...]


def collect(
    store: Store,
    source: EnergySource,
    rate_hz: float,
    duration_s: float | None,
    record: Path | None,
    min_window_s: float,
    wait: Callable[[float], None],
) -> CollectResult:
    """Passive sampling. A replayed trace is walked whole and each labelled stretch becomes a
    window; a live source is sampled for `duration_s` (or until interrupted)."""
    run_id, run = start_run(store, source, "planner collect")
    recorded: list[SampleRecord] = []
    collector = Collector(source, sink=sample_writer(store, run_id, recorded if record else None), rate_hz=rate_hz, min_window_s=min_window_s)
    windows: list[WindowMeasurement] = []
    try:
        if isinstance(source, ReplaySource):
            windows = replay_windows(source, collector)
        else:
            with collector, collector.window("collect") as whole:
                try:
                    if duration_s is None:
                        while True:  # until Ctrl-C
                            wait(1.0)
                    wait(duration_s)
                except KeyboardInterrupt:
                    pass  # the end of a collection, not an error: the window and samples are kept
            if whole.result is not None:
                windows = [whole.result]
    finally:
        collector.stop()
        if record is not None and recorded:
            write_trace(recorded, record)
        source.close()
    return CollectResult(run.source_key, collector.stats.samples_written, tuple(windows), tuple(collector.stats.errors))


def windows_table(windows: tuple[WindowMeasurement, ...]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "label": window.label,
                "start_s": round(window.start_s, 2),  # tells apart windows that repeat a label
                "s": round(window.duration_s, 2),
                "J": rounded(window.energy_j, 1),
                "+-J": rounded(window.uncertainty_j, 1),
                "mean_W": rounded(window.mean_power_w),
                "peak_W": rounded(window.peak_power_w),
                "flag": "; ".join(window.notes) or "",
            }
            for window in windows
        ]
    )
