"""Every dashboard page driven through streamlit's AppTest on a real SQLite Store."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from planner.planning import plan
from planner.store_setup import open_store

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


@pytest.fixture
def app(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("PLANNER_DB_URL", sqlite_url)
    open_store(sqlite_url)  # migrate and seed once, outside the page's timeout
    test = AppTest.from_file(APP, default_timeout=120)
    return test.run()


def _texts(test: AppTest) -> str:
    parts = [e.value for e in test.markdown] + [e.value for e in test.caption] + [str(m.value) for m in test.metric]
    parts += [e.value for e in test.error] + [e.value for e in test.warning] + [e.value for e in test.success]
    return "\n".join(map(str, parts))


def test_measurements_page_filters_and_shows_the_pareto_front(app: AppTest):
    assert not app.exception
    assert app.title[0].value == "Measurements"
    model = app.multiselect[0]
    model.set_value(["llama-3.1-8b"]).run()
    assert not app.exception
    assert "operating points" in _texts(app)
    app.number_input[0].set_value(8.0).run()
    best = app.metric[0]
    assert best.label == "Fewest mJ/token within 8 ms"
    assert float(best.value) > 0
    app.selectbox[0].select_index(len(app.selectbox[0].options) - 1).run()
    assert "moving average" in _texts(app)  # the power trace of the chosen run is drawn
    assert not app.exception


def test_plan_page_solves_the_example_like_the_cli(app: AppTest, sqlite_url: str):
    app.switch_page("views/plan.py").run()
    assert not app.exception and app.title[0].value == "Plan"
    app.selectbox[0].set_value("example").run()
    app.button[0].click().run()
    assert not app.exception, app.exception
    expected = plan(Path(__file__).resolve().parents[2] / "data" / "scenarios" / "example.yaml", store=open_store(sqlite_url))
    summary = expected.to_placement().summary
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Fleet mJ/token"] == f"{summary.joules_per_token * 1000:.1f}"
    assert metrics["GPUs"] == str(summary.gpus)
    assert app.get("download_button")


def test_plan_page_edits_demand_into_an_infeasible_plan_with_reasons(app: AppTest):
    app.switch_page("views/plan.py").run()
    app.selectbox[0].set_value("example").run()
    app.session_state["workloads"] = {"edited_rows": {0: {"tokens_per_s": 5_000_000.0}}, "added_rows": [], "deleted_rows": []}
    app.button[0].click().run()
    assert not app.exception
    assert "No placement meets this scenario" in _texts(app)


def test_plan_page_refuses_an_invalid_scenario_in_words(app: AppTest):
    app.switch_page("views/plan.py").run()
    app.selectbox[0].set_value("example").run()
    app.session_state["workloads"] = {"edited_rows": {0: {"tpot_ms": -5.0}}, "added_rows": [], "deleted_rows": []}
    app.button[0].click().run()
    assert not app.exception
    assert "tpot_ms" in " ".join(e.value for e in app.error)


def test_forecast_page_marks_each_month(app: AppTest):
    app.switch_page("views/forecast.py").run()
    assert not app.exception and app.title[0].value == "Forecast"
    app.selectbox[0].set_value("example").run()
    app.number_input[0].set_value(3)
    app.button[0].click().run()
    assert not app.exception, app.exception
    assert "Every site holds for the whole horizon of 3 months" in _texts(app)
    assert len(app.dataframe) == 1 and len(app.dataframe[0].value) == 3 * 2  # three months, two sites


def test_an_empty_store_says_so_instead_of_failing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from models import Store

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    Store(url).migrate()
    monkeypatch.setenv("PLANNER_DB_URL", url)
    test = AppTest.from_file(APP, default_timeout=60).run()
    assert not test.exception


def test_simulate_page_plans_replays_and_reads_the_slos(app: AppTest):
    app.switch_page("views/simulate.py").run()
    assert not app.exception and app.title[0].value == "Simulate"
    app.selectbox[0].set_value("example").run()
    app.number_input[0].set_value(5.0).run()
    app.button[0].click().run()
    assert not app.exception, app.exception
    tables = app.dataframe
    assert set(tables[0].value["workload"]) == {"chat-8b", "assistant-32b"}
    assert "SLO missed by" in _texts(app) or "meets its SLO" in _texts(app)
    assert set(tables[2].value["site"]) == {"dc-east", "eu-north"} and tables[2].value["within budget"].all()
    assert len(tables[3].value) == 12  # the example's plan: 12 replicas, one row each


def test_schedule_page_follows_the_day_and_compares_baselines(app: AppTest):
    app.switch_page("views/schedule.py").run()
    assert not app.exception and app.title[0].value == "Schedule"
    app.selectbox[0].set_value("example").run()
    app.selectbox[1].set_value("example-day").run()
    app.button[0].click().run()
    assert not app.exception, app.exception
    assert "optimal" in _texts(app) or "feasible" in _texts(app)
    comparison, intervals = app.dataframe[0].value, app.dataframe[1].value
    assert list(comparison["plan"])[:2] == ["schedule (energy)", "static peak plan"]
    assert len(intervals) == 24
    # the static plan runs the peak's replicas every hour: never fewer kWh than the schedule
    assert comparison["kWh"].iloc[1] >= comparison["kWh"].iloc[0]
    assert intervals["replicas"].max() > intervals["replicas"].min()
