"""Metric series from a fleet's monitoring: an exporter's text dump, or a Prometheus server.

Both give the same thing, raw timestamped samples per series, so one computation
(`telemetry.fleet`) turns either into J/token. Prometheus is asked for raw samples (a range
selector, not `rate()` or `increase()`), so counter resets and the exact scrape times stay
visible and the window's edges can be stated with their uncertainty.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import httpx

from telemetry.errors import TelemetryError

Labels = tuple[tuple[str, str], ...]
ENERGY_METRICS = ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION_total")
"""dcgm-exporter's energy counter (mJ since the driver loaded). An OpenMetrics-aware scraper
(Prometheus 3 with a `_total` translation) stores it with the counter suffix appended."""
FLEET_SELECTOR = '{__name__=~"DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION(_total)?|DCGM_FI_DEV_POWER_USAGE|vllm:.+"}'
DUMP_RECIPE = (
    "dump each exporter's /metrics with a timestamp in ms on every sample, e.g. "
    "curl -s HOST:9400/metrics | grep -v '^#' | sed \"s/$/ $(date +%s%3N)/\" >> dump.prom, "
    "repeated every scrape interval for both dcgm-exporter and the vLLM server"
)


@dataclass(frozen=True)
class Series:
    """One metric with one label set: its samples as (unix seconds, value), oldest first."""

    name: str
    labels: Labels
    points: tuple[tuple[float, float], ...]

    def label(self, key: str) -> str | None:
        return dict(self.labels).get(key)


def _parse_labels(text: str, where: str) -> tuple[Labels, int]:
    """Labels from just after `{`; returns them and the index after the closing `}`."""
    labels: list[tuple[str, str]] = []
    index = 0
    while True:
        while index < len(text) and text[index] in " ,":
            index += 1
        if index < len(text) and text[index] == "}":
            return tuple(sorted(labels)), index + 1
        equals = text.find("=", index)
        if equals < 0 or equals + 1 >= len(text) or text[equals + 1] != '"':
            raise TelemetryError(f"{where}: a label is not written key=\"value\". To fix: {DUMP_RECIPE}.")
        key = text[index:equals].strip()
        index = equals + 2
        value: list[str] = []
        while index < len(text) and text[index] != '"':
            if text[index] == "\\" and index + 1 < len(text):
                index += 1
                value.append({"n": "\n"}.get(text[index], text[index]))
            else:
                value.append(text[index])
            index += 1
        if index >= len(text):
            raise TelemetryError(f"{where}: a label value has no closing quote. To fix: {DUMP_RECIPE}.")
        labels.append((key, "".join(value)))
        index += 1


def _number(text: str, what: str, where: str) -> float:
    try:
        return float(text)
    except ValueError as error:
        raise TelemetryError(f"{where}: {what} {text!r} is not a number. To fix: {DUMP_RECIPE}.") from error


def parse_exposition(text: str, origin: str) -> list[Series]:
    """Samples of the Prometheus text format, concatenated scrapes allowed. Every sample must
    carry its timestamp: a window needs two points in time, and file order does not give them."""
    points: dict[tuple[str, Labels], list[tuple[float, float]]] = defaultdict(list)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{origin} line {number}"
        brace = line.find("{")
        space = line.find(" ")
        if brace >= 0 and (space < 0 or brace < space):
            name = line[:brace]
            labels, end = _parse_labels(line[brace + 1 :], where)
            rest = line[brace + 1 + end :].split()
        else:
            name, *rest = line.split()
            labels = ()
        if len(rest) != 2:
            problem = "has no timestamp" if len(rest) == 1 else "is not `name{labels} value timestamp_ms`"
            raise TelemetryError(f"{where} {problem}. To fix: {DUMP_RECIPE}.")
        value = _number(rest[0], "the value", where)
        timestamp_s = _number(rest[1], "the timestamp", where) / 1000
        points[(name, labels)].append((timestamp_s, value))
    return [Series(name, labels, tuple(sorted(samples))) for (name, labels), samples in points.items()]


def parse_query_result(payload: Any, origin: str) -> list[Series]:
    """The JSON of Prometheus's /api/v1/query for a range selector (a matrix of raw samples)."""
    if not isinstance(payload, dict) or payload.get("status") != "success":
        reason = payload.get("error", payload) if isinstance(payload, dict) else payload
        raise TelemetryError(f"{origin} answered with an error: {reason}. To fix: check the URL and the time range.")
    data = payload.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
        raise TelemetryError(f"{origin} did not answer with a matrix of samples. To fix: point --format prometheus at a Prometheus server.")
    series = []
    for entry in data["result"]:
        try:
            metric = dict(entry["metric"])
            name = metric.pop("__name__")
            values = tuple((float(t), float(v)) for t, v in entry["values"])
        except (KeyError, TypeError, ValueError) as error:
            raise TelemetryError(f"{origin} sent a series that is not {{metric, values}}: {error!r}. To fix: check it is a Prometheus server.") from error
        series.append(Series(name, tuple(sorted(metric.items())), values))
    return series


def fetch_prometheus(url: str, start_s: float, end_s: float, timeout_s: float = 60.0) -> list[Series]:
    """Raw samples of the energy counters and vLLM's metrics over [start_s, end_s]."""
    if not url.startswith(("http://", "https://")):
        raise TelemetryError(f"{url!r} is not an http(s) URL. To fix: pass the Prometheus server, e.g. http://prometheus:9090.")
    range_s = math.ceil(end_s - start_s)
    endpoint = url.rstrip("/") + "/api/v1/query"
    try:
        response = httpx.get(endpoint, params={"query": f"{FLEET_SELECTOR}[{range_s}s]", "time": f"{end_s:.3f}"}, timeout=timeout_s)
    except httpx.HTTPError as error:
        raise TelemetryError(f"cannot reach {endpoint}: {error}. To fix: check the URL and that Prometheus is running.") from error
    try:
        payload = response.json()
    except ValueError as error:
        raise TelemetryError(f"{endpoint} answered HTTP {response.status_code} with no JSON. To fix: point at Prometheus's base URL.") from error
    return parse_query_result(payload, endpoint)
