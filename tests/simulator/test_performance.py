"""Batch curves: recovered exactly from points on their own shapes, held-out errors as computed by hand."""

from __future__ import annotations

import pytest

from simulator.performance import BatchPoint, fit, leave_one_out


def _on_curves(batch: int, alpha: float = 2.0, beta: float = 0.01, a: float = 6.0, c: float = 0.03,
               energy_a: float = 860.0, energy_b: float = 6.5, output: int = 128) -> BatchPoint:
    cycle_s = alpha + beta * batch
    return BatchPoint(batch, batch * output / cycle_s, a + c * batch, (energy_a + energy_b * batch) / cycle_s)


def test_points_on_the_shapes_are_recovered_and_predicted_without_error():
    points = [_on_curves(b) for b in (1, 4, 16, 64, 256)]
    curves = fit(points, 128)
    assert curves.cycle_s.intercept == pytest.approx(2.0) and curves.cycle_s.slope == pytest.approx(0.01)
    assert curves.tpot_ms.slope == pytest.approx(0.03)
    assert curves.cycle_j.intercept == pytest.approx(860.0) and curves.cycle_j.slope == pytest.approx(6.5)
    assert curves.power(32) == pytest.approx(_on_curves(32).power_w)
    assert curves.j_per_token(32) == pytest.approx(_on_curves(32).j_per_token)
    held = leave_one_out(points, 128)
    assert len(held) == 5
    assert max(abs(h.tok_s_error) for h in held) < 1e-9
    # four points left: the cycle's energy line is recovered from each such set
    assert max(abs(h.j_per_token_error) for h in held) < 1e-9
    assert [h.extrapolated for h in held] == [True, False, False, False, True]


def test_a_held_out_point_is_predicted_from_the_line_through_the_others():
    points = [BatchPoint(1, 100.0, 5.0, 400.0), BatchPoint(16, 1200.0, 6.0, 500.0), BatchPoint(64, 3000.0, 9.0, 640.0)]
    (middle,) = [h for h in leave_one_out(points, 100) if h.point.batch == 16]
    # cycle s through (1, 1.0) and (64, 2.1333): at 16 it is 1 + 15 * 1.1333 / 63
    cycle_s = 1.0 + 15 * (64 * 100 / 3000 - 1.0) / 63
    assert middle.tok_s_error == pytest.approx(16 * 100 / cycle_s / 1200 - 1)
    assert middle.tpot_error == pytest.approx((5.0 + 15 * 4.0 / 63) / 6.0 - 1)
    # cycle J = power x cycle s: 400 J at batch 1, 640 x 2.1333 J at 64; the line's value at 16
    cycle_j = 400.0 + 15 * (640 * 64 * 100 / 3000 - 400.0) / 63
    assert middle.j_per_token_error == pytest.approx(cycle_j / (16 * 100) / (500 / 1200) - 1)
    assert not middle.extrapolated


def test_too_few_batches_hold_nothing_out_and_cannot_be_fitted():
    two = [_on_curves(1), _on_curves(8)]
    assert leave_one_out(two, 128) == []
    with pytest.raises(ValueError, match="two or more batch sizes"):
        fit([_on_curves(4), _on_curves(4)], 128)
