"""J/token of a serving fleet from its monitoring: GPU energy counters joined with the engine's
token counters over one window, per host.

The two exporters are scraped at different instants, so no counter covers the window exactly.
Each counter's increase is scaled to the window that every series covers (steady load assumed),
and what that assumption could be off by, the counter's rate times how far its first and last
scrape lie from the window's edges, is the reported uncertainty. The tokens' share of it is
carried into joules, so `energy_j +- uncertainty_j` over `tokens` bounds J/token.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from urllib.parse import urlsplit

from telemetry.errors import TelemetryError
from telemetry.exposition import ENERGY_METRICS, Series

TOKENS_METRIC = "vllm:generation_tokens_total"
PROMPT_TOKENS_METRIC = "vllm:prompt_tokens_total"
REQUESTS_METRIC = "vllm:request_success_total"
RUNNING_METRIC = "vllm:num_requests_running"
TPOT_HISTOGRAMS = ("vllm:time_per_output_token_seconds_bucket", "vllm:inter_token_latency_seconds_bucket")
TTFT_HISTOGRAM = "vllm:time_to_first_token_seconds_bucket"
POWER_METRIC = "DCGM_FI_DEV_POWER_USAGE"
COUNTER_RESOLUTION_MJ = 1.0
LATENCY_QUANTILE = 0.95


@dataclass(frozen=True)
class CounterIncrease:
    """A counter's increase between its first and last scrape in a window, leaving out the
    stretches that held a reset (what accrued there before the reset is lost)."""

    increase: float
    first_s: float
    last_s: float
    resets: int
    reset_gap_s: float

    @property
    def rate(self) -> float:
        return self.increase / (self.last_s - self.first_s - self.reset_gap_s)

    def over(self, start_s: float, end_s: float) -> tuple[float, float]:
        """The increase at this rate over [start_s, end_s], and how far off that could be:
        the rate times the time its scrapes miss at the edges or lost to resets."""
        unseen_s = abs(self.first_s - start_s) + abs(self.last_s - end_s) + self.reset_gap_s
        return self.rate * (end_s - start_s), self.rate * unseen_s


def counter_increase(points: Sequence[tuple[float, float]], start_s: float, end_s: float) -> CounterIncrease | None:
    """None with fewer than two samples inside [start_s, end_s], or only resets between them."""
    inside = [(t, v) for t, v in points if start_s <= t <= end_s]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return None
    increase, resets, reset_gap_s = 0.0, 0, 0.0
    for (earlier_s, earlier), (later_s, later) in pairwise(inside):
        if later >= earlier:
            increase += later - earlier
        else:
            resets += 1
            reset_gap_s += later_s - earlier_s
    if reset_gap_s >= inside[-1][0] - inside[0][0]:
        return None
    return CounterIncrease(increase, inside[0][0], inside[-1][0], resets, reset_gap_s)


def histogram_quantile(buckets: dict[float, float], quantile: float) -> float | None:
    """Prometheus's estimate from cumulative bucket counts {upper bound: count}: linear inside
    the bucket that holds the rank; the highest finite bound when the rank lies in +Inf."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = quantile * buckets[bounds[-1]]
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def host_of(series: Series, join_labels: Sequence[str] = ()) -> str:
    """What pairs a GPU's energy with an engine's tokens: the first of `join_labels` the series
    carries (in Kubernetes, where dcgm-exporter and vLLM are scraped as different pods, the
    serving pod: `exported_pod` on the GPU's series, `pod` on vLLM's), else the host Prometheus
    scraped it from (`instance` without its port); a dump without either is one host ("")."""
    for label in join_labels:
        value = series.label(label)
        if value:
            return value
    instance = series.label("instance")
    if not instance:
        return ""
    return urlsplit(f"//{instance}").hostname or instance


@dataclass(frozen=True)
class GpuCounter:
    gpu_index: int
    gpu_name: str
    series: Series
    increase: CounterIncrease


@dataclass(frozen=True)
class FleetWindow:
    """One host serving one model: energy over all its GPUs and tokens over all its engines,
    both over [start_s, end_s] (unix seconds)."""

    host: str
    model: str
    gpu_name: str
    gpus: tuple[GpuCounter, ...]
    replicas: int
    start_s: float
    end_s: float
    energy_j: float
    uncertainty_j: float
    tokens: float
    requests: float
    prompt_tokens: float
    tpot_p95_s: float | None
    ttft_p95_s: float | None
    running_mean: float | None
    peak_power_w: float
    counter_resets: int

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def j_per_token(self) -> float:
        return self.energy_j / self.tokens


