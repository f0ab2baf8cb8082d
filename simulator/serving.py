"""A discrete-event simulator of replicas serving requests with continuous batching.

Each replica runs steps like vLLM's scheduler: waiting requests are admitted (first come, first
served) while fewer than `max_batch` run and their prompt fits the KV cache; a step decodes one
token for every running request past its prefill and prefills the newly admitted prompts (whole,
or at most `prefill_tokens_per_step` of them with chunked prefill); it lasts the configuration's
decode step at that batch (simulator/performance.py), moved by the KV context its decoding
requests hold where the replica has a `KvCost`, plus the prefill at `prefill_s_per_token`.
When the cache cannot hold the next token of every running request, the latest admitted is
preempted (its cache freed; it waits at the front of the queue and prefills its prompt and what
it had generated again). A router sends each arrival to one of its workload's replicas. A
replica draws its curves' power at its running batch while it steps (and the KV cost's joules
per token held) and `idle_power_w` between.
Pure: arrays in, arrays out; the planner builds the replicas from a placement.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from simulator.performance import BatchCurves, KvCost
from simulator.traffic import Trace

RouterPolicy = Literal["round_robin", "least_outstanding", "power_of_two"]
PROGRESS_EVERY = 10_000
KV_WATERMARK = 0.01
"""Share of the KV cache new prompts may not take (vLLM's default watermark), so the running
requests' next tokens find room."""


@dataclass(frozen=True)
class ReplicaModel:
    """What one replica of a configuration does per step."""

    curves: BatchCurves
    prefill_s_per_token: float
    max_batch: int
    kv_capacity_tokens: int
    """Tokens of KV cache the GPUs hold beside the weights (prompt and generated, all requests)."""
    idle_power_w: float
    prefill_tokens_per_step: int | None = None
    """Chunked prefill: at most this many prompt tokens a step; None: admitted prompts whole."""
    kv: KvCost | None = None
    """How a decode step follows the KV context held; None: it does not (the curves' own context)."""

    def step_cost(self, decoding: int, context_tokens: int, prefill_tokens: int, running: int) -> tuple[float, float]:
        """Seconds and joules of one step in which `decoding` requests holding `context_tokens` of
        KV cache decode a token and `prefill_tokens` prompt tokens are prefilled, `running` requests
        in all. Never below idle power (a curve extrapolated past its smallest measured batch can
        fall there, a stepping GPU cannot)."""
        step_s = (self.curves.tpot(decoding) / 1000 if decoding else 0.0) + prefill_tokens * self.prefill_s_per_token
        step_j = max(self.curves.power(running), self.idle_power_w) * step_s
        if self.kv is not None and decoding:
            step_s += self.kv.extra_s(decoding, context_tokens)
            step_j += self.kv.extra_j(decoding, context_tokens)
        if step_s <= 0:
            raise ValueError(f"a step of {decoding} requests holding {context_tokens} KV tokens lasts {step_s:.3g} s: the KV cost {self.kv} does not fit the curves")
        return step_s, max(step_j, self.idle_power_w * step_s)

    def growth_per_step(self, decoding: int) -> tuple[float, float]:
        """Seconds and joules each further identical step adds: its requests hold one more token each."""
        return (self.kv.s_per_token * decoding, self.kv.j_per_token * decoding) if self.kv is not None and decoding else (0.0, 0.0)


@dataclass(frozen=True)
class ReplicaSpec:
    model: ReplicaModel
    serves: Mapping[str, float]
    """The workloads it serves, each with its weight among that workload's replicas (the
    planned tokens/s: round robin splits by it, least outstanding divides by it)."""


@dataclass
class _Request:
    index: int
    arrival_s: float
    prompt: int
    output: int
    generated: int = 0
    cached: int = 0
    """Tokens this request holds in the KV cache."""
    to_prefill: int = 0
    """Prompt tokens (and, after a preemption, generated ones) still to prefill."""
    prefill_ends: bool = False
    """Its prefill completes with the step under way."""
    first_token_s: float | None = None
    finish_s: float | None = None
    preemptions: int = 0


@dataclass
class _Replica:
    spec: ReplicaSpec
    waiting: deque[_Request] = field(default_factory=deque)
    running: list[_Request] = field(default_factory=list)
    busy: bool = False
    decoding: list[_Request] = field(default_factory=list)
    """Requests the step under way decodes a token for."""
    steps: int = 1
    """Identical decode steps under way as one event (nothing to admit or prefill, no one
    finishing before their end); an arrival cuts them at the next step boundary."""
    started_s: float = 0.0
    step_s: float = 0.0
    """The first step under way; each further one lasts `growth_s` longer (its context is larger)."""
    step_j: float = 0.0
    growth_s: float = 0.0
    growth_j: float = 0.0
    version: int = 0
    """Bumped when the steps under way are cut: their old end event is then stale."""
    energy_j: float = 0.0
    busy_s: float = 0.0
    batch_s: float = 0.0
    """Running requests times seconds: over busy_s, the mean batch."""
    most_running: int = 0
    segments: list[list[float]] = field(default_factory=list)
    """[start s, end s, W above idle] of each step (or run of identical steps), in order."""

    @property
    def outstanding(self) -> int:
        return len(self.waiting) + len(self.running)

    def kv_used(self) -> int:
        return sum(r.cached for r in self.running)

    def run_s(self, steps: int) -> float:
        """Seconds of the first `steps` steps under way (each `growth_s` longer than the last)."""
        return steps * self.step_s + self.growth_s * steps * (steps - 1) / 2

    def run_j(self, steps: int) -> float:
        return steps * self.step_j + self.growth_j * steps * (steps - 1) / 2


@dataclass(frozen=True)
class SimulationResult:
    workload: np.ndarray
    replica: np.ndarray
    arrival_s: np.ndarray
    output_tokens: np.ndarray
    ttft_s: np.ndarray
    tpot_s: np.ndarray
    """Mean gap between a request's output tokens after the first (NaN for one-token outputs)."""
    finish_s: np.ndarray
    preemptions: np.ndarray
    energy_j: np.ndarray
    """Per replica, busy steps and idle time up to the last finish."""
    busy_s: np.ndarray
    mean_batch: np.ndarray
    """Per replica, requests running on average while it steps."""
    most_running: np.ndarray
    horizon_s: float
    idle_power_w: np.ndarray
    """Per replica."""
    segments: np.ndarray
    """One row per step (or run of identical steps): replica, start s, end s, W above idle."""

    def power_w(self, groups: np.ndarray, resolution_s: float = 1.0) -> np.ndarray:
        """Mean power of each group of replicas (`groups[i]`: replica i's group, 0..G-1) in each
        bin of `resolution_s` up to the last finish: shape (G, bins). Idle replicas draw idle power."""
        bins = max(1, math.ceil(self.horizon_s / resolution_s - 1e-9))
        count = int(groups.max()) + 1 if len(groups) else 0
        power = np.zeros((count, bins))
        np.add.at(power, groups, np.broadcast_to(self.idle_power_w[:, None], (len(groups), bins)))
        if len(self.segments):
            edges = np.arange(bins + 1) * resolution_s
            for group in range(count):
                mine = self.segments[groups[self.segments[:, 0].astype(np.int64)] == group]
                if not len(mine):
                    continue
                # the integral of the group's extra power at each bin edge, from its step changes
                times = np.concatenate([mine[:, 1], mine[:, 2]])
                steps = np.concatenate([mine[:, 3], -mine[:, 3]])
                order = np.argsort(times, kind="stable")
                times, level = times[order], np.cumsum(steps[order])
                energy = np.concatenate([[0.0], np.cumsum(level[:-1] * np.diff(times))])
                power[group] += np.diff(np.interp(edges, times, energy)) / resolution_s
        return power

    def percentile(self, metric: Literal["ttft_s", "tpot_s"], q: float, workload: str | None = None) -> float:
        values: np.ndarray = getattr(self, metric)
        chosen = values if workload is None else values[self.workload == workload]
        return float(np.nanpercentile(chosen, q))


def simulate(
    replicas: Sequence[ReplicaSpec],
    traces: Mapping[str, Trace],
    policy: RouterPolicy = "least_outstanding",
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> SimulationResult:
    """Every request of every workload's trace served by that workload's replicas; `progress`
    hears how many more requests have arrived, every PROGRESS_EVERY arrivals and at the end."""
    states = [_Replica(spec) for spec in replicas]
    by_workload: dict[str, list[int]] = {}
    for index, spec in enumerate(replicas):
        for name in spec.serves:
            by_workload.setdefault(name, []).append(index)
    missing = sorted(set(traces) - set(by_workload))
    if missing:
        raise ValueError(f"no replica serves workload(s) {', '.join(missing)}")
    for name, trace in traces.items():
        longest = int((trace.prompt_tokens + trace.output_tokens).max())
        smallest = min(states[i].spec.model.kv_capacity_tokens for i in by_workload[name])
        if longest > smallest:
            raise ValueError(f"a request of {name} needs {longest} tokens of KV cache; a replica serving it holds {smallest}")
    requests: list[_Request] = []
    names: list[str] = []
    events: list[tuple[float, int, int, int, int]] = []
    """(time, kind 0 arrival / 1 step end, order, request or replica index, replica version)."""
    for name, trace in traces.items():
        for arrival, prompt, output in zip(trace.arrival_s, trace.prompt_tokens, trace.output_tokens, strict=True):
            requests.append(_Request(len(requests), float(arrival), int(prompt), int(output)))
            names.append(name)
    for request in requests:
        heapq.heappush(events, (request.arrival_s, 0, request.index, request.index, 0))
    router = _Router(states, by_workload, policy, seed)
    chosen = np.zeros(len(requests), dtype=np.int64)
    order = len(requests)
    now = 0.0
    arrived = 0
    while events:
        now, kind, _, index, version = heapq.heappop(events)
        if kind == 0:
            arrived += 1
            if progress is not None and arrived % PROGRESS_EVERY == 0:
                progress(PROGRESS_EVERY)
            target = router.pick(names[index])
            chosen[index] = target
            request = requests[index]
            request.to_prefill = request.prompt
            replica_index, state = target, states[target]
            state.waiting.append(request)
            cut_s = _cut(state, now)
            if cut_s is not None:
                order += 1
                heapq.heappush(events, (cut_s, 1, order, target, state.version))
        else:
            replica_index, state = index, states[index]
            if version != state.version:
                continue
            _finish_step(state, now)
        if not state.busy and state.outstanding:
            order += 1
            heapq.heappush(events, (now + _start_step(state, now), 1, order, replica_index, state.version))
    if progress is not None:
        progress(arrived % PROGRESS_EVERY)
    horizon_s = max((r.finish_s or 0.0) for r in requests) if requests else 0.0
    for state in states:
        state.energy_j += state.spec.model.idle_power_w * max(horizon_s - state.busy_s, 0.0)
    segments = [[index, *segment] for index, state in enumerate(states) for segment in state.segments]
    return SimulationResult(
        workload=np.asarray(names),
        replica=chosen,
        arrival_s=np.asarray([r.arrival_s for r in requests]),
        output_tokens=np.asarray([r.output for r in requests]),
        ttft_s=np.asarray([(r.first_token_s or np.nan) - r.arrival_s for r in requests]),
        tpot_s=np.asarray([((r.finish_s or np.nan) - (r.first_token_s or np.nan)) / (r.output - 1) if r.output > 1 else np.nan
                           for r in requests]),  # fmt: skip
        finish_s=np.asarray([r.finish_s or np.nan for r in requests]),
        preemptions=np.asarray([r.preemptions for r in requests]),
        energy_j=np.asarray([s.energy_j for s in states]),
        busy_s=np.asarray([s.busy_s for s in states]),
        mean_batch=np.asarray([s.batch_s / s.busy_s if s.busy_s else 0.0 for s in states]),
        most_running=np.asarray([s.most_running for s in states]),
        horizon_s=horizon_s,
        idle_power_w=np.asarray([s.spec.model.idle_power_w for s in states], dtype=float),
        segments=np.asarray(segments, dtype=float).reshape(-1, 4),
    )


class _Router:
    def __init__(self, states: list[_Replica], by_workload: dict[str, list[int]], policy: RouterPolicy, seed: int) -> None:
        self.states, self.by_workload, self.policy = states, by_workload, policy
        self.rng = random.Random(seed)
        self.credit: dict[tuple[str, int], float] = {}

    def pick(self, workload: str) -> int:
        options = self.by_workload[workload]
        weights = [self.states[i].spec.serves[workload] for i in options]
        if self.policy == "round_robin":
            # smooth weighted round robin: each turn every replica earns its weight, the richest serves
            for i, weight in zip(options, weights, strict=True):
                self.credit[(workload, i)] = self.credit.get((workload, i), 0.0) + weight
            best = max(options, key=lambda i: self.credit[(workload, i)])
            self.credit[(workload, best)] -= sum(weights)
            return best
        if self.policy == "power_of_two" and len(options) > 2:
            options = self.rng.sample(options, 2)
        return min(options, key=lambda i: (self.states[i].outstanding / self.states[i].spec.serves[workload], i))


def _start_step(state: _Replica, now: float) -> float:
    """Admit, preempt where the cache is short, and return the duration of the step (or of the
    identical steps) it starts."""
    model = state.spec.model
    state.started_s = now
    # running requests first: each decoding one needs a slot for its next token, and the latest
    # admitted gives its cache up (to recompute later) until they all fit
    state.decoding = [r for r in state.running if r.to_prefill == 0]
    preempted = False
    while state.decoding and state.kv_used() + len(state.decoding) > model.kv_capacity_tokens:
        victim = state.running.pop()
        victim.preemptions += 1
        victim.to_prefill, victim.cached = victim.prompt + victim.generated, 0
        state.waiting.appendleft(victim)
        state.decoding = [r for r in state.running if r.to_prefill == 0]
        preempted = True
    # then new prefills, only in a step that preempted nothing and only into what the running
    # requests' next tokens and a watermark leave (vLLM's scheduler: no admission that the next
    # step would have to undo)
    reserve = len(state.decoding) + math.ceil(KV_WATERMARK * model.kv_capacity_tokens)
    while not preempted and state.waiting and len(state.running) < model.max_batch:
        head = state.waiting[0]
        if state.kv_used() + head.to_prefill + 1 + reserve > model.kv_capacity_tokens and state.running:
            break
        state.running.append(state.waiting.popleft())
    state.decoding = [r for r in state.running if r.to_prefill == 0]
    budget = model.prefill_tokens_per_step
    prefill_tokens = 0
    for request in state.running:
        if request.to_prefill:
            take = request.to_prefill if budget is None else min(request.to_prefill, budget - prefill_tokens)
            request.to_prefill -= take
            request.cached += take
            request.prefill_ends = take > 0 and request.to_prefill == 0
            prefill_tokens += take
    context_tokens = sum(r.cached for r in state.decoding)
    state.step_s, state.step_j = model.step_cost(len(state.decoding), context_tokens, prefill_tokens, len(state.running))
    state.growth_s, state.growth_j = model.growth_per_step(len(state.decoding))
    state.steps = 1
    if not state.waiting and not prefill_tokens and state.decoding:
        until_a_finish = min(r.output - r.generated for r in state.decoding)
        until_the_cache_is_full = (model.kv_capacity_tokens - state.kv_used()) // len(state.decoding)
        state.steps = max(1, min(until_a_finish, until_the_cache_is_full))
    duration_s, energy_j = state.run_s(state.steps), state.run_j(state.steps)
    state.segments.append([now, now + duration_s, energy_j / duration_s - model.idle_power_w])
    state.energy_j += energy_j
    state.busy_s += duration_s
    state.batch_s += len(state.running) * duration_s
    state.busy = True
    state.most_running = max(state.most_running, len(state.running))
    return duration_s


def _cut(state: _Replica, now: float) -> float | None:
    """Where an arrival finds identical steps under way: end them at the first step boundary
    after `now` (where a single step would have let it in), or None when nothing is cut."""
    if not state.busy or state.steps == 1:
        return None
    done = max(1, _steps_within(state, now - state.started_s))
    if done >= state.steps:
        return None
    state.energy_j -= state.run_j(state.steps) - state.run_j(done)
    state.busy_s -= state.run_s(state.steps) - state.run_s(done)
    state.batch_s -= len(state.running) * (state.run_s(state.steps) - state.run_s(done))
    state.steps = done
    state.segments[-1][1] = state.started_s + state.run_s(done)
    state.segments[-1][2] = state.run_j(done) / state.run_s(done) - state.spec.model.idle_power_w
    state.version += 1
    return state.started_s + state.run_s(done)


def _steps_within(state: _Replica, elapsed_s: float) -> int:
    """The fewest steps under way that last at least `elapsed_s` (one that ends within 1e-9 of a
    step of it counts as ended): the root of the run's length, linear or quadratic in its steps."""
    a, b, target_s = state.growth_s / 2, state.step_s - state.growth_s / 2, elapsed_s - 1e-9 * state.step_s
    steps = math.ceil(target_s / b if a == 0 else (-b + math.sqrt(b * b + 4 * a * target_s)) / (2 * a))
    while steps > 1 and state.run_s(steps - 1) >= target_s:  # rounding in the root, either way
        steps -= 1
    while state.run_s(steps) < target_s:
        steps += 1
    return steps


def _finish_step(state: _Replica, now: float) -> None:
    """Tokens out at the step's end: one per decoding request (its last token now cached), and
    one for each request whose prefill (first or after a preemption) completed."""
    for request in state.decoding:
        request.generated += state.steps
        request.cached += state.steps
    for request in state.running:
        if request.prefill_ends:
            request.prefill_ends = False
            request.generated += 1
            if request.first_token_s is None:
                request.first_token_s = now
    for request in [r for r in state.running if r.generated >= r.output]:
        request.finish_s = now
        state.running.remove(request)
    state.decoding = []
    state.busy = False
