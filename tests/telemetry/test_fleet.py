"""Fleet J/token from exporter scrapes: parsing, counter arithmetic, and the recorded H200 window."""

from __future__ import annotations

import math

import pytest

from telemetry.errors import TelemetryError
from telemetry.exposition import fetch_prometheus, parse_exposition
from telemetry.fleet import counter_increase, fleet_windows, histogram_quantile
from tests.telemetry.fleet_dump import exporter_dump, prometheus_server, recorded_window, unix_s


@pytest.fixture(scope="module")
def window():
    return recorded_window()


def test_exposition_lines_with_quoted_labels_and_timestamps():
    text = (
        "# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter\n"
        'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu="0",modelName="NVIDIA H100 80GB HBM3",note="a \\"b\\", {c}"} 1.5e6 1795000000000\n'
        "up 1 1795000001500\n"
        'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu="0",modelName="NVIDIA H100 80GB HBM3",note="a \\"b\\", {c}"} 1.6e6 1795000001000\n'
    )
    series = {s.name: s for s in parse_exposition(text, "dump")}
    energy = series["DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"]
    assert energy.label("modelName") == "NVIDIA H100 80GB HBM3"
    assert energy.label("note") == 'a "b", {c}'
    assert energy.points == ((1_795_000_000.0, 1.5e6), (1_795_000_001.0, 1.6e6))
    assert series["up"].points == ((1_795_000_001.5, 1.0),)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('DCGM_FI_DEV_POWER_USAGE{gpu="0"} 250.5', "line 1 has no timestamp"),
        ('DCGM_FI_DEV_POWER_USAGE{gpu="0} 250.5 1', "no closing quote"),
        ("DCGM_FI_DEV_POWER_USAGE{gpu=0} 250.5 1", 'key="value"'),
        ('DCGM_FI_DEV_POWER_USAGE{gpu="0"} lots 1', "the value 'lots' is not a number"),
    ],
)
def test_a_broken_dump_line_is_named_with_the_way_to_dump(line: str, problem: str):
    with pytest.raises(TelemetryError) as error:
        parse_exposition(line + "\n", "dump.prom")
    assert problem in str(error.value) and "dump.prom" in str(error.value) and "date +%s%3N" in str(error.value)


def test_counter_increase_leaves_out_the_stretch_of_a_reset():
    points = [(0.0, 100.0), (1.0, 110.0), (2.0, 3.0), (3.0, 13.0), (4.0, 23.0)]
    increase = counter_increase(points, 0.0, 4.0)
    assert increase is not None
    assert (increase.increase, increase.resets, increase.reset_gap_s) == (30.0, 1, 1.0)
    assert increase.rate == 10.0
    assert increase.over(0.5, 3.5) == (30.0, 10.0 * (0.5 + 0.5 + 1.0))
    assert counter_increase(points, 0.5, 1.5) is None  # one scrape inside


def test_histogram_quantile_interpolates_like_prometheus():
    buckets = {0.01: 10.0, 0.025: 60.0, 0.05: 100.0, math.inf: 100.0}
    assert histogram_quantile(buckets, 0.5) == pytest.approx(0.01 + 0.015 * (50 - 10) / 50)
    assert histogram_quantile(buckets, 0.95) == pytest.approx(0.025 + 0.025 * (95 - 60) / 40)
    assert histogram_quantile({0.1: 1.0, math.inf: 10.0}, 0.95) == 0.1  # in +Inf: the top finite bound
    assert histogram_quantile({0.1: 0.0, math.inf: 0.0}, 0.95) is None


@pytest.mark.parametrize("scrape_s", [0.5, 1.0, 2.0])
def test_the_recorded_h200_window_reads_its_measured_j_per_token_within_the_reported_uncertainty(window, scrape_s: float):
    dump = exporter_dump(window, scrape_s=scrape_s, vllm_offset_s=0.37 * scrape_s)
    report = fleet_windows(parse_exposition(dump, "dump"), unix_s(window.start_s), unix_s(window.end_s))
    [found] = report.windows
    error = abs(found.j_per_token - window.j_per_token)
    assert error <= found.uncertainty_j / found.tokens
    assert found.uncertainty_j / found.energy_j < 0.1 * scrape_s  # edges of ~half a scrape, of a 20 s window
    assert (found.model, found.gpu_name, found.replicas) == ("Qwen/Qwen2.5-32B-Instruct", "NVIDIA H200", 1)
    assert found.prompt_tokens / found.requests == pytest.approx(window.prompt_tokens)
    assert 0.01 < found.tpot_p95_s <= 0.025  # the bucket that holds the recorded 19.5 ms
    assert found.running_mean == window.batch
    assert 400 < found.peak_power_w < 700


def test_a_counter_reset_widens_the_uncertainty_and_still_covers_the_truth(window):
    plain = exporter_dump(window)
    reset = exporter_dump(window, reset_at_s=window.start_s + 5)
    span = (unix_s(window.start_s), unix_s(window.end_s))
    [before] = fleet_windows(parse_exposition(plain, "dump"), *span).windows
    [after] = fleet_windows(parse_exposition(reset, "dump"), *span).windows
    assert after.counter_resets == 1 and before.counter_resets == 0
    assert after.uncertainty_j > before.uncertainty_j
    assert abs(after.j_per_token - window.j_per_token) <= after.uncertainty_j / after.tokens


