"""The scenario file (`planner plan SCENARIO.yaml`, version 1; DESIGN.md gives the layout).

Validated with pydantic at the boundary: unknown keys, unknown model or GPU names, zero or
negative demand, an SLO of 0, a site with no GPUs and duplicate names are refused with the
field to fix. The checks that need measurements (a model nobody measured, a power budget
below the smallest replica) belong to the planning step that loads them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from models import Catalog, CatalogError
from models.records import LatencyStatistic
from planner.errors import InputError
from planner.formats.strict_yaml import load_yaml

Objective = Literal["energy", "cost", "carbon"]


class _Strict(BaseModel):
    # strict: `tokens_per_s: true` is refused, not read as 1 (YAML gives numbers as numbers)
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Slo(_Strict):
    ttft_ms: float | None = Field(None, gt=0)
    tpot_ms: float | None = Field(None, gt=0)
    statistic: LatencyStatistic = "p95"

    @model_validator(mode="after")
    def _some_bound(self) -> Slo:
        if self.ttft_ms is None and self.tpot_ms is None:
            raise ValueError("give ttft_ms, tpot_ms or both")
        return self


class Workload(_Strict):
    name: str | None = None
    model: str
    tokens_per_s: float | None = Field(None, gt=0, description="peak output tokens/s")
    requests_per_s: float | None = Field(None, gt=0)
    prompt_tokens: int = Field(gt=0)
    output_tokens: int = Field(gt=0)
    slo: Slo
    min_sites: int = Field(1, ge=1)
    sites: list[str] | None = Field(None, min_length=1, description="the only sites that may serve it (default: any)")
    profile: str | None = Field(None, description="accept published measurements of this task (chat, code)")
    trace: str | None = Field(None, min_length=1, description="with max_utilization: auto, the request trace (CSV) the caps are simulated under")

    @model_validator(mode="after")
    def _one_demand(self) -> Workload:
        if (self.tokens_per_s is None) == (self.requests_per_s is None):
            raise ValueError("give exactly one of tokens_per_s or requests_per_s")
        return self

    @property
    def label(self) -> str:
        return self.name or self.model

    @property
    def demand_tok_s(self) -> float:
        """Peak output tokens/s to plan for."""
        if self.tokens_per_s is not None:
            return self.tokens_per_s
        return float(self.requests_per_s or 0) * self.output_tokens


class Site(_Strict):
    name: str = Field(min_length=1)
    power_budget_kw: float = Field(gt=0, description="facility power at peak, PUE included")
    pue: float = Field(1.0, ge=1.0, le=3.0)
    carbon_g_per_kwh: float | None = Field(None, ge=0, description="required by the carbon objective")
    usd_per_kwh: float | None = Field(None, ge=0, description="required by the cost objective")
    gpus: dict[str, int]
    usd_per_gpu_hour: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, description="what this site pays per GPU-hour, by GPU type (overrides the scenario's and the catalog's)"
    )

    @field_validator("gpus")
    @classmethod
    def _has_gpus(cls, gpus: dict[str, int]) -> dict[str, int]:
        if not gpus or sum(gpus.values()) == 0:
            raise ValueError("a site needs at least one GPU")
        negative = [name for name, count in gpus.items() if count < 0]
        if negative:
            raise ValueError(f"GPU count of {negative[0]} is negative")
        return gpus


OBJECTIVE_INPUTS = {"cost": "usd_per_kwh", "carbon": "carbon_g_per_kwh"}
"""The site field each objective cannot do without (energy needs neither)."""


def missing_objective_input(scenario: Scenario, objective: str) -> str | None:
    """Why `objective` cannot be planned on this scenario's sites, or None."""
    needed = OBJECTIVE_INPUTS.get(objective)
    lacking = [site.name for site in scenario.sites if needed and getattr(site, needed) is None]
    return f"objective {objective} needs {needed} at every site; {lacking[0]} has none" if lacking else None


class Sources(_Strict):
    """Which measurement sources a plan may use: shell-style patterns on a measurement's source
    (`planner db info` lists them), e.g. include: ["reference/*"] or exclude: ["ML.ENERGY*"]."""

    include: list[str] = Field(default_factory=list, description="only these (default: every source)")
    exclude: list[str] = Field(default_factory=list, description="never these")


