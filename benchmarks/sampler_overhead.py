"""Sampler overhead: CPU time the collector's threads spend per second of wall time, as a share of
one core, at 10 and 100 Hz, writing every sample to a SQLite Store as `planner collect` does.

The source is the H200 reference trace replayed on the wall clock (no NVML here): the figure is
the collector's own cost; a live NVML poll adds the driver's (~tens of microseconds per call).
Run: python benchmarks/sampler_overhead.py [--seconds 20] [--gpus 8]
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from models import RunRecord, Store
from telemetry.collector import Collector
from telemetry.replay import ReplaySource, read_trace
from telemetry.sources import GpuInfo

TRACE = Path(__file__).resolve().parents[1] / "data" / "reference" / "h200-2026-11-26" / "samples.csv"


def overhead_pct(rate_hz: float, seconds: float, gpus: int, folder: Path) -> tuple[float, int]:
    """(CPU % of one core, samples written) for `seconds` of sampling `gpus` replayed GPUs."""
    samples = read_trace(TRACE)
    every_gpu = [dataclasses.replace(s, gpu_index=g) for g in range(gpus) for s in samples]
    infos = [GpuInfo(g, "NVIDIA H200", None, 700.0) for g in range(gpus)]
    store = Store(f"sqlite:///{folder / f'overhead-{rate_hz:g}.db'}")
    store.migrate()
    run_id, _, _ = store.add_run(RunRecord(source_key=f"overhead-{rate_hz}", source="benchmark"))
    source = ReplaySource(every_gpu, infos, speed=1.0)
    collector = Collector(source, sink=lambda batch: store.add_samples(run_id, batch), rate_hz=rate_hz)
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    with collector:
        for _ in tqdm(range(int(seconds)), desc=f"{rate_hz:g} Hz", unit="s"):
            time.sleep(1.0)
    cpu_s, wall_s = time.process_time() - cpu_start, time.perf_counter() - wall_start
    store.close()
    return 100 * cpu_s / wall_s, collector.stats.samples_written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--gpus", type=int, default=8)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as folder:
        for rate_hz in (10.0, 100.0):
            pct, written = overhead_pct(rate_hz, args.seconds, args.gpus, Path(folder))
            print(f"{rate_hz:>5g} Hz, {args.gpus} GPUs: {pct:5.2f} % of one core, {written} samples written")


if __name__ == "__main__":
    main()
