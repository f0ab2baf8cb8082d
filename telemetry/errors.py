"""The telemetry room's error types: measurement problems the user can act on."""


class TelemetryError(Exception):
    """A measurement problem the user can act on; the message says how."""
