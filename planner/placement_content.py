"""The placement file's content built from a plan's records: one row per assignment, the summary,
and the scenario's sites and workloads echoed (`plan` writes them, `validate` rebuilds them)."""

from __future__ import annotations

from collections.abc import Sequence

from optimizer.candidates import candidates_by_key
from optimizer.metrics import FleetSummary
from optimizer.problem import Assignment, PlanProblem
from planner.formats.placement import BaselineEntry, PlacementRow, SiteEcho, Summary, WorkloadEcho
from planner.formats.scenario import Scenario
from planner.wording import describe_flag


def placement_rows(problem: PlanProblem, assignments: Sequence[Assignment]) -> list[PlacementRow]:
    """One placement-file row per assignment, every figure from the candidate it names."""
    candidates = candidates_by_key(problem.candidates)
    models = {w.name: w.model for w in problem.workloads}
    rows = []
    for a in assignments:
        c = candidates[(a.workload, a.candidate_id)]
        point = c.point
        rows.append(
            PlacementRow(
                site=a.site,
                workload=a.workload,
                model=models[a.workload],
                hardware=c.hardware,
                candidate=c.id,
                config={"runtime": point.runtime, "batch": point.load, "gpus_per_replica": c.gpus_per_replica},
                replicas=a.replicas,
                gpus=a.replicas * c.gpus_per_replica,
                tokens_per_s=a.tok_s,
                utilization=a.tok_s / (a.replicas * c.tok_s),
                power_w=a.replicas * c.power_w,
                peak_power_w=a.replicas * c.peak_power_w,
                joules_per_token=c.power_w / c.tok_s,
                replica_tokens_per_s=c.tok_s,
                replica_power_w=c.power_w,
                replica_peak_power_w=c.peak_power_w,
                ttft_ms=point.ttft_ms,
                ttft_statistic=point.ttft_stat,
                tpot_ms=point.tpot_ms,
                tpot_statistic=point.tpot_stat,
                source=f"{point.source} [{point.source_key}]",
                flags=[describe_flag(flag) for flag in c.flags],
            )
        )
    return rows


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
        )
        for w in problem.workloads
    ]
