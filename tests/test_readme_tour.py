"""The README's Python tour runs exactly as printed (from a folder where `data/` is the bundled data)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def _tour_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Tour of the Python API") :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_python_tour_runs_as_printed(tmp_path: Path) -> None:
    blocks = _tour_blocks()
    assert len(blocks) == 2
    (tmp_path / "data").symlink_to(ROOT / "data")
    for block in blocks:
        result = subprocess.run(
            [sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
        )
        assert result.returncode == 0, result.stderr
    placement = (tmp_path / "placement.json").read_text()
    assert '"status": "optimal"' in placement
    timeline = pd.read_csv(tmp_path / "timeline.csv")
    assert timeline["period"].nunique() == 12
