"""`planner bench`: a load generator driven level by level, each level's measurement stored as taken."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from models import Catalog, CatalogError, Store
from planner.errors import InputError
from planner.runs import rounded, sample_writer, start_run
from telemetry.bench import BenchSettings, LevelOutcome, run_bench
from telemetry.collector import Collector
from telemetry.loadgen import Workload
from telemetry.sources import EnergySource


def resolve_bench_names(catalog: Catalog, model: str, hardware: str | None, source: EnergySource) -> tuple[str, str]:
    """The catalog's names for the model and the GPU (from the card's own name by default)."""
    try:
        model_name = catalog.resolve("llm", model)
        if hardware is None:
            names = {gpu.name for gpu in source.gpus()}
            if len(names) != 1:
                raise InputError(f"the GPUs are {sorted(names)}: name the type. To fix: pass --hardware.")
            hardware = names.pop()
        return model_name, catalog.resolve("gpu", hardware)
    except CatalogError as error:
        raise InputError(f"{error}. To fix: pass --model/--hardware as the catalog names them (see data/).") from error


def bench(
    store: Store,
    source: EnergySource,
    workload: Workload,
    settings: BenchSettings,
    rate_hz: float,
    on_level: Callable[[LevelOutcome], None],
) -> list[LevelOutcome]:
    """Run the sweep; store each level's measurement as soon as it is taken."""
    run_id, _ = start_run(store, source, "planner bench", runtime=settings.runtime, key=settings.source)
    collector = Collector(source, sink=sample_writer(store, run_id), rate_hz=rate_hz, min_window_s=settings.window_s)

    def store_level(outcome: LevelOutcome) -> None:
        if outcome.measurement is not None:
            store.add_measurements([outcome.measurement])
        on_level(outcome)

    try:
        with collector:
            return run_bench(collector, workload, settings, store_level)
    finally:
        source.close()


def bench_table(outcomes: list[LevelOutcome]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                # a phased workload (torch-decode) runs static batches, not requests in flight
                ("batch" if outcome.prefill is not None else "concurrency"): outcome.concurrency,
                "tok_s": rounded(outcome.output_tok_s, 1),
                "tpot_p95_ms": rounded(outcome.tpot_p95_ms, 2),
                "ttft_ms": rounded(outcome.ttft_ms, 1),
                "W": rounded(outcome.window.mean_power_w if outcome.window else None, 0),
                "mJ_per_tok": rounded(None if outcome.j_per_token is None else outcome.j_per_token * 1000, 2),
                "stored": outcome.measurement is not None,
                "flag": "; ".join(outcome.problems + tuple(outcome.window.notes if outcome.window else ())),
            }
            for outcome in outcomes
        ]
    )
