"""Operating points -> candidates for each workload: length match, SLO filter, dominance pruning.

A candidate is one replica configuration serving one workload end to end. Pruning is only
ever among candidates of one (workload, hardware, gpus_per_replica): there one candidate with
no less throughput, no more average or peak power and no worse latency than another makes the
other useless to every objective and every constraint of the MILP.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from optimizer.operating_point import OperatingPoint

STATISTIC_STRICTNESS = {"mean": 0, "p50": 0, "p90": 1, "p95": 2, "p99": 3}
"""A measured statistic verifies an SLO on one at most as strict (a mean says nothing of p95)."""
DEFAULT_LENGTH_TOLERANCE = 0.25


@dataclass(frozen=True)
class WorkloadSpec:
    name: str
    model: str
    demand_tok_s: float
    prompt_tokens: int
    output_tokens: int
    ttft_slo_ms: float | None
    tpot_slo_ms: float | None
    slo_statistic: str
    min_sites: int = 1
    profile: str | None = None
    """A published task (chat, code) whose measurements, taken at that task's own prompt and
    output lengths, this workload accepts."""
    sites: frozenset[str] | None = None
    """The only sites that may serve it; None: any."""

    def may_use(self, site: str) -> bool:
        return self.sites is None or site in self.sites


FlagKind = Literal[
    "ttft_unverified",
    "slo_statistic_unverified",
    "prefill_energy_estimated",
    "peak_power_estimated",
    "measured_on_task",
    "measured_lengths",
    "lengths_derived",
]


@dataclass(frozen=True)
class Flag:
    """Something a candidate's data does not show; `detail` says what was measured instead."""

    kind: FlagKind
    detail: str = ""


@dataclass(frozen=True)
class Candidate:
    """One replica configuration for one workload, with what the data does not show."""

    id: str
    workload: str
    point: OperatingPoint
    flags: tuple[Flag, ...] = ()

    @property
    def hardware(self) -> str:
        return self.point.hardware

    @property
    def gpus_per_replica(self) -> int:
        return self.point.gpus_per_replica

    max_utilization: float | None = None
    """A cap of its own (found by simulating its workload's traffic, planner/utilization_caps.py);
    None: the problem's `max_utilization`."""

    @property
    def tok_s(self) -> float:
        return self.point.tok_s

    @property
    def power_w(self) -> float:
        return self.point.power_w

    @property
    def peak_power_w(self) -> float:
        return self.point.peak_power_w


@dataclass(frozen=True)
class CandidateSet:
    candidates: tuple[Candidate, ...]
    pruned: Mapping[str, int] = field(default_factory=dict)
    """How many operating points were left out, by reason."""
    unserved: Mapping[str, str] = field(default_factory=dict)
    """Workloads with no candidate left, and why (the closest miss)."""


def candidates_by_key(candidates: Sequence[Candidate]) -> dict[tuple[str, str], Candidate]:
    """Candidates by (workload, id): one measurement gives a candidate to several workloads."""
    return {(c.workload, c.id): c for c in candidates}


def candidate_id(point: OperatingPoint) -> str:
    """Stable across Stores: built from the measurement's source, not its row id."""
    digest = hashlib.sha256(f"{point.source}\x1f{point.source_key}".encode()).hexdigest()[:8]
    return (
        f"{point.hardware}/{point.runtime}/g{point.gpus_per_replica}/b{point.load}"
        f"/{point.workload_profile or f'p{point.prompt_tokens}'}o{point.output_tokens}/{digest}"
    )


def configuration_id(candidate: Candidate) -> str:
    """What replicas of one configuration share, whichever workload's requests they run."""
    point = candidate.point
    return f"{point.model}/{point.hardware}/{point.runtime}/g{point.gpus_per_replica}/b{point.load}"


def length_distance(point: OperatingPoint, workload: WorkloadSpec) -> float:
    """Relative prompt plus relative output difference (a task measurement's prompt counts as 0)."""
    prompt = 0.0 if point.prompt_tokens is None else abs(point.prompt_tokens - workload.prompt_tokens) / workload.prompt_tokens
    return prompt + abs(point.output_tokens - workload.output_tokens) / workload.output_tokens


