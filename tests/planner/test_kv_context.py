"""The KV context's cost: slopes recovered from windows on the linear model, and on the bundled GPU
runs the context check the README quotes (decode windows at other prompt lengths predicted)."""

from __future__ import annotations

import pytest

from models import load_catalog
from optimizer.operating_point import OperatingPoint
from planner.cli import main
from planner.kv_context import decode_windows, fitted_slopes, kv_cost, reference_tokens
from planner.model_check import context_check
from planner.store_setup import open_store
from planner.stored_points import usable_operating_points

S_PER_TOKEN, J_PER_TOKEN = 4e-8, 2.5e-5


def window(batch: int, prompt: int, runtime: str = "torch-decode", output: int = 128) -> OperatingPoint:
    """A decode window on the linear model: each batch its own intercept, one slope per KV token read."""
    tokens = batch * (reference_tokens(runtime, prompt, output) or 0)
    step_s, j_per_step = 0.008 + 1e-5 * batch + S_PER_TOKEN * tokens, 2.9 + 0.02 * batch + J_PER_TOKEN * tokens
    return OperatingPoint(
        measurement_id=batch * 100_000 + prompt, source="test", source_key=f"test/{batch}/{prompt}", model="llama-3.1-8b",
        hardware="H100-SXM-80GB", runtime=runtime, gpus_per_replica=1, load=batch, prompt_tokens=prompt, output_tokens=output,
        tok_s=batch / step_s, power_w=j_per_step / step_s, peak_power_w=700.0, ttft_ms=None, ttft_stat=None,
        tpot_ms=1000 * step_s, tpot_stat="mean", prefill_energy_estimated=False, peak_power_estimated=False,
        decode_step_s=step_s, decode_j_per_step=j_per_step,
    )  # fmt: skip


def test_slopes_are_recovered_across_prompt_lengths_with_each_batch_its_own_intercept():
    windows = [window(b, p) for b in (1, 16, 64) for p in (512, 2048)] + [window(1, 32768)]
    slopes = fitted_slopes(windows)
    assert slopes is not None
    assert slopes.s_per_token == pytest.approx(S_PER_TOKEN) and slopes.j_per_token == pytest.approx(J_PER_TOKEN)
    assert slopes.prompts == (512, 2048, 32768) and slopes.batches == (1, 16, 64)
    # one prompt length, or batches that never meet at two: nothing to fit
    assert fitted_slopes([window(b, 512) for b in (1, 16, 64)]) is None
    assert fitted_slopes([window(1, 512), window(16, 2048)]) is None


def test_a_replica_gets_measured_slopes_the_roofline_or_none_and_says_which():
    catalog, notes = load_catalog(), []
    windows = [window(b, p) for b in (1, 16) for p in (512, 4096)]
    measured = kv_cost(windows[0], decode_windows(windows), catalog, notes)
    assert measured is not None and measured.basis == "measured at prompts 512, 4096" and notes == []
    assert measured.reference_tokens == 512 + 128  # the static cache: prompt and every output slot
    served = kv_cost(window(4, 512, runtime="vllm"), decode_windows([window(4, 512, runtime="vllm")]), catalog, notes)
    assert served is not None and served.basis == "roofline" and served.reference_tokens == 512 + 64
    # llama-3.1-8b reads 131,072 KV bytes a token; 92 % of the H100's 3.35 TB/s, at its 700 W TDP
    assert served.s_per_token == pytest.approx(131_072 / (3.35e12 * 0.92)) and served.j_per_token == pytest.approx(served.s_per_token * 700)
    assert any("roofline" in note for note in notes)
    unknown = OperatingPoint(**{**window(4, 512).__dict__, "prompt_tokens": None})
    assert kv_cost(unknown, {}, catalog, notes) is None and any("no prompt length" in note for note in notes)


def test_the_bundled_context_grid_is_predicted_within_two_percent(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    table = context_check(open_store(sqlite_url), model="llama-3.1-8b").set_index(["hardware", "runtime", "prompt", "batch"])
    grid = table.loc[("H100-SXM-80GB", "torch-decode")]
    assert set(grid.index.get_level_values("prompt")) == {2048, 8192, 32768}
    # context-blind, the step is a third short at batch 16 and prompt 8192; the fitted slopes, held out, are within 2 %
    assert grid.loc[(8192, 16), "blind step %"] < -30 and grid.loc[(8192, 16), "blind J/tok %"] < -40
    assert grid["fitted step %"].abs().max() <= 2 and grid["fitted J/tok %"].abs().max() <= 2
    # the reference runs (another day, another method, a growing cache) against the roofline
    reference = table.loc[("H100-SXM-80GB", "graph")]
    assert reference["roofline step %"].abs().max() <= 2 and reference["blind step %"].min() < -25
    assert main(["--db", sqlite_url, "model-check", "--context", "--hardware", "h200"]) == 0
    printed = capsys.readouterr().out
    assert "H200-SXM-141GB" in printed and "H100-SXM-80GB" not in printed and "roofline step %" in printed
    assert main(["--db", sqlite_url, "model-check", "--context", "--simulate"]) == 2


def test_every_replica_of_the_bundled_sweeps_knows_where_its_kv_cost_comes_from(sqlite_url: str) -> None:
    points = usable_operating_points(open_store(sqlite_url))
    catalog, notes, windows = load_catalog(), [], decode_windows(points)
    by_basis = {}
    for point in points:
        cost = kv_cost(point, windows, catalog, notes)
        by_basis[(point.model, point.hardware, point.runtime)] = None if cost is None else cost.basis
    assert by_basis[("llama-3.1-8b", "H100-SXM-80GB", "torch-decode")] == "measured at prompts 512, 2048, 8192, 32768"
    assert by_basis[("llama-3.2-1b", "H100-SXM-80GB", "torch-decode")] == "roofline"
    assert by_basis[("llama-3.1-8b", "H100-SXM-80GB", "vllm")] is None  # ML.ENERGY publishes no prompt lengths
