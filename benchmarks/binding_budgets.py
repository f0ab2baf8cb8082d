"""Fleets whose site power budgets bind: the planner's solve against a plain HiGHS model of the
same problem, in the same run.

Run: python benchmarks/binding_budgets.py [--sizes L,XL] [--tightness 0.9,0.7,0.5] [--seeds 1,2,3]
     [--time-limit 10] [--first-feasible-limit 2] [--plain-factor 5] [--gap 0.005] [--no-plain] [--whole-plan]

A fleet of benchmarks/plan_scaling.py's generator gets every site budget scaled by one factor,
chosen per fleet: with tightness f the smallest factor at which the LP relaxation is feasible is
f of it. At 0.9 the fleet's budgets are 11 % above the least that could carry the demand, even
fractionally, and nearly every budget row is tight; at 0.5 they are twice that.

Per fleet it reports the planner (`optimizer.solve`, as `planner plan` calls it but without
tie-breaking): whether a plan exists within --first-feasible-limit, and the status, proven gap
and wall time at --time-limit. Beside the whole model, on a second core where there is one, the
planner solves the fleet kept to its largest batches and then searches neighbourhoods of pairs
of workloads from that plan (optimizer/largest_batches.py, optimizer/neighbourhoods.py). The
plain model is the same MILP written to MPS and read by HiGHS (one thread, presolve on, no
start), run for --plain-factor times the limit while its incumbent and bound are recorded: its first feasible time, its gap at the planner's limit, and
the time it needed to prove the gap the planner proved (the ratio of the two times is the figure
to compare; these machines are noisy).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import highspy
import pulp
from plan_scaling import SIZES, build_problem  # the generator beside this script
from tqdm import tqdm

from optimizer.child_solve import relative_gap
from optimizer.follow_ups import follow_ups
from optimizer.formulation import build_model
from optimizer.highs import relaxation_solver
from optimizer.problem import PlanProblem, SolveOptions
from optimizer.solve import solve


def budget_row(prob: pulp.LpProblem, site: str) -> pulp.LpConstraint:
    """A site's power row, by the name PuLP gives `power[site]`."""
    row: pulp.LpConstraint = prob.get_constraint_by_name("power_" + "".join(ch if ch.isalnum() else "_" for ch in site) + "_")
    return row


def least_budget_scale(problem: PlanProblem) -> float:
    """The smallest factor on every site budget at which the LP relaxation is feasible."""
    model = build_model(problem)
    scale = model.prob.add_variable("budget_scale", lowBound=0)
    for site in problem.sites:
        row = budget_row(model.prob, site.name)
        row.addInPlace(-site.power_budget_w * scale)
        row.changeRHS(0.0)
    model.prob.setObjective(pulp.LpAffineExpression([(scale, 1.0)]))
    model.prob.solve(relaxation_solver())
    if model.prob.sol_status != pulp.LpSolutionOptimal:
        raise RuntimeError("the fleet cannot carry its demand at any budget (inventory)")
    return float(scale.varValue or 0.0)


def tight_budget_rows(problem: PlanProblem) -> int:
    """Budget rows the LP relaxation fills to within 0.1 %."""
    model = build_model(problem)
    model.prob.setObjective(model.objectives[problem.objective])
    model.prob.solve(relaxation_solver())
    tight = 0
    for site in problem.sites:
        row = budget_row(model.prob, site.name)
        used_w = sum(var.varValue * coefficient for var, coefficient in row.items())
        tight += used_w >= 0.999 * site.power_budget_w
    return tight


@dataclass(frozen=True)
class PlainRun:
    first_feasible_s: float | None
    trajectory: tuple[tuple[float, float, float], ...]
    """(seconds, incumbent, bound) as HiGHS reported them."""

    def gap_at(self, seconds: float) -> float | None:
        seen = [(primal, dual) for t, primal, dual in self.trajectory if t <= seconds and math.isfinite(primal)]
        if not seen:
            return None
        return relative_gap(min(p for p, _ in seen), max(d for _, d in seen))

    def time_to_gap(self, gap: float) -> float | None:
        best_primal, best_dual = math.inf, -math.inf
        for t, primal, dual in self.trajectory:
            best_primal, best_dual = min(best_primal, primal), max(best_dual, dual)
            if math.isfinite(best_primal) and relative_gap(best_primal, best_dual) <= gap + 1e-12:
                return t
        return None


def plain_highs(problem: PlanProblem, time_limit_s: float, gap: float) -> PlainRun:
    """The MILP as a modeller would hand it to HiGHS: written to MPS, read back, solved."""
    model = build_model(problem)
    model.prob.setObjective(model.objectives[problem.objective])
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "placement.mps")
        model.prob.writeMPS(path)
        highs = highspy.Highs()
        highs.setOptionValue("output_flag", False)
        highs.readModel(path)
    for name, value in (("time_limit", time_limit_s), ("threads", 1), ("mip_rel_gap", gap), ("random_seed", 0), ("presolve", "on")):
        highs.setOptionValue(name, value)
    points: list[tuple[float, float, float]] = []
    started = time.monotonic()

    def record(event: highspy.cb.HighsCallbackEvent) -> None:
        points.append((time.monotonic() - started, event.data_out.mip_primal_bound, event.data_out.mip_dual_bound))

    highs.cbMipInterrupt.subscribe(record)
    highs.cbMipImprovingSolution.subscribe(record)
    highs.run()
    info = highs.getInfo()
    points.append((time.monotonic() - started, info.objective_function_value if info.primal_solution_status == 2 else math.inf, info.mip_dual_bound))
    first = next((t for t, primal, _ in points if math.isfinite(primal)), None)
    return PlainRun(first, tuple(points))


