"""`planner model-check`: how well the batch curves of simulator/performance.py predict the Store's
own measurements, each point predicted from the rest of its sweep (leave-one-out); with
`--context`, how well the KV context's cost (planner/kv_context.py) predicts the decode windows
measured at other prompt lengths; with `--lengths`, how well a whole-request operating point
moved to another prompt length (planner/derived_lengths.py) predicts the one measured there."""

from __future__ import annotations

from collections import Counter, defaultdict

import pandas as pd

from models import Catalog, Store, load_catalog
from optimizer.operating_point import OperatingPoint
from planner.derived_lengths import derived_point
from planner.kv_context import configuration_key, decode_windows, fitted_slopes, reference_tokens, roofline_slopes
from planner.stored_points import usable_operating_points
from simulator.performance import BatchPoint, HeldOut, leave_one_out

SweepKey = tuple[str, str, str, int, str, int, str]
"""(model, hardware, runtime, GPUs per replica, prompt tokens or task, output tokens, source)."""


def sweeps(points: list[OperatingPoint]) -> dict[SweepKey, list[OperatingPoint]]:
    """Measurements of one configuration at one request shape from one source, across batches:
    what one set of curves describes (sources are not mixed: labs differ; points derived for
    other lengths are left out)."""
    found: dict[SweepKey, list[OperatingPoint]] = defaultdict(list)
    for p in points:
        if p.lengths_from is None:
            found[sweep_key(p)].append(p)
    return found


def sweep_key(point: OperatingPoint) -> SweepKey:
    shape = point.workload_profile or str(point.prompt_tokens)
    return (point.model, point.hardware, point.runtime, point.gpus_per_replica, shape, point.output_tokens, point.source)


def _wanted(catalog: Catalog, model: str | None, hardware: str | None) -> tuple[str | None, str | None]:
    """The catalog names a check is limited to (any alias given), None where it is not."""
    return (None if model is None else catalog.resolve("llm", model), None if hardware is None else catalog.resolve("gpu", hardware))


def _worst(held: list[HeldOut], attribute: str) -> float | None:
    errors = [abs(getattr(h, attribute)) for h in held]
    return round(100 * max(errors), 1) if errors else None


