"""The placement file (`planner plan -o placement.yaml|.json`, version 2): the plan's contract.

Version 2 has one row per replica group (one configuration at one site) with the workloads it
serves; version 1 had one row per (workload, candidate, site). It echoes the scenario's sites
and workloads and, per served workload, the candidate's own figures (tok/s, power, peak power per replica, latencies), so it can be checked by hand or by
`planner validate` without the optimizer.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from planner.errors import InputError
from planner.formats.strict_yaml import load_yaml

FileModel = TypeVar("FileModel", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ScenarioRef(_Strict):
    name: str
    sha256: str


class SiteEcho(_Strict):
    name: str
    power_budget_kw: float
    pue: float
    carbon_g_per_kwh: float | None
    usd_per_kwh: float | None
    inventory: dict[str, int]


class WorkloadEcho(_Strict):
    name: str
    model: str
    demand_tok_s: float
    prompt_tokens: int
    output_tokens: int
    slo: dict[str, Any]
    min_sites: int = 1
    profile: str | None = None
    sites: list[str] | None = None


class BaselineEntry(_Strict):
    name: str
    description: str
    status: str
    joules_per_token: float | None = None
    usd_per_million_tokens: float | None = None
    g_co2_per_million_tokens: float | None = None
    gpus: int | None = None
    plan_saves_pct: float | None = None
    """How many % fewer facility joules per token the plan spends than this baseline."""


class Summary(_Strict):
    tokens_per_s: float
    replicas: int
    gpus: int
    it_power_kw: float
    facility_power_kw: float
    peak_facility_power_kw: float
    joules_per_token: float
    it_joules_per_token: float
    usd_per_hour: float | None
    usd_per_million_tokens: float | None
    g_co2_per_million_tokens: float | None
    gap: float | None = None
    baselines: list[BaselineEntry] = []


class ServedShare(_Strict):
    """One workload's load on a replica group, with its candidate's own figures per replica."""

    workload: str
    candidate: str
    tokens_per_s: float = Field(ge=0)
    replica_tokens_per_s: float
    replica_power_w: float
    replica_peak_power_w: float
    joules_per_token: float
    """The candidate's IT joules per token at its operating point."""
    ttft_ms: float | None
    ttft_statistic: str | None
    tpot_ms: float
    tpot_statistic: str
    source: str
    flags: list[str] = []
    max_utilization: float | None = None
    """The candidate's own cap, simulated under its workload's trace (`planner plan --trace`);
    None: the scenario's max_utilization."""


class PlacementRow(_Strict):
    """One replica group: replicas of one configuration at one site, and the workloads they serve."""

    site: str
    model: str
    hardware: str
    configuration: str
    config: dict[str, Any]
    shared: bool
    """Replicas that may carry several workloads' loads, charged by optimizer/replica_groups'
    accounting; false: replicas of one workload's candidate, charged its own figures."""
    replicas: int = Field(ge=1)
    gpus: int = Field(ge=1)
    tokens_per_s: float = Field(ge=0)
    utilization: float
    """The group's load in replica-equivalents (sum of tokens/s over each share's replica
    tokens/s) over its replicas."""
    power_w: float
    """IT power the group is charged: each replica at replica_power_w, credited for load of
    members drawing less."""
    peak_power_w: float
    replica_power_w: float
    """The highest IT power per replica among the configuration's members."""
    replica_peak_power_w: float
    serves: list[ServedShare]


class TraceRef(_Strict):
    path: str
    sha256: str
    cap_scale: float = Field(default=1.0, gt=0.0, le=1.0)
    """What share of its simulated cap each candidate of the workload was held to: below 1 where
    `planner plan --confirm` found the fleet missing the workload's SLO at the caps themselves."""


class ShadowPriceEntry(_Strict):
    resource: str
    unit: str
    objective_change_per_unit: float | None
    resolution: float
    objective_unit: str
    method: str


class Placement(_Strict):
    version: Literal[2] = 2
    scenario: ScenarioRef
    objective: str
    solver: str
    status: Literal["optimal", "feasible", "infeasible", "no_solution"]
    gap: float | None = None
    reasons: list[str] = []
    max_utilization: float | Literal["auto"]
    sites: list[SiteEcho]
    workloads: list[WorkloadEcho]
    summary: Summary | None = None
    placements: list[PlacementRow] = []
    shadow_prices: list[ShadowPriceEntry] = []
    candidates_pruned: dict[str, int] = {}
    notes: list[str] = []
    traces: dict[str, TraceRef] = {}
    """The request traces each candidate's utilisation cap was simulated under, by workload."""


def check_output_path(path: Path) -> None:
    """Refuse an output path before any work is done on its behalf."""
    if path.suffix.lower() not in (".json", ".yaml", ".yml"):
        raise InputError(f"cannot tell the format of {path}. To fix: end the name in .yaml, .yml or .json.")
    if not path.parent.is_dir():
        raise InputError(f"folder {path.parent} does not exist. To fix: create it or write elsewhere.")
    if path.is_dir():
        raise InputError(f"{path} is a folder. To fix: name a file, e.g. {path / 'placement.yaml'}.")
    if not os.access(path.parent, os.W_OK):
        raise InputError(f"folder {path.parent} is not writable. To fix: write elsewhere or change its permissions.")


def placement_text(placement: BaseModel, suffix: str = ".yaml") -> str:
    """A file's content (a placement's, a schedule's): JSON for a `.json` suffix, else YAML."""
    content = placement.model_dump(mode="json")
    if suffix.lower() == ".json":
        return json.dumps(content, indent=2) + "\n"
    return yaml.safe_dump(content, sort_keys=False)


def write_placement(placement: Placement, path: Path) -> None:
    """YAML or JSON by suffix."""
    check_output_path(path)
    write_text_atomically(placement_text(placement, path.suffix), path)


def write_text_atomically(text: str, path: Path) -> None:
    """Written to a temporary file and renamed: never half-written."""
    folder = path.parent
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_content(path: Path, what: str, writer: str) -> Any:
    """The YAML or JSON of a file `writer` writes, or one line naming what is wrong with it."""
    try:
        text = path.read_text(encoding="utf-8")
        return json.loads(text) if path.suffix.lower() == ".json" else load_yaml(text)
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}. To fix: pass an existing {what} file.") from error
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise InputError(f"{path} is not valid YAML/JSON: {error}. To fix: write it with `{writer}`.") from error


def validated(model: type[FileModel], content: Any, path: Path, writer: str) -> FileModel:
    """`content` as `model`, or the first field that is wrong, in one line."""
    try:
        return model.model_validate(content)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise InputError(f"{path}: {where}: {first['msg']}. To fix: write it with `{writer}`.") from error


def read_placement(path: Path) -> Placement:
    content = read_content(path, "placement", "planner plan -o")
    if isinstance(content, dict) and content.get("version") == 1:
        raise InputError(
            f"{path} is a version 1 placement file (one row per workload; version 2 rows are replica groups that "
            "may serve several workloads). To fix: plan it again with `planner plan -o`."
        )
    return validated(Placement, content, path, "planner plan -o")