@dataclass(frozen=True)
class FleetReport:
    windows: tuple[FleetWindow, ...]
    skipped: tuple[str, ...]
    """Hosts with energy counters but no engine's token counter (or the reverse), by name."""


def _named(series: Sequence[Series], *names: str) -> list[Series]:
    return [s for s in series if s.name in names]


def _gpu_counters(energy: list[Series], start_s: float, end_s: float, where: str) -> list[GpuCounter]:
    """One counter per GPU (a dump may hold the counter under both of its names)."""
    chosen: dict[str, Series] = {}
    for name in ENERGY_METRICS:
        for s in energy:
            gpu = s.label("gpu") or s.label("UUID") or ""
            if s.name == name and gpu not in chosen:
                chosen[gpu] = s
    counters: list[GpuCounter] = []
    for gpu, s in sorted(chosen.items()):
        increase = counter_increase(s.points, start_s, end_s)
        if increase is None:
            raise TelemetryError(
                f"{where}: GPU {gpu or '?'} has fewer than two energy-counter scrapes inside the window. "
                "To fix: widen --start/--end to span several scrape intervals."
            )
        index = int(gpu) if gpu.isdigit() else len(counters)
        counters.append(GpuCounter(index, s.label("modelName") or "unknown GPU", s, increase))
    return counters


def _increases(series: list[Series], start_s: float, end_s: float, what: str, where: str) -> list[CounterIncrease]:
    found = [counter_increase(s.points, start_s, end_s) for s in series]
    if any(increase is None for increase in found):
        raise TelemetryError(f"{where}: {what} has fewer than two scrapes inside the window. To fix: widen --start/--end.")
    return [increase for increase in found if increase is not None]


def _histogram_p95(buckets: list[Series], start_s: float, end_s: float) -> float | None:
    counts: dict[float, float] = defaultdict(float)
    for s in buckets:
        increase = counter_increase(s.points, start_s, end_s)
        le = s.label("le")
        if increase is not None and le is not None:
            counts[float(le)] += increase.increase
    return histogram_quantile(dict(counts), LATENCY_QUANTILE)


def _peak_power_w(energy: Series, start_s: float, end_s: float) -> float:
    """The highest mean power between two scrapes (summed over GPUs, an upper bound of the
    host's simultaneous peak: scrapes hide shorter peaks)."""
    inside = [p for p in energy.points if start_s <= p[0] <= end_s]
    rates_mw = [(v1 - v0) / (t1 - t0) for (t0, v0), (t1, v1) in pairwise(inside) if v1 >= v0 and t1 > t0]
    return max(rates_mw, default=0.0) / 1000


