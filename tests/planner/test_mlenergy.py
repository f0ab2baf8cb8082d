"""ML.ENERGY leaderboard imports: v2 and v3 layouts, name mapping, idempotence, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from planner.cli import main
from planner.formats.placement import read_placement
from planner.store_setup import open_store

V2_GOOD = {
    "Model": "meta-llama/Meta-Llama-3.1-8B-Instruct",
    "GPU": "NVIDIA H100 80GB HBM3",
    "TP": 1,
    "PP": 1,
    "Energy/req (J)": 60.0,
    "Avg TPOT (s)": 0.05,
    "Token tput (tok/s)": 2000.0,
    "Avg Output Tokens": 480.0,
    "Avg BS (reqs)": 120.0,
    "Max BS (reqs)": 128,
    "Some future field": "ignored",
}


def _v2_tree(root: Path, files: dict[str, dict]) -> Path:
    """`{task}/{GPU}/{org}/{model}/bs*+tp*+pp*.json` under root/data/llm_text_generation."""
    for relative, content in files.items():
        path = root / "data" / "llm_text_generation" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    return root


def _count(url: str, source: str) -> int:
    frame = open_store(url).measurements()
    return int((frame["source"] == source).sum())


V2_OK_FILES = {
    "chat/H100 80GB HBM3/meta-llama/Meta-Llama-3.1-8B-Instruct/bs100+tp1+pp1.json": V2_GOOD,
    "code/H100 80GB HBM3/bigcode/starcoder2-3b/bs100+tp1+pp1.json": {**V2_GOOD, "Model": "bigcode/starcoder2-3b"},
    "chat/A100-SXM4-40GB/meta-llama/Meta-Llama-3.1-70B-Instruct/bs100+tp4+pp2.json": {
        **V2_GOOD, "Model": "meta-llama/Meta-Llama-3.1-70B-Instruct", "GPU": "NVIDIA A100-SXM4-40GB", "TP": 4, "PP": 2,
    },
}


def test_v2_fixture_maps_names_and_is_idempotent(tmp_path, sqlite_url, capsys):
    store = open_store(sqlite_url)
    before = len(store.measurements())
    folder = _v2_tree(tmp_path / "v2", V2_OK_FILES)  # batch 100: no bundled file has that name
    assert main(["--db", sqlite_url, "import", "--format", "mlenergy-v2", str(folder)]) == 0
    printed = capsys.readouterr().out
    assert "3 configurations read, 2 mapped" in printed
    assert "1 model not in the catalog" in printed and "bigcode/starcoder2-3b" in printed
    assert "2 added, 0 already stored" in printed
    frame = store.measurements(model="llama-3.1-70b", hardware="A100-SXM4-40GB")
    row = frame[frame["source_key"] == "chat/A100-SXM4-40GB/meta-llama/Meta-Llama-3.1-70B-Instruct/bs100+tp4+pp2.json"].iloc[0]
    assert row["gpus_per_replica"] == 8 and row["pipeline_parallel"] == 2  # TP x PP
    assert row["workload_profile"] == "chat" and row["energy_scope"] == "whole_request"
    assert row["decode_j"] / row["decode_tokens"] == pytest.approx(60.0 / 480.0)  # J/token as published
    assert row["tpot_stat"] == "mean" and pd.isna(row["ttft_ms"])  # no TTFT: NULL
    assert main(["--db", sqlite_url, "import", "--format", "mlenergy-v2", str(folder)]) == 0
    assert "0 added, 2 already stored" in capsys.readouterr().out
    assert len(store.measurements()) == before + 2


def test_full_bundled_v2_import_reports_and_adds_nothing_twice(sqlite_url, capsys):
    folder = Path(__file__).resolve().parents[2] / "data" / "public" / "ml-energy-leaderboard-v2"
    assert main(["--db", sqlite_url, "import", "--format", "mlenergy-v2", str(folder)]) == 0
    printed = capsys.readouterr().out
    assert "314 configurations read, 134 mapped" in printed
    assert "180 model not in the catalog" in printed
    assert "0 added, 134 already stored" in printed  # the new Store was seeded with the same files


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{ not json", "broken JSON at line 1"),
        ({**V2_GOOD, "Energy/req (J)": -3.0}, "field 'Energy/req (J)': Input should be greater than 0"),
        ({**V2_GOOD, "Token tput (tok/s)": 0}, "field 'Token tput (tok/s)': Input should be greater than 0"),
        ({**V2_GOOD, "GPU": "NVIDIA TPU v5"}, "unknown GPU type 'NVIDIA TPU v5'"),
        ({key: value for key, value in V2_GOOD.items() if key != "Avg TPOT (s)"}, "required field 'Avg TPOT (s)' is missing"),
    ],
)
def test_bad_v2_file_names_itself_and_nothing_is_imported(tmp_path, sqlite_url, capsys, content, message):
    bad = "chat/H100 80GB HBM3/meta-llama/Meta-Llama-3.1-8B-Instruct/bs101+tp1+pp1.json"
    folder = _v2_tree(tmp_path / "v2", {**V2_OK_FILES, bad: content})
    rows_before = len(open_store(sqlite_url).measurements())
    assert main(["--db", sqlite_url, "import", "--format", "mlenergy-v2", str(folder)]) == 2
    error = capsys.readouterr().err
    assert "bs101+tp1+pp1.json" in error and message in error
    assert "nothing was stored" in error
    assert len(open_store(sqlite_url).measurements()) == rows_before


def _v3_file(folder: Path, configurations: list[dict], **model_fields) -> Path:
    document = {
        "model_id": "meta-llama/Llama-3.1-8B-Instruct",
        "task": "lm-arena-chat",
        "total_params_billions": 8.03,
        "activated_params_billions": 8.03,
        "architecture": "LlamaForCausalLM",
        "weight_precision": "bfloat16",
        "output_length_distribution": {"bins": [0, 256, 512], "counts": [10, 20]},
        "configurations": configurations,
        **model_fields,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "llama-3.1-8b-chat.json"
    path.write_text(json.dumps(document))
    return path


V3_CONFIGURATION = {
    "gpu_model": "B200",
    "num_gpus": 1,
    "max_num_seqs": 256,
    "avg_batch_size": 200.5,
    "avg_power_watts": 800.0,
    "energy_per_token_joules": 0.1,
    "energy_per_request_joules": 45.0,
    "output_throughput_tokens_per_sec": 8000.0,
    "median_itl_ms": 25.0,
    "p90_itl_ms": 30.0,
    "p95_itl_ms": 33.0,
    "p99_itl_ms": 40.0,
    "avg_output_len": 450.0,
    "output_length_distribution": {"bins": [0, 512], "counts": [5]},
    "parallelization": {"tensor_parallel": 1, "expert_parallel": 1, "data_parallel": 1, "notes": "single GPU"},
}


def test_v3_fixture_imports_with_percentile_itl(tmp_path, sqlite_url, capsys):
    folder = tmp_path / "v3"
    _v3_file(folder, [V3_CONFIGURATION, {**V3_CONFIGURATION, "gpu_model": "H100", "max_num_seqs": 128}])
    assert main(["--db", sqlite_url, "import", "--format", "mlenergy-v3", str(folder)]) == 0
    assert "2 configurations read, 2 mapped" in capsys.readouterr().out
    frame = open_store(sqlite_url).measurements(model="llama-3.1-8b", hardware="B200")
    row = frame.iloc[0]
    assert row["tpot_ms"] == 33.0 and row["tpot_stat"] == "p95"
    assert row["decode_j"] / row["decode_tokens"] == pytest.approx(0.1)
    assert main(["--db", sqlite_url, "import", "--format", "mlenergy-v3", str(folder)]) == 0
    assert "0 added, 2 already stored" in capsys.readouterr().out


def test_v3_missing_field_names_file_and_field(tmp_path, sqlite_url, capsys):
    broken = {key: value for key, value in V3_CONFIGURATION.items() if key != "energy_per_token_joules"}
    path = _v3_file(tmp_path / "v3", [broken])
    assert main(["--db", sqlite_url, "import", "--format", "mlenergy-v3", str(path.parent)]) == 2
    error = capsys.readouterr().err
    assert str(path) in error and "required field 'configurations.0.energy_per_token_joules' is missing" in error


def test_mixed_fleet_scenario_plans_validates_and_names_sources(tmp_path, sqlite_url, capsys):
    scenario = Path(__file__).resolve().parents[2] / "data" / "scenarios" / "mixed-fleet.yaml"
    output = tmp_path / "mixed.yaml"
    assert main(["--db", sqlite_url, "plan", str(scenario), "-o", str(output)]) == 0
    assert main(["--db", sqlite_url, "validate", str(output), str(scenario)]) == 0
    placement = read_placement(output)
    assert {row.hardware for row in placement.placements} <= {"A100-SXM4-40GB", "H100-SXM-80GB"}
    for share in (share for row in placement.placements for share in row.serves):
        assert share.source.startswith("ML.ENERGY leaderboard v2 [chat/")
        assert "ttft_unverified" in share.flags or share.workload == "chat-70b"
        assert "peak_power_estimated" in share.flags


def test_v3_data_folder_as_published_imports_its_llm_configurations(tmp_path, sqlite_url, capsys):
    """The leaderboard publishes data/index.json, data/tasks/*.json and data/models/*.json, with
    image and video generation models beside the LLMs (their configurations count images/s)."""
    data = tmp_path / "data"
    (data / "tasks").mkdir(parents=True)
    (data / "index.json").write_text(json.dumps({"architectures": {"llm": ["lm-arena-chat"], "diffusion": ["text-to-image"]}}))
    (data / "tasks" / "lm-arena-chat.json").write_text(json.dumps({"task": "lm-arena-chat", "rows": []}))
    _v3_file(data / "models", [V3_CONFIGURATION, {**V3_CONFIGURATION, "gpu_model": "H100", "max_num_seqs": 128}])
    image_model = {
        "model_id": "PixArt-alpha/PixArt-Sigma-XL-2-1024-MS",
        "task": "text-to-image",
        "configurations": [{"gpu_model": "B200", "num_gpus": 1, "batch_size": 1, "avg_power_watts": 530.5,
                            "energy_per_image_joules": 342.0, "throughput_images_per_sec": 1.55}],
    }  # fmt: skip
    (data / "models" / "PixArt-alpha__PixArt-Sigma-XL-2-1024-MS__text-to-image.json").write_text(json.dumps(image_model))
    for folder in (data, data / "models"):
        assert main(["--db", sqlite_url, "import", "--format", "mlenergy-v3", str(folder)]) == 0
        printed = capsys.readouterr().out
        assert "3 configurations read, 2 mapped" in printed
        assert "1 not LLM text generation (task 'text-to-image')" in printed
    stored = open_store(sqlite_url).measurements(model="llama-3.1-8b")
    assert set(stored[stored.source.str.contains("v3")].workload_profile) == {"chat"}  # lm-arena-chat, as a profile
