"""`planner model-check --simulate`: each measured batch of a sweep held out and *simulated* with
its benchmark's own setup, on a replica stepped by curves fitted to the rest of the sweep.

The setup of the sweeps in the Store (the reference runs, `planner bench`, ML.ENERGY): a
saturated engine at a fixed batch limit (vLLM's `max_num_seqs`), every request submitted at
once, each with the sweep's prompt and output lengths. So the simulated run is `REQUESTS_PER_SLOT`
times the batch of requests arriving at t = 0 on one replica with the held-out batch as its
limit; throughput, J/token (idle power included) and mean TPOT come from the whole run, drain
included, and are compared with what was measured. ML.ENERGY publishes no prompt lengths: its
requests get the prefill time the curves imply (a cycle less its decode steps), the roofline's
where they imply none, on a nominal prompt (said in the notes).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from models import Catalog, Store, load_catalog
from optimizer.operating_point import OperatingPoint
from planner.errors import InputError
from planner.model_check import sweeps
from planner.simulating import sweep_replica
from planner.stored_points import usable_operating_points
from simulator.serving import ReplicaSpec, simulate
from simulator.traffic import Trace

REQUESTS_PER_SLOT = 8
"""Requests per batch slot: enough that the drain (the last cycle's shrinking batch) is a small
share of the run, as in a benchmark that measures many cycles."""
NOMINAL_PROMPT_TOKENS = 256
"""The prompt a request without published prompt lengths is given; only its prefill time matters,
and that comes from the curves, not from this length."""


def _held_out(point: OperatingPoint, others: list[OperatingPoint], catalog: Catalog, notes: list[str]) -> dict[str, object]:
    model = sweep_replica(point, others, catalog, notes, kv=None)  # its requests hold its sweep's own context
    prompt = point.prompt_tokens or NOMINAL_PROMPT_TOKENS
    if point.prompt_tokens is None:
        implied_s = model.curves.cycle_s.at(point.load) - point.output_tokens * model.curves.tpot(point.load) / 1000
        if implied_s > 0:
            model = replace(model, prefill_s_per_token=implied_s / (point.load * prompt))
    count = REQUESTS_PER_SLOT * point.load
    trace = Trace(np.zeros(count), np.full(count, prompt), np.full(count, point.output_tokens))
    result = simulate([ReplicaSpec(model, {"bench": 1.0})], {"bench": trace})
    tokens = float(result.output_tokens.sum())
    tok_s = tokens / result.horizon_s
    j_per_token = float(result.energy_j.sum()) / tokens
    tpot_ms = 1000 * float(np.nanmean(result.tpot_s))
    measured_j = point.power_w / point.tok_s
    loads = sorted(p.load for p in others)
    return {
        "batch": point.load,
        "extrapolated": not loads[0] <= point.load <= loads[-1],
        "tok/s measured": round(point.tok_s, 1), "tok/s simulated": round(tok_s, 1),
        "tok/s %": round(100 * (tok_s / point.tok_s - 1), 1),
        "J/tok measured": round(measured_j, 4), "J/tok simulated": round(j_per_token, 4),
        "J/tok %": round(100 * (j_per_token / measured_j - 1), 1),
        "TPOT ms measured": round(point.tpot_ms, 2), "TPOT ms simulated": round(tpot_ms, 2),
        "TPOT %": round(100 * (tpot_ms / point.tpot_ms - 1), 1), "TPOT stat": point.tpot_stat,
    }  # fmt: skip


def simulated_holdout(store: Store, model: str | None = None, hardware: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """One row per measured point of every sweep of three or more batches, simulated from the
    rest of its sweep; and the notes on what the data could not give."""
    catalog = load_catalog()
    wanted_model = None if model is None else catalog.resolve("llm", model)
    wanted_hardware = None if hardware is None else catalog.resolve("gpu", hardware)
    rows: list[dict[str, object]] = []
    notes: list[str] = []
    for key, members in sorted(sweeps(usable_operating_points(store)).items()):
        name, gpu, runtime, gpus, shape, output_tokens, source = key
        if (wanted_model and name != wanted_model) or (wanted_hardware and gpu != wanted_hardware) or len({p.load for p in members}) < 3:
            continue
        ordered = sorted(members, key=lambda p: p.load)
        for point in ordered:
            # a batch measured twice is held out whole: its twin would leak the answer into the fit
            others = [p for p in ordered if p.load != point.load]
            try:
                row = _held_out(point, others, catalog, notes)
            except InputError as error:
                notes.append(f"{name} on {gpus} x {gpu}: {error}")
                continue
            rows.append({"model": name, "hardware": gpu, "gpus": gpus, "prompt": shape, "output": output_tokens, "source": source, **row})
    if any(p.prompt_tokens is None for members in sweeps(usable_operating_points(store)).values() for p in members):
        notes.append(f"sweeps without prompt lengths (ML.ENERGY) get a nominal {NOMINAL_PROMPT_TOKENS}-token prompt at the prefill time their curves imply")
    return pd.DataFrame(rows), list(dict.fromkeys(notes))


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Median and largest absolute error per metric, over every held-out point and over the interpolated ones."""
    rows = []
    for label, chosen in (("every held-out point", frame), ("interpolated only", frame[~frame["extrapolated"]])):
        for metric in ("tok/s %", "J/tok %", "TPOT %"):
            errors = chosen[metric].abs()
            worst = chosen.loc[errors.idxmax()] if len(chosen) else None
            rows.append({
                "points": label, "metric": metric.removesuffix(" %"), "n": len(chosen),
                "median |error| %": round(float(errors.median()), 1) if len(chosen) else None,
                "largest |error| %": round(float(errors.max()), 1) if len(chosen) else None,
                "worst": None if worst is None else f"{worst['model']} {worst['hardware']} x{worst['gpus']} batch {worst['batch']} ({worst['source']})",
            })  # fmt: skip
    return pd.DataFrame(rows)
