"""Every module imports on its own in a fresh interpreter: no import cycle hides behind an import order."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("models", "optimizer", "simulator", "telemetry", "planner", "dashboard")


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__main__" or "migrations" in parts or parts[:2] == ("dashboard", "views") or parts[-1] == "app":
                continue  # run as scripts (streamlit pages, alembic, python -m), not imported
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_each_module_imports_alone() -> None:
    modules = _modules()
    assert "optimizer.formulation" in modules and "planner.cli" in modules
    running = [
        (name, subprocess.Popen([sys.executable, "-c", f"import {name}"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        for name in modules
    ]
    failures = {}
    for name, process in running:
        _, stderr = process.communicate(timeout=300)
        if process.returncode != 0:
            failures[name] = stderr.decode()[-400:]
    assert not failures, failures


def test_the_arrows_point_one_way() -> None:
    """dashboard -> planner -> {telemetry, optimizer, simulator} -> models: no room imports one
    above it, and optimizer and simulator (pure) import neither each other nor the Store."""
    forbidden = {
        "models": ("planner", "telemetry", "optimizer", "dashboard"),
        "optimizer": ("planner", "telemetry", "dashboard", "models", "sqlalchemy", "simulator"),
        "simulator": ("planner", "telemetry", "dashboard", "models", "sqlalchemy", "optimizer"),
        "telemetry": ("planner", "optimizer", "dashboard"),
        "planner": ("dashboard",),
    }
    offending = []
    for room, above in forbidden.items():
        for path in (ROOT / room).rglob("*.py"):
            for line in path.read_text(encoding="utf-8").splitlines():
                words = line.split()
                if len(words) >= 2 and words[0] in ("import", "from") and words[1].split(".")[0] in above:
                    offending.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert not offending, offending
