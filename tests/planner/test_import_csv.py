"""`planner import FILE.csv`: good files land whole and once; bad ones land not at all."""

import csv
import re
from pathlib import Path

import pytest

from planner.cli import main
from planner.store_setup import open_store

GOOD_ROW = {
    "source": "lab sweep 2026-11",
    "model": "meta-llama/Meta-Llama-3.1-8B-Instruct",
    "hardware": "H100 80GB HBM3",
    "runtime": "vllm",
    "gpus_per_replica": "1",
    "batch": "32",
    "prompt_tokens": "512",
    "output_tokens": "256",
    "energy_scope": "decode_only",
    "output_tok_s": "2900",
    "tpot_ms": "11.0",
    "tpot_stat": "p95",
    "decode_window_s": "12.0",
    "decode_tokens": "34800",
    "decode_j": "6600",
    "busy_power_w": "550",
}


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _measurement_count(url: str) -> int:
    return open_store(url).row_counts()["measurement"]


def test_good_file_imports_once(tmp_path, store_url, capsys):
    file = _write(tmp_path / "m.csv", [GOOD_ROW, {**GOOD_ROW, "batch": "64", "output_tok_s": "5000"}])
    before = _measurement_count(store_url)
    assert main(["--db", store_url, "import", str(file)]) == 0
    assert "2 rows read, 2 added" in capsys.readouterr().out
    assert main(["--db", store_url, "import", str(file)]) == 0
    assert "0 added, 2 already stored" in capsys.readouterr().out
    assert _measurement_count(store_url) == before + 2
    frame = open_store(store_url).measurements()
    stored = frame[frame["source"] == GOOD_ROW["source"]]
    assert set(stored["model"]) == {"llama-3.1-8b"} and set(stored["hardware"]) == {"H100-SXM-80GB"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"busy_power_w": "550000"}, r"line 3: busy_power_w=550000 is over 2x the TDP .* milliwatts"),
        ({"busy_power_w": "-5"}, r"line 3, column busy_power_w \(value '-5'\): Input should be greater than or equal to 0"),
        ({"hardware": "H100X"}, r"line 3: unknown GPU type 'H100X'. Did you mean"),
        ({"tpot_ms": "0.011"}, r"line 3, column tpot_ms \(value .0.011.\): 0.011 is under 0.1 ms: is it in seconds"),
        ({"tpot_stat": "p97"}, r"line 3, column tpot_stat \(value 'p97'\)"),
        ({"decode_j": "-1"}, r"line 3, column decode_j"),
    ],
)
def test_bad_row_names_line_and_column_and_imports_nothing(tmp_path, sqlite_url, capsys, change, message):
    file = _write(tmp_path / "bad.csv", [GOOD_ROW, {**GOOD_ROW, "batch": "64", **change}])
    before = _measurement_count(sqlite_url)
    assert main(["--db", sqlite_url, "import", str(file)]) == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1
    assert "bad.csv" in error
    assert re.search(message, error), error
    assert _measurement_count(sqlite_url) == before


def test_wrong_unit_in_a_column_name(tmp_path, sqlite_url, capsys):
    row = {key: value for key, value in GOOD_ROW.items() if key != "busy_power_w"} | {"busy_power_mw": "550000"}
    assert main(["--db", sqlite_url, "import", str(_write(tmp_path / "mw.csv", [row]))]) == 2
    assert "column busy_power_mw: not a column of this layout. This layout takes busy_power_w" in capsys.readouterr().err


def test_missing_column(tmp_path, sqlite_url, capsys):
    row = {key: value for key, value in GOOD_ROW.items() if key != "decode_j"}
    assert main(["--db", sqlite_url, "import", str(_write(tmp_path / "missing.csv", [row]))]) == 2
    assert "missing column(s) decode_j" in capsys.readouterr().err


def test_ragged_row_and_empty_file(tmp_path, sqlite_url, capsys):
    ragged = tmp_path / "ragged.csv"
    _write(ragged, [GOOD_ROW])
    ragged.write_text(ragged.read_text() + ",".join(GOOD_ROW.values()) + ",extra\n")
    assert main(["--db", sqlite_url, "import", str(ragged)]) == 2
    assert "line 3: more cells than header columns" in capsys.readouterr().err
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert main(["--db", sqlite_url, "import", str(empty)]) == 2
    assert "is empty" in capsys.readouterr().err


def test_reference_folder_import_is_idempotent(raw_reference, sqlite_url, capsys):
    folder = raw_reference / "h100-2026-11-26"
    assert main(["--db", sqlite_url, "import", "--format", "reference", str(folder)]) == 0
    assert "12 measurements read, 0 added; 0 samples added" in capsys.readouterr().out  # seeded already
