"""The placement file's content built from a plan's records: one row per replica group, the summary,
and the scenario's sites and workloads echoed (`plan` writes them, `validate` rebuilds them)."""

from __future__ import annotations

from collections.abc import Sequence

from optimizer.candidates import Candidate, candidates_by_key
from optimizer.metrics import FleetSummary
from optimizer.problem import PlanProblem, ReplicaGroup, Share
from optimizer.replica_groups import group_charges, members_by_group, members_of
from planner.formats.placement import BaselineEntry, PlacementRow, ServedShare, SiteEcho, Summary, WorkloadEcho
from planner.formats.scenario import Scenario
from planner.wording import describe_flag


def placement_rows(problem: PlanProblem, groups: Sequence[ReplicaGroup]) -> list[PlacementRow]:
    """One placement-file row per replica group, every figure from the candidates it names."""
    candidates = candidates_by_key(problem.candidates)
    shared = members_by_group(problem)
    sites = {s.name: s for s in problem.sites}
    rows = []
    for group in groups:
        members = members_of(group, shared, candidates)
        site = sites[group.site]
        charges = group_charges(problem, members, site)
        totals = charges.total(group)
        served = [(share, candidates[(share.workload, share.candidate_id)]) for share in group.shares]
        first = members[0].point
        rows.append(
            PlacementRow(
                site=group.site,
                model=first.model,
                hardware=first.hardware,
                configuration=group.configuration,
                config={"runtime": first.runtime, "batch": first.load, "gpus_per_replica": first.gpus_per_replica},
                shared=group.shared,
                replicas=group.replicas,
                gpus=group.replicas * first.gpus_per_replica,
                tokens_per_s=group.tok_s,
                utilization=sum(share.tok_s / c.tok_s for share, c in served) / group.replicas,
                power_w=totals["it_w"],
                peak_power_w=totals["facility_peak_w"] / site.pue,
                replica_power_w=charges.per_replica["it_w"],
                replica_peak_power_w=charges.per_replica["facility_peak_w"] / site.pue,
                serves=[_served(share, c) for share, c in served],
            )
        )
    return rows


def _served(share: Share, c: Candidate) -> ServedShare:
    point = c.point
    return ServedShare(
        workload=share.workload,
        candidate=c.id,
        tokens_per_s=share.tok_s,
        replica_tokens_per_s=c.tok_s,
        replica_power_w=c.power_w,
        replica_peak_power_w=c.peak_power_w,
        joules_per_token=c.power_w / c.tok_s,
        ttft_ms=point.ttft_ms,
        ttft_statistic=point.ttft_stat,
        tpot_ms=point.tpot_ms,
        tpot_statistic=point.tpot_stat,
        source=f"{point.source} [{point.source_key}]",
        flags=[describe_flag(flag) for flag in c.flags],
        max_utilization=c.max_utilization,
    )


def summary_entry(fleet: FleetSummary, gap: float | None, baselines: list[BaselineEntry]) -> Summary:
    return Summary(
        tokens_per_s=fleet.tok_s,
        replicas=fleet.replicas,
        gpus=fleet.gpus,
        it_power_kw=fleet.it_power_w / 1000,
        facility_power_kw=fleet.facility_power_w / 1000,
        peak_facility_power_kw=fleet.peak_facility_power_w / 1000,
        joules_per_token=fleet.joules_per_token,
        it_joules_per_token=fleet.it_joules_per_token,
        usd_per_hour=fleet.usd_per_hour,
        usd_per_million_tokens=fleet.usd_per_million_tokens,
        g_co2_per_million_tokens=fleet.g_co2_per_million_tokens,
        gap=gap,
        baselines=baselines,
    )


def site_echoes(scenario: Scenario) -> list[SiteEcho]:
    return [
        SiteEcho(
            name=s.name,
            power_budget_kw=s.power_budget_kw,
            pue=s.pue,
            carbon_g_per_kwh=s.carbon_g_per_kwh,
            usd_per_kwh=s.usd_per_kwh,
            inventory=dict(s.gpus),
        )
        for s in scenario.sites
    ]


def workload_echoes(problem: PlanProblem) -> list[WorkloadEcho]:
    return [
        WorkloadEcho(
            name=w.name,
            model=w.model,
            demand_tok_s=w.demand_tok_s,
            prompt_tokens=w.prompt_tokens,
            output_tokens=w.output_tokens,
            slo={"ttft_ms": w.ttft_slo_ms, "tpot_ms": w.tpot_slo_ms, "statistic": w.slo_statistic},
            min_sites=w.min_sites,
            profile=w.profile,
            sites=None if w.sites is None else sorted(w.sites),
        )
        for w in problem.workloads
    ]
