"""The example files shipped under data/, by name, for the dashboard's pickers and for users."""

from __future__ import annotations

from contextlib import ExitStack
from importlib import resources
from pathlib import Path

from models.catalog import DATA_PACKAGE

_files = ExitStack()


def _folder(name: str) -> Path:
    """A real folder even from a zipped install (kept extracted for the process's life)."""
    return _files.enter_context(resources.as_file(resources.files(DATA_PACKAGE).joinpath(name)))


def bundled_scenarios() -> dict[str, Path]:
    return {path.stem: path for path in sorted(_folder("scenarios").glob("*.yaml"))}


def bundled_histories() -> dict[str, Path]:
    return {path.stem: path for path in sorted(_folder("history").glob("*.csv"))}


def bundled_traces() -> dict[str, Path]:
    """The Azure 2023 request traces (CC-BY-4.0, data/public/README.md), by service."""
    folder = _folder("public") / "azure-llm-inference-2023"
    return {path.stem.removeprefix("AzureLLMInferenceTrace_"): path for path in sorted(folder.glob("*.csv"))}


def bundled_series() -> tuple[dict[str, Path], dict[str, Path]]:
    """Demand and site series of `planner schedule` (data/schedules/README.md), by name."""
    folder = _folder("schedules")
    demand = {path.stem.removesuffix("-demand"): path for path in sorted(folder.glob("*-demand.csv"))}
    sites = {path.stem.removesuffix("-sites"): path for path in sorted(folder.glob("*-sites.csv"))}
    return demand, sites
