"""Replica groups: one replica configuration serving every workload of its model that it can.

A configuration is (model, hardware, runtime, GPUs per replica, batch). Each workload's
candidate in it says how fast (T_c) and at what power a replica runs that workload's requests.
A vLLM replica serves whatever requests of its model arrive, so a configuration measured for
two or more workloads is *shared*: its replicas carry loads x_c of several candidates, each
taking x_c / (u T_c) of a replica's capacity (Mélange's load model).

What a group is charged per hour (energy, cost, carbon, peak power) is linear in its replicas n
and loads x: each replica at the highest figure among its members (the ceiling), and each
replica-equivalent of load of candidate c credited (figure_c - ceiling). Full replicas are so
charged exactly their mix of members; capacity left unused is charged at the ceiling, never
less than what it will draw, and a configuration with one member is charged n x its figure, as
before sharing. Where a workload alone would draw less than the ceiling, a plan without sharing
can be the better one: optimizer/solve.py solves both and keeps the better (giving members
replicas of their own inside one model made HiGHS 50-150x slower on small problems).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from optimizer.candidates import Candidate, configuration_id
from optimizer.problem import Objective, PlanProblem, ReplicaGroup, SiteSpec

Quantity = Objective | Literal["it_w", "facility_peak_w"]
OBJECTIVE_QUANTITIES: tuple[Objective, ...] = ("energy", "cost", "carbon", "gpus")


@dataclass(frozen=True)
class Configuration:
    id: str
    members: tuple[Candidate, ...]
    """Every candidate measured in this configuration; one alone when it is not shared."""

    # cached: the formulation asks each once per site (770,000 times on XL)
    @cached_property
    def shared(self) -> bool:
        return len({c.workload for c in self.members}) > 1

    @cached_property
    def uniform(self) -> bool:
        """Every member draws the same average and peak power: no ceiling to pay, so the
        group charges any mix exactly what its members would alone."""
        return len({(c.power_w, c.peak_power_w) for c in self.members}) == 1

    @cached_property
    def hardware(self) -> str:
        return self.members[0].hardware

    @cached_property
    def gpus_per_replica(self) -> int:
        return self.members[0].gpus_per_replica


def configurations(candidates: Sequence[Candidate], share: bool = True) -> tuple[Configuration, ...]:
    """A shared configuration per configuration with candidates of two or more workloads; every
    other candidate a configuration of its own, in the candidates' order (so a problem with
    nothing shared keeps its columns, in their order)."""
    by_id: dict[str, list[Candidate]] = defaultdict(list)
    for candidate in candidates:
        by_id[configuration_id(candidate)].append(candidate)
    found: list[Configuration] = []
    emitted: set[str] = set()
    for candidate in candidates:
        together = Configuration(configuration_id(candidate), tuple(by_id[configuration_id(candidate)]))
        if not (share and together.shared):
            found.append(Configuration(together.id, (candidate,)))
        elif together.id not in emitted:
            emitted.add(together.id)
            found.append(together)
    return tuple(found)


def replica_terms(problem: PlanProblem, candidate: Candidate, site: SiteSpec) -> dict[Quantity, float]:
    """What one replica of `candidate` at `site` adds per hour (W for power and energy). A price
    or carbon intensity the site does not give counts 0 here (the scenario requires it where it
    is the objective; as a tie-break it then breaks no tie)."""
    facility_kw = site.pue * candidate.power_w / 1000
    return {
        "energy": site.pue * candidate.power_w,
        "cost": candidate.gpus_per_replica * site.gpu_hour_usd(candidate.hardware, problem.usd_per_gpu_hour)
        + facility_kw * (site.usd_per_kwh or 0.0),
        "carbon": facility_kw * (site.carbon_g_per_kwh or 0.0),
        "gpus": float(candidate.gpus_per_replica),
        "it_w": candidate.power_w,
        "facility_peak_w": site.pue * candidate.peak_power_w,
    }


@dataclass(frozen=True)
class GroupCharges:
    per_replica: Mapping[Quantity, float]
    """The ceiling: the highest figure among the members, per replica."""
    per_tok_s: Mapping[tuple[str, str], Mapping[Quantity, float]]
    """By (workload, candidate id): the credit (<= 0) per token/s of that member's load."""

    def total(self, group: ReplicaGroup) -> dict[Quantity, float]:
        """Each quantity for a group as planned: the formulation's accounting, evaluated."""
        totals = {q: group.replicas * value for q, value in self.per_replica.items()}
        for share in group.shares:
            for q, credit in self.per_tok_s[(share.workload, share.candidate_id)].items():
                totals[q] += credit * share.tok_s
        return totals


def group_charges(problem: PlanProblem, members: Sequence[Candidate], site: SiteSpec) -> GroupCharges:
    terms = {(c.workload, c.id): (c, replica_terms(problem, c, site)) for c in members}
    quantities: tuple[Quantity, ...] = ("energy", "cost", "carbon", "gpus", "it_w", "facility_peak_w")
    ceiling = {q: max(values[q] for _, values in terms.values()) for q in quantities}
    credits = {
        key: {q: (values[q] - ceiling[q]) / problem.planned_tok_s(c) for q in quantities}
        for key, (c, values) in terms.items()
    }
    return GroupCharges(ceiling, credits)


def charged(problem: PlanProblem, members: Sequence[Candidate], group: ReplicaGroup, site: SiteSpec) -> dict[Quantity, float]:
    """Each quantity for a group as planned."""
    return group_charges(problem, members, site).total(group)


def members_by_group(problem: PlanProblem) -> Mapping[str, tuple[Candidate, ...]]:
    """The members of each shared configuration of the problem, by configuration id."""
    return {c.id: c.members for c in configurations(problem.candidates, problem.share_replicas) if c.shared}


def members_of(group: ReplicaGroup, shared: Mapping[str, tuple[Candidate, ...]], candidates: Mapping[tuple[str, str], Candidate]) -> tuple[Candidate, ...]:
    """A shared group answers to all its configuration's members; any other to its one candidate."""
    if group.shared:
        return shared[group.configuration]
    return tuple(candidates[(share.workload, share.candidate_id)] for share in group.shares[:1])
