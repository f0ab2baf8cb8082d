"""`planner model-check`: the batch curves held out against the bundled sweeps."""

from __future__ import annotations

from planner.cli import main


def test_model_check_holds_out_each_point_of_the_bundled_sweeps(sqlite_url, capsys):
    assert main(["--db", sqlite_url, "model-check", "--model", "llama-8b", "--hardware", "H200"]) == 0
    out = capsys.readouterr().out
    assert "reference/h200-2026-11-26" in out and "1,4,16,64,256" in out
    assert "gemma" not in out  # the filters hold
    assert main(["--db", sqlite_url, "model-check", "--model", "no-such-model"]) == 2
