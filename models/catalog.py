"""GPU and LLM catalogs, the alias table and carbon intensities, read from the bundled `data/`.

Every name a user or a dataset writes ("NVIDIA H200", "meta-llama/Meta-Llama-3.1-8B-Instruct",
"llama-8b") goes through one alias table to one catalog name, so measurements from different
sources land on the same rows.
"""

from __future__ import annotations

import csv
import difflib
import functools
import io
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Annotated, Literal, TypeVar

from pydantic import BeforeValidator, TypeAdapter, ValidationError

from models.errors import CatalogError

DATA_PACKAGE = "planner_data"
NameKind = Literal["gpu", "llm"]
T = TypeVar("T")


@dataclass(frozen=True)
class GpuSpec:
    """Datasheet figures of one GPU type, each with where it came from."""

    name: str
    vendor: str
    memory_gb: float
    memory_bandwidth_tb_s: float
    bf16_dense_tflops: Annotated[float | None, BeforeValidator(lambda cell: None if cell == "" else cell)]
    """Blank where neither the vendor nor the cloud that sells the GPU publishes it (A10G): no
    prefill roofline then, a measurement's own prefill is needed."""
    tdp_w: float
    idle_w: float
    usd_per_gpu_hour: float
    spec_source: str
    idle_source: str
    price_source: str


@dataclass(frozen=True)
class LlmSpec:
    """The shape of one model: enough to size its weights and KV cache."""

    name: str
    hf_id: str
    params_b: float
    active_params_b: float
    layers: int
    hidden_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    bytes_per_param: float
    max_context_tokens: int
    source: str

    @property
    def weight_bytes(self) -> float:
        return self.params_b * 1e9 * self.bytes_per_param

    @property
    def kv_bytes_per_token(self) -> float:
        """Keys and values of every layer, at the weights' precision."""
        return 2 * self.layers * self.kv_heads * self.head_dim * self.bytes_per_param


@dataclass(frozen=True)
class CarbonIntensity:
    region: str
    g_co2_per_kwh: float
    year: int
    source: str
    licence: str


@dataclass(frozen=True)
class Alias:
    kind: NameKind
    alias: str
    name: str
    note: str


def _normalise(name: str) -> str:
    return " ".join(name.strip().casefold().split())


@dataclass(frozen=True)
class Catalog:
    gpus: Mapping[str, GpuSpec]
    llms: Mapping[str, LlmSpec]
    aliases: Mapping[tuple[str, str], str]
    carbon: Mapping[str, CarbonIntensity]

    def resolve(self, kind: NameKind, name: str) -> str:
        """The catalog name for `name`, or a CatalogError with the closest names."""
        table: Mapping[str, object] = self.gpus if kind == "gpu" else self.llms
        key = _normalise(name)
        for canonical in table:
            if _normalise(canonical) == key:
                return canonical
        alias_target = self.aliases.get((kind, key))
        if alias_target is not None:
            return alias_target
        known = list(table) + [alias for (k, alias) in self.aliases if k == kind]
        close = difflib.get_close_matches(key, [_normalise(n) for n in known], n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        what = "GPU type" if kind == "gpu" else "model"
        file = "gpus.csv" if kind == "gpu" else "llms.csv"
        raise CatalogError(
            f"unknown {what} {name!r}.{hint} To fix: use a name from data/{file} "
            f"(known: {', '.join(sorted(table))}) or add an alias to data/aliases.csv."
        )

    def gpu(self, name: str) -> GpuSpec:
        return self.gpus[self.resolve("gpu", name)]

    def llm(self, name: str) -> LlmSpec:
        return self.llms[self.resolve("llm", name)]


def read_data_text(relative_path: str) -> str:
    """Text of a bundled data file, whether installed as a wheel or run from a checkout."""
    return resources.files(DATA_PACKAGE).joinpath(relative_path).read_text(encoding="utf-8")


def _rows(relative_path: str, row_type: type[T]) -> list[T]:
    adapter = TypeAdapter(row_type)
    rows: list[T] = []
    reader = csv.DictReader(io.StringIO(read_data_text(relative_path)))
    for line_number, raw in enumerate(reader, start=2):
        try:
            rows.append(adapter.validate_python(raw))
        except ValidationError as error:
            first = error.errors()[0]
            column = ".".join(str(part) for part in first["loc"])
            raise CatalogError(
                f"data/{relative_path} line {line_number}, column {column}: {first['msg']}. "
                "To fix: correct that cell of the bundled catalog."
            ) from error
    return rows


def _unique(rows: list[T], key: str, file: str) -> dict[str, T]:
    table: dict[str, T] = {}
    for row in rows:
        name = getattr(row, key)
        if name in table:
            raise CatalogError(f"data/{file} lists {name!r} twice. To fix: keep one row.")
        table[name] = row
    return table


@functools.cache
def load_catalog() -> Catalog:
    gpus = _unique(_rows("gpus.csv", GpuSpec), "name", "gpus.csv")
    llms = _unique(_rows("llms.csv", LlmSpec), "name", "llms.csv")
    carbon = _unique(_rows("carbon_intensity.csv", CarbonIntensity), "region", "carbon_intensity.csv")
    aliases: dict[tuple[str, str], str] = {}
    for alias in _rows("aliases.csv", Alias):
        targets = gpus if alias.kind == "gpu" else llms
        if alias.name not in targets:
            raise CatalogError(
                f"data/aliases.csv maps {alias.alias!r} to {alias.name!r}, which is not in the "
                f"{alias.kind} catalog. To fix: point it at a catalog name."
            )
        key = (alias.kind, _normalise(alias.alias))
        if aliases.get(key, alias.name) != alias.name:
            raise CatalogError(f"data/aliases.csv maps {alias.alias!r} to two names. To fix: keep one.")
        aliases[key] = alias.name
    return Catalog(gpus=gpus, llms=llms, aliases=aliases, carbon=carbon)
