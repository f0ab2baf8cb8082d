"""A measurement window's energy from the readings taken at its edges and in between.

The energy is the counter's rise from the start edge to the end edge. Readings between the
edges (the sampler's) matter for two things: a counter that resets mid-window (a negative step
is taken as a restart from zero) and the peak power. A replayed edge only knows the counter lies
between two trace samples, so the window's energy is bracketed; the estimate is the middle of
the bracket and its uncertainty at least half its width.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from models.records import WindowEnergy
from telemetry.counter_delta import assess_window
from telemetry.sources import GpuReading

COUNTER_RESOLUTION_J = 0.001
"""The counter counts whole millijoules: each edge adds up to one."""


@dataclass(frozen=True)
class GpuWindow:
    gpu_index: int
    energy: WindowEnergy
    mean_power_w: float | None
    peak_power_w: float | None
    counter_resets: int = 0


@dataclass(frozen=True)
class WindowMeasurement:
    """One labelled window over all sampled GPUs."""

    label: str
    start_s: float
    duration_s: float
    gpus: tuple[GpuWindow, ...]
    min_window_s: float
    lost_gpus: tuple[int, ...] = ()

    @property
    def usable(self) -> bool:
        return not self.lost_gpus and all(gpu.energy.usable for gpu in self.gpus)

    @property
    def below_minimum(self) -> bool:
        return self.duration_s < self.min_window_s

    @property
    def energy_j(self) -> float | None:
        return sum(gpu.energy.energy_j or 0.0 for gpu in self.gpus) if self.usable else None

    @property
    def uncertainty_j(self) -> float | None:
        return sum(gpu.energy.uncertainty_j or 0.0 for gpu in self.gpus) if self.usable else None

    @property
    def mean_power_w(self) -> float | None:
        energy_j = self.energy_j
        return None if energy_j is None else energy_j / self.duration_s

    @property
    def peak_power_w(self) -> float | None:
        """The highest sampled power, never below the mean: the power readings are 1 s moving
        averages on Hopper and miss a short window's top, which its energy counter does not."""
        peaks = [gpu.peak_power_w for gpu in self.gpus if gpu.peak_power_w is not None]
        if not peaks:
            return None
        return max(sum(peaks), self.mean_power_w or 0.0)

    @property
    def notes(self) -> list[str]:
        notes = [f"GPU {index} was lost during the window" for index in self.lost_gpus]
        notes += [f"GPU {gpu.gpu_index}: {gpu.energy.note}" for gpu in self.gpus if gpu.energy.note]
        notes += [f"GPU {gpu.gpu_index}: {gpu.counter_resets} counter reset(s)" for gpu in self.gpus if gpu.counter_resets]
        if self.below_minimum:
            notes.append(f"low confidence: {self.duration_s:.2f} s is under the {self.min_window_s:g} s minimum")
        return notes


def gpu_window(readings: Sequence[GpuReading], power_limit_w: float) -> GpuWindow:
    """Energy of one GPU over readings[0] (start edge) .. readings[-1] (end edge), in time order."""
    start, end = readings[0], readings[-1]
    duration_s = end.t_s - start.t_s
    inner_mj = outer_mj = 0.0
    reset_allowance_j = 0.0
    resets = 0
    for previous, current in zip(readings, readings[1:], strict=False):
        if current.energy_upper_mj < previous.energy_mj:
            # The counter restarted from zero: count what it shows since, and allow for the part
            # before the restart at the power last seen (or the limit when none was).
            resets += 1
            inner_mj += current.energy_mj
            outer_mj += current.energy_upper_mj
            power_w = previous.power_w if previous.power_w is not None else power_limit_w
            reset_allowance_j += (current.t_s - previous.t_s) * power_w
            continue
        inner_mj += max(0, current.energy_mj - previous.energy_upper_mj)
        outer_mj += current.energy_upper_mj - previous.energy_mj
    energy_j = (inner_mj + outer_mj) / 2000
    half_bracket_j = (outer_mj - inner_mj) / 2000
    assessed = assess_window(energy_j, duration_s, power_limit_w) if duration_s > 0 else None
    if assessed is None:
        energy = WindowEnergy(window_s=0.0, energy_j=None, ticks=0, uncertainty_j=None, note="the window has no duration")
    elif assessed.usable:
        uncertainty_j = max(assessed.uncertainty_j or 0.0, half_bracket_j)
        uncertainty_j += 2 * COUNTER_RESOLUTION_J + reset_allowance_j
        energy = WindowEnergy(window_s=duration_s, energy_j=energy_j, ticks=assessed.ticks, uncertainty_j=uncertainty_j)
    else:
        energy = assessed
    # the start edge is read as the window opens, before its workload draws anything (and a
    # replayed one holds the sample before the window): the peak comes from the readings after it
    powers = [reading.power_instant_w or reading.power_w for reading in readings[1:]]
    known = [power for power in powers if power is not None]
    return GpuWindow(
        gpu_index=start.gpu_index,
        energy=energy,
        mean_power_w=None if energy.energy_j is None else energy.energy_j / duration_s,
        peak_power_w=max(known) if known else None,
        counter_resets=resets,
    )