def serves(point: OperatingPoint, workload: WorkloadSpec, tolerance: float = DEFAULT_LENGTH_TOLERANCE) -> bool:
    """A task-profile measurement serves workloads of that profile; a point derived for other
    lengths, workloads of exactly those; any other, workloads whose prompt and output lengths are
    within the tolerance of its own."""
    if point.workload_profile is not None:
        return point.workload_profile == workload.profile
    if point.lengths_from is not None:
        return (point.prompt_tokens, point.output_tokens) == (workload.prompt_tokens, workload.output_tokens)
    return (
        point.prompt_tokens is not None
        and abs(point.prompt_tokens - workload.prompt_tokens) <= tolerance * workload.prompt_tokens
        and abs(point.output_tokens - workload.output_tokens) <= tolerance * workload.output_tokens
    )


def _closest_lengths(points: list[OperatingPoint], workload: WorkloadSpec) -> list[OperatingPoint]:
    """Of several measurements of one configuration at different lengths, those at the closest
    lengths: every one of them (repeats, other sources, other energy scopes) stays a candidate,
    and dominance pruning, which says so, decides between them."""
    nearest: dict[tuple[str, str, int, int], float] = {}
    for point in points:
        key = (point.hardware, point.runtime, point.gpus_per_replica, point.load)
        nearest[key] = min(nearest.get(key, float("inf")), length_distance(point, workload))
    return [
        point
        for point in points
        if length_distance(point, workload) <= nearest[(point.hardware, point.runtime, point.gpus_per_replica, point.load)]
    ]


def _flags(point: OperatingPoint, workload: WorkloadSpec) -> tuple[Flag, ...]:
    flags = []
    if workload.ttft_slo_ms is not None and point.ttft_ms is None:
        flags.append(Flag("ttft_unverified"))
    measured_strictness = min(
        STATISTIC_STRICTNESS[stat] for stat in (point.tpot_stat, point.ttft_stat or point.tpot_stat)
    )
    if measured_strictness < STATISTIC_STRICTNESS[workload.slo_statistic]:
        flags.append(Flag("slo_statistic_unverified", f"measured {point.tpot_stat}, SLO is {workload.slo_statistic}"))
    if point.prefill_energy_estimated:
        flags.append(Flag("prefill_energy_estimated"))
    if point.peak_power_estimated:
        flags.append(Flag("peak_power_estimated"))
    if point.workload_profile is not None:
        flags.append(
            Flag("measured_on_task", f"{point.workload_profile} (its own prompts, mean output {point.output_tokens} tokens)")
        )
    elif point.lengths_from is not None:
        measured = point.lengths_from.measured
        flags.append(Flag("lengths_derived", f"from prompt {measured.prompt_tokens}, output {measured.output_tokens} ({point.lengths_from.basis})"))
    elif (point.prompt_tokens, point.output_tokens) != (workload.prompt_tokens, workload.output_tokens):
        flags.append(Flag("measured_lengths", f"prompt {point.prompt_tokens}, output {point.output_tokens}"))
    return tuple(flags)


def _dominates(better: Candidate, worse: Candidate) -> bool:
    a, b = better.point, worse.point
    no_worse = (
        a.tok_s >= b.tok_s
        and a.power_w <= b.power_w
        and a.peak_power_w <= b.peak_power_w
        and a.tpot_ms <= b.tpot_ms
        and (b.ttft_ms is None or (a.ttft_ms is not None and a.ttft_ms <= b.ttft_ms))
    )
    strictly = (a.tok_s, -a.power_w, -a.peak_power_w, -a.tpot_ms) != (b.tok_s, -b.power_w, -b.peak_power_w, -b.tpot_ms)
    return no_worse and (strictly or a.measurement_id < b.measurement_id)


