"""`planner model-check --simulate` on the bundled measurements: every batch of every sweep held out
and simulated with its benchmark's setup (the issue's bar: median error <= 10 % on throughput and
J/token over every held-out point)."""

from __future__ import annotations

import pytest

from planner.calibration import simulated_holdout, summary
from planner.cli import main
from planner.store_setup import open_store


def test_held_out_batches_are_simulated_within_the_bar(sqlite_url: str) -> None:
    table, notes = simulated_holdout(open_store(sqlite_url))
    assert set(table["source"]) >= {"ML.ENERGY leaderboard v2", "reference/h200-2026-11-26", "reference/h100-2026-11-26"}
    # every point of every sweep of three or more batches is held out once
    assert not table.duplicated(["model", "hardware", "gpus", "prompt", "output", "source", "batch", "tok/s measured"]).any()
    figures = summary(table).set_index(["points", "metric"])
    assert figures.loc[("every held-out point", "tok/s"), "median |error| %"] <= 10
    assert figures.loc[("every held-out point", "J/tok"), "median |error| %"] <= 10
    assert figures.loc[("interpolated only", "tok/s"), "n"] < figures.loc[("every held-out point", "tok/s"), "n"]
    assert any("nominal" in note for note in notes)
    # the simulated figures are the run's own: J/token is never below idle power over throughput
    assert (table["J/tok simulated"] > 0).all() and (table["tok/s simulated"] > 0).all()


def test_the_command_prints_the_points_and_the_medians(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", sqlite_url, "model-check", "--simulate", "--model", "llama-3.2-1b"]) == 0
    printed = capsys.readouterr().out
    assert "median |error| %" in printed and "llama-3.2-1b" in printed and "gemma" not in printed
