"""Store ingest rate: samples/s into SQLite (WAL) and PostgreSQL, batched as the sampler writes.

Run: python benchmarks/store_ingest.py [--samples 50000] [--batch 100]
PostgreSQL URL: PLANNER_TEST_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test);
a temporary database is created and dropped.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from tqdm import tqdm

from models import RunRecord, SampleRecord, Store

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def ingest_rate(url: str, samples: int, batch: int) -> float:
    store = Store(url)
    store.migrate()
    run_id, _, _ = store.add_run(RunRecord(source_key=f"bench-{uuid.uuid4().hex}", source="benchmark"))
    rows = [
        SampleRecord(gpu_index=i % 8, t_s=i / 10, energy_mj=1000 * i, power_w=650.0, power_instant_w=660.0,
                     sm_mhz=1980, mem_mhz=3201, temp_c=55, util_gpu_pct=99, util_mem_pct=60)
        for i in range(samples)
    ]
    start = time.perf_counter()
    for offset in tqdm(range(0, samples, batch), desc=make_url(url).get_backend_name(), unit="batch"):
        store.add_samples(run_id, rows[offset : offset + batch])
    elapsed = time.perf_counter() - start
    store.close()
    return samples / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=100, help="samples per insert (10 Hz x 8 GPUs x ~1 s)")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        results["sqlite (WAL)"] = ingest_rate(f"sqlite:///{Path(folder) / 'bench.db'}", args.samples, args.batch)
    server = make_url(os.environ.get("PLANNER_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"planner_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        results["postgresql"] = ingest_rate(server.set(database=name).render_as_string(hide_password=False),
                                            args.samples, args.batch)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'backend':<14} {'samples/s':>10}   ({args.samples} samples, {args.batch} per insert)")
    for backend, rate in results.items():
        print(f"{backend:<14} {rate:>10,.0f}")
    print(f"ratio sqlite/postgresql: {results['sqlite (WAL)'] / results['postgresql']:.2f}")


if __name__ == "__main__":
    main()
