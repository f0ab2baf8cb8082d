"""Bundled data: GPU and LLM catalogs, name aliases, carbon intensity, reference measurements, scenarios.

Installed as the `planner_data` package so code finds it with importlib.resources.
"""
