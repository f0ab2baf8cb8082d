"""Column bounds that a known plan implies through the LP relaxation's reduced costs: no plan
better than the start puts more replicas on a column than the distance from the LP bound to the
start pays for at that column's reduced cost.

Why the whole model's child is given them: after every LP solve of its root, HiGHS 1.16 records
for each integer column with a reduced cost one "lurking bound" per value of the column's domain
(up to 1,024 of them), each insertion walking the column's list so far
(HighsRedcostFixing::addRootRedcost). On a binding L fleet (tightness 0.7, seed 3) that was 45 %
of the root's time, over domains of up to 512 replicas; the start's cutoff narrows them to 109 at
most (the sum of their squares, which that walk is proportional to, from 1.65e8 to 1.27e7;
HiGHS's own propagation by the rows leaves 2e7). Its root cut rounds then came 6-20 % sooner on
three binding L fleets (six runs each), and the planner, two runs each way on the nine binding
L fleets of benchmarks/binding_budgets.py, proved 0.5 % sooner on seven of them, by 0.1-2 s
(tightness 0.9 seed 1: 7.0 and 8.1 s against 8.0 and 10.0 s), and 0.1-0.2 s later on one
(2026-12-08, 2-core dev machine). On XL the start is too far above the LP bound (2.4 % on
tightness 0.7 seed 1) to narrow much: the sum of squares only falls by 1 %.

Exact: for any point x of the model, c.x >= z + d_j (x_j - l_j) for a column j at its lower
bound l_j with reduced cost d_j > 0 (z the LP optimum), so a plan below the cutoff has
x_j <= l_j + (cutoff - z) / d_j, and the mirror image holds at an upper bound. Every plan better
than the start keeps its place in the model, and so does the optimum; what is cut is only plans
no better than the start, which the solve already holds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SLACK_REL = 1e-6
"""Of the cutoff: room added to the distance from the LP bound, against the LP's tolerances (its
reduced costs are exact to about 1e-7), so that no plan at the cutoff's edge is cut."""


def within_cutoff(arrays: dict[str, Any], reduced_costs: np.ndarray, lp_objective: float, cutoff: float) -> dict[str, Any]:
    """`arrays` (optimizer.highs.pulp_arrays) with each integer column's bounds narrowed to what a
    plan of objective below `cutoff` can hold, given the LP relaxation's optimum `lp_objective`
    and its `reduced_costs`, one per column (offset included in both objectives). Unchanged
    where nothing narrows."""
    distance = cutoff - lp_objective + SLACK_REL * max(1.0, abs(cutoff))
    if not np.isfinite(distance) or distance < 0:
        return arrays
    integral = arrays["integrality"] != 0
    lower, upper = arrays["col_lower"], arrays["col_upper"]
    rising = integral & (reduced_costs > 0) & np.isfinite(lower)
    falling = integral & (reduced_costs < 0) & np.isfinite(upper)
    new_upper, new_lower = upper.copy(), lower.copy()
    new_upper[rising] = np.minimum(upper[rising], np.floor(lower[rising] + distance / reduced_costs[rising]))
    new_lower[falling] = np.maximum(lower[falling], np.ceil(upper[falling] + distance / reduced_costs[falling]))
    if np.array_equal(new_upper, upper) and np.array_equal(new_lower, lower):
        return arrays
    return {**arrays, "col_lower": new_lower, "col_upper": new_upper}
