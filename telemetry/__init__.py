"""Measuring: energy-counter windows and what they can be trusted for.

The live NVML source, the sampler and the load generators build on `energy_window`.
"""

from telemetry.energy_window import COUNTER_TICK_S, MIN_WINDOW_TICKS, TelemetryError, assess_window

__all__ = ["COUNTER_TICK_S", "MIN_WINDOW_TICKS", "TelemetryError", "assess_window"]
