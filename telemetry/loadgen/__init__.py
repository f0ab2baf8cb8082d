"""Load generators: something that produces tokens at a chosen concurrency while a window is open.

Each generator holds the concurrency steady through a warm-up, calls `begin` and `end` at the
measurement window's edges, and returns every request with the arrival time of each token, so
the tokens that fell inside the window can be counted exactly even though requests straddle it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from telemetry.errors import TelemetryError


class LoadGeneratorError(TelemetryError):
    """The workload could not be driven (bad endpoint, every request failing, bad settings).
    Raised out of a command only for settings, so the planner counts it as bad input (exit 2)."""


@dataclass(frozen=True)
class RequestResult:
    """One request. Times are `time.perf_counter()` seconds; `output_tokens` may come from the
    server's usage report and then differs from the number of streamed chunks."""

    started_s: float
    token_times_s: tuple[float, ...]
    output_tokens: int
    prompt_tokens: int | None = None
    ended_s: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def ttft_s(self) -> float | None:
        return self.token_times_s[0] - self.started_s if self.token_times_s else None

    @property
    def inter_token_s(self) -> list[float]:
        times = self.token_times_s
        return [later - earlier for earlier, later in zip(times, times[1:], strict=False)]

    @property
    def e2e_s(self) -> float | None:
        return None if self.ended_s is None else self.ended_s - self.started_s

    def tokens_between(self, start_s: float, end_s: float) -> float:
        """Tokens that arrived inside [start_s, end_s], each chunk weighted by the usage count."""
        if not self.token_times_s:
            return 0.0
        inside = sum(1 for t in self.token_times_s if start_s <= t <= end_s)
        return inside * self.output_tokens / len(self.token_times_s)


@dataclass(frozen=True)
class LevelRun:
    concurrency: int
    window_start_s: float
    window_end_s: float
    requests: tuple[RequestResult, ...]

    @property
    def window_tokens(self) -> float:
        return sum(request.tokens_between(self.window_start_s, self.window_end_s) for request in self.requests)

    @property
    def failures(self) -> list[str]:
        return [request.error for request in self.requests if request.error]

    @property
    def completed(self) -> list[RequestResult]:
        return [request for request in self.requests if request.ok and request.ended_s is not None]


@dataclass(frozen=True)
class WindowHooks:
    """Called from the generator at the window's edges (the collector's begin/end)."""

    begin: Callable[[], None]
    end: Callable[[], None]


@dataclass(frozen=True)
class PrefillRun:
    """Whole-batch prefills repeated back to back inside one window."""

    batch: int
    prompt_tokens: int
    repeats: int
    window_start_s: float
    window_end_s: float

    @property
    def tokens(self) -> int:
        return self.batch * self.prompt_tokens * self.repeats

    @property
    def seconds_per_prefill(self) -> float:
        """One batch's prefill: every sequence's time to first token under static batching."""
        return (self.window_end_s - self.window_start_s) / self.repeats


class Workload(Protocol):
    @property
    def name(self) -> str: ...

    def run_level(self, concurrency: int, warmup_s: float, window_s: float, hooks: WindowHooks) -> LevelRun: ...


@runtime_checkable
class PhasedWorkload(Workload, Protocol):
    """A workload that can run prefill alone, so its energy is measured in a window of its own
    and the decode window holds decode only (energy scope `phases`)."""

    runtime_version: str

    def run_prefill(self, batch: int, window_s: float, hooks: WindowHooks) -> PrefillRun: ...

    def memory_peak_gb(self) -> float | None: ...


def check_concurrency(levels: list[int]) -> list[int]:
    if not levels:
        raise LoadGeneratorError("no concurrency levels given. To fix: pass e.g. --concurrency 1,4,16,64.")
    bad = [level for level in levels if level <= 0]
    if bad:
        raise LoadGeneratorError(f"concurrency {bad[0]} is not a number of requests in flight. To fix: use whole numbers >= 1.")
    return levels
