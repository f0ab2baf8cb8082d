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
    with path.open("w", newline="", encoding="utf-8") as handle:
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
    captured = capsys.readouterr()
    assert "12 measurements read, 0 added; 0 samples added" in captured.out  # seeded already
    # the short prefill windows are named, each with the raw reading it does not trust
    assert "stored with untrusted energy: llama-1b/graph/b1/p512/r0 (energy unusable" in captured.err
    assert "counter read 30.153 J" in captured.err


def test_excel_csv_with_a_byte_order_mark_imports(tmp_path, sqlite_url):
    path = _write(tmp_path / "excel.csv", [GOOD_ROW])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert main(["--db", sqlite_url, "import", str(path)]) == 0
    assert len(_lab_rows(sqlite_url)) == 1


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda text: text.replace("decode_j", "decode_j,decode_j", 1).replace(",6600", ",6600,6000", 1),
         "column decode_j appears twice in the header"),
        (lambda text: text.replace(",6600", ",inf", 1), "column decode_j (value 'inf'): Input should be a finite number"),
        (lambda text: text.replace(",6600", ",nan", 1), "column decode_j (value 'nan'): Input should be a finite number"),
    ],
    ids=["repeated column", "infinite energy", "nan energy"],
)
def test_silent_last_wins_and_non_finite_values_are_refused(tmp_path, sqlite_url, capsys, edit, fragment):
    path = _write(tmp_path / "bad.csv", [GOOD_ROW])
    path.write_text(edit(path.read_text()))
    assert main(["--db", sqlite_url, "import", str(path)]) == 2
    assert fragment in capsys.readouterr().err
    assert _lab_rows(sqlite_url).empty


def test_a_stored_key_given_again_with_other_values_is_refused(tmp_path, sqlite_url, capsys):
    keyed = {**GOOD_ROW, "source_key": "sweep/b32"}
    assert main(["--db", sqlite_url, "import", str(_write(tmp_path / "a.csv", [keyed]))]) == 0
    assert main(["--db", sqlite_url, "import", str(_write(tmp_path / "same.csv", [keyed]))]) == 0  # same values: nothing added
    changed = _write(tmp_path / "b.csv", [{**keyed, "decode_j": "6000"}])
    assert main(["--db", sqlite_url, "import", str(changed)]) == 1
    err = capsys.readouterr().err
    assert "'sweep/b32'" in err and "decode_j = 6600.0" in err and "6000.0" in err
    stored = _lab_rows(sqlite_url)
    assert list(stored.decode_j) == [6600.0]
    twice = _write(tmp_path / "c.csv", [{**keyed, "source_key": "k2"}, {**keyed, "source_key": "k2", "decode_j": "6000"}])
    assert main(["--db", sqlite_url, "import", str(twice)]) == 1
    assert "given twice with different values" in capsys.readouterr().err


def _lab_rows(url):
    rows = open_store(url).measurements(runtime="vllm")
    return rows[rows.source == GOOD_ROW["source"]]
