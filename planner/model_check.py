"""`planner model-check`: how well the batch curves of simulator/performance.py predict the Store's
own measurements, each point predicted from the rest of its sweep (leave-one-out)."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd

from models import Store, load_catalog
from optimizer.operating_point import OperatingPoint
from planner.stored_points import usable_operating_points
from simulator.performance import BatchPoint, HeldOut, leave_one_out

SweepKey = tuple[str, str, str, int, str, int, str]
"""(model, hardware, runtime, GPUs per replica, prompt tokens or task, output tokens, source)."""


def sweeps(points: list[OperatingPoint]) -> dict[SweepKey, list[OperatingPoint]]:
    """Measurements of one configuration at one request shape from one source, across batches:
    what one set of curves describes (sources are not mixed: labs differ)."""
    found: dict[SweepKey, list[OperatingPoint]] = defaultdict(list)
    for p in points:
        found[sweep_key(p)].append(p)
    return found


def sweep_key(point: OperatingPoint) -> SweepKey:
    shape = point.workload_profile or str(point.prompt_tokens)
    return (point.model, point.hardware, point.runtime, point.gpus_per_replica, shape, point.output_tokens, point.source)


def _worst(held: list[HeldOut], attribute: str) -> float | None:
    errors = [abs(getattr(h, attribute)) for h in held]
    return round(100 * max(errors), 1) if errors else None


def model_check(store: Store, model: str | None = None, hardware: str | None = None) -> pd.DataFrame:
    """Per sweep of three or more batches: the largest leave-one-out error in %, for points inside
    the others' batch range (interpolated) and at its ends (extrapolated), of tok/s, TPOT and J/token."""
    catalog = load_catalog()
    wanted_model = None if model is None else catalog.resolve("llm", model)
    wanted_hardware = None if hardware is None else catalog.resolve("gpu", hardware)
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
