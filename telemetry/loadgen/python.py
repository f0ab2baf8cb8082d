"""Drive any Python callable that produces tokens: the Python API's way to characterise a model
run in-process (a local engine, a custom kernel) without a server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from telemetry.loadgen import LevelRun, LoadGeneratorError, RequestResult, WindowHooks


@dataclass(frozen=True)
class CallableWorkload:
    """`produce()` runs one request and returns the tokens it produced; `concurrency` threads
    call it back to back. Tokens are spread evenly over each call, since a call reports only a
    total, so a call straddling a window edge counts in proportion."""

    produce: Callable[[], int]
    name: str = "python"

    def _call(self) -> RequestResult:
        started_s = time.perf_counter()
        try:
            tokens = self.produce()
        except Exception as error:  # the user's code: report it with the level, keep the rest
            return RequestResult(started_s, (), 0, ended_s=time.perf_counter(), error=f"{type(error).__name__}: {error}")
        ended_s = time.perf_counter()
        if not isinstance(tokens, int) or tokens < 0:
            raise LoadGeneratorError(f"the workload callable returned {tokens!r}. To fix: return the number of tokens produced (int >= 0).")
        step_s = (ended_s - started_s) / tokens if tokens else 0.0
        times = tuple(started_s + step_s * (index + 1) for index in range(tokens))
        return RequestResult(started_s, times, tokens, ended_s=ended_s)

    def run_level(self, concurrency: int, warmup_s: float, window_s: float, hooks: WindowHooks) -> LevelRun:
        results: list[RequestResult] = []
        problems: list[LoadGeneratorError] = []
        stop = threading.Event()
        lock = threading.Lock()

        def worker() -> None:
            while not stop.is_set():
                try:
                    outcome = self._call()
                except LoadGeneratorError as error:
                    problems.append(error)
                    stop.set()
                    return
                with lock:
                    results.append(outcome)

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        try:
            stop.wait(warmup_s)
            if problems:
                raise problems[0]
            hooks.begin()
            window_start_s = time.perf_counter()
            stop.wait(window_s)
            window_end_s = time.perf_counter()
            hooks.end()
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        if problems:
            raise problems[0]
        return LevelRun(concurrency, window_start_s, window_end_s, tuple(results))
