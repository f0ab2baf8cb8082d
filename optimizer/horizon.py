"""Figures of a schedule over its horizon, recomputed from the replica groups of each interval
(never read from the solver): energy, dollars and CO2, starts, and each site's power per interval."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from optimizer.candidates import candidates_by_key
from optimizer.metrics import FleetSummary, summarize
from optimizer.problem import PlanProblem, ReplicaGroup
from optimizer.replica_groups import charged, members_by_group, members_of

JOULES_PER_KWH = 3.6e6
SECONDS_PER_HOUR = 3600.0
Running = Mapping[tuple[str, str], int]
"""Replicas by (configuration id, site)."""


@dataclass(frozen=True)
class IntervalFigures:
    fleet: FleetSummary
    starts: int
    """Replicas brought up at the start of the interval (weights loaded)."""
    start_facility_j: float
    start_usd: float | None
    start_g_co2: float | None
    site_power_w: Mapping[str, float]
    """Facility power charged per site (PUE included)."""
    site_peak_w: Mapping[str, float]
    load_scaled_facility_w: float
    """Each group charged its GPUs' idle power plus the rest of its charge in proportion to its
    load over the planned load (u x tok/s per replica): a floor under any power curve that is
    concave in load, as continuous batching's is. A replica at the planned load is charged as planned."""


@dataclass(frozen=True)
class HorizonFigures:
    intervals: tuple[IntervalFigures, ...]
    interval_h: float

    @property
    def energy_kwh(self) -> float:
        return sum(f.fleet.facility_power_w * self.interval_h / 1000 + f.start_facility_j / JOULES_PER_KWH for f in self.intervals)

    @property
    def load_scaled_energy_kwh(self) -> float:
        return sum(f.load_scaled_facility_w * self.interval_h / 1000 + f.start_facility_j / JOULES_PER_KWH for f in self.intervals)

    @property
    def usd(self) -> float | None:
        parts = [(f.fleet.usd_per_hour, f.start_usd) for f in self.intervals]
        if any(hourly is None or start is None for hourly, start in parts):
            return None
        return sum((hourly or 0.0) * self.interval_h + (start or 0.0) for hourly, start in parts)

    @property
    def kg_co2(self) -> float | None:
        parts = [(f.fleet.g_co2_per_hour, f.start_g_co2) for f in self.intervals]
        if any(hourly is None or start is None for hourly, start in parts):
            return None
        return sum((hourly or 0.0) * self.interval_h + (start or 0.0) for hourly, start in parts) / 1000

    @property
    def tokens(self) -> float:
        return sum(f.fleet.tok_s * self.interval_h * SECONDS_PER_HOUR for f in self.intervals)

    @property
    def joules_per_token(self) -> float:
        return self.energy_kwh * JOULES_PER_KWH / self.tokens if self.tokens else float("nan")

    @property
    def starts(self) -> int:
        return sum(f.starts for f in self.intervals)


class Placed(Protocol):
    """Replicas of a configuration at a site: a ReplicaGroup, or a placement file's row."""

    @property
    def configuration(self) -> str: ...
    @property
    def site(self) -> str: ...
    @property
    def replicas(self) -> int: ...


def running(groups: Sequence[Placed]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for group in groups:
        counts[(group.configuration, group.site)] += group.replicas
    return dict(counts)


def _load_scaled_w(problem: PlanProblem, groups: Sequence[ReplicaGroup], idle_w: Mapping[str, float]) -> float:
    candidates = candidates_by_key(problem.candidates)
    shared = members_by_group(problem)
    sites = {s.name: s for s in problem.sites}
    total = 0.0
    for group in groups:
        members = members_of(group, shared, candidates)
        site = sites[group.site]
        it_w = charged(problem, members, group, site)["it_w"]
        floor_w = group.replicas * members[0].gpus_per_replica * idle_w[members[0].hardware]
        planned = sum(s.tok_s / problem.planned_tok_s(candidates[(s.workload, s.candidate_id)]) for s in group.shares) / group.replicas
        total += site.pue * (floor_w + max(it_w - floor_w, 0.0) * min(planned, 1.0))
    return total


def horizon_figures(
    intervals: Sequence[PlanProblem],
    groups: Sequence[Sequence[ReplicaGroup]],
    interval_h: float,
    start_it_j: Mapping[str, float],
    idle_w: Mapping[str, float],
    initial: Running | None = None,
) -> HorizonFigures:
    """Each interval charged as a plan is (optimizer/metrics.py), plus the replicas it starts
    against the interval before (against `initial` for the first; none counted without it)."""
    figures = []
    before = initial
    for problem, interval_groups in zip(intervals, groups, strict=True):
        now = running(interval_groups)
        sites = {site.name: site for site in problem.sites}
        started = {key: max(count - before.get(key, 0), 0) for key, count in now.items()} if before is not None else {}
        start_j = {key: count * start_it_j[key[0]] * sites[key[1]].pue for key, count in started.items() if count}
        usd = carbon = 0.0
        priced = carbon_known = True
        for (_, site_name), joules in start_j.items():
            site = sites[site_name]
            priced = priced and site.usd_per_kwh is not None
            carbon_known = carbon_known and site.carbon_g_per_kwh is not None
            usd += joules / JOULES_PER_KWH * (site.usd_per_kwh or 0.0)
            carbon += joules / JOULES_PER_KWH * (site.carbon_g_per_kwh or 0.0)
        per_site = {name: summarize(problem, [g for g in interval_groups if g.site == name]) for name in sites}
        figures.append(
            IntervalFigures(
                fleet=summarize(problem, interval_groups),
                starts=sum(started.values()),
                start_facility_j=sum(start_j.values()),
                start_usd=usd if priced else None,
                start_g_co2=carbon if carbon_known else None,
                site_power_w={name: s.facility_power_w for name, s in per_site.items()},
                site_peak_w={name: s.peak_facility_power_w for name, s in per_site.items()},
                load_scaled_facility_w=_load_scaled_w(problem, interval_groups, idle_w),
            )
        )
        before = now
    return HorizonFigures(tuple(figures), interval_h)
