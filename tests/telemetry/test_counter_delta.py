import pytest

from telemetry import TelemetryError, assess_window


def test_ten_second_window_is_trusted_to_about_one_percent():
    window = assess_window(energy_j=6000.0, window_s=10.0, power_limit_w=700)
    assert window.usable and window.ticks == 100
    assert window.uncertainty_j / window.energy_j == pytest.approx(0.01)


def test_one_second_window_is_trusted_to_about_ten_percent():
    window = assess_window(energy_j=600.0, window_s=1.0, power_limit_w=700)
    assert window.usable
    assert window.uncertainty_j / window.energy_j == pytest.approx(0.10)


@pytest.mark.parametrize(
    ("energy_j", "window_s", "reason"),
    [
        (0.0, 0.017, "counter did not move"),  # H200 llama-8b batch 1 prefill read 0 J
        (30.153, 0.028171, "implies 1070 W"),  # H100 llama-1b batch 1 prefill: 1,070 W on a 700 W card
        (543.2, 0.75, "7 counter ticks"),  # plausible power, but under 10 ticks
    ],
)
def test_short_or_impossible_windows_lose_their_energy(energy_j, window_s, reason):
    window = assess_window(energy_j=energy_j, window_s=window_s, power_limit_w=700)
    assert not window.usable and window.energy_j is None
    assert reason in window.note
    assert f"counter read {energy_j:.3f} J" in window.note


def test_counted_ticks_override_the_estimate():
    assert not assess_window(energy_j=600.0, window_s=1.5, power_limit_w=700, ticks=3).usable


def test_negative_energy_is_an_unhandled_reset():
    with pytest.raises(TelemetryError, match="counter reset"):
        assess_window(energy_j=-5.0, window_s=2.0, power_limit_w=700)
