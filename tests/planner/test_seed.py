"""The bundled reference runs: conversion, seeding, and the end-to-end numbers DESIGN.md quotes."""

import csv
import json
from importlib import resources
from pathlib import Path

import pytest

from models import load_catalog
from planner.formats.mlenergy import read_mlenergy_v2
from planner.formats.reference import convert_reference_run
from planner.store_setup import PUBLIC_V2_FOLDER, bundled_run_folders, open_store, read_run_bundle
from planner.stored_points import operating_points_table
from tests.planner.test_cli import _planner


def test_new_store_is_seeded_once(store_url):
    store = open_store(store_url)
    counts = store.row_counts()
    with resources.as_file(resources.files("planner_data").joinpath(PUBLIC_V2_FOLDER)) as folder:
        public = len(read_mlenergy_v2(folder, load_catalog()).records)
    bundles = [read_run_bundle(folder, load_catalog()) for folder in bundled_run_folders()]
    assert counts["run"] == len(bundles) == 10  # two reference runs; torch-decode: two H100 runs, then four H100 and two H200
    assert counts["measurement"] == sum(len(b.measurements) for b in bundles) + public and public > 100
    assert counts["hardware"] == len(load_catalog().gpus)
    trace_rows = sum(len(bundle.samples) for bundle in bundles)
    assert counts["sample"] == trace_rows > 2000
    open_store(store_url)
    assert store.row_counts() == counts


def test_a_gpu_added_to_the_catalog_after_seeding_reaches_an_existing_store(store_url):
    store = open_store(store_url)
    counts = store.row_counts()
    with store.engine.begin() as connection:  # a Store seeded before the A10G was in the catalog
        connection.exec_driver_sql("DELETE FROM hardware WHERE name = 'A10G'")
    assert "A10G" not in set(store.hardware()["name"])
    reopened = open_store(store_url)
    assert "A10G" in set(reopened.hardware()["name"]) and reopened.row_counts() == counts


def test_bundles_match_a_fresh_conversion_of_the_raw_reference(raw_reference, tmp_path):
    catalog = load_catalog()
    converted = [folder for folder in bundled_run_folders() if (raw_reference / folder.name).is_dir()]
    assert [folder.name for folder in converted] == ["h100-2026-11-26", "h200-2026-11-26"]
    for folder in converted:
        bundle = read_run_bundle(folder, catalog)
        run, rows, samples = convert_reference_run(raw_reference / folder.name, catalog)
        assert run == bundle.run
        assert len(rows) == len(bundle.measurements)
        assert tuple(samples) == bundle.samples
        results = json.loads((raw_reference / folder.name / "results.json").read_text())["results"]
        for result, record in zip(results, bundle.measurements, strict=True):
            assert record.decode_tokens == result["decode_tokens"]
            assert record.output_tok_s == pytest.approx(result["decode_tok_per_s"])
        with (raw_reference / folder.name / "trace.csv").open() as handle:
            assert len(list(csv.DictReader(handle))) == len(bundle.samples)


def test_short_prefill_windows_are_flagged_not_stored_as_exact(sqlite_url):
    frame = open_store(sqlite_url).measurements(hardware="H100-SXM-80GB", model="llama-3.2-1b")
    first = frame[frame["batch"] == 1].iloc[0]
    assert first["prefill_j"] != first["prefill_j"] or first["prefill_j"] is None  # NULL
    assert "1070 W" in first["prefill_energy_note"] and "30.153 J" in first["prefill_energy_note"]
    assert first["ttft_ms"] == pytest.approx(28.17, abs=0.01)  # timings are kept


