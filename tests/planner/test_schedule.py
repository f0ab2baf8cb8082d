"""`planner schedule` as a user runs it: the example scenario over a few hours, its file checked
against its own rows, every bad series in one line with exit 2, an unservable interval named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from planner.cli import main
from planner.formats.placement import read_placement
from planner.formats.schedule_file import read_schedule

SCENARIO = Path(__file__).resolve().parents[2] / "data" / "scenarios" / "example.yaml"
HOURS = ["2026-11-20T00:00:00Z", "2026-11-20T01:00:00Z", "2026-11-20T02:00:00Z", "2026-11-20T03:00:00Z"]
CHAT = [20000, 35000, 50000, 30000]
ASSISTANT = [800, 1500, 2000, 1200]


def _demand_rows() -> list[str]:
    return [f"{hour},chat-8b,{chat}\n{hour},assistant-32b,{assistant}" for hour, chat, assistant in zip(HOURS, CHAT, ASSISTANT, strict=True)]


def _site_rows() -> list[str]:
    return [f"{hour},dc-east,{300 + 40 * i},{0.10 + 0.02 * i:.2f}\n{hour},eu-north,{40 + 10 * i},0.08" for i, hour in enumerate(HOURS)]


def _write(tmp_path: Path, demand: list[str], sites: list[str], demand_header: str = "timestamp,workload,tokens_per_s") -> tuple[Path, Path]:
    demand_path, sites_path = tmp_path / "demand.csv", tmp_path / "sites.csv"
    demand_path.write_text("\n".join([demand_header, *demand]) + "\n")
    sites_path.write_text("\n".join(["timestamp,site,carbon_g_per_kwh,usd_per_kwh", *sites]) + "\n")
    return demand_path, sites_path


def _run(sqlite_url: str, demand: Path, sites: Path, *extra: str) -> int:
    return main(["--db", sqlite_url, "schedule", str(SCENARIO), "--demand", str(demand), "--sites", str(sites), *extra])


def test_schedule_follows_demand_and_its_file_adds_up(sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demand, sites = _write(tmp_path, _demand_rows(), _site_rows())
    output = tmp_path / "schedule.yaml"
    assert _run(sqlite_url, demand, sites, "-o", str(output)) == 0
    printed = capsys.readouterr().out
    assert "static peak plan" in printed and "carbon optimum" in printed
    content = read_schedule(output)
    assert content.status == "optimal" and len(content.intervals) == 4
    for entry, chat, assistant in zip(content.intervals, CHAT, ASSISTANT, strict=True):
        assert entry.demand_tok_s == {"chat-8b": chat, "assistant-32b": assistant}
        served: dict[str, float] = {}
        for row in entry.placements:
            for share in row.serves:
                served[share.workload] = served.get(share.workload, 0.0) + share.tokens_per_s
        assert served == pytest.approx(entry.demand_tok_s)
        assert entry.gpus == sum(row.gpus for row in entry.placements)
        for site in entry.sites:
            assert site.peak_facility_power_kw <= site.power_budget_kw + 1e-9
    assert content.horizon is not None
    assert content.horizon.energy_kwh == pytest.approx(sum(e.totals.energy_kwh for e in content.intervals))
    assert content.horizon.kg_co2 == pytest.approx(sum(e.totals.kg_co2 or 0.0 for e in content.intervals))
    # more replicas at the peak hour than at the quietest
    assert content.intervals[2].replicas > content.intervals[0].replicas
    static = next(b for b in content.baselines if b.name == "static peak plan")
    assert static.totals is not None and static.schedule_saves is not None
    assert static.schedule_saves.energy_kwh == pytest.approx(static.totals.energy_kwh - content.horizon.energy_kwh)
    assert static.schedule_saves.energy_kwh >= -1e-9


def test_requests_per_s_are_turned_into_tokens(sqlite_url: str, tmp_path: Path) -> None:
    rows = [f"{hour},chat-8b,{chat / 128}\n{hour},assistant-32b,{assistant / 128}" for hour, chat, assistant in zip(HOURS, CHAT, ASSISTANT, strict=True)]
    demand, sites = _write(tmp_path, rows, _site_rows(), demand_header="timestamp,workload,requests_per_s")
    output = tmp_path / "schedule.json"
    assert _run(sqlite_url, demand, sites, "-o", str(output), "--no-baselines") == 0
    assert read_schedule(output).intervals[2].demand_tok_s == pytest.approx({"chat-8b": 50000, "assistant-32b": 2000})


def _swap(rows: list[str], old: str, new: str) -> list[str]:
    return [row.replace(old, new, 1) for row in rows]


BAD: dict[str, tuple[Callable[[], tuple[list[str], list[str]]], str]] = {
    "gap": (lambda: (_demand_rows()[:2] + _demand_rows()[3:], _site_rows()), "a gap between"),
    "repeated": (lambda: (_demand_rows() + [_demand_rows()[3]], _site_rows()), "repeats its row before"),
    "unordered": (lambda: ([_demand_rows()[1], _demand_rows()[0], *_demand_rows()[2:]], _site_rows()), "is earlier than"),
    "no zone": (lambda: (_swap(_demand_rows(), "00:00:00Z", "00:00:00"), _site_rows()), "has no zone"),
    "unknown site": (lambda: (_demand_rows(), _swap(_site_rows(), "eu-north", "eu-south")), "site eu-south is not in the scenario"),
    "unknown workload": (lambda: (_swap(_demand_rows(), "chat-8b", "chat-70b"), _site_rows()), "is not in the scenario"),
    "negative": (lambda: (_swap(_demand_rows(), ",20000", ",-20000"), _site_rows()), "is negative"),
    "site missing": (lambda: (_demand_rows(), [row.split("\n")[0] if i == 2 else row for i, row in enumerate(_site_rows())]), "eu-north has no row for"),
    "other horizon": (lambda: (_demand_rows(), _site_rows()[:3]), "To fix: give both for the same horizon"),
    "not a number": (lambda: (_swap(_demand_rows(), ",20000", ",lots"), _site_rows()), "is not a number"),
    "no rows": (lambda: ([], _site_rows()), "has a header but no rows"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_series_end_in_one_line(case: str, sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make, fragment = BAD[case]
    demand, sites = _write(tmp_path, *make())
    output = tmp_path / "schedule.yaml"
    assert _run(sqlite_url, demand, sites, "-o", str(output)) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and error.startswith("planner: error:")
    assert fragment in error and "To fix" in error
    assert not output.exists()


def test_missing_columns_end_in_one_line(sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demand, sites = _write(tmp_path, _demand_rows(), _site_rows(), demand_header="timestamp,workload,demand")
    assert _run(sqlite_url, demand, sites) == 2
    assert "give columns timestamp, workload and tokens_per_s or requests_per_s" in capsys.readouterr().err


def test_an_interval_without_power_is_named_with_exit_3(sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demand, _ = _write(tmp_path, _demand_rows(), _site_rows())
    sites = tmp_path / "curtailed.csv"
    budgets = [20, 20, 2, 20]
    sites.write_text(
        "timestamp,site,power_budget_kw\n"
        + "".join(f"{hour},dc-east,{kw}\n{hour},eu-north,5\n" for hour, kw in zip(HOURS, budgets, strict=True))
    )
    assert _run(sqlite_url, demand, sites, "--no-baselines") == 3
    printed = capsys.readouterr().out
    assert "interval 2026-11-20T02:00:00+00:00" in printed and "kW more" in printed


def _edited(path: Path, edit: Callable[[dict], None], target: Path) -> Path:
    import yaml

    content = yaml.safe_load(path.read_text())
    edit(content)
    target.write_text(yaml.safe_dump(content, sort_keys=False))
    return target


EDITS: dict[str, tuple[Callable[[dict], None], str]] = {
    "replicas": (lambda c: c["intervals"][1]["placements"][0].update(replicas=c["intervals"][1]["placements"][0]["replicas"] + 1), "recomputed"),
    "interval energy": (lambda c: c["intervals"][0]["totals"].update(energy_kwh=c["intervals"][0]["totals"]["energy_kwh"] * 0.9), "energy_kwh stated"),
    "horizon co2": (lambda c: c["horizon"].update(kg_co2=c["horizon"]["kg_co2"] / 2), "horizon: kg_co2 stated"),
    "saving": (lambda c: c["baselines"][0]["schedule_saves"].update(energy_kwh=1e6), "schedule_saves energy_kwh stated"),
    "demand": (lambda c: c["intervals"][2]["demand_tok_s"].update({"chat-8b": 1.0}), "demand_tok_s stated"),
    "rule": (lambda c: c["rules"].update(max_changes_per_site=0), "the limit is 0"),
    "dropped row": (lambda c: c["intervals"][3]["placements"].pop(), "serves"),
}


def test_validate_rebuilds_every_interval_and_catches_edits(sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demand, sites = _write(tmp_path, _demand_rows(), _site_rows())
    output = tmp_path / "schedule.yaml"
    assert _run(sqlite_url, demand, sites, "-o", str(output)) == 0
    validate = ["--db", sqlite_url, "validate", str(output), str(SCENARIO), "--demand", str(demand), "--sites", str(sites)]
    capsys.readouterr()
    assert main(validate) == 0, capsys.readouterr().out
    for name, (edit, fragment) in EDITS.items():
        edited = _edited(output, edit, tmp_path / f"{name.replace(' ', '-')}.yaml")
        assert main([*validate[:3], str(edited), *validate[4:]]) == 1, name
        assert fragment in capsys.readouterr().out, name
    # another demand series than the one scheduled
    demand.write_text(demand.read_text().replace(",20000", ",21000"))
    assert main(validate) == 1
    assert "not the one scheduled" in capsys.readouterr().out
    assert main(validate[:5]) == 2  # a schedule without its series
    assert "--demand FILE" in capsys.readouterr().err


def test_the_file_says_whether_weight_loads_fit_the_headroom(sqlite_url: str, tmp_path: Path) -> None:
    """llama-3.1-8b (16 GB) at 2 GB/s loads in 8 s, within 20 % of an hour; at 0.002 GB/s, 8,000 s is not."""
    demand, sites = _write(tmp_path, _demand_rows(), _site_rows())
    output = tmp_path / "schedule.yaml"
    assert _run(sqlite_url, demand, sites, "-o", str(output), "--no-baselines") == 0
    assert any("fits in the 720 s of each interval" in note for note in read_schedule(output).notes)
    assert _run(sqlite_url, demand, sites, "-o", str(output), "--no-baselines", "--load-gb-per-s", "0.002") == 0
    assert any("may fall short in the interval it starts" in note for note in read_schedule(output).notes)


def test_a_schedule_from_todays_placement_pays_for_its_first_starts(sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    demand, sites = _write(tmp_path, _demand_rows(), _site_rows())
    today = tmp_path / "today.yaml"
    assert main(["--db", sqlite_url, "plan", str(SCENARIO), "-o", str(today), "--no-baselines"]) == 0
    output = tmp_path / "schedule.yaml"
    assert _run(sqlite_url, demand, sites, "-o", str(output), "--no-baselines", "--current", str(today)) == 0
    content = read_schedule(output)
    assert content.current is not None
    running = {}
    for row in read_placement(today).placements:
        running[(row.configuration, row.site)] = running.get((row.configuration, row.site), 0) + row.replicas
    first = {}
    for row in content.intervals[0].placements:
        first[(row.configuration, row.site)] = first.get((row.configuration, row.site), 0) + row.replicas
    assert content.intervals[0].starts == sum(max(n - running.get(key, 0), 0) for key, n in first.items())
    validate = ["--db", sqlite_url, "validate", str(output), str(SCENARIO), "--demand", str(demand), "--sites", str(sites)]
    capsys.readouterr()
    assert main([*validate, "--current", str(today)]) == 0
    assert main(validate) == 1
    assert "made with a current placement; pass it" in capsys.readouterr().out
