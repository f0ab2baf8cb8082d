"""How far a window's energy-counter delta can be trusted.

On Hopper the NVML energy counter advances every ~100 ms (reference/README.md). A window
shorter than a few ticks can read 0 J, or a power the card cannot draw (1,070 W on a 700 W
H100), so such windows keep their timings but lose their energy. The uncertainty of a usable
window is about one tick of power: +-10 % at 1 s, +-1 % at 10 s.
"""

from __future__ import annotations

from models.records import WindowEnergy
from telemetry.errors import TelemetryError

COUNTER_TICK_S = 0.1
MIN_WINDOW_TICKS = 10
POWER_HEADROOM = 1.1
"""Mean power above this multiple of the power limit is impossible: the window is too short."""


def assess_window(
    energy_j: float,
    window_s: float,
    power_limit_w: float,
    ticks: int | None = None,
) -> WindowEnergy:
    """Judge one counter delta. `power_limit_w` covers all GPUs the window measured;
    `ticks` is the number of counter updates seen, or None to estimate it from the duration."""
    if window_s <= 0:
        raise TelemetryError(f"a measurement window of {window_s} s is not a window. To fix: time it again.")
    if energy_j < 0:
        raise TelemetryError(
            f"a window read {energy_j} J: negative energy means a counter reset was not handled. "
            "To fix: take the delta across the reset or measure the window again."
        )
    tick_count = ticks if ticks is not None else int(window_s / COUNTER_TICK_S + 1e-9)
    mean_w = energy_j / window_s
    problems = []
    if tick_count < MIN_WINDOW_TICKS:
        problems.append(f"{window_s:.3f} s window spans {tick_count} counter ticks (< {MIN_WINDOW_TICKS})")
    if energy_j == 0:
        problems.append("the counter did not move")
    if mean_w > POWER_HEADROOM * power_limit_w:
        problems.append(f"implies {mean_w:.0f} W against a {power_limit_w:.0f} W limit")
    if problems:
        note = f"energy unusable: {'; '.join(problems)}; counter read {energy_j:.3f} J"
        return WindowEnergy(window_s=window_s, energy_j=None, ticks=tick_count, uncertainty_j=None, note=note)
    return WindowEnergy(
        window_s=window_s,
        energy_j=energy_j,
        ticks=tick_count,
        uncertainty_j=COUNTER_TICK_S * mean_w,
    )
