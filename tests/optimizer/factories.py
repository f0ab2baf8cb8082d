"""Small synthetic problems for solver tests (not measurements: they exercise the algebra)."""

from __future__ import annotations

from typing import Any

import numpy as np

from optimizer.candidates import Candidate, WorkloadSpec
from optimizer.operating_point import OperatingPoint
from optimizer.problem import PlanProblem, SiteSpec


def point(
    hardware: str,
    tok_s: float,
    power_w: float,
    peak_w: float | None = None,
    model: str = "m",
    load: int = 16,
    tpot_ms: float = 10.0,
    ttft_ms: float | None = 100.0,
    gpus: int = 1,
    prompt: int = 512,
    output: int = 128,
    measurement_id: int = 0,
) -> OperatingPoint:
    return OperatingPoint(
        measurement_id=measurement_id,
        source="synthetic",
        source_key=f"{hardware}-{load}-{measurement_id}",
        model=model,
        hardware=hardware,
        runtime="graph",
        gpus_per_replica=gpus,
        load=load,
        prompt_tokens=prompt,
        output_tokens=output,
        tok_s=tok_s,
        power_w=power_w,
        peak_power_w=peak_w if peak_w is not None else power_w,
        ttft_ms=ttft_ms,
        ttft_stat="p95" if ttft_ms is not None else None,
        tpot_ms=tpot_ms,
        tpot_stat="p95",
        prefill_energy_estimated=False,
        peak_power_estimated=False,
    )


def workload(name: str = "w", demand: float = 1000.0, tpot: float | None = 50.0, ttft: float | None = None,
             model: str = "m", min_sites: int = 1) -> WorkloadSpec:
    return WorkloadSpec(name=name, model=model, demand_tok_s=demand, prompt_tokens=512, output_tokens=128,
                        ttft_slo_ms=ttft, tpot_slo_ms=tpot, slo_statistic="p95", min_sites=min_sites)


def candidate(workload_name: str, op: OperatingPoint) -> Candidate:
    return Candidate(id=f"{op.hardware}/b{op.load}/{op.measurement_id}", workload=workload_name, point=op)


def site(name: str, budget_kw: float, inventory: dict[str, int], pue: float = 1.2,
         carbon: float = 300.0, usd_per_kwh: float = 0.1) -> SiteSpec:
    return SiteSpec(name=name, power_budget_w=budget_kw * 1000, pue=pue, carbon_g_per_kwh=carbon,
                    usd_per_kwh=usd_per_kwh, inventory=inventory)


def problem(workloads, candidates, sites, objective="energy", utilization=0.8,
            prices=None) -> PlanProblem:
    return PlanProblem(
        workloads=tuple(workloads),
        candidates=tuple(candidates),
        sites=tuple(sites),
        usd_per_gpu_hour=prices or {"A": 2.0, "B": 3.0, "C": 1.0},
        max_utilization=utilization,
        objective=objective,
    )


def held_arrays(highs: Any) -> dict[str, Any]:
    """The model a HiGHS object holds, as the arrays optimizer.highs.pulp_arrays builds: what PuLP's
    own hand-over gave HiGHS reads back through this, for comparison."""
    lp = highs.getLp()
    matrix = lp.a_matrix_
    return {
        "num_col": lp.num_col_,
        "num_row": lp.num_row_,
        "sense": int(lp.sense_),
        "offset": lp.offset_,
        "col_cost": np.asarray(lp.col_cost_),
        "col_lower": np.asarray(lp.col_lower_),
        "col_upper": np.asarray(lp.col_upper_),
        "row_lower": np.asarray(lp.row_lower_),
        "row_upper": np.asarray(lp.row_upper_),
        "format": int(matrix.format_),
        "start": np.asarray(matrix.start_),
        "index": np.asarray(matrix.index_),
        "value": np.asarray(matrix.value_),
        "integrality": np.asarray([int(kind) for kind in lp.integrality_], dtype=np.int8),
    }
