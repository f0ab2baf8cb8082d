"""Workloads no solve can tell apart, solved as one: a reduction before the MILP.

Two workloads of one model with the same candidates (configuration, tok/s, power and peak power
alike: same lengths, SLOs that keep the same configurations) whose configurations no other
workload uses are interchangeable on shared replicas, so the model may as well see one workload
with their summed demand, whose replicas are then plain covering columns. The shared model of
the same fleet had HiGHS at a 1.85 % gap after 10 s where the merged one is proven within 0.5 %
in about 2 s (benchmarks/plan_scaling.py --workloads-per-model 2, README). Each group's load is
split back over the workloads in proportion to their demands.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from optimizer.candidates import Candidate, WorkloadSpec, configuration_id
from optimizer.problem import PlanProblem, ReplicaGroup, Share, Solution

Figures = tuple[str, float, float, float, float | None]


def _figures(candidate: Candidate) -> Figures:
    return (configuration_id(candidate), candidate.tok_s, candidate.power_w, candidate.peak_power_w, candidate.max_utilization)


def interchangeable(problem: PlanProblem) -> list[tuple[WorkloadSpec, ...]]:
    """Classes of two or more workloads to merge, in the problem's workload order."""
    by_workload: dict[str, list[Candidate]] = defaultdict(list)
    for candidate in problem.candidates:
        by_workload[candidate.workload].append(candidate)
    classes: dict[tuple[object, ...], list[WorkloadSpec]] = defaultdict(list)
    for workload in problem.workloads:
        if workload.min_sites == 1 and by_workload[workload.name]:
            key = (workload.model, workload.sites, tuple(sorted(_figures(c) for c in by_workload[workload.name])))
            classes[key].append(workload)
    users: dict[str, set[str]] = defaultdict(set)
    for candidate in problem.candidates:
        users[configuration_id(candidate)].add(candidate.workload)
    found = []
    for members in classes.values():
        names = {w.name for w in members}
        configs = {configuration_id(c) for w in members for c in by_workload[w.name]}
        if len(members) > 1 and all(users[config] <= names for config in configs):
            found.append(tuple(members))
    return found


def merged_problem(problem: PlanProblem, classes: Sequence[tuple[WorkloadSpec, ...]]) -> PlanProblem:
    """Each class as its first workload carrying the class's demand."""
    dropped = {w.name for members in classes for w in members[1:]}
    demand = {members[0].name: sum(w.demand_tok_s for w in members) for members in classes}
    workloads = tuple(
        replace(w, demand_tok_s=demand.get(w.name, w.demand_tok_s)) for w in problem.workloads if w.name not in dropped
    )
    return replace(problem, workloads=workloads, candidates=tuple(c for c in problem.candidates if c.workload not in dropped))


def _counterparts(problem: PlanProblem) -> Callable[[str, str, str], str | None]:
    """For (workload, candidate id, other workload): the other workload's candidate with the same
    configuration and figures, if it has one."""
    ids: dict[tuple[str, Figures], str] = {(c.workload, _figures(c)): c.id for c in problem.candidates}
    figures = {(c.workload, c.id): _figures(c) for c in problem.candidates}

    def counterpart(workload: str, candidate_id: str, other: str) -> str | None:
        shape = figures.get((workload, candidate_id))
        return None if shape is None else ids.get((other, shape))

    return counterpart


def split_back(problem: PlanProblem, classes: Sequence[tuple[WorkloadSpec, ...]], solution: Solution) -> Solution:
    """The merged solve's groups with each class's load split over its workloads by demand;
    `unshared` is dropped (in the merged problem it shares replicas within a class)."""
    counterpart = _counterparts(problem)
    members: Mapping[str, tuple[WorkloadSpec, ...]] = {m[0].name: m for m in classes}
    groups = []
    for group in solution.groups:
        shares: list[Share] = []
        for share in group.shares:
            together = members.get(share.workload)
            if together is None:
                shares.append(share)
                continue
            total = sum(w.demand_tok_s for w in together)
            for w in together:
                # a class is made of workloads with the same candidates: each has this one's twin
                twin = counterpart(share.workload, share.candidate_id, w.name)
                assert twin is not None
                shares.append(Share(w.name, twin, share.tok_s * w.demand_tok_s / total))
        serves_several = len({share.workload for share in shares}) > 1
        groups.append(ReplicaGroup(group.site, group.configuration, group.replicas, tuple(shares), group.shared or serves_several))
    return replace(solution, groups=tuple(groups), unshared=None)


def merged_start(classes: Sequence[tuple[WorkloadSpec, ...]], start_from: Solution, problem: PlanProblem) -> Solution:
    """A solution of the original problem in the merged problem's workloads."""
    first = {w.name: members[0].name for members in classes for w in members}
    counterpart = _counterparts(problem)
    groups = []
    for group in start_from.groups:
        loads: dict[tuple[str, str], float] = defaultdict(float)
        for share in group.shares:
            name = first.get(share.workload, share.workload)
            loads[(name, counterpart(share.workload, share.candidate_id, name) or share.candidate_id)] += share.tok_s
        shares = tuple(Share(name, candidate_id, tok_s) for (name, candidate_id), tok_s in loads.items())
        groups.append(replace(group, shares=shares, shared=group.shared and len(shares) > 1))
    return replace(start_from, groups=tuple(groups))
