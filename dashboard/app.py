"""`planner dashboard`: five pages on the same Store and Python API as the CLI."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

VIEWS = Path(__file__).resolve().parent / "views"

st.set_page_config(page_title="Energy planner", layout="wide")
navigation = st.navigation(
    [
        st.Page(VIEWS / "measurements.py", title="Measurements", url_path="measurements", default=True),
        st.Page(VIEWS / "plan.py", title="Plan", url_path="plan"),
        st.Page(VIEWS / "forecast.py", title="Forecast", url_path="forecast"),
        st.Page(VIEWS / "simulate.py", title="Simulate", url_path="simulate"),
        st.Page(VIEWS / "schedule.py", title="Schedule", url_path="schedule"),
    ]
)
navigation.run()
