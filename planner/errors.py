"""The front door's error types; the CLI turns each into one line and an exit code."""


class PlannerError(Exception):
    """Something the user must fix; the message names it and how. Exit code 1."""

    exit_code = 1


class InputError(PlannerError):
    """A file, argument or value that cannot be used as given. Exit code 2."""

    exit_code = 2