def model_check(store: Store, model: str | None = None, hardware: str | None = None) -> pd.DataFrame:
    """Per sweep of three or more batches: the largest leave-one-out error in %, for points inside
    the others' batch range (interpolated) and at its ends (extrapolated), of tok/s, TPOT and J/token."""
    catalog = load_catalog()
    wanted_model, wanted_hardware = _wanted(catalog, model, hardware)
    rows = []
    for key, members in sorted(sweeps(usable_operating_points(store)).items()):
        name, gpu, runtime, gpus, shape, output_tokens, source = key
        if (wanted_model and name != wanted_model) or (wanted_hardware and gpu != wanted_hardware):
            continue
        batch_points = [BatchPoint(p.load, p.tok_s, p.tpot_ms, p.power_w) for p in sorted(members, key=lambda p: p.load)]
        held = leave_one_out(batch_points, output_tokens)
        if not held:
            continue
        inside = [h for h in held if not h.extrapolated]
        outside = [h for h in held if h.extrapolated]
        rows.append(
            {
                "model": name, "hardware": gpu, "runtime": runtime, "gpus": gpus, "prompt": shape, "output": output_tokens,
                "batches": ",".join(str(p.batch) for p in batch_points), "source": source,
                "interp tok/s %": _worst(inside, "tok_s_error"), "interp TPOT %": _worst(inside, "tpot_error"),
                "interp J/tok %": _worst(inside, "j_per_token_error"),
                "extrap tok/s %": _worst(outside, "tok_s_error"), "extrap TPOT %": _worst(outside, "tpot_error"),
                "extrap J/tok %": _worst(outside, "j_per_token_error"),
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


def context_check(store: Store, model: str | None = None, hardware: str | None = None) -> pd.DataFrame:
    """Per decode window at a prompt length other than its configuration's most measured one: its
    step time and decode J/token predicted from that base prompt's window at the same batch,
    context-blind, by the bandwidth roofline, and by the slopes fitted without its prompt length
    (errors in %; '-' where the other lengths share no batch)."""
    catalog = load_catalog()
    wanted_model, wanted_hardware = _wanted(catalog, model, hardware)
    rows: list[dict[str, object]] = []
    for (name, gpu, runtime, gpus), windows in sorted(decode_windows(usable_operating_points(store)).items()):
        prompts = Counter(w.prompt_tokens for w in windows)
        if len(prompts) < 2 or (wanted_model and name != wanted_model) or (wanted_hardware and gpu != wanted_hardware):
            continue
        base_prompt = max(prompts, key=lambda p: (prompts[p], -(p or 0)))
        base = {w.load: w for w in windows if w.prompt_tokens == base_prompt}
        roofline_s, roofline_j = roofline_slopes(windows[0], catalog)
        for held in sorted((w for w in windows if w.prompt_tokens != base_prompt and w.load in base), key=lambda w: (w.prompt_tokens or 0, w.load)):
            fitted = fitted_slopes([w for w in windows if w.prompt_tokens != held.prompt_tokens])
            anchor = base[held.load]
            extra_tokens = held.load * ((reference_tokens(runtime, held.prompt_tokens, held.output_tokens) or 0)
                                        - (reference_tokens(runtime, anchor.prompt_tokens, anchor.output_tokens) or 0))  # fmt: skip
            assert held.decode_step_s and held.decode_j_per_step and anchor.decode_step_s and anchor.decode_j_per_step  # decode_windows keeps these
            row: dict[str, object] = {"model": name, "hardware": gpu, "runtime": runtime, "gpus": gpus, "batch": held.load,
                                      "prompt": held.prompt_tokens, "from prompt": base_prompt,
                                      "step ms": round(1000 * held.decode_step_s, 2), "mJ/tok": round(1000 * held.decode_j_per_step / held.load, 1)}  # fmt: skip
            slopes = {"blind": (0.0, 0.0), "roofline": (roofline_s, roofline_j),
                      "fitted": None if fitted is None else (fitted.s_per_token, fitted.j_per_token)}  # fmt: skip
            for label, pair in slopes.items():
                if pair is None:
                    row[f"{label} step %"] = row[f"{label} J/tok %"] = None
                    continue
                s_per_token, j_per_token = pair
                step_s = anchor.decode_step_s + s_per_token * extra_tokens
                j_per_step = anchor.decode_j_per_step + j_per_token * extra_tokens
                row[f"{label} step %"] = round(100 * (step_s / held.decode_step_s - 1), 1)
                row[f"{label} J/tok %"] = round(100 * (j_per_step / held.decode_j_per_step - 1), 1)
            rows.append(row)
    return pd.DataFrame(rows)


def _error_pct(predicted: float, measured: float) -> float:
    return round(100 * (predicted / measured - 1), 1)


def lengths_check(store: Store, model: str | None = None, hardware: str | None = None) -> pd.DataFrame:
    """Per whole-request point measured with its phases apart: its tok/s, J/token and TPOT
    predicted from each measurement of the same configuration and batch at another prompt length
    (any run), with the KV slopes fitted without the predicted prompt length (errors in %)."""
    catalog = load_catalog()
    wanted_model, wanted_hardware = _wanted(catalog, model, hardware)
    measured = [p for p in usable_operating_points(store) if p.decode_step_s is not None and p.prompt_tokens is not None]
    rows: list[dict[str, object]] = []
    for held in sorted(measured, key=lambda p: (configuration_key(p), p.load, p.prompt_tokens or 0, p.measurement_id)):
        if (wanted_model and held.model != wanted_model) or (wanted_hardware and held.hardware != wanted_hardware):
            continue
        others = [p for p in measured if p.prompt_tokens != held.prompt_tokens]
        windows = decode_windows(others)
        for source in others:
            if (configuration_key(source), source.load, source.output_tokens) != (configuration_key(held), held.load, held.output_tokens):
                continue
            predicted = derived_point(source, held.prompt_tokens or 0, held.output_tokens, windows, catalog)
            if predicted is None or predicted.lengths_from is None:
                continue
            rows.append({"model": held.model, "hardware": held.hardware, "runtime": held.runtime, "gpus": held.gpus_per_replica,
                         "batch": held.load, "prompt": held.prompt_tokens, "from prompt": source.prompt_tokens,
                         "tok/s": round(held.tok_s), "mJ/tok": round(1000 * held.joules_per_token, 1),
                         "tok/s %": _error_pct(predicted.tok_s, held.tok_s), "J/tok %": _error_pct(predicted.joules_per_token, held.joules_per_token),
                         "TPOT %": _error_pct(predicted.tpot_ms, held.tpot_ms), "KV slopes": predicted.lengths_from.basis.removeprefix("KV cost ")})  # fmt: skip
    return pd.DataFrame(rows)
