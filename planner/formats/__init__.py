"""File formats at the planner boundary: measurement CSV, run bundles, reference results."""
