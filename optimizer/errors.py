"""The optimizer room's error type: the solver could not be run as asked."""


class OptimizerError(Exception):
    """The solver could not be run; the message says what to install or change."""