class Scenario(_Strict):
    version: Literal[1] = 1
    name: str = Field(min_length=1)
    objective: Objective = "energy"
    max_utilization: Annotated[float, Field(gt=0, le=1)] | Literal["auto"] = Field(
        0.8, description="the share of a replica's measured tok/s planned; auto: each candidate's, simulated under its workload's trace"
    )
    workloads: list[Workload] = Field(min_length=1)
    sites: list[Site] = Field(min_length=1)
    growth: dict[str, float] = Field(default_factory=dict, description="forecast: monthly growth per workload")
    purchasable: dict[str, dict[Literal["usd_per_gpu_hour"], float]] = Field(
        default_factory=dict, description="forecast: GPU types one may buy, with their price"
    )
    extra_power: dict[str, dict[Literal["usd_per_kw_month"], float]] = Field(
        default_factory=dict, description="forecast: sites that can buy more power budget, at a price"
    )
    sources: Sources = Field(default_factory=Sources, description="the measurement sources a plan may use")
    derive_lengths: bool = Field(
        False,
        description="a configuration measured with its phases apart but at no lengths near a workload's is moved to the workload's "
        "lengths by its KV context cost (planner/derived_lengths.py), flagged lengths_derived",
    )
    usd_per_gpu_hour: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, description="what a GPU-hour costs, by GPU type (overrides the catalog's list price)"
    )

    @model_validator(mode="after")
    def _traces_with_auto(self) -> Scenario:
        for workload in self.workloads:
            if self.max_utilization == "auto" and workload.trace is None:
                raise ValueError(f"max_utilization auto simulates each workload's trace; workload {workload.label!r} has no trace")
            if self.max_utilization != "auto" and workload.trace is not None:
                raise ValueError(f"workload {workload.label!r} gives a trace, which is read with max_utilization: auto only")
        return self

    @property
    def traces(self) -> dict[str, Path]:
        """The request trace of each workload that gives one (max_utilization: auto), by name."""
        return {w.label: Path(w.trace) for w in self.workloads if w.trace is not None}

    @property
    def blanket_utilization(self) -> float:
        """The cap every candidate is planned at; with auto each candidate has its own (this is unused)."""
        return 1.0 if self.max_utilization == "auto" else self.max_utilization

    @model_validator(mode="after")
    def _objective_inputs(self) -> Scenario:
        missing = missing_objective_input(self, self.objective)
        if missing:
            raise ValueError(missing)
        return self

    @model_validator(mode="after")
    def _forecast_names(self) -> Scenario:
        sites = {site.name for site in self.sites}
        workloads = {workload.label for workload in self.workloads}
        for workload in self.workloads:
            allowed = workload.sites or []
            unknown_allowed = sorted(set(allowed) - sites)
            if unknown_allowed:
                raise ValueError(f"workload {workload.label!r} names site {unknown_allowed[0]!r} in sites, which is not a site of the scenario")
            if workload.sites is not None and workload.min_sites > len(set(allowed)):
                raise ValueError(f"workload {workload.label!r} asks for min_sites {workload.min_sites} but allows {len(set(allowed))} sites")
        unknown_sites = sorted(set(self.extra_power) - sites)
        if unknown_sites:
            raise ValueError(f"extra_power names site {unknown_sites[0]!r}, which is not in sites")
        unknown = sorted(set(self.growth) - workloads)
        if unknown:
            raise ValueError(f"growth names workload {unknown[0]!r}, which is not in workloads")
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> Scenario:
        for kind, names in (("site", [s.name for s in self.sites]), ("workload", [w.label for w in self.workloads])):
            duplicates = sorted({name for name in names if names.count(name) > 1})
            if duplicates:
                raise ValueError(f"{kind} name {duplicates[0]!r} appears twice; {kind} names must be unique")
        return self


def _location(loc: tuple[Any, ...], content: Any) -> str:
    """`workloads[chat-8b].slo.tpot_ms`: list items named by their name (or model) where given."""
    text = ""
    node = content
    for part in loc:
        if isinstance(part, int):
            item = node[part] if isinstance(node, list) and part < len(node) else None
            name = (item.get("name") or item.get("model")) if isinstance(item, dict) else None
            text += f"[{name or part}]"
            node = item
        else:
            text += f".{part}" if text else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return text or "(top level)"


def _resolve_prices(prices: dict[str, float], catalog: Catalog, where: str) -> dict[str, float]:
    resolved = {}
    for name, price in prices.items():
        try:
            resolved[catalog.resolve("gpu", name)] = price
        except CatalogError as error:
            raise InputError(f"{where}: {error}") from error
    return resolved


def _resolve_names(scenario: Scenario, catalog: Catalog) -> Scenario:
    """Catalog names for every model and GPU type, or an InputError naming the field."""
    workloads = []
    for workload in scenario.workloads:
        try:
            workloads.append(workload.model_copy(update={"model": catalog.resolve("llm", workload.model)}))
        except CatalogError as error:
            raise InputError(f"workloads[{workload.label}].model: {error}") from error
    sites = []
    for site in scenario.sites:
        resolved: dict[str, int] = {}
        for name, count in site.gpus.items():
            try:
                canonical = catalog.resolve("gpu", name)
            except CatalogError as error:
                raise InputError(f"sites[{site.name}].gpus: {error}") from error
            resolved[canonical] = resolved.get(canonical, 0) + count
        prices = _resolve_prices(site.usd_per_gpu_hour, catalog, f"sites[{site.name}].usd_per_gpu_hour")
        sites.append(site.model_copy(update={"gpus": resolved, "usd_per_gpu_hour": prices}))
    prices = _resolve_prices(scenario.usd_per_gpu_hour, catalog, "usd_per_gpu_hour")
    return scenario.model_copy(update={"workloads": workloads, "sites": sites, "usd_per_gpu_hour": prices})


def parse_scenario(content: Any, catalog: Catalog, label: str = "scenario") -> Scenario:
    try:
        scenario = Scenario.model_validate(content)
    except ValidationError as error:
        first = error.errors()[0]
        where = _location(tuple(first["loc"]), content)
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = f"unknown key {first['loc'][-1]!r}; see the scenario layout in README.md"
        raise InputError(f"{label}: {where}: {message}. To fix: correct that field.") from error
    try:
        return _resolve_names(scenario, catalog)
    except InputError as error:
        raise InputError(f"{label}: {error}") from error


def load_scenario(path: Path, catalog: Catalog) -> tuple[Scenario, str]:
    """The validated scenario and the sha256 of the file, which a placement records."""
    try:
        raw = path.read_bytes()
        content = load_yaml(raw)
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}. To fix: pass an existing scenario file.") from error
    except yaml.YAMLError as error:
        raise InputError(f"{path} is not valid YAML: {error}. To fix: correct the syntax.") from error
    scenario = parse_scenario(content, catalog, str(path))
    # a trace's path is read from the scenario's folder, wherever the planner runs
    workloads = [w if w.trace is None else w.model_copy(update={"trace": str(path.parent / w.trace)}) for w in scenario.workloads]
    return scenario.model_copy(update={"workloads": workloads}), hashlib.sha256(raw).hexdigest()
