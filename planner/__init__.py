"""Front door: the `planner` CLI and the Python API over the Store, telemetry and the optimizer.

    import planner
    store = planner.open_store()                 # SQLite in your data dir, seeded on first use
    table = planner.operating_points_table(store, model="llama-3.1-8b")
    result = planner.plan("data/scenarios/example.yaml", store)   # .placements, .summary, .to_file()
    timeline = planner.forecast(None, "data/scenarios/example.yaml", horizon_months=6, store=store)
    replay = planner.simulate("p.yaml", "data/scenarios/example.yaml", store, {"chat-8b": "conv.csv", ...})  # .table, .energy
    day = planner.schedule("data/scenarios/large.yaml", "demand.csv", "sites.csv", store)  # .figures, .to_file()
"""

from planner.errors import USER_ERRORS, InputError, PlannerError
from planner.forecasting import Forecast, forecast
from planner.planning import Plan, plan
from planner.scheduling import Schedule, schedule
from planner.simulating import Simulation
from planner.simulating import simulate_placement as simulate
from planner.store_setup import open_store
from planner.stored_points import operating_points_table

__all__ = [
    "USER_ERRORS",
    "Forecast",
    "InputError",
    "Plan",
    "PlannerError",
    "Schedule",
    "Simulation",
    "forecast",
    "open_store",
    "operating_points_table",
    "plan",
    "schedule",
    "simulate",
]
