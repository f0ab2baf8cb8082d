"""`planner validate`: re-check a placement file against its scenario and the Store's data.

Nothing in the file is trusted. Candidates are rebuilt from the Store without dominance pruning
(any measured configuration that meets the SLO is accepted), every row is rebuilt from the
candidates it names and the replicas and tokens/s it states, and each field must match; the
summary is recomputed from the rows, and the utilisation cap, sites and workloads come from the
scenario, not from the file. Then demand, SLOs, inventories and budgets are checked.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from models import Store, load_catalog
from optimizer.candidates import Candidate, WorkloadSpec, build_candidates, candidates_by_key, configuration_id
from optimizer.metrics import summarize
from optimizer.operating_point import OperatingPoint
from optimizer.problem import PlanProblem, ReplicaGroup, Share, SiteSpec
from optimizer.replica_groups import members_by_group
from planner.formats.placement import Placement, PlacementRow, read_placement
from planner.formats.scenario import load_scenario
from planner.placement_content import placement_rows, site_echoes, summary_entry, workload_echoes
from planner.planning import gpu_hour_prices, planning_points, site_specs, workload_specs
from planner.stored_points import usable_operating_points

RELATIVE_TOLERANCE = 1e-6
SUMMARY_FIELDS_NOT_RECOMPUTED = ("gap", "baselines")


def _close(a: float, b: float, tolerance: float = RELATIVE_TOLERANCE) -> bool:
    return abs(a - b) <= tolerance * max(1.0, abs(a), abs(b))


def differences(stated: Mapping[str, object], actual: Mapping[str, object], skip: tuple[str, ...] = ()) -> list[str]:
    """`field stated X, recomputed Y` for each field that disagrees beyond rounding."""
    found = []
    for name, value in actual.items():
        if name in skip:
            continue
        given = stated.get(name)
        if isinstance(value, float) and isinstance(given, int | float) and not isinstance(given, bool):
            same = _close(float(given), value) or (math.isnan(value) and math.isnan(float(given)))
        else:
            same = given == value
        if not same:
            found.append(f"{name} stated {given!r}, recomputed {value!r}")
    return found


def check_placement(placement: Placement, scenario_path: Path, store: Store, trace_files: Mapping[str, Path] | None = None) -> list[str]:
    """Every violated rule and every figure that disagrees, in words; empty means the placement holds.
    A placement planned with caps from traffic is checked against its traces (`trace_files`): the
    caps of the candidates it uses are simulated again."""
    catalog = load_catalog()
    scenario, digest = load_scenario(scenario_path, catalog)
    problems: list[str] = []
    if placement.scenario.sha256 != digest:
        problems.append(f"the placement was planned for another version of {scenario_path} (sha256 differs)")
    if placement.scenario.name != scenario.name:
        problems.append(f"the placement names scenario {placement.scenario.name!r}, {scenario_path} is {scenario.name!r}")
    if placement.status in ("infeasible", "no_solution"):
        return problems + [f"the placement holds no plan ({placement.status}): " + "; ".join(placement.reasons)]
    stated, wanted = placement.max_utilization, scenario.max_utilization
    if stated != wanted and (isinstance(stated, str) or isinstance(wanted, str) or not _close(stated, wanted)):
        problems.append(f"max_utilization stated {stated:g}, the scenario's is {wanted:g} (the scenario's is the one checked)"
                        if isinstance(stated, float) and isinstance(wanted, float) else
                        f"max_utilization stated {stated}, the scenario's is {wanted} (the scenario's is the one checked)")  # fmt: skip
    if trace_files is None and scenario.max_utilization == "auto":
        trace_files = scenario.traces
    workloads = {w.name: w for w in workload_specs(scenario)}
    sites = {s.name: s for s in site_specs(scenario)}
    points = planning_points(scenario, list(workloads.values()), usable_operating_points(store), catalog)
    candidate_set = build_candidates(list(workloads.values()), points, prune=False)
    problem = PlanProblem(
        workloads=tuple(workloads.values()),
        candidates=candidate_set.candidates,
        sites=tuple(sites.values()),
        usd_per_gpu_hour=gpu_hour_prices(scenario, catalog),
        max_utilization=scenario.blanket_utilization,
    )
    if placement.traces:
        found, problem = _recapped(placement, problem, points, trace_files)
        if found:
            return problems + found
    if [s.model_dump() for s in placement.sites] != [s.model_dump() for s in site_echoes(scenario)]:
        problems.append("sites differ from the scenario's (budgets, PUE, prices or inventories)")
    if [w.model_dump() for w in placement.workloads] != [w.model_dump() for w in workload_echoes(problem)]:
        problems.append("workloads differ from the scenario's (demand, lengths, SLOs or min_sites)")
    groups, found = check_rows(placement.placements, problem)
    problems.extend(found)
    problems.extend(_summary_problems(placement, problem, groups))
    return problems


def _recapped(
    placement: Placement, problem: PlanProblem, points: list[OperatingPoint], trace_files: Mapping[str, Path] | None
) -> tuple[list[str], PlanProblem]:
    """The problem with the caps of the candidates the placement uses simulated again under its
    traces, each times the share of it the placement held its workload to."""
    from planner.utilization_caps import caps_for, read_traces

    if not trace_files:
        return [f"the placement's utilisation caps were simulated under traces ({', '.join(placement.traces)}); pass them to check it (--trace W=FILE)"], problem
    for name, ref in placement.traces.items():
        path = trace_files.get(name)
        if path is None or hashlib.sha256(path.read_bytes()).hexdigest() != ref.sha256:
            return [f"workload {name}: its trace is not the one planned with ({ref.path}; sha256 differs or none given)"], problem
    used = {(share.workload, share.candidate) for row in placement.placements for share in row.serves}
    workloads = {w.name: w for w in problem.workloads}
    chosen = [c for c in problem.candidates if (c.workload, c.id) in used]
    scales = {name: ref.cap_scale for name, ref in placement.traces.items()}
    caps = {(cap.workload, cap.candidate): cap.cap for cap in caps_for(chosen, workloads, points, read_traces(trace_files, workloads), scales)}
    recapped = [replace(c, max_utilization=caps.get((c.workload, c.id))) for c in problem.candidates]
    return [], problem.restricted(recapped)


def check_rows(rows: Sequence[PlacementRow], problem: PlanProblem, where_prefix: str = "") -> tuple[list[ReplicaGroup], list[str]]:
    """Each row rebuilt from the problem's candidates and compared field by field, then the
    problem's demand, min_sites, inventories and budgets checked on the rebuilt groups."""
    workloads = {w.name: w for w in problem.workloads}
    sites = {s.name: s for s in problem.sites}
    problems: list[str] = []
    candidates = candidates_by_key(problem.candidates)
    groups: list[ReplicaGroup] = []
    served: dict[str, float] = defaultdict(float)
    sites_used: dict[str, set[str]] = defaultdict(set)
    gpus_used: dict[tuple[str, str], int] = defaultdict(int)
    peak_w: dict[str, float] = defaultdict(float)
    for number, row in enumerate(rows, start=1):
        where = f"{where_prefix}placement row {number} ({row.site}, {row.configuration})"
        group, found = _rebuilt_group(row, where, workloads, sites, candidates, problem)
        problems.extend(found)
        if group is None:
            continue
        (expected,) = placement_rows(problem, [group])
        problems.extend(f"{where}: {difference}" for difference in _row_differences(row, expected))
        load = sum(share.tok_s / problem.planned_tok_s(candidates[(share.workload, share.candidate_id)]) for share in group.shares)
        if load > row.replicas * (1 + RELATIVE_TOLERANCE):
            problems.append(
                f"{where}: its load is {load:g} replicas' worth at each candidate's utilisation cap, above its {row.replicas} replicas"
            )
        groups.append(group)
        for share in group.shares:
            served[share.workload] += share.tok_s
            sites_used[share.workload].add(row.site)
            if share.tok_s > 0 and not workloads[share.workload].may_use(row.site):
                problems.append(f"{where}: serves {share.workload} at {row.site}, which is not among its sites")
        gpus_used[(row.site, expected.hardware)] += expected.gpus
        peak_w[row.site] += sites[row.site].pue * expected.peak_power_w
    for name, workload in workloads.items():
        if not _close(served[name], workload.demand_tok_s, 1e-4):
            problems.append(f"{where_prefix}workload {name}: serves {served[name]:g} tok/s of a demand of {workload.demand_tok_s:g}")
        if len(sites_used[name]) < workload.min_sites:
            problems.append(f"{where_prefix}workload {name}: served at {len(sites_used[name])} sites, min_sites is {workload.min_sites}")
    for (site_name, hardware), used in sorted(gpus_used.items()):
        have = sites[site_name].inventory.get(hardware, 0)
        if used > have:
            problems.append(f"{where_prefix}site {site_name}: uses {used} {hardware} of {have}")
    for site_name, used_w in sorted(peak_w.items()):
        budget_w = sites[site_name].power_budget_w
        if used_w > budget_w * (1 + RELATIVE_TOLERANCE):
            problems.append(f"{where_prefix}site {site_name}: peak facility power {used_w / 1000:.2f} kW above its {budget_w / 1000:g} kW budget")
    return groups, problems


