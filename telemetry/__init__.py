"""Measuring: energy sources (NVML, replayed traces), the sampler, windows and load generators.

Arrows point one way: telemetry writes SampleRecords and MeasurementRecords (models/) and knows
nothing of the planner. `counter_delta` judges one counter delta; `windows` builds a window from
edge readings; `collector` runs the sampler thread; `replay` reads and plays back traces.
"""

from telemetry.counter_delta import COUNTER_TICK_S, MIN_WINDOW_TICKS, TelemetryError, assess_window

__all__ = ["COUNTER_TICK_S", "MIN_WINDOW_TICKS", "TelemetryError", "assess_window"]
