"""Checking plans against traffic: request traces and arrival processes (and, next, a serving
simulator). Pure like optimizer: no database, files or printing; the planner feeds it."""
