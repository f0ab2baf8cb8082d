"""Fleet figures of a set of replica groups: power, joules per token, dollars and CO2 per token."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from optimizer.candidates import candidates_by_key
from optimizer.problem import PlanProblem, ReplicaGroup
from optimizer.replica_groups import charged, members_by_group, members_of

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class FleetSummary:
    tok_s: float
    replicas: int
    gpus: int
    it_power_w: float
    facility_power_w: float
    peak_facility_power_w: float
    usd_per_hour: float | None
    """None where a site in use gives no usd_per_kwh: a partial sum would read as a whole one."""
    g_co2_per_hour: float | None
    """None where a site in use gives no carbon_g_per_kwh."""

    @property
    def joules_per_token(self) -> float:
        """Facility joules per output token (PUE included)."""
        return self.facility_power_w / self.tok_s if self.tok_s else float("nan")

    @property
    def it_joules_per_token(self) -> float:
        return self.it_power_w / self.tok_s if self.tok_s else float("nan")

    @property
    def usd_per_million_tokens(self) -> float | None:
        return _per_million_tokens(self.usd_per_hour, self.tok_s)

    @property
    def g_co2_per_million_tokens(self) -> float | None:
        return _per_million_tokens(self.g_co2_per_hour, self.tok_s)


def _per_million_tokens(per_hour: float | None, tok_s: float) -> float | None:
    if per_hour is None:
        return None
    return per_hour / (tok_s * SECONDS_PER_HOUR) * 1e6 if tok_s else float("nan")


def summarize(problem: PlanProblem, groups: Sequence[ReplicaGroup]) -> FleetSummary:
    """The fleet's figures, each group charged as the formulation charges it."""
    candidates = candidates_by_key(problem.candidates)
    shared = members_by_group(problem)
    sites = {s.name: s for s in problem.sites}
    totals = dict(tok_s=0.0, it=0.0, facility=0.0, peak=0.0, usd=0.0, co2=0.0)
    replicas = gpus = 0
    priced = carbon_known = True
    for group in groups:
        site = sites[group.site]
        members = members_of(group, shared, candidates)
        charges = charged(problem, members, group, site)
        totals["tok_s"] += group.tok_s
        totals["it"] += charges["it_w"]
        totals["facility"] += charges["energy"]
        totals["peak"] += charges["facility_peak_w"]
        totals["usd"] += charges["cost"]
        totals["co2"] += charges["carbon"]
        priced = priced and site.usd_per_kwh is not None
        carbon_known = carbon_known and site.carbon_g_per_kwh is not None
        replicas += group.replicas
        gpus += group.replicas * members[0].gpus_per_replica
    return FleetSummary(
        tok_s=totals["tok_s"],
        replicas=replicas,
        gpus=gpus,
        it_power_w=totals["it"],
        facility_power_w=totals["facility"],
        peak_facility_power_w=totals["peak"],
        usd_per_hour=totals["usd"] if priced else None,
        g_co2_per_hour=totals["co2"] if carbon_known else None,
    )
