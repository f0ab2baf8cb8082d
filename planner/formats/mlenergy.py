"""ML.ENERGY leaderboard measurements (`planner import --format mlenergy-v2|mlenergy-v3 DIR`).

What they are: vLLM serving sweeps, GPU energy (NVML) per request or per token over a steady
state, whole requests (prefill included) on the leaderboard task's own prompts. What they are
not: no idle or peak power, no TTFT, a mean TPOT (v2) or inter-token latency percentiles (v3).
So each becomes a `whole_request` measurement tagged with its task (`workload_profile`), which
serves scenario workloads that name that `profile:`; candidates from it are flagged
`ttft_unverified` and `peak_power_estimated` (the catalog TDP stands in).

Per-request or per-token figures are turned into a window of REQUEST_WINDOW requests, so that
J/token and power come out exactly as published; the window itself is not the leaderboard's.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models import Catalog, CatalogError, MeasurementRecord
from planner.errors import InputError
from planner.formats.measurements_csv import parse_measurement_rows

V2_SOURCE = "ML.ENERGY leaderboard v2"
V3_SOURCE = "ML.ENERGY leaderboard v3"
REQUEST_WINDOW = 1000
RUNTIME = "vllm"

TASK_PROFILES = {
    "chat": "chat",  # V2
    "code": "code",  # V2
    "lm-arena-chat": "chat",  # V3: LMArena conversations
    "sourcegraph-fim": "code",  # V3: Sourcegraph fill-in-the-middle completions
    "gpqa": "reasoning",  # V3: GPQA, answered by reasoning models (long outputs)
}
"""The published task names, as the profile a scenario's workload names (`profile: chat`)."""
V3_TEXT_TASKS = ("lm-arena-chat", "sourcegraph-fim", "gpqa")
"""The V3 tasks whose configurations are LLM text generation (index.json's `architectures.llm`)."""


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class V2Configuration(_Lenient):
    model: str = Field(alias="Model", min_length=1)
    gpu: str = Field(alias="GPU", min_length=1)
    tensor_parallel: int = Field(alias="TP", ge=1)
    pipeline_parallel: int = Field(alias="PP", ge=1)
    energy_per_request_j: float = Field(alias="Energy/req (J)", gt=0)
    avg_tpot_s: float = Field(alias="Avg TPOT (s)", gt=0)
    throughput_tok_s: float = Field(alias="Token tput (tok/s)", gt=0)
    avg_output_tokens: float = Field(alias="Avg Output Tokens", gt=0)
    avg_batch: float = Field(alias="Avg BS (reqs)", ge=0)
    max_batch: int = Field(alias="Max BS (reqs)", ge=1)


class V3Parallelization(_Lenient):
    tensor_parallel: int | None = Field(None, ge=1)
    expert_parallel: int | None = Field(None, ge=1)
    data_parallel: int | None = Field(None, ge=1)
    notes: str | None = None


class V3Configuration(_Lenient):
    gpu_model: str = Field(min_length=1)
    num_gpus: int = Field(ge=1)
    max_num_seqs: int = Field(ge=1)
    avg_batch_size: float | None = Field(None, ge=0)
    avg_power_watts: float | None = Field(None, gt=0)
    energy_per_token_joules: float = Field(gt=0)
    energy_per_request_joules: float | None = Field(None, gt=0)
    output_throughput_tokens_per_sec: float = Field(gt=0)
    median_itl_ms: float = Field(gt=0)
    p90_itl_ms: float | None = Field(None, gt=0)
    p95_itl_ms: float = Field(gt=0)
    p99_itl_ms: float | None = Field(None, gt=0)
    avg_output_len: float = Field(gt=0)
    parallelization: V3Parallelization | None = None


class V3Model(_Lenient):
    model_id: str = Field(min_length=1)
    task: str = Field(min_length=1)
    total_params_billions: float | None = None
    activated_params_billions: float | None = None
    architecture: str | None = None
    weight_precision: str | None = None
    configurations: list[V3Configuration] = Field(min_length=1)


