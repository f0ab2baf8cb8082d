"""`planner validate` trusts nothing in the file: each hand edit below is caught, by the line that names it."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from planner.cli import main

EXAMPLE_TEXT = resources.files("planner_data").joinpath("scenarios/example.yaml").read_text()
Edit = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("validate")
    url = f"sqlite:///{folder / 'store.db'}"
    scenario = folder / "example.yaml"
    scenario.write_text(EXAMPLE_TEXT)
    output = folder / "p.yaml"
    assert main(["--db", url, "plan", str(scenario), "-o", str(output), "--no-baselines"]) == 0
    return url, scenario, yaml.safe_load(output.read_text())


def _row(content: dict[str, Any], hardware: str | None = None) -> dict[str, Any]:
    return next(r for r in content["placements"] if hardware is None or r["hardware"] == hardware)


def _negative_replicas_balanced_by_another_row(content: dict[str, Any]) -> None:
    rows = content["placements"]
    rows[0]["replicas"], rows[1]["replicas"] = -1, rows[1]["replicas"] + rows[0]["replicas"] + 1


def _set(path: tuple[Any, ...], value: Any) -> Edit:
    def edit(content: dict[str, Any]) -> None:
        target = content
        for key in path[:-1]:
            target = target[key] if not callable(key) else key(target)
        target[path[-1]] = value

    return edit


def _scale(path: tuple[Any, ...], factor: float) -> Edit:
    def edit(content: dict[str, Any]) -> None:
        target = content
        for key in path[:-1]:
            target = target[key] if not callable(key) else key(target)
        target[path[-1]] *= factor

    return edit


def _swap_hardware(content: dict[str, Any]) -> None:
    row = _row(content, "H100-SXM-80GB")
    row["hardware"] = "A100-SXM4-40GB"


def _more_utilization_fewer_replicas(content: dict[str, Any]) -> None:
    content["max_utilization"] = 1.0
    row = max(content["placements"], key=lambda r: r["replicas"])
    row["replicas"] -= 1
    row["gpus"] = row["replicas"] * row["config"]["gpus_per_replica"]
    row["power_w"] = row["replicas"] * row["replica_power_w"]
    row["peak_power_w"] = row["replicas"] * row["replica_peak_power_w"]
    row["utilization"] = sum(s["tokens_per_s"] / s["replica_tokens_per_s"] for s in row["serves"]) / row["replicas"]


CASES: list[tuple[str, Edit, int, str]] = [
    ("negative replicas", _negative_replicas_balanced_by_another_row, 2, "replicas: Input should be greater than or equal to 1"),
    ("fractional replicas", _set(("placements", 0, "replicas"), 2.5), 2, "replicas: Input should be a valid integer"),
    ("an unknown field", _set(("placements", 0, "discount"), 0.5), 2, "discount: Extra inputs are not permitted"),
    ("utilisation cap raised", _more_utilization_fewer_replicas, 1, "max_utilization stated 1, the scenario's is 0.8"),
    ("summary total", _scale(("summary", "facility_power_kw"), 0.9), 1, "summary: facility_power_kw stated"),
    ("summary J/token", _scale(("summary", "joules_per_token"), 0.5), 1, "summary: joules_per_token stated"),
    ("row power", _scale(("placements", 0, "power_w"), 0.5), 1, "power_w stated"),
    ("row J/token", _scale(("placements", 0, "serves", 0, "joules_per_token"), 0.5), 1, "joules_per_token stated"),
    ("row TPOT", _scale(("placements", 0, "serves", 0, "tpot_ms"), 0.5), 1, "tpot_ms stated"),
    ("a group claims sharing", _set(("placements", 0, "shared"), True), 1, "says shared, but no other workload"),
    ("row batch", _set(("placements", 0, "config", "batch"), 4096), 1, "config stated"),
    ("row utilisation", _set(("placements", 0, "utilization"), 0.1), 1, "utilization stated 0.1"),
    ("row source", _set(("placements", 0, "serves", 0, "source"), "my own lab"), 1, "source stated 'my own lab'"),
    ("hardware swapped", _swap_hardware, 1, "hardware stated 'A100-SXM4-40GB', recomputed 'H100-SXM-80GB'"),
    ("a site's budget echoed higher", _scale(("sites", 0, "power_budget_kw"), 10), 1, "sites differ from the scenario's"),
]


@pytest.mark.parametrize(("edit", "code", "fragment"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_hand_edit_is_caught(planned, tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: Edit, code: int, fragment: str) -> None:
    url, scenario, content = planned
    edited = yaml.safe_load(yaml.safe_dump(content))
    edit(edited)
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(edited, sort_keys=False))
    capsys.readouterr()
    assert main(["--db", url, "validate", str(path), str(scenario)]) == code
    captured = capsys.readouterr()
    assert fragment in captured.out + captured.err


def test_the_untouched_file_is_valid(planned, tmp_path: Path) -> None:
    url, scenario, content = planned
    path = tmp_path / "same.yaml"
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    assert main(["--db", url, "validate", str(path), str(scenario)]) == 0


def test_a_shared_group_validates_and_its_edits_are_caught(tmp_path: Path) -> None:
    """Two workloads of one model share replicas; validate recomputes each group from its shares."""
    content = yaml.safe_load(EXAMPLE_TEXT)
    chat = content["workloads"][0]
    content["workloads"] = [
        {**chat, "name": "chat-a", "tokens_per_s": 3000},
        {**chat, "name": "chat-b", "tokens_per_s": 2500},
        content["workloads"][1],
    ]
    scenario = tmp_path / "shared.yaml"
    scenario.write_text(yaml.safe_dump(content))
    url = f"sqlite:///{tmp_path / 'store.db'}"
    output = tmp_path / "p.yaml"
    assert main(["--db", url, "plan", str(scenario), "-o", str(output), "--no-baselines"]) == 0
    planned = yaml.safe_load(output.read_text())
    shared = [r for r in planned["placements"] if r["shared"]]
    assert shared and {s["workload"] for r in shared for s in r["serves"]} == {"chat-a", "chat-b"}
    assert main(["--db", url, "validate", str(output), str(scenario)]) == 0
    shared[0]["serves"][0]["tokens_per_s"] *= 0.5
    output.write_text(yaml.safe_dump(planned))
    assert main(["--db", url, "validate", str(output), str(scenario)]) == 1


def test_a_workload_held_to_its_sites_is_planned_there_and_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`sites:` per workload: the plan keeps chat-8b at dc-east; a file serving it elsewhere is caught."""
    content = yaml.safe_load(EXAMPLE_TEXT)
    content["workloads"][0]["sites"] = ["dc-east"]
    held = tmp_path / "held.yaml"
    held.write_text(yaml.safe_dump(content))
    db = f"sqlite:///{tmp_path / 'store.db'}"
    free, kept = tmp_path / "free.yaml", tmp_path / "kept.yaml"
    (tmp_path / "example.yaml").write_text(EXAMPLE_TEXT)
    assert main(["--db", db, "plan", str(tmp_path / "example.yaml"), "-o", str(free), "--no-baselines"]) == 0
    assert main(["--db", db, "plan", str(held), "-o", str(kept), "--no-baselines"]) == 0
    chat_sites = lambda path: {r["site"] for r in yaml.safe_load(path.read_text())["placements"] for s in r["serves"] if s["workload"] == "chat-8b"}  # noqa: E731
    assert chat_sites(kept) == {"dc-east"} and chat_sites(free) != {"dc-east"}
    capsys.readouterr()
    assert main(["--db", db, "validate", str(kept), str(held)]) == 0
    assert main(["--db", db, "validate", str(free), str(held)]) == 1
    assert "which is not among its sites" in capsys.readouterr().out
