"""What a solved plan is compared with (baselines) and priced by (shadow prices), within the time
its limit leaves: `--time-limit` bounds the whole plan, not only its main solve."""

from __future__ import annotations

from optimizer.baselines import Baseline, best_single_gpu_type, max_throughput, own_replicas
from optimizer.diagnosis import ShadowPrice, shadow_prices
from optimizer.problem import PlanProblem, Solution, SolveOptions


def follow_ups(
    problem: PlanProblem,
    solution: Solution,
    options: SolveOptions,
    deadline_s: float | None,
    with_baselines: bool = True,
    with_shadow_prices: bool = True,
) -> tuple[tuple[Baseline, ...], tuple[ShadowPrice, ...]]:
    """The baselines, then the shadow prices, each started only while `deadline_s`
    (time.monotonic()) leaves time, and skipped with a note when it does not."""
    baselines: tuple[Baseline, ...] = ()
    if with_baselines:
        alone = own_replicas(problem, solution, options, deadline_s)
        baselines = (
            best_single_gpu_type(problem, options, deadline_s),
            max_throughput(problem, options, deadline_s),
            *(() if alone is None else (alone,)),
        )
    prices = tuple(shadow_prices(problem, solution, options, deadline_s=deadline_s)) if with_shadow_prices else ()
    return baselines, prices