def whole_plans(args: argparse.Namespace) -> None:
    """The main solve with tie-breaking, then baselines and shadow prices within the same limit,
    as `planner plan` runs them (planner/planning.plan_problem)."""
    print("| size | tightness | seed | wall s | status, gap | baselines (skipped) | shadow prices: resolved / not resolved / not computed |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for size in args.sizes.split(","):
        for tightness in args.tightness.split(","):
            for seed in args.seeds.split(","):
                loose, _, _ = build_problem(SIZES[size], int(seed))
                problem, _, _ = build_problem(SIZES[size], int(seed), least_budget_scale(loose) / float(tightness))
                options = SolveOptions(time_limit_s=args.time_limit, gap_rel=args.gap)
                started = time.monotonic()
                solution = solve(problem, options)
                baselines, prices = follow_ups(problem, solution, options, started + args.time_limit) if solution.has_solution else ((), ())
                wall_s = time.monotonic() - started
                resolved = sum(p.value_per_unit is not None for p in prices)
                computed = sum(p.method.startswith("not computed") for p in prices)
                gap = "-" if solution.gap is None else f"{solution.gap:.2%}"
                skipped = sum(b.status == "skipped" for b in baselines)
                print(f"| {size} | {tightness} | {seed} | {wall_s:.1f} | {solution.status} {gap} | {len(baselines)} ({skipped}) | "
                      f"{resolved} / {len(prices) - resolved - computed} / {computed} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="L")
    parser.add_argument("--tightness", default="0.9,0.7,0.5")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--first-feasible-limit", type=float, default=2.0)
    parser.add_argument("--plain-factor", type=float, default=5.0, help="the plain model runs this many times the limit")
    parser.add_argument("--gap", type=float, default=0.005)
    parser.add_argument("--no-plain", action="store_true", help="the planner alone: no plain HiGHS model beside it (XL's takes minutes)")
    parser.add_argument("--whole-plan", action="store_true", help="instead: time what `planner plan --time-limit` runs (solve, baselines, shadow prices)")
    args = parser.parse_args()
    if args.whole_plan:
        whole_plans(args)
        return
    runs = [(size, float(f), int(seed)) for size in args.sizes.split(",") for f in args.tightness.split(",") for seed in args.seeds.split(",")]
    rows = []
    for size, tightness, seed in tqdm(runs, desc="fleets", unit="fleet"):
        loose, _, _ = build_problem(SIZES[size], seed)
        scale = least_budget_scale(loose) / tightness
        problem, _, _ = build_problem(SIZES[size], seed, scale)
        tight = tight_budget_rows(problem)
        options = SolveOptions(gap_rel=args.gap, tie_break=False)
        started = time.monotonic()
        quick = solve(problem, replace(options, time_limit_s=args.first_feasible_limit))
        quick_s = time.monotonic() - started
        started = time.monotonic()
        planned = solve(problem, replace(options, time_limit_s=args.time_limit))
        planned_s = time.monotonic() - started
        # the plain model stops once it has proven the gap the planner proved (or the target)
        aim = args.gap if planned.gap is None else planned.gap
        plain = None if args.no_plain else plain_highs(problem, args.time_limit * args.plain_factor, aim)
        reached = None if planned.gap is None or plain is None else plain.time_to_gap(aim)
        rows.append((size, tightness, seed, tight, len(problem.sites), quick, quick_s, planned, planned_s, plain, reached, args.time_limit * args.plain_factor))
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, HiGHS {highspy.Highs().version()}; "
          f"1 thread, gap target {args.gap:.1%}, limit {args.time_limit:g} s (first plan within {args.first_feasible_limit:g} s), "
          f"plain HiGHS run {args.plain_factor:g}x as long")
    print("| size | tightness | seed | tight budgets | planner within first limit | planner at limit | plain: first plan s | plain at limit | "
          "plain to planner's gap | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for size, tightness, seed, tight, sites, quick, quick_s, planned, planned_s, plain, reached, plain_limit_s in rows:
        def described(status: str, gap: float | None, seconds: float) -> str:
            return f"{status} {'-' if gap is None else f'{gap:.2%}'} ({seconds:.1f} s)"

        planner = (f"| {size} | {tightness:g} | {seed} | {tight}/{sites} | {described(quick.status, quick.gap, quick_s)} | "
                   f"{described(planned.status, planned.gap, planned_s)} |")
        if plain is None:
            print(f"{planner} not run | not run | not run | - |")
            continue
        plain_gap = plain.gap_at(args.time_limit)
        to_gap = f">{plain_limit_s:g} s" if reached is None else f"{reached:.1f} s"
        ratio = "-" if planned.gap is None else (f">{plain_limit_s / planned_s:.1f}x" if reached is None else f"{reached / planned_s:.1f}x")
        print(f"{planner} {'-' if plain.first_feasible_s is None else f'{plain.first_feasible_s:.1f}'} | "
              f"{'-' if plain_gap is None else f'{plain_gap:.2%}'} | {to_gap} | {ratio} |")


if __name__ == "__main__":
    main()
