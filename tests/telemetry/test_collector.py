"""The collector on replayed reference traces: windows, resets, lost GPUs, the sampler thread."""

from __future__ import annotations

import dataclasses
import json
import time
from collections import defaultdict
from pathlib import Path

import pytest

from models import SampleRecord
from telemetry import TelemetryError
from telemetry.collector import Collector
from telemetry.replay import ReplaySource, parse_trace, read_trace, replay_windows, write_trace
from telemetry.sources import GpuInfo

H200 = GpuInfo(gpu_index=0, name="NVIDIA H200", driver_version="580.159.04", power_limit_w=700.0)


def _label(run: str, result: dict, phase: str) -> str:
    """The trace labels of the two reference runs (reference/README.md)."""
    if run.startswith("h200"):
        return f"{result['model']}/{result['runtime']}/b{result['batch']}/{phase}"
    return f"{result['model']}/{result['runtime']}/b{result['batch']}/p{result['prompt_len']}/{phase}/r{result['repeat']}"


@pytest.mark.parametrize("run", ["h200-2026-11-26", "h100-2026-11-26"])
def test_replayed_trace_reproduces_every_window_within_its_uncertainty(raw_reference: Path, run: str):
    folder = raw_reference / run
    results = json.loads((folder / "results.json").read_text())["results"]
    source = ReplaySource.from_file(folder / "trace.csv", [dataclasses.replace(H200, name=run)])
    windows_by_label = defaultdict(list)
    for window in replay_windows(source, Collector(source)):
        windows_by_label[window.label].append(window)
    compared = flagged = 0
    for result in results:
        for phase in ("prefill", "decode"):
            label = _label(run, result, phase)
            if result["runtime"] != "graph":  # hf-eager windows are labelled per generate call
                continue
            if not windows_by_label.get(label):  # so short that no 10 Hz sample fell inside it
                assert result.get(f"{phase}_window_s", result[f"{phase}_s"]) < 0.1, label
                continue
            window = windows_by_label[label].pop(0)  # shared labels are told apart by time order
            assert window.below_minimum == (window.duration_s < 1.0)
            if window.usable:
                compared += 1
                assert abs(window.energy_j - result[f"{phase}_J"]) <= window.uncertainty_j, label
            else:
                flagged += 1
                assert window.duration_s < 1.0 and any("counter ticks" in note for note in window.notes), label
    assert compared >= 10 and flagged >= 5


def _reference_samples(raw_reference: Path, run: str = "h100-2026-11-26") -> list[SampleRecord]:
    return read_trace(raw_reference / run / "trace.csv")


def _replayed(samples: list[SampleRecord]) -> dict:
    source = ReplaySource(samples, [H200])
    return {window.label: window for window in replay_windows(source, Collector(source))}


