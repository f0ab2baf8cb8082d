"""What every page shares: the Store (opened once per server) and error display."""

from __future__ import annotations

import os

import streamlit as st

from models import Store, StoreError
from planner.errors import PlannerError
from planner.store_setup import open_store
from telemetry.energy_window import TelemetryError

USER_ERRORS = (PlannerError, StoreError, TelemetryError)
"""Errors whose message is meant for the user: shown in the page, never as a traceback."""


@st.cache_resource
def _store(url: str | None) -> Store:
    return open_store(url)


def store() -> Store:
    """The Store named by PLANNER_DB_URL (`planner dashboard --db` sets it)."""
    return _store(os.environ.get("PLANNER_DB_URL"))