@dataclass(frozen=True)
class ImportReport:
    """What a folder held: configurations read, records mapped, what was left out and why."""

    read: int
    records: tuple[MeasurementRecord, ...]
    skipped: dict[str, int] = field(default_factory=dict)
    unrecognised_models: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    def summary(self) -> str:
        parts = [f"{self.read} configurations read, {len(self.records)} mapped"]
        if self.skipped:
            parts.append("skipped: " + "; ".join(f"{n} {why}" for why, n in sorted(self.skipped.items())))
        if self.unrecognised_models:
            parts.append("models not in the catalog: " + ", ".join(self.unrecognised_models))
        return ". ".join(parts)


def _whole_request_row(
    source: str,
    source_key: str,
    model: str,
    hardware: str,
    task: str,
    gpus: int,
    batch: int,
    output_tokens: float,
    joules_per_token: float,
    throughput_tok_s: float,
    tpot_ms: float,
    tpot_stat: str,
    tensor_parallel: int | None = None,
    pipeline_parallel: int | None = None,
) -> dict[str, Any]:
    tokens = round(REQUEST_WINDOW * output_tokens)
    return {
        "source": source,
        "source_key": source_key,
        "model": model,
        "hardware": hardware,
        "runtime": RUNTIME,
        "workload_profile": task,
        "gpus_per_replica": gpus,
        "tensor_parallel": tensor_parallel,
        "pipeline_parallel": pipeline_parallel,
        "batch": batch,
        "output_tokens": max(1, round(output_tokens)),
        "energy_scope": "whole_request",
        "output_tok_s": throughput_tok_s,
        "tpot_ms": tpot_ms,
        "tpot_stat": tpot_stat,
        "decode_window_s": tokens / throughput_tok_s,
        "decode_tokens": tokens,
        "decode_j": joules_per_token * tokens,
        "busy_power_w": joules_per_token * throughput_tok_s,
    }


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    if first["type"] == "missing":
        return f"required field {where!r} is missing"
    return f"field {where!r}: {first['msg']}"


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read it ({error})") from error
    except json.JSONDecodeError as error:
        raise InputError(f"{path}: broken JSON at line {error.lineno}, column {error.colno} ({error.msg})") from error


def _collect(
    rows_by_file: Iterable[tuple[Path, list[dict[str, Any]]]], catalog: Catalog, read: int, skipped: Counter[str],
    unrecognised: set[str], errors: list[str],
) -> ImportReport:
    records: list[MeasurementRecord] = []
    for path, rows in rows_by_file:
        label = "" if len(rows) == 1 else "configuration {}"
        try:
            records.extend(parse_measurement_rows(rows, catalog, str(path), row_label=label, first_row=1))
        except InputError as error:
            errors.append(str(error))
    return ImportReport(read, tuple(records), dict(skipped), tuple(sorted(unrecognised)), tuple(errors))


def _resolve(catalog: Catalog, model: str, gpu: str, path: Path, skipped: Counter[str], unrecognised: set[str]) -> tuple[str, str] | None:
    """Catalog names, None for a model the catalog lacks (skipped), InputError for an unknown GPU."""
    try:
        hardware = catalog.resolve("gpu", gpu)
    except CatalogError as error:
        raise InputError(f"{path}: {error}") from error
    try:
        return catalog.resolve("llm", model), hardware
    except CatalogError:
        skipped["model not in the catalog"] += 1
        unrecognised.add(model)
        return None