def _host_window(host: str, series: list[Series], start_s: float, end_s: float) -> FleetWindow:
    where = f"host {host or '(the dump)'}"
    token_series = _named(series, TOKENS_METRIC)
    models = sorted({s.label("model_name") or "" for s in token_series})
    if len(models) != 1 or not models[0]:
        raise TelemetryError(
            f"{where} serves {models or 'no named model'}: its GPUs' energy cannot be split between engines. "
            "To fix: import windows of hosts that serve one model each (vLLM labels it model_name)."
        )
    model = models[0]
    energy_series = _named(series, *ENERGY_METRICS)
    nodes = sorted({node for s in energy_series if (node := s.label("Hostname"))})
    if len(nodes) > 1:
        raise TelemetryError(
            f"{where} holds the GPUs of {len(nodes)} hosts ({', '.join(nodes)}) with nothing pairing them with their engines. "
            "To fix: dump one host per file, or keep Prometheus's instance label (or name one with --join-label)."
        )
    gpus = _gpu_counters(energy_series, start_s, end_s, where)
    tokens_found = _increases(token_series, start_s, end_s, TOKENS_METRIC, where)
    replicas = len(token_series)
    if len(gpus) % replicas:
        raise TelemetryError(
            f"{where}: {len(gpus)} GPU(s) cannot be split evenly between {replicas} engine(s) of {model}. "
            "To fix: import a window where every engine on the host uses the same number of GPUs."
        )
    common_start_s = max(c.first_s for c in [*tokens_found, *(g.increase for g in gpus)])
    common_end_s = min(c.last_s for c in [*tokens_found, *(g.increase for g in gpus)])
    if common_end_s <= common_start_s:
        raise TelemetryError(f"{where}: the energy and token scrapes share no stretch of time. To fix: widen --start/--end.")
    energy_parts = [g.increase.over(common_start_s, common_end_s) for g in gpus]
    token_parts = [t.over(common_start_s, common_end_s) for t in tokens_found]
    energy_j = sum(part for part, _ in energy_parts) / 1000
    tokens = sum(part for part, _ in token_parts)
    if tokens <= 0:
        raise TelemetryError(f"{where}: {model} produced no token inside the window, so J/token is undefined. To fix: pick a window with traffic.")
    token_error = sum(error for _, error in token_parts)
    edge_error_j = sum(error + 2 * COUNTER_RESOLUTION_MJ for _, error in energy_parts) / 1000
    requests_found = _increases(_named(series, REQUESTS_METRIC), start_s, end_s, REQUESTS_METRIC, where)
    requests = sum(r.over(common_start_s, common_end_s)[0] for r in requests_found)
    if requests <= 0:
        raise TelemetryError(
            f"{where}: no request of {model} finished inside the window ({REQUESTS_METRIC}), so the output length is unknown. "
            "To fix: widen the window or scrape vLLM's /metrics with its request counters."
        )
    prompts = _increases(_named(series, PROMPT_TOKENS_METRIC), start_s, end_s, PROMPT_TOKENS_METRIC, where)
    if not prompts:
        raise TelemetryError(
            f"{where}: no {PROMPT_TOKENS_METRIC}, so the prompt length the energy was spent on is unknown. "
            "To fix: scrape vLLM's /metrics whole."
        )
    tpot_buckets = next((found for name in TPOT_HISTOGRAMS if (found := _named(series, name))), [])
    running_series = _named(series, RUNNING_METRIC)
    running = [v for s in running_series for t, v in s.points if common_start_s <= t <= common_end_s]
    return FleetWindow(
        host=host,
        model=model,
        gpu_name=gpus[0].gpu_name,
        gpus=tuple(gpus),
        replicas=replicas,
        start_s=common_start_s,
        end_s=common_end_s,
        energy_j=energy_j,
        uncertainty_j=edge_error_j + energy_j * token_error / tokens,
        tokens=tokens,
        requests=requests,
        prompt_tokens=sum(p.over(common_start_s, common_end_s)[0] for p in prompts),
        tpot_p95_s=_histogram_p95(tpot_buckets, start_s, end_s),
        ttft_p95_s=_histogram_p95(_named(series, TTFT_HISTOGRAM), start_s, end_s),
        running_mean=statistics.fmean(running) * len(running_series) if running else None,
        peak_power_w=sum(_peak_power_w(g.series, start_s, end_s) for g in gpus),
        counter_resets=sum(g.increase.resets for g in gpus) + sum(t.resets for t in tokens_found),
    )


def fleet_windows(series: Sequence[Series], start_s: float, end_s: float, join_labels: Sequence[str] = ()) -> FleetReport:
    """A window per host (see `host_of`) that has both energy counters and a token counter."""
    if end_s <= start_s:
        raise TelemetryError("the window ends before it starts. To fix: pass --start earlier than --end.")
    by_host: dict[str, list[Series]] = defaultdict(list)
    for s in series:
        by_host[host_of(s, join_labels)].append(s)
    windows, skipped = [], []
    for host, host_series in sorted(by_host.items()):
        names = {s.name for s in host_series}
        if names.isdisjoint(ENERGY_METRICS) or TOKENS_METRIC not in names:
            missing = "energy counter (DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION)" if names.isdisjoint(ENERGY_METRICS) else TOKENS_METRIC
            skipped.append(f"{host or '(the dump)'}: no {missing}")
            continue
        windows.append(_host_window(host, host_series, start_s, end_s))
    if not windows:
        raise TelemetryError(
            f"no host has both a GPU energy counter and a token counter ({'; '.join(skipped) or 'no series at all'}). "
            "To fix: scrape dcgm-exporter and the vLLM server over the same window."
        )
    return FleetReport(tuple(windows), tuple(skipped))
