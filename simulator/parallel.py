"""Workloads that share no replica are simulated apart, each group of them in its own process.

A router only ever looks at the replicas of the workload it routes, so a placement falls into
components (workloads joined by the replicas they share, and those replicas) that never touch:
simulated apart they give each request exactly what one simulation gives it (the power-of-two
router draws from one stream per component instead of one in all, so its choices differ, still
repeatable with the seed). The pieces run in a process pool of the standard library, forked,
where this process runs no other thread; in-process otherwise.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np

from simulator.serving import ReplicaSpec, RouterPolicy, SimulationResult, simulate
from simulator.traffic import Trace


def components(replicas: Sequence[ReplicaSpec], workloads: Sequence[str]) -> list[tuple[list[int], list[str]]]:
    """(replica indices, workloads) of each component, workloads in the order given."""
    parent = {name: name for name in workloads}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for spec in replicas:
        served = [name for name in spec.serves if name in parent]
        for other in served[1:]:
            parent[root(other)] = root(served[0])
    found: dict[str, tuple[list[int], list[str]]] = {}
    for name in workloads:
        found.setdefault(root(name), ([], []))[1].append(name)
    for index, spec in enumerate(replicas):
        served = [name for name in spec.serves if name in parent]
        if served:
            found[root(served[0])][0].append(index)
    return list(found.values())


def _part(args: tuple[list[ReplicaSpec], dict[str, Trace], RouterPolicy, int]) -> SimulationResult:
    return simulate(*args)


def simulate_apart(
    replicas: Sequence[ReplicaSpec],
    traces: Mapping[str, Trace],
    policy: RouterPolicy = "least_outstanding",
    seed: int = 0,
    processes: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> SimulationResult:
    """`simulate`, one component at a time, in up to `processes` processes (default: the cores);
    `progress` hears of each component's requests as it finishes (within one, as they arrive)."""
    parts = components(replicas, list(traces))
    if any(not indices for indices, _ in parts) or len(parts) == 1:
        return simulate(replicas, traces, policy, seed, progress)  # it names any workload no replica serves
    work = [([replicas[i] for i in indices], {name: traces[name] for name in names}, policy, seed) for indices, names in parts]
    count = min(processes or len(os.sched_getaffinity(0)), len(parts))
    if count > 1 and sum(not thread.daemon for thread in threading.enumerate()) == 1:
        with ProcessPoolExecutor(max_workers=count, mp_context=get_context("fork")) as pool:
            results = []
            for result in pool.map(_part, work):
                results.append(result)
                if progress is not None:
                    progress(len(result.workload))
    else:
        results = [simulate(*args, progress=progress) for args in work]
    return _merged(results, parts, len(replicas), list(traces))


PER_REQUEST = ("workload", "replica", "arrival_s", "output_tokens", "ttft_s", "tpot_s", "finish_s", "preemptions")


def _merged(results: list[SimulationResult], parts: list[tuple[list[int], list[str]]], count: int, order: list[str]) -> SimulationResult:
    """One result in the order one simulation gives: requests by workload as the traces come,
    replicas by their index; each replica idles to the latest finish of all."""
    horizon_s = max(result.horizon_s for result in results)
    per_request: dict[str, list[np.ndarray]] = {name: [] for name in PER_REQUEST}
    where = {name: (result, indices) for result, (indices, names) in zip(results, parts, strict=True) for name in names}
    for name in order:
        result, indices = where[name]
        chosen = result.workload == name
        for field, columns in per_request.items():
            values = getattr(result, field)[chosen]
            columns.append(np.asarray(indices)[values] if field == "replica" else values)
    per_replica = {name: np.zeros(count) for name in ("energy_j", "busy_s", "mean_batch", "most_running", "idle_power_w")}
    segments = []
    for result, (indices, _) in zip(results, parts, strict=True):
        for field, column in per_replica.items():
            column[indices] = getattr(result, field)
        per_replica["energy_j"][indices] += result.idle_power_w * (horizon_s - result.horizon_s)
        moved = result.segments.copy()
        moved[:, 0] = np.asarray(indices)[moved[:, 0].astype(np.int64)] if len(moved) else moved[:, 0]
        segments.append(moved)
    return SimulationResult(
        **{field: np.concatenate(columns) for field, columns in per_request.items()},
        energy_j=per_replica["energy_j"],
        busy_s=per_replica["busy_s"],
        mean_batch=per_replica["mean_batch"],
        most_running=per_replica["most_running"].astype(np.int64),
        horizon_s=horizon_s,
        idle_power_w=per_replica["idle_power_w"],
        segments=np.concatenate(segments) if segments else np.zeros((0, 4)),
    )
