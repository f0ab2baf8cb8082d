"""Every bundled scenario plans as it did when its placement was recorded (tests/planner/recorded_plans/).

The files were written by `planner plan SCENARIO -o FILE` on a fresh Store before the optimizer was
split into its rooms, and re-recorded as placement files version 2 when replicas became shared
(#17): example and mixed-fleet (one workload per model) kept every row and figure; large.yaml's
three llama-3.1-8b workloads now share replicas (1 GPU and 0.9 % of the joules fewer; its old plan
is the "own replicas per workload" baseline, to the last digit). A refactoring that changes a
placement or a figure fails here. Re-record only for a change that is meant to move plans (new
bundled data, a model change), and say so in the commit.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

import planner
from planner.formats.placement import Placement, read_placement

RECORDED = Path(__file__).parent / "recorded_plans"
SCENARIOS = sorted(path.stem for path in RECORDED.glob("*.yaml"))


def _figures(placement: Placement) -> dict[str, object]:
    """Everything a user reads in a placement file but the shadow prices and the proven gap (what
    the solver's search proved, not what it planned: presolve with the start as a cutoff, #14,
    proves the same plans to other gaps within the 0.1 % target)."""
    content = placement.model_dump(mode="json")
    content.pop("shadow_prices")
    for holder in (content, content["summary"]):
        assert 0.0 <= holder.pop("gap") <= 1e-3
    return content


def test_every_bundled_scenario_has_a_recorded_plan() -> None:
    bundled = sorted(Path(entry.name).stem for entry in resources.files("planner_data").joinpath("scenarios").iterdir())
    assert SCENARIOS == bundled


@pytest.mark.parametrize("name", SCENARIOS)
def test_bundled_scenario_plans_as_recorded(name: str, sqlite_url: str) -> None:
    recorded = read_placement(RECORDED / f"{name}.yaml")
    with resources.as_file(resources.files("planner_data").joinpath(f"scenarios/{name}.yaml")) as scenario:
        fresh = planner.plan(scenario, planner.open_store(sqlite_url)).to_placement()
    assert _figures(fresh) == _figures(recorded)
    assert [p.resource for p in fresh.shadow_prices] == [p.resource for p in recorded.shadow_prices]
    for new, old in zip(fresh.shadow_prices, recorded.shadow_prices, strict=True):
        if (new.objective_change_per_unit is None) != (old.objective_change_per_unit is None):
            # resolved in one run, not in the other: the resolved value must lie within the other's resolution
            unresolved, resolved = (new, old) if new.objective_change_per_unit is None else (old, new)
            assert resolved.objective_change_per_unit is not None
            assert abs(resolved.objective_change_per_unit) <= unresolved.resolution + resolved.resolution
        elif new.objective_change_per_unit is not None and old.objective_change_per_unit is not None:
            tolerance = new.resolution + old.resolution + 1e-6 * abs(old.objective_change_per_unit)
            assert abs(new.objective_change_per_unit - old.objective_change_per_unit) <= tolerance + 1e-9
