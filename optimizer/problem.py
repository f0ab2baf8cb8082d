"""The optimizer's records: what a placement problem holds, how to solve it, and what comes back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from optimizer.candidates import Candidate, WorkloadSpec

Objective = Literal["energy", "cost", "carbon", "gpus"]
OBJECTIVE_ORDER: tuple[Objective, ...] = ("energy", "cost", "carbon")
Status = Literal["optimal", "feasible", "infeasible", "no_solution"]


@dataclass(frozen=True)
class SiteSpec:
    name: str
    power_budget_w: float
    pue: float
    carbon_g_per_kwh: float | None
    """None: not given; the carbon figures of a plan using this site are left out."""
    usd_per_kwh: float | None
    """None: not given; the dollar figures of a plan using this site are left out."""
    inventory: Mapping[str, int]
    usd_per_gpu_hour: Mapping[str, float] = field(default_factory=dict)
    """What this site pays per GPU-hour, where it differs from the problem's price."""

    def gpu_hour_usd(self, hardware: str, default: Mapping[str, float]) -> float:
        return self.usd_per_gpu_hour.get(hardware, default.get(hardware, 0.0))


@dataclass(frozen=True)
class PlanProblem:
    workloads: tuple[WorkloadSpec, ...]
    candidates: tuple[Candidate, ...]
    sites: tuple[SiteSpec, ...]
    usd_per_gpu_hour: Mapping[str, float]
    max_utilization: float = 0.8
    objective: Objective = "energy"
    share_replicas: bool = True
    """Let a replica configuration serve every workload of its model it can (optimizer/replica_groups.py)."""

    def planned_tok_s(self, candidate: Candidate) -> float:
        """What one replica of `candidate` is planned to carry: its cap (or the problem's) of its tok/s."""
        cap = self.max_utilization if candidate.max_utilization is None else candidate.max_utilization
        return cap * candidate.tok_s

    def restricted(self, keep: Sequence[Candidate]) -> PlanProblem:
        return replace(self, candidates=tuple(keep))

    def with_site(self, site: SiteSpec) -> PlanProblem:
        """The same problem with one site (matched by name) replaced."""
        return replace(self, sites=tuple(site if s.name == site.name else s for s in self.sites))


@dataclass(frozen=True)
class SolveOptions:
    time_limit_s: float | None = None
    gap_rel: float = 1e-3
    tie_break: bool = True
    seed: int = 0
    warm_start: bool = True
    presolve: bool = True
    against_unshared: bool = True
    """Where sharing can cost a workload more than running alone, also solve without sharing and
    keep the better (optimizer/solve.py); a re-solve of a plan that shared already knows which won."""


@dataclass(frozen=True)
class Share:
    """The load one workload puts on a replica group, through its candidate in that configuration."""

    workload: str
    candidate_id: str
    tok_s: float


@dataclass(frozen=True)
class ReplicaGroup:
    """Replicas of one configuration at one site and the workloads they serve."""

    site: str
    configuration: str
    replicas: int
    shares: tuple[Share, ...]
    shared: bool = False
    """Replicas that may carry several workloads' loads (optimizer/replica_groups.py's
    accounting); False: replicas of one candidate, charged its own figures."""

    @property
    def tok_s(self) -> float:
        return sum(share.tok_s for share in self.shares)


@dataclass(frozen=True)
class Solution:
    status: Status
    groups: tuple[ReplicaGroup, ...] = ()
    objective_value: float | None = None
    gap: float | None = None
    build_s: float = 0.0
    solve_s: float = 0.0
    solver: str = "HiGHS"
    unshared: Solution | None = None
    """Where replicas could be shared: the plan solved without sharing, for comparison."""

    @property
    def has_solution(self) -> bool:
        return self.status in ("optimal", "feasible")
