"""Opening a Store the way every command does: migrated, and seeded from `data/` when new."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable

import pandas as pd

from models import Store, load_catalog
from models.catalog import DATA_PACKAGE
from planner.formats.mlenergy import V2_SOURCE, read_mlenergy_v2
from planner.formats.run_bundle import RunBundle, bundled_run_key, read_run_bundle

RUN_FOLDERS = ("reference", "runs")
"""data/reference: the shared reference runs, converted; data/runs: runs exported with
`planner export` (e.g. a torch-decode bench on a GPU) and committed."""
PUBLIC_V2_FOLDER = "public/ml-energy-leaderboard-v2"


def bundled_run_folders() -> list[Traversable]:
    """Every run bundle under data/reference/ and data/runs/, in name order within each."""
    folders = []
    for name in RUN_FOLDERS:
        root = resources.files(DATA_PACKAGE).joinpath(name)
        if root.is_dir():
            bundles = [entry for entry in root.iterdir() if entry.is_dir() and entry.joinpath("run.yaml").is_file()]
            folders += sorted(bundles, key=lambda entry: entry.name)
    return folders


def store_bundle(store: Store, bundle: RunBundle) -> tuple[int, int]:
    """(measurements added, samples added); storing a bundle twice adds nothing."""
    _, counts, samples_added = store.add_run(bundle.run, bundle.measurements, bundle.samples)
    return counts.added, samples_added


def seed(store: Store) -> None:
    """The catalogs, each bundled reference run not yet stored (reads only those), and the
    bundled ML.ENERGY v2 data if no row of it is stored."""
    store.upsert_catalog(load_catalog())
    stored = store.run_keys()
    for folder in bundled_run_folders():
        if bundled_run_key(folder) not in stored:
            store_bundle(store, read_run_bundle(folder, load_catalog()))
    if V2_SOURCE not in store.measurement_sources():
        with resources.as_file(resources.files(DATA_PACKAGE).joinpath(PUBLIC_V2_FOLDER)) as folder:
            store.add_measurements(read_mlenergy_v2(folder, load_catalog()).records)


def open_store(url: str | None = None) -> Store:
    """A Store at `url` (default: PLANNER_DB_URL or the user's SQLite file), migrated and seeded."""
    store = Store(url)
    with store.setup_lock():
        store.migrate()
        stored = store.run_keys()
        catalog = load_catalog()
        if (
            # a catalog row added since the Store was seeded (the A10G, 2026-11-28) lands in it too
            not set(catalog.gpus) <= set(store.hardware()["name"])
            or not set(catalog.llms) <= set(store.llms()["name"])
            or any(bundled_run_key(folder) not in stored for folder in bundled_run_folders())
            or V2_SOURCE not in store.measurement_sources()
        ):
            seed(store)
    return store


@dataclass(frozen=True)
class StoreOverview:
    """What `planner db info` shows: where the Store is, its rows, its measurements and runs."""

    url: str
    schema_revision: str | None
    row_counts: dict[str, int]
    measurements: pd.DataFrame
    """Measurements grouped by source, task, model, GPU and runtime, with their batch sizes."""
    runs: pd.DataFrame


def store_overview(store: Store) -> StoreOverview:
    measurements = store.measurements()
    grouped = measurements
    if not measurements.empty:
        grouped = (
            measurements.groupby(["source", "workload_profile", "model", "hardware", "runtime"], dropna=False)
            .agg(points=("id", "count"), loads=("batch", lambda loads: ",".join(str(int(v)) for v in sorted(loads.dropna()))))
            .reset_index()
        )
    runs = store.runs()
    if not runs.empty:
        runs = runs[["source_key", "tool", "gpu_name", "started_at"]]
    return StoreOverview(store.display_url, store.schema_revision(), store.row_counts(), grouped, runs)
