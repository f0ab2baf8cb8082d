"""What every page shares: the Store (opened once per server) and error display."""

from __future__ import annotations

import os

import streamlit as st

import planner
from models import Store

USER_ERRORS = planner.USER_ERRORS
"""Errors whose message is meant for the user: shown in the page, never as a traceback."""


@st.cache_resource
def _store(url: str | None) -> Store:
    return planner.open_store(url)


def store() -> Store:
    """The Store named by PLANNER_DB_URL (`planner dashboard --db` sets it)."""
    return _store(os.environ.get("PLANNER_DB_URL"))
