"""The front door's error types, and the one place that turns any user-facing error into a line
and an exit code (the CLI and the dashboard both use it)."""

from models.errors import StoreError
from optimizer.errors import OptimizerError
from telemetry.errors import TelemetryError


class PlannerError(Exception):
    """Something the user must fix; the message names it and how. Exit code 1."""

    exit_code = 1


class InputError(PlannerError):
    """A file, argument or value that cannot be used as given. Exit code 2."""

    exit_code = 2


USER_ERRORS: tuple[type[Exception], ...] = (PlannerError, StoreError, OptimizerError, TelemetryError)
"""Errors whose message is meant for the user: one line, never a traceback."""


def error_line(error: Exception) -> tuple[str, int]:
    """The line to show for a user-facing error, and the exit code it ends a command with."""
    return f"planner: error: {error}", int(getattr(error, "exit_code", 1))
