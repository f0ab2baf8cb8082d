"""The built wheel carries the bundled data and the migrations, found through importlib.resources."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import require

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_holds_data_and_migrations(tmp_path):
    # Build from a clean copy: a stale build/ folder in the checkout would hide missing packages.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns("build", "dist", ".venv", "*.egg-info", ".git", ".mypy_cache", ".whl"))
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    require(result.returncode == 0, f"pip could not build the wheel: {result.stderr[-500:]}")
    (wheel,) = tmp_path.glob("energy_planner-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        "planner_data/gpus.csv",
        "planner_data/llms.csv",
        "planner_data/aliases.csv",
        "planner_data/carbon_intensity.csv",
        "planner_data/reference/README.md",
        "planner_data/runs/README.md",
        "planner_data/reference/h200-2026-11-26/measurements.csv",
        "planner_data/reference/h200-2026-11-26/samples.csv",
        "planner_data/reference/h100-2026-11-26/run.yaml",
        "models/migrations/env.py",
        "models/migrations/script.py.mako",
        "models/migrations/versions/0001_initial_schema.py",
        "models/migrations/versions/0002_prompt_tokens_nullable.py",
        "planner_data/public/README.md",
        "planner_data/public/ml-energy-leaderboard-v2/LICENSE",
        "planner_data/public/ml-energy-leaderboard-v2/data/llm_text_generation/chat/H100 80GB HBM3/"
        "meta-llama/Meta-Llama-3.1-70B-Instruct/bs128+tp4+pp1.json",
        "planner_data/scenarios/mixed-fleet.yaml",
        "planner_data/public/azure-llm-inference-2023/AzureLLMInferenceTrace_conv.csv",
        "planner_data/public/azure-llm-inference-2023/LICENSE",
        "planner_data/scenarios/large.yaml",
        "planner/cli/__init__.py",
        "planner_data/runs/h100-2026-11-27-llama-3.1-8b/samples.csv",
    }
    assert expected <= names, sorted(expected - names)
    sources = {
        path.relative_to(ROOT).as_posix()
        for package in ("planner", "models", "telemetry", "optimizer", "dashboard")
        for path in (ROOT / package).rglob("*.py")
    }
    assert sources <= names, f"modules missing from the wheel: {sorted(sources - names)}"