def test_a_counter_reset_mid_window_is_counted_across_and_flagged(raw_reference: Path):
    samples = _reference_samples(raw_reference)
    window_rows = [s for s in samples if s.label == "llama-8b/graph/b1/p512/decode/r0"]
    reset_s = window_rows[len(window_rows) // 2].t_s
    offset_mj = next(s.energy_mj for s in samples if s.t_s >= reset_s)
    with_reset = [
        dataclasses.replace(s, energy_mj=s.energy_mj - offset_mj) if s.t_s >= reset_s else s for s in samples
    ]
    plain, reset = (_replayed(trace) for trace in (samples, with_reset))
    label = "llama-8b/graph/b1/p512/decode/r0"
    assert reset[label].gpus[0].counter_resets == 1 and "1 counter reset(s)" in " ".join(reset[label].notes)
    assert abs(reset[label].energy_j - plain[label].energy_j) <= reset[label].uncertainty_j
    assert reset[label].uncertainty_j > plain[label].uncertainty_j
    assert abs(reset[label].energy_j - 3164.5) <= reset[label].uncertainty_j  # results.json decode_J


def test_a_gpu_lost_mid_run_fails_its_window_and_keeps_the_samples_taken(raw_reference: Path):
    gpu0 = _reference_samples(raw_reference)
    label = "llama-8b/graph/b16/p512/decode/r0"
    lost_at_s = [s.t_s for s in gpu0 if s.label == label][10]
    gpu1 = [dataclasses.replace(s, gpu_index=1) for s in gpu0 if s.t_s < lost_at_s]
    written: list[SampleRecord] = []
    source = ReplaySource(gpu0 + gpu1, [H200, dataclasses.replace(H200, gpu_index=1)])
    collector = Collector(source, sink=written.extend)
    windows = {w.label: w for w in replay_windows(source, collector)}
    assert windows[label].lost_gpus == (1,) and not windows[label].usable
    assert "GPU 1 was lost during the window" in windows[label].notes
    assert collector.lost_gpus == (1,) and "GPU 1" in collector.stats.errors[0]
    kept_s = {s.t_s for s in written if s.gpu_index == 1}
    assert {s.t_s for s in gpu1} <= kept_s  # every sample before the loss is kept
    assert max(kept_s) < lost_at_s + 1.0
    later = "llama-8b/graph/b64/p512/decode/r0"
    assert windows[later].usable and [g.gpu_index for g in windows[later].gpus] == [0]


def test_a_trace_missing_the_counter_column_is_refused_by_name():
    with pytest.raises(TelemetryError, match=r"lacks column\(s\) energy_mJ.*To fix: write the header as t_s,label"):
        parse_trace("t_s,label,power_mW\n0.1,idle,70000\n", "trace.csv")
    with pytest.raises(TelemetryError, match=r"line 3, column energy_mJ: 'x' is not a number"):
        parse_trace("t_s,energy_mJ\n0.1,5\n0.2,x\n", "trace.csv")


def test_a_recorded_trace_reads_back_the_same(raw_reference: Path, tmp_path: Path):
    samples = _reference_samples(raw_reference)[:200]
    assert write_trace(samples, tmp_path / "copy.csv") == 200
    again = read_trace(tmp_path / "copy.csv")
    assert [(s.t_s, s.energy_mj, s.label) for s in again] == [(s.t_s, s.energy_mj, s.label) for s in samples]
    assert again[5].power_w == pytest.approx(samples[5].power_w)
    assert not (tmp_path / "copy.csv.partial").exists()


def test_the_sampler_thread_samples_at_its_rate_and_writes_everything(raw_reference: Path):
    written: list[SampleRecord] = []
    source = ReplaySource(_reference_samples(raw_reference), [H200], speed=1.0)
    with Collector(source, sink=written.extend, rate_hz=50) as collector:
        with collector.window("a second of the trace") as window:
            time.sleep(1.2)
    assert 40 <= collector.stats.samples_taken <= 70
    assert len(written) == collector.stats.samples_taken == collector.stats.samples_written
    assert written[len(written) // 2].label == "a second of the trace"
    assert window.result is not None and window.result.usable and window.result.duration_s >= 1.2
    assert window.result.gpus[0].mean_power_w == pytest.approx(window.result.energy_j / window.result.duration_s)


def test_a_failing_store_does_not_stop_the_sampler(raw_reference: Path):
    def broken_sink(batch):
        raise OSError("disk full")

    source = ReplaySource(_reference_samples(raw_reference), [H200], speed=1.0)
    with Collector(source, sink=broken_sink, rate_hz=50) as collector:
        time.sleep(0.3)
    assert collector.stats.samples_taken >= 10 and collector.stats.samples_written == 0
    assert "disk full" in collector.stats.errors[0]


def test_out_of_range_rate_is_refused(raw_reference: Path):
    source = ReplaySource(_reference_samples(raw_reference), [H200])
    with pytest.raises(TelemetryError, match="0 < rate <= 1000 Hz"):
        Collector(source, rate_hz=0)


def test_a_windows_peak_power_is_drawn_inside_it_not_by_what_ran_before(raw_reference: Path):
    """The start edge is read as the window opens (replayed: it holds the sample before), so a
    decode window right after a hungrier prefill must not inherit the prefill's peak."""
    samples = _reference_samples(raw_reference)
    windows = _replayed(samples)
    inherited = 0
    for label, window in windows.items():
        inside = [s.power_instant_w or s.power_w for s in samples if s.label == label]
        before = max((s for s in samples if s.t_s < min(x.t_s for x in samples if x.label == label)), key=lambda s: s.t_s)
        assert window.peak_power_w == pytest.approx(max(inside)), label
        inherited += (before.power_instant_w or before.power_w) > max(inside)
    assert inherited >= 1  # the trace has such windows: the check above can fail
