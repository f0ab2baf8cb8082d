"""Streamlit dashboard over the planner API (started by `planner dashboard`)."""
