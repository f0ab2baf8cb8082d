"""The Store: one SQLAlchemy engine (SQLite file by default, PostgreSQL for a fleet) and its queries.

Writes take frozen records; reads return pandas DataFrames. Samples go in through Core
`insert()` executemany, which is an order of magnitude faster than ORM objects for time series.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

import pandas as pd
import platformdirs
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, func, insert, select, text, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, IntegrityError, OperationalError

from models.catalog import Catalog
from models.errors import StoreError, StoreUrlError
from models.records import MeasurementRecord, RunRecord, SampleRecord
from models.schema import Hardware, Llm, Measurement, Run, Sample
from models.store_rows import AddedCounts, insert_measurements, insert_samples

URL_ENV = "PLANNER_DB_URL"
SQLITE_BUSY_TIMEOUT_MS = 30_000
SETUP_LOCK_KEY = 0x706C616E6E6572  # "planner": the advisory lock that serialises setting up a Store


def default_store_url() -> str:
    """`PLANNER_DB_URL`, else a SQLite file in the user's data directory."""
    from_env = os.environ.get(URL_ENV)
    if from_env:
        return from_env
    folder = Path(platformdirs.user_data_dir("energy-planner", appauthor=False))
    return f"sqlite:///{folder / 'planner.db'}"


@contextmanager
def _sqlite_setup_lock(database: str | None) -> Iterator[None]:
    if not database or database == ":memory:" or database.startswith("file:") or fcntl is None:
        yield  # nothing to share, or no flock (Windows): first uses there are not serialised
        return
    with open(f"{Path(database).expanduser()}.setup-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def parse_store_url(url: str) -> URL:
    """A SQLAlchemy URL for SQLite or PostgreSQL (psycopg 3 driver), or a StoreError."""
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise StoreUrlError(
            f"cannot read the database URL {url.split('@')[-1]!r}. To fix: pass sqlite:///PATH "
            "or postgresql+psycopg://USER@HOST:PORT/DB to --db or PLANNER_DB_URL."
        ) from error
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        return parsed
    raise StoreUrlError(
        f"the Store supports SQLite and PostgreSQL, not {parsed.get_backend_name()!r}. "
        "To fix: use sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB."
    )


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Store:
    """Measurements, runs and samples in one database."""

    def __init__(self, url: str | None = None) -> None:
        self.url = parse_store_url(url or default_store_url())
        if self.url.get_backend_name() == "sqlite":
            database = self.url.database
            if database and database != ":memory:":
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                self.url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
            )
            event.listen(self.engine, "connect", _set_sqlite_pragmas)
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True)

    @property
    def display_url(self) -> str:
        """The URL with any password masked: safe to print."""
        return self.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    def _cannot_open(self, error: DatabaseError) -> StoreError:
        return StoreError(
            f"cannot open the Store at {self.display_url}: {error.orig}. To fix: check that the server runs, "
            "the URL is right and the file is a SQLite database, or pass another --db / PLANNER_DB_URL."
        )

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A write transaction; a Store that cannot be written (a read-only file or server, a
        full disk) ends in one line naming it instead of a driver traceback."""
        try:
            with self.engine.begin() as connection:
                yield connection
        except OperationalError as error:
            raise StoreError(
                f"cannot write to the Store at {self.display_url}: {error.orig}. To fix: use a Store you may write "
                "to (--db / PLANNER_DB_URL), or free space or permissions for it; nothing was stored."
            ) from error

    # -- schema -----------------------------------------------------------------------------
    def _alembic_config(self) -> Config:
        config = Config()
        config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        return config

    def migrate(self) -> None:
        """Create the schema or upgrade it to the newest migration."""
        config = self._alembic_config()
        sqlite = self.engine.dialect.name == "sqlite"
        try:
            with self.engine.connect() as connection:
                # SQLite alters a column by rebuilding its table, which the foreign keys of the
                # rows pointing at it would refuse; they are off for the migration (outside its
                # transaction, where SQLite reads the pragma) and checked before it commits
                if sqlite:
                    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                    connection.commit()
                try:
                    with connection.begin():
                        config.attributes["connection"] = connection
                        command.upgrade(config, "head")
                        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall() if sqlite else []
                        if broken:
                            raise StoreError(f"upgrading the schema would leave {len(broken)} row(s) pointing at nothing; nothing was changed. "
                                             "To fix: report this with the Store file.")  # fmt: skip
                finally:
                    if sqlite:
                        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                        connection.commit()
        except DatabaseError as error:  # OperationalError too: a server down, a file that is not SQLite
            raise self._cannot_open(error) from error

    def schema_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def is_current(self) -> bool:
        head = ScriptDirectory.from_config(self._alembic_config()).get_current_head()
        return self.schema_revision() == head

    # -- writes -----------------------------------------------------------------------------
    def upsert_catalog(self, catalog: Catalog) -> None:
        """Mirror the bundled catalogs into the hardware and llm tables."""
        gpu_rows = [
            _catalog_row(
                gpu,
                Hardware,
                source=f"specs: {gpu.spec_source}; idle: {gpu.idle_source}; price: {gpu.price_source}",
            )
            for gpu in catalog.gpus.values()
        ]
        llm_rows = [_catalog_row(llm, Llm) for llm in catalog.llms.values()]
        with self._writing() as connection:
            _upsert_by_name(connection, Hardware, gpu_rows)
            _upsert_by_name(connection, Llm, llm_rows)

    def add_run(
        self,
        run: RunRecord,
        measurements: Sequence[MeasurementRecord] = (),
        samples: Iterable[SampleRecord] = (),
    ) -> tuple[int, AddedCounts, int]:
        """Add a run with its measurements and samples in one transaction.

        Returns (run id, measurement counts, samples added). A run already stored keeps its
        samples, so adding the same run twice adds nothing."""
        with self._writing() as connection:
            found = connection.scalar(select(Run.id).where(Run.source_key == run.source_key))
            if found is None:
                run_id = connection.execute(insert(Run).values(asdict(run)).returning(Run.id)).scalar_one()
                samples_added = insert_samples(connection, run_id, samples)
            else:
                run_id, samples_added = found, 0
            counts = insert_measurements(connection, measurements)
        return run_id, counts, samples_added

    def add_measurements(self, records: Sequence[MeasurementRecord]) -> AddedCounts:
        """Insert all new records in one transaction; ones already stored (same source and
        source_key) are left as they are, so importing a file twice adds nothing. Two imports of
        the same rows at once: the one that loses the race reads what the other stored and retries."""
        try:
            with self._writing() as connection:
                return insert_measurements(connection, records)
        except IntegrityError:
            with self._writing() as connection:
                return insert_measurements(connection, records)

    @contextmanager
    def setup_lock(self) -> Iterator[None]:
        """Held while a Store is migrated and seeded, so that two first uses of a new Store at once
        do not both create it (PostgreSQL: a session advisory lock; SQLite: a lock file beside the
        database, since its writers queue per statement and two seeds would both insert)."""
        if self.url.get_backend_name() == "sqlite":
            with _sqlite_setup_lock(self.url.database):
                yield
            return
        try:
            connection = self.engine.connect()
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": SETUP_LOCK_KEY})
        except DatabaseError as error:
            raise self._cannot_open(error) from error
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SETUP_LOCK_KEY})
            connection.close()

    def add_samples(self, run_id: int, samples: Iterable[SampleRecord]) -> int:
        with self._writing() as connection:
            return insert_samples(connection, run_id, samples)

    def measurement_sources(self) -> set[str]:
        with self.engine.connect() as connection:
            return set(connection.scalars(select(Measurement.source).distinct()))

    def run_keys(self) -> set[str]:
        with self.engine.connect() as connection:
            return set(connection.scalars(select(Run.source_key)))

    # -- reads ------------------------------------------------------------------------------
    def _frame(self, statement: Any) -> pd.DataFrame:
        with self.engine.connect() as connection:
            return pd.read_sql(statement, connection)

    def measurements(
        self,
        model: str | None = None,
        hardware: str | None = None,
        runtime: str | None = None,
        run_id: int | None = None,
    ) -> pd.DataFrame:
        """Every stored operating point, with model and hardware by catalog name."""
        statement = (
            select(
                Measurement,
                Llm.name.label("model"),
                Hardware.name.label("hardware"),
                Hardware.tdp_w.label("hardware_tdp_w"),
                Hardware.idle_w.label("hardware_idle_w"),
            )
            .join(Llm, Measurement.llm_id == Llm.id)
            .join(Hardware, Measurement.hardware_id == Hardware.id)
            .order_by(Measurement.id)
        )
        if model:
            statement = statement.where(Llm.name == model)
        if hardware:
            statement = statement.where(Hardware.name == hardware)
        if runtime:
            statement = statement.where(Measurement.runtime == runtime)
        if run_id is not None:
            statement = statement.where(Measurement.run_id == run_id)
        return self._frame(statement)

    def runs(self) -> pd.DataFrame:
        return self._frame(select(Run).order_by(Run.id))

    def samples(self, run_id: int, gpu_index: int | None = None) -> pd.DataFrame:
        statement = select(Sample).where(Sample.run_id == run_id).order_by(Sample.gpu_index, Sample.t_s)
        if gpu_index is not None:
            statement = statement.where(Sample.gpu_index == gpu_index)
        return self._frame(statement)

    def hardware(self) -> pd.DataFrame:
        return self._frame(select(Hardware).order_by(Hardware.name))

    def llms(self) -> pd.DataFrame:
        return self._frame(select(Llm).order_by(Llm.name))

    def row_counts(self) -> dict[str, int]:
        with self.engine.connect() as connection:
            return {
                table.__tablename__: connection.scalar(select(func.count()).select_from(table)) or 0
                for table in (Hardware, Llm, Run, Measurement, Sample)
            }


def _catalog_row(spec: object, table: type[Hardware] | type[Llm], **overrides: Any) -> dict[str, Any]:
    """The table's columns filled from the catalog spec's attributes of the same name."""
    columns = [column.name for column in table.__table__.columns if column.name != "id"]
    return {column: overrides[column] if column in overrides else getattr(spec, column) for column in columns}


def _upsert_by_name(connection: Connection, table: type[Hardware] | type[Llm], rows: list[dict[str, Any]]) -> None:
    existing = set(connection.scalars(select(table.name)))
    for row in rows:
        if row["name"] in existing:
            connection.execute(update(table).where(table.name == row["name"]).values(row))
        else:
            connection.execute(insert(table).values(row))