def _prune_dominated(candidates: list[Candidate]) -> tuple[list[Candidate], int]:
    """Among candidates no other workload can share a replica with: a candidate whose replicas may
    also carry another workload's load is worth keeping even when another serves its own
    workload better."""
    workloads_of: dict[str, set[str]] = defaultdict(set)
    for candidate in candidates:
        workloads_of[configuration_id(candidate)].add(candidate.workload)
    groups: dict[tuple[str, str, int], list[Candidate]] = defaultdict(list)
    kept: list[Candidate] = []
    for candidate in candidates:
        if len(workloads_of[configuration_id(candidate)]) > 1:
            kept.append(candidate)
        else:
            groups[(candidate.workload, candidate.hardware, candidate.gpus_per_replica)].append(candidate)
    for group in groups.values():
        kept.extend(c for c in group if not any(other is not c and _dominates(other, c) for other in group))
    return kept, len(candidates) - len(kept)


def build_candidates(
    workloads: Sequence[WorkloadSpec],
    points: Sequence[OperatingPoint],
    length_tolerance: float = DEFAULT_LENGTH_TOLERANCE,
    prune: bool = True,
) -> CandidateSet:
    """Every usable candidate per workload, and what was left out and why."""
    pruned: Counter[str] = Counter()
    unserved: dict[str, str] = {}
    candidates: list[Candidate] = []
    for workload in workloads:
        of_model = [point for point in points if point.model == workload.model]
        serving = [p for p in of_model if serves(p, workload, length_tolerance)]
        matched = _closest_lengths(serving, workload)
        pruned["measured at other prompt/output lengths or on another task"] += len(of_model) - len(serving)
        pruned["its configuration measured nearer to the workload's lengths"] += len(serving) - len(matched)
        passing = []
        for point in matched:
            if workload.tpot_slo_ms is not None and point.tpot_ms > workload.tpot_slo_ms:
                pruned["misses the TPOT SLO"] += 1
            elif workload.ttft_slo_ms is not None and point.ttft_ms is not None and point.ttft_ms > workload.ttft_slo_ms:
                pruned["misses the TTFT SLO"] += 1
            else:
                passing.append(Candidate(candidate_id(point), workload.name, point, _flags(point, workload)))
        if not passing:
            unserved[workload.name] = _why_unserved(workload, of_model, matched)
        candidates.extend(passing)
    if prune:
        candidates, dominated = _prune_dominated(candidates)
        pruned["dominated within its (workload, hardware, gpus per replica)"] += dominated
    ordered = tuple(sorted(candidates, key=lambda c: (c.workload, c.id)))
    return CandidateSet(ordered, {reason: count for reason, count in pruned.items() if count}, unserved)


def _why_unserved(workload: WorkloadSpec, of_model: list[OperatingPoint], matched: list[OperatingPoint]) -> str:
    if not of_model:
        return f"no usable measurement of {workload.model}"
    if not matched:
        measured = sorted({p.workload_profile or f"{p.prompt_tokens}/{p.output_tokens}" for p in of_model})
        return (
            f"no measurement of {workload.model} near prompt {workload.prompt_tokens} / output "
            f"{workload.output_tokens} tokens{f' or on task {workload.profile}' if workload.profile else ''} "
            f"(measured: {', '.join(measured)}; a published task is used by a workload with `profile:`, and a scenario's "
            "`derive_lengths: true` moves measurements with their phases apart to these lengths)"
        )
    fastest = min(matched, key=lambda p: p.tpot_ms)
    if workload.tpot_slo_ms is not None and fastest.tpot_ms > workload.tpot_slo_ms:
        return (
            f"no measured configuration of {workload.model} meets TPOT {workload.tpot_slo_ms:g} ms; "
            f"fastest is {fastest.tpot_ms:.1f} ms on {fastest.hardware} ({fastest.runtime}, batch {fastest.load})"
        )
    quickest = min((p for p in matched if p.ttft_ms is not None), key=lambda p: p.ttft_ms or 0.0)
    return (
        f"no measured configuration of {workload.model} meets TTFT {workload.ttft_slo_ms:g} ms within TPOT "
        f"{workload.tpot_slo_ms} ms; quickest first token is {quickest.ttft_ms:.0f} ms on {quickest.hardware}"
    )
