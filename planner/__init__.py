"""Front door: the `planner` CLI and the Python API over the Store, telemetry and the optimizer.

    import planner
    store = planner.open_store()                 # SQLite in your data dir, seeded on first use
    table = planner.operating_points_table(store, model="llama-3.1-8b")
    result = planner.plan("data/scenarios/example.yaml", store)   # .placements, .summary, .to_file()
"""

from planner.errors import InputError, PlannerError
from planner.operating_points import operating_points_table
from planner.plan import Plan, plan
from planner.store_setup import open_store

__all__ = ["InputError", "Plan", "PlannerError", "open_store", "operating_points_table", "plan"]
