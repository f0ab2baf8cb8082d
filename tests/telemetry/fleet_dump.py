"""Exporter scrapes made from a recorded run, so the fleet import meets real counter readings.

dcgm-exporter's lines carry the reference H200 trace's energy counter and power, read at a
scrape every `scrape_s`; vLLM's lines carry the tokens the same run measured in one labelled
decode window (`decode_tokens` at its steady rate, `batch` requests of `output_tokens` each,
one TPOT per step), scraped `vllm_offset_s` later, as a second exporter would be.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from models import SampleRecord, load_catalog
from planner.formats.run_bundle import read_run_bundle
from telemetry.exposition import Series, parse_exposition

RUN = "reference/h200-2026-11-26"
LABEL = "qwen-32b/graph/b1/decode"
SOURCE_KEY = "qwen-32b/graph/b1/p512/r0"
UNIX_ZERO_S = 1_795_000_000.0
"""The trace counts from its start; the dump places that start at a fixed unix time."""
TPOT_BUCKETS_S = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
"""vLLM's default buckets for vllm:time_per_output_token_seconds."""


@dataclass(frozen=True)
class RecordedWindow:
    samples: tuple[SampleRecord, ...]
    start_s: float
    end_s: float
    decode_j: float
    decode_tokens: int
    batch: int
    output_tokens: int
    prompt_tokens: int
    tpot_s: float

    @property
    def j_per_token(self) -> float:
        return self.decode_j / self.decode_tokens


def recorded_window() -> RecordedWindow:
    bundle = read_run_bundle(resources.files("planner_data").joinpath("reference", RUN.split("/")[1]), load_catalog())
    (measured,) = [m for m in bundle.measurements if m.source_key == SOURCE_KEY]
    inside = [s.t_s for s in bundle.samples if s.label == LABEL]
    assert measured.decode.energy_j is not None and measured.batch is not None and measured.prompt_tokens is not None
    return RecordedWindow(
        samples=bundle.samples,
        start_s=min(inside),
        end_s=max(inside),
        decode_j=measured.decode.energy_j,
        decode_tokens=measured.decode_tokens,
        batch=measured.batch,
        output_tokens=measured.output_tokens,
        prompt_tokens=measured.prompt_tokens,
        tpot_s=measured.tpot_ms / 1000,
    )


def _line(name: str, labels: dict[str, str], value: float, t_s: float) -> str:
    text = ",".join(f'{key}="{label}"' for key, label in labels.items())
    return f"{name}{{{text}}} {value:.6g} {round((UNIX_ZERO_S + t_s) * 1000)}"


def exporter_dump(
    window: RecordedWindow,
    scrape_s: float = 1.0,
    vllm_offset_s: float = 0.37,
    instance: str | None = None,
    energy_name: str = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
    model_name: str = "Qwen/Qwen2.5-32B-Instruct",
    reset_at_s: float | None = None,
) -> str:
    """Scrapes over the whole trace; `reset_at_s` restarts the energy counter there."""
    host = {"instance": instance} if instance else {}
    gpu = {"gpu": "0", "UUID": "GPU-7f2c", "device": "nvidia0", "modelName": "NVIDIA H200", "Hostname": "node-a", **host}
    lines = ["# HELP DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION Total energy consumption since boot (in mJ).", f"# TYPE {energy_name} counter"]
    samples = window.samples
    reset_offset_mj = 0
    last_t = samples[-1].t_s
    for step in range(math.floor(last_t / scrape_s) + 1):
        due = step * scrape_s
        sample = min(samples, key=lambda s: abs(s.t_s - due))
        energy = sample.energy_mj or 0
        if reset_at_s is not None and sample.t_s >= reset_at_s:
            reset_offset_mj = reset_offset_mj or energy - 1000  # restarts as if from 1 J before
            energy -= reset_offset_mj
        lines.append(_line(energy_name, gpu, energy, sample.t_s))
        if sample.power_w is not None:
            lines.append(_line("DCGM_FI_DEV_POWER_USAGE", gpu, sample.power_w, sample.t_s))
    engine = {"model_name": model_name, **host}
    rate = window.decode_tokens / (window.end_s - window.start_s)
    for step in range(math.floor((last_t - vllm_offset_s) / scrape_s) + 1):
        t_s = step * scrape_s + vllm_offset_s
        tokens = rate * min(max(t_s - window.start_s, 0.0), window.end_s - window.start_s)
        finished = math.floor(tokens / window.batch / window.output_tokens) * window.batch
        steps = tokens / window.batch
        lines += [
            _line("vllm:generation_tokens_total", engine, tokens, t_s),
            _line("vllm:request_success_total", {**engine, "finished_reason": "length"}, finished, t_s),
            _line("vllm:prompt_tokens_total", engine, finished * window.prompt_tokens, t_s),
            _line("vllm:num_requests_running", engine, window.batch if window.start_s <= t_s <= window.end_s else 0, t_s),
        ]
        for bound in (*TPOT_BUCKETS_S, math.inf):
            count = steps if window.tpot_s <= bound else 0.0
            lines.append(_line("vllm:time_per_output_token_seconds_bucket", {**engine, "le": "+Inf" if bound == math.inf else f"{bound}"}, count, t_s))
    return "\n".join(lines) + "\n"


def unix_s(trace_s: float) -> float:
    return UNIX_ZERO_S + trace_s


@dataclass
class PrometheusState:
    series: list[Series]
    queries: list[dict[str, str]]
    mode: str = "ok"


def _matrix(state: PrometheusState, query: str, time_s: float) -> dict:
    range_s = float(query.rsplit("[", 1)[1].rstrip("s]"))
    result = []
    for s in state.series:
        values = [[t, f"{v:g}"] for t, v in s.points if time_s - range_s < t <= time_s]
        if values:
            result.append({"metric": {"__name__": s.name, **dict(s.labels)}, "values": values})
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


@contextmanager
def prometheus_server(dump: str) -> Iterator[tuple[str, PrometheusState]]:
    """A real HTTP server on loopback answering /api/v1/query with raw samples of the dump,
    as Prometheus does for a range selector; `state.mode` makes it fail the ways servers do."""
    state = PrometheusState(parse_exposition(dump, "dump"), [])

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            params = {key: values[0] for key, values in parse_qs(url.query).items()}
            state.queries.append(params)
            if url.path != "/api/v1/query":
                self._send(404, b"404 page not found", "text/plain")
            elif state.mode == "bad-query":
                self._send(400, json.dumps({"status": "error", "errorType": "bad_data", "error": "parse error at char 3"}).encode())
            elif state.mode == "html":
                self._send(502, b"<html>Bad Gateway</html>", "text/html")
            else:
                self._send(200, json.dumps(_matrix(state, params["query"], float(params["time"]))).encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
