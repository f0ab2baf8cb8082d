"""The front door's error types, and the one place that turns any user-facing error into a line
and an exit code (the CLI and the dashboard both use it)."""

from models.errors import CatalogError, StoreError, StoreUrlError
from optimizer.errors import OptimizerError
from telemetry.errors import TelemetryError
from telemetry.loadgen import LoadGeneratorError


class PlannerError(Exception):
    """Something the user must fix; the message names it and how. Exit code 1."""


class InputError(PlannerError):
    """A file, argument or value that cannot be used as given. Exit code 2."""


USER_ERRORS: tuple[type[Exception], ...] = (PlannerError, StoreError, OptimizerError, TelemetryError)
"""Errors whose message is meant for the user: one line, never a traceback."""


BAD_INPUT_ERRORS: tuple[type[Exception], ...] = (InputError, CatalogError, StoreUrlError, LoadGeneratorError)
"""User-facing errors that are the input's fault (a name, a URL, a file, a load generator's
settings): exit code 2."""


def error_line(error: Exception) -> tuple[str, int]:
    """The line to show for a user-facing error, and the exit code it ends a command with:
    2 for bad input, 1 for the rest (README, exit codes)."""
    return f"planner: error: {error}", 2 if isinstance(error, BAD_INPUT_ERRORS) else 1
