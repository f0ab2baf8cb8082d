"""`planner validate`: re-check a placement file against its scenario and the Store's data.

Candidates are rebuilt from the Store without dominance pruning, so any measured configuration
that meets the SLO is accepted, and each row's figures must match what the Store says.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from models import Store, load_catalog
from optimizer.candidates import build_candidates, candidates_by_key
from planner.formats.placement import Placement, read_placement
from planner.formats.scenario import load_scenario
from planner.planning import site_specs, workload_specs
from planner.stored_points import usable_operating_points

RELATIVE_TOLERANCE = 1e-6


def _close(a: float, b: float, tolerance: float = RELATIVE_TOLERANCE) -> bool:
    return abs(a - b) <= tolerance * max(1.0, abs(a), abs(b))


def check_placement(placement: Placement, scenario_path: Path, store: Store) -> list[str]:
    """Every violated rule, in words; an empty list means the placement holds."""
    catalog = load_catalog()
    scenario, digest = load_scenario(scenario_path, catalog)
    problems: list[str] = []
    if placement.scenario.sha256 != digest:
        problems.append(f"the placement was planned for another version of {scenario_path} (sha256 differs)")
    if placement.status == "infeasible":
        return problems + ["the placement is infeasible: " + "; ".join(placement.reasons)]
    workloads = {w.name: w for w in workload_specs(scenario)}
    sites = {s.name: s for s in site_specs(scenario)}
    candidate_set = build_candidates(list(workloads.values()), usable_operating_points(store), prune=False)
    candidates = candidates_by_key(candidate_set.candidates)
    served: dict[str, float] = defaultdict(float)
    sites_used: dict[str, set[str]] = defaultdict(set)
    gpus_used: dict[tuple[str, str], int] = defaultdict(int)
    peak_w: dict[str, float] = defaultdict(float)
    for number, row in enumerate(placement.placements, start=1):
        where = f"placement row {number} ({row.site}, {row.workload})"
        if row.workload not in workloads:
            problems.append(f"{where}: workload {row.workload!r} is not in the scenario")
            continue
        if row.site not in sites:
            problems.append(f"{where}: site {row.site!r} is not in the scenario")
            continue
        candidate = candidates.get((row.workload, row.candidate))
        if candidate is None:
            problems.append(
                f"{where}: candidate {row.candidate} is not a measured configuration meeting this workload's SLO in the Store"
            )
            continue
        for name, stated, actual in (
            ("replica_tokens_per_s", row.replica_tokens_per_s, candidate.tok_s),
            ("replica_power_w", row.replica_power_w, candidate.power_w),
            ("replica_peak_power_w", row.replica_peak_power_w, candidate.peak_power_w),
        ):
            if not _close(stated, actual):
                problems.append(f"{where}: {name} {stated:g} differs from the Store's {actual:g}")
        if row.gpus != row.replicas * candidate.gpus_per_replica:
            problems.append(f"{where}: gpus {row.gpus} != replicas {row.replicas} x {candidate.gpus_per_replica}")
        capacity = placement.max_utilization * candidate.tok_s * row.replicas
        if row.tokens_per_s > capacity * (1 + RELATIVE_TOLERANCE):
            problems.append(f"{where}: serves {row.tokens_per_s:g} tok/s, above {capacity:g} at max_utilization")
        served[row.workload] += row.tokens_per_s
        sites_used[row.workload].add(row.site)
        gpus_used[(row.site, candidate.hardware)] += row.replicas * candidate.gpus_per_replica
        peak_w[row.site] += sites[row.site].pue * candidate.peak_power_w * row.replicas
    for name, workload in workloads.items():
        if not _close(served[name], workload.demand_tok_s, 1e-4):
            problems.append(f"workload {name}: serves {served[name]:g} tok/s of a demand of {workload.demand_tok_s:g}")
        if len(sites_used[name]) < workload.min_sites:
            problems.append(f"workload {name}: served at {len(sites_used[name])} sites, min_sites is {workload.min_sites}")
    for (site_name, hardware), used in sorted(gpus_used.items()):
        have = sites[site_name].inventory.get(hardware, 0)
        if used > have:
            problems.append(f"site {site_name}: uses {used} {hardware} of {have}")
    for site_name, used_w in sorted(peak_w.items()):
        budget_w = sites[site_name].power_budget_w
        if used_w > budget_w * (1 + RELATIVE_TOLERANCE):
            problems.append(f"site {site_name}: peak facility power {used_w / 1000:.2f} kW above its {budget_w / 1000:g} kW budget")
    return problems


def validate_file(placement_path: Path, scenario_path: Path, store: Store) -> list[str]:
    return check_placement(read_placement(placement_path), scenario_path, store)