def test_end_to_end_llama_8b_batch_256_on_h200_matches_design(sqlite_url, raw_reference):
    results = json.loads((raw_reference / "h200-2026-11-26" / "results.json").read_text())["results"]
    raw = next(r for r in results if r["model"] == "llama-8b" and r["batch"] == 256 and r["runtime"] == "graph")
    cycle_s = raw["prefill_s"] + raw["gen_len"] * raw["tpot_ms"] / 1000
    tokens = raw["batch"] * raw["gen_len"]
    expected_j_per_token = (raw["prefill_J"] + raw["decode_J"] / raw["reps"]) / tokens
    table = operating_points_table(open_store(sqlite_url), model="llama-3.1-8b", hardware="H200-SXM-141GB")
    row = table[(table["load"] == 256) & (table["runtime"] == "graph")].iloc[0]
    assert row["mj_per_tok"] == pytest.approx(expected_j_per_token * 1e3, rel=1e-3)
    assert row["mj_per_tok"] == pytest.approx(103, rel=0.01)  # DESIGN.md: 103 mJ/token
    assert row["tok_s"] == pytest.approx(tokens / cycle_s, rel=1e-3)
    assert row["decode_mj_per_tok"] == pytest.approx(38.2, abs=0.1)  # decode alone: 38 mJ/token


def test_run_file_with_an_unknown_key_is_refused(tmp_path):
    from planner.errors import InputError

    source = bundled_run_folders()[0]
    folder = tmp_path / "bundle"
    folder.mkdir()
    for name in ("measurements.csv", "samples.csv"):
        (folder / name).write_text(source.joinpath(name).read_text())
    (folder / "run.yaml").write_text(source.joinpath("run.yaml").read_text() + "power_limit_mw: 700000\n")
    with pytest.raises(InputError, match="unknown key 'power_limit_mw'.*To fix"):
        read_run_bundle(folder, load_catalog())


def test_catalog_upsert_updates_changed_rows(sqlite_url):
    from dataclasses import replace

    from models import Catalog

    store = open_store(sqlite_url)
    catalog = load_catalog()
    h200 = catalog.gpus["H200-SXM-141GB"]
    changed = Catalog(
        gpus={**catalog.gpus, h200.name: replace(h200, usd_per_gpu_hour=9.99)},
        llms=catalog.llms,
        aliases=catalog.aliases,
        carbon=catalog.carbon,
    )
    store.upsert_catalog(changed)
    prices = store.hardware().set_index("name")["usd_per_gpu_hour"]
    assert prices["H200-SXM-141GB"] == 9.99 and len(prices) == len(catalog.gpus)


def test_export_writes_a_stored_run_back_as_the_same_bundle(sqlite_url, tmp_path: Path):
    from planner.formats.run_bundle import export_run_bundle

    store = open_store(sqlite_url)
    source = bundled_run_folders()[0]
    bundled = read_run_bundle(source, load_catalog())
    folder = tmp_path / "exported"
    report = export_run_bundle(store, bundled.run.source_key, folder)
    usable = tuple(m for m in bundled.measurements if m.decode.usable and (m.prefill is None or m.prefill.usable))
    assert 0 < len(usable) < len(bundled.measurements)  # the H100 run has windows under 1 s
    assert (report.measurements, report.samples) == (len(usable), len(bundled.samples))
    assert len(report.left_out) == len(bundled.measurements) - len(usable)
    assert all("J" in line for line in report.left_out)  # each names the raw reading it distrusts
    again = read_run_bundle(folder, load_catalog())
    assert again.run == bundled.run
    assert again.samples == bundled.samples
    assert again.measurements == usable
    assert not list(tmp_path.glob("*.partial"))


def test_export_refuses_an_unknown_run_or_an_existing_folder(sqlite_url, tmp_path: Path):
    open_store(sqlite_url)
    missing = _planner("export", "bench/nowhere", str(tmp_path / "x"), env_db=sqlite_url)
    assert missing.returncode == 2 and "no run 'bench/nowhere' in the Store" in missing.stderr
    listed = _planner("db", "info", env_db=sqlite_url)
    assert "reference/h100-2026-11-26" in listed.stdout
    taken = _planner("export", "reference/h100-2026-11-26", str(tmp_path), env_db=sqlite_url)
    assert taken.returncode == 2 and "already exists" in taken.stderr