def read_mlenergy_v2(folder: Path, catalog: Catalog) -> ImportReport:
    """Every `{task}/{GPU}/{org}/{model}/bs*+tp*+pp*.json` under `folder`."""
    files = sorted(folder.rglob("bs*+tp*+pp*.json"))
    if not files:
        raise InputError(f"{folder} holds no ML.ENERGY v2 files (bs*+tp*+pp*.json). To fix: pass the leaderboard's data folder.")
    skipped: Counter[str] = Counter()
    unrecognised: set[str] = set()
    errors: list[str] = []
    rows_by_file: list[tuple[Path, list[dict[str, Any]]]] = []
    for path in files:
        try:
            configuration = V2Configuration.model_validate(_load_json(path))
            names = _resolve(catalog, configuration.model, configuration.gpu, path, skipped, unrecognised)
        except ValidationError as error:
            errors.append(f"{path}: {_first_error(error)}. To fix: correct or remove the file.")
            continue
        except InputError as error:
            errors.append(f"{error}")
            continue
        if names is None:
            continue
        task = path.parents[3].name
        configuration_key = path.relative_to(path.parents[4]).as_posix()
        rows_by_file.append((path, [_whole_request_row(
            V2_SOURCE, configuration_key, names[0], names[1], task,
            configuration.tensor_parallel * configuration.pipeline_parallel, configuration.max_batch,
            configuration.avg_output_tokens, configuration.energy_per_request_j / configuration.avg_output_tokens,
            configuration.throughput_tok_s, configuration.avg_tpot_s * 1000, "mean",
            configuration.tensor_parallel, configuration.pipeline_parallel,
        )]))
    return _collect(rows_by_file, catalog, len(files), skipped, unrecognised, errors)


def _v3_model_files(folder: Path) -> list[Path]:
    """The per-model files of the leaderboard's data folder as published (`models/` beside
    `index.json` and `tasks/`), or of the `models/` folder itself."""
    models = folder / "models" if (folder / "models").is_dir() else folder
    return sorted(path for path in models.glob("*.json") if path.is_file() and path.name != "index.json")


def read_mlenergy_v3(folder: Path, catalog: Catalog) -> ImportReport:
    """Every per-model JSON (`model_id`, `task`, `configurations`) of the published data folder.
    Image and video generation models (their configurations count images or videos a second, not
    tokens) and the multimodal chat tasks are skipped with a count; each task is stored as the
    profile TASK_PROFILES maps it to."""
    files = _v3_model_files(folder)
    if not files:
        raise InputError(
            f"{folder} holds no ML.ENERGY v3 model files. To fix: pass the leaderboard's data folder "
            "(with index.json and models/) or its models/ folder."
        )
    skipped: Counter[str] = Counter()
    unrecognised: set[str] = set()
    errors: list[str] = []
    rows_by_file: list[tuple[Path, list[dict[str, Any]]]] = []
    read = 0
    for path in files:
        try:
            content = _load_json(path)
            if isinstance(content, dict) and content.get("task") not in V3_TEXT_TASKS:
                configurations = content.get("configurations")
                read += len(configurations) if isinstance(configurations, list) else 0
                skipped[f"not LLM text generation (task {content.get('task')!r})"] += (
                    len(configurations) if isinstance(configurations, list) else 0
                )
                continue
            document = V3Model.model_validate(content)
        except ValidationError as error:
            errors.append(f"{path}: {_first_error(error)}. To fix: correct or remove the file.")
            continue
        except InputError as error:
            errors.append(str(error))
            continue
        rows = []
        try:
            for configuration in document.configurations:
                read += 1
                names = _resolve(catalog, document.model_id, configuration.gpu_model, path, skipped, unrecognised)
                if names is None:
                    continue
                key = f"{document.model_id}/{document.task}/{configuration.gpu_model}/n{configuration.num_gpus}/b{configuration.max_num_seqs}"
                rows.append(_whole_request_row(
                    V3_SOURCE, key, names[0], names[1], TASK_PROFILES[document.task], configuration.num_gpus,
                    configuration.max_num_seqs, configuration.avg_output_len, configuration.energy_per_token_joules,
                    configuration.output_throughput_tokens_per_sec, configuration.p95_itl_ms, "p95",
                ))
        except InputError as error:
            errors.append(str(error))
            continue
        if rows:
            rows_by_file.append((path, rows))
    return _collect(rows_by_file, catalog, read, skipped, unrecognised, errors)