def _rebuilt_group(
    row: PlacementRow,
    where: str,
    workloads: Mapping[str, WorkloadSpec],
    sites: Mapping[str, SiteSpec],
    candidates: Mapping[tuple[str, str], Candidate],
    problem: PlanProblem,
) -> tuple[ReplicaGroup | None, list[str]]:
    """The group a row states, built from the Store's candidates, or what keeps it from being one."""
    if row.site not in sites:
        return None, [f"{where}: site {row.site!r} is not in the scenario"]
    found = []
    for share in row.serves:
        candidate = candidates.get((share.workload, share.candidate))
        if share.workload not in workloads:
            found.append(f"{where}: workload {share.workload!r} is not in the scenario")
        elif candidate is None:
            found.append(
                f"{where}: candidate {share.candidate} is not a measured configuration meeting {share.workload}'s SLO in the Store"
            )
        elif configuration_id(candidate) != row.configuration:
            found.append(f"{where}: candidate {share.candidate} is measured in {configuration_id(candidate)}, not in this configuration")
    if row.shared and row.configuration not in members_by_group(problem):
        found.append(f"{where}: says shared, but no other workload of this scenario can use its configuration")
    if not row.shared and len(row.serves) != 1:
        found.append(f"{where}: replicas that are not shared serve exactly one workload; this row lists {len(row.serves)}")
    if found:
        return None, found
    shares = tuple(Share(share.workload, share.candidate, share.tokens_per_s) for share in row.serves)
    return ReplicaGroup(row.site, row.configuration, row.replicas, shares, row.shared), []