def test_the_counter_suffix_added_by_openmetrics_scrapers_is_read(window):
    dump = exporter_dump(window, energy_name="DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION_total")
    [found] = fleet_windows(parse_exposition(dump, "dump"), unix_s(window.start_s), unix_s(window.end_s)).windows
    assert abs(found.j_per_token - window.j_per_token) <= found.uncertainty_j / found.tokens


def test_hosts_are_told_apart_by_instance_and_a_host_with_two_models_is_refused(window):
    two_hosts = exporter_dump(window, instance="node-a:9400") + exporter_dump(window, instance="node-b:9400")
    report = fleet_windows(parse_exposition(two_hosts, "dump"), unix_s(window.start_s), unix_s(window.end_s))
    assert [w.host for w in report.windows] == ["node-a", "node-b"]
    assert report.windows[0].energy_j == report.windows[1].energy_j
    unpaired = exporter_dump(window) + exporter_dump(window).replace('Hostname="node-a"', 'Hostname="node-b"')
    with pytest.raises(TelemetryError, match="holds the GPUs of 2 hosts \\(node-a, node-b\\)"):
        fleet_windows(parse_exposition(unpaired, "dump"), unix_s(window.start_s), unix_s(window.end_s))
    two_models = exporter_dump(window) + "\n".join(
        line.replace("Qwen/Qwen2.5-32B-Instruct", "meta-llama/Llama-3.1-8B-Instruct")
        for line in exporter_dump(window).splitlines()
        if line.startswith("vllm:")
    )
    with pytest.raises(TelemetryError, match="serves .*Qwen2.5-32B.*Llama-3.1-8B.* cannot be split between engines"):
        fleet_windows(parse_exposition(two_models, "dump"), unix_s(window.start_s), unix_s(window.end_s))


def test_a_window_without_traffic_prompts_or_two_scrapes_is_refused(window):
    series = parse_exposition(exporter_dump(window), "dump")
    with pytest.raises(TelemetryError, match="produced no token inside the window"):
        fleet_windows(series, unix_s(window.end_s + 3), unix_s(window.end_s + 12))
    with pytest.raises(TelemetryError, match="fewer than two energy-counter scrapes"):
        fleet_windows(series, unix_s(window.start_s), unix_s(window.start_s + 0.9))
    without_prompts = [s for s in series if s.name != "vllm:prompt_tokens_total"]
    with pytest.raises(TelemetryError, match="no vllm:prompt_tokens_total"):
        fleet_windows(without_prompts, unix_s(window.start_s), unix_s(window.end_s))
    energy_only = [s for s in series if not s.name.startswith("vllm:")]
    with pytest.raises(TelemetryError, match="no host has both .* no vllm:generation_tokens_total"):
        fleet_windows(energy_only, unix_s(window.start_s), unix_s(window.end_s))


def test_prometheus_gives_the_same_window_as_the_dump(window):
    dump = exporter_dump(window, instance="node-a:9400")
    span = (unix_s(window.start_s), unix_s(window.end_s))
    with prometheus_server(dump) as (url, state):
        series = fetch_prometheus(url, *span)
    [from_dump] = fleet_windows(parse_exposition(dump, "dump"), *span).windows
    [from_server] = fleet_windows(series, *span).windows
    assert from_server.energy_j == pytest.approx(from_dump.energy_j)
    assert from_server.tokens == pytest.approx(from_dump.tokens)
    [query] = state.queries
    assert query["query"].startswith('{__name__=~"DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION(_total)?|')
    assert query["query"].endswith(f"[{math.ceil(span[1] - span[0])}s]") and float(query["time"]) == pytest.approx(span[1])


@pytest.mark.parametrize(("mode", "problem"), [("bad-query", "answered with an error: parse error at char 3"), ("html", "HTTP 502 with no JSON")])
def test_prometheus_errors_are_reported_in_one_line(window, mode: str, problem: str):
    with prometheus_server(exporter_dump(window)) as (url, state):
        state.mode = mode
        with pytest.raises(TelemetryError, match=problem):
            fetch_prometheus(url, 0.0, 60.0)


def test_an_unreachable_prometheus_is_named():
    with prometheus_server("") as (url, _):
        pass  # closed: nothing listens there now
    with pytest.raises(TelemetryError, match="cannot reach .*/api/v1/query"):
        fetch_prometheus(url, 0.0, 60.0, timeout_s=5.0)


def test_a_join_label_pairs_gpus_with_engines_scraped_from_other_pods(window):
    """Kubernetes: dcgm-exporter runs in its own pod and labels each GPU with the pod using it
    (`exported_pod` once Prometheus adds its own `pod`); vLLM is scraped from the serving pod."""
    dump = "\n".join(
        line.replace('Hostname="node-a"', 'Hostname="node-a",exported_pod="vllm-0",pod="dcgm-xyz"')
        if line.startswith("DCGM")
        else line.replace('model_name="', 'pod="vllm-0",model_name="')
        for line in exporter_dump(window).splitlines()
    )
    series = parse_exposition(dump, "dump")
    span = (unix_s(window.start_s), unix_s(window.end_s))
    [joined] = fleet_windows(series, *span, join_labels=("exported_pod", "pod")).windows
    assert joined.host == "vllm-0"
    assert abs(joined.j_per_token - window.j_per_token) <= joined.uncertainty_j / joined.tokens
    with pytest.raises(TelemetryError, match="no host has both"):
        fleet_windows(series, *span, join_labels=("pod",))  # GPUs under dcgm-xyz, tokens under vllm-0
