import multiprocessing
from dataclasses import replace

import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from models import MeasurementRecord, RunRecord, SampleRecord, Store, StoreError, load_catalog
from models.records import WindowEnergy
from models.schema import Base

WRITER_BATCHES = 20
WRITER_BATCH_SIZE = 50


def _record(key: str, **overrides) -> MeasurementRecord:
    values = dict(
        source="test",
        source_key=key,
        model="llama-3.1-8b",
        hardware="H100-SXM-80GB",
        runtime="vllm",
        gpus_per_replica=1,
        prompt_tokens=512,
        output_tokens=256,
        energy_scope="decode_only",
        output_tok_s=1000.0,
        tpot_ms=20.0,
        tpot_stat="p95",
        decode=WindowEnergy(window_s=12.0, energy_j=6000.0, ticks=120, uncertainty_j=50.0),
        decode_tokens=12000,
        batch=16,
    )
    values.update(overrides)
    return MeasurementRecord(**values)


def _ready_store(url: str) -> Store:
    store = Store(url)
    store.migrate()
    store.upsert_catalog(load_catalog())
    return store


def test_migrations_build_the_schema_the_code_declares(store_url):
    store = Store(store_url)
    assert store.schema_revision() is None
    store.migrate()
    assert store.is_current()
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
    store.migrate()  # a second upgrade is a no-op
    assert store.is_current()


def test_measurements_round_trip_and_import_is_idempotent(store_url):
    store = _ready_store(store_url)
    records = [_record("a"), _record("b", batch=64, output_tok_s=3000.0)]
    first = store.add_measurements(records)
    again = store.add_measurements(records)
    assert (first.added, first.already_present) == (2, 0)
    assert (again.added, again.already_present) == (0, 2)
    frame = store.measurements(model="llama-3.1-8b")
    assert list(frame["batch"]) == [16, 64]
    assert set(frame["hardware"]) == {"H100-SXM-80GB"}
    assert frame.loc[0, "decode_j"] == pytest.approx(6000.0)
    assert frame.loc[0, "tpot_stat"] == "p95"


def test_unusable_window_energy_is_stored_as_null_with_its_reason(store_url):
    store = _ready_store(store_url)
    window = WindowEnergy(window_s=0.02, energy_j=None, ticks=0, uncertainty_j=None, note="energy unusable: short")
    store.add_measurements([_record("short", decode=window)])
    row = store.measurements().iloc[0]
    assert row["decode_j"] is None or row["decode_j"] != row["decode_j"]  # NULL comes back as None or NaN
    assert row["decode_energy_note"] == "energy unusable: short"


def test_run_with_samples_in_one_transaction(store_url):
    store = _ready_store(store_url)
    run = RunRecord(source_key="run-1", source="test run", gpu_name="NVIDIA H100 80GB HBM3", power_limit_w=700)
    samples = [SampleRecord(gpu_index=0, t_s=i * 0.1, energy_mj=1000 * i, power_w=500.0) for i in range(25)]
    run_id, counts, added = store.add_run(run, [_record("r", run_key="run-1")], samples)
    assert (counts.added, added) == (1, 25)
    _, counts_again, added_again = store.add_run(run, [_record("r", run_key="run-1")], samples)
    assert (counts_again.added, added_again) == (0, 0)
    frame = store.samples(run_id)
    assert len(frame) == 25 and frame["energy_mj"].iloc[-1] == 24000
    assert store.measurements()["run_id"].iloc[0] == run_id


def test_unknown_catalog_name_is_refused_with_a_fix(store_url):
    store = _ready_store(store_url)
    with pytest.raises(StoreError, match="not in this Store's catalog"):
        store.add_measurements([_record("x", hardware="TPU-v5")])
    assert store.row_counts()["measurement"] == 0


def _write_samples(url: str, run_id: int, gpu_index: int) -> None:
    store = Store(url)
    for batch in range(WRITER_BATCHES):
        store.add_samples(
            run_id,
            [
                SampleRecord(gpu_index=gpu_index, t_s=batch + i / 100, energy_mj=i, power_w=100.0)
                for i in range(WRITER_BATCH_SIZE)
            ],
        )
    store.close()


def test_two_writer_processes_lose_no_rows(store_url):
    store = _ready_store(store_url)
    run_id, _, _ = store.add_run(RunRecord(source_key="fleet", source="two collectors"))
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write_samples, args=(store_url, run_id, gpu)) for gpu in (0, 1)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
        assert writer.exitcode == 0
    frame = store.samples(run_id)
    assert len(frame) == 2 * WRITER_BATCHES * WRITER_BATCH_SIZE
    assert frame.groupby("gpu_index").size().to_dict() == {0: 1000, 1: 1000}


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(sqlite_url):
    store = Store(sqlite_url)
    with store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 30000


def test_password_is_never_shown():
    store = Store("postgresql://planner:s3cret@127.0.0.1:1/fleet")
    assert "s3cret" not in store.display_url
    assert store.url.drivername == "postgresql+psycopg"
    with pytest.raises(StoreError) as raised:
        store.migrate()
    assert "s3cret" not in str(raised.value)
    assert "To fix" in str(raised.value)


@pytest.mark.parametrize("url", ["mysql://root@localhost/test", "not a url"])
def test_unsupported_or_malformed_url(url):
    with pytest.raises(StoreError, match="To fix"):
        Store(url)


def test_upgrade_from_the_first_revision_keeps_rows(store_url):
    from alembic import command

    store = Store(store_url)
    config = store._alembic_config()
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    catalog = load_catalog()
    # the first schema holds every GPU's tensor peak; the A10G has none to give
    store.upsert_catalog(replace(catalog, gpus={name: gpu for name, gpu in catalog.gpus.items() if gpu.bf16_dense_tflops}))
    store.add_measurements([_record("before-upgrade")])
    store.migrate()
    assert store.is_current() and store.schema_revision() == "0003"
    store.upsert_catalog(catalog)
    hardware = store.hardware().set_index("name")
    assert hardware.loc["A10G", "bf16_dense_tflops"] is None or pd.isna(hardware.loc["A10G", "bf16_dense_tflops"])
    assert hardware.loc["H100-SXM-80GB", "bf16_dense_tflops"] == 989
    if store.engine.dialect.name == "sqlite":  # the migration turned them off on its connection, and back on
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.add_measurements([_record("no-prompt", prompt_tokens=None, workload_profile="chat")])
    frame = store.measurements()
    assert list(frame["source_key"]) == ["before-upgrade", "no-prompt"]
    assert frame["prompt_tokens"].iloc[0] == 512