def _row_differences(row: PlacementRow, expected: PlacementRow) -> list[str]:
    stated, actual = row.model_dump(), expected.model_dump()
    found = differences(stated, actual, skip=("serves",))
    for given, wanted in zip(stated["serves"], actual["serves"], strict=True):
        found.extend(f"{wanted['workload']}: {difference}" for difference in differences(given, wanted))
    return found


def _summary_problems(placement: Placement, problem: PlanProblem, groups: list[ReplicaGroup]) -> list[str]:
    """The totals recomputed from the rows; each baseline's saving recomputed from its stated
    J/token (the baselines themselves are other solves, not re-run here)."""
    if placement.summary is None:
        return ["the placement has rows but no summary"] if groups else []
    fleet = summarize(problem, groups)
    expected = summary_entry(fleet, placement.summary.gap, [])
    stated = placement.summary.model_dump()
    problems = [f"summary: {d}" for d in differences(stated, expected.model_dump(), SUMMARY_FIELDS_NOT_RECOMPUTED)]
    for baseline in placement.summary.baselines:
        if baseline.joules_per_token is None or baseline.plan_saves_pct is None:
            continue
        saves_pct = round(100 * (1 - fleet.joules_per_token / baseline.joules_per_token), 2)
        if abs(saves_pct - baseline.plan_saves_pct) > 0.01:
            problems.append(
                f"summary: baseline {baseline.name!r} plan_saves_pct stated {baseline.plan_saves_pct:g}, recomputed {saves_pct:g}"
            )
    return problems


def validate_file(placement_path: Path, scenario_path: Path, store: Store, trace_files: Mapping[str, Path] | None = None) -> list[str]:
    return check_placement(read_placement(placement_path), scenario_path, store, trace_files)
