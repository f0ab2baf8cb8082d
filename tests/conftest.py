"""Shared fixtures: a fresh Store on SQLite and on the real PostgreSQL server for each test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

POSTGRES_URL_ENV = "PLANNER_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip locally when a dependency is missing; in CI a missing dependency is a failure."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a missing dependency fails the run)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _isolated_default_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test touches the user's own Store."""
    monkeypatch.setenv("PLANNER_DB_URL", f"sqlite:///{tmp_path / 'default.db'}")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new database on the PostgreSQL server for this test, dropped afterwards."""
    server_url = make_url(os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL))
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"planner_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as error:
        admin.dispose()
        require(False, f"no PostgreSQL server at {server_url.render_as_string(hide_password=True)}: {error.orig}")
    try:
        yield server_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest) -> str:
    """Each test using it runs once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def raw_reference() -> Path:
    """The reference runs' traces and live readings as recorded (tests/fixtures/reference/)."""
    return Path(__file__).resolve().parent / "fixtures" / "reference"
