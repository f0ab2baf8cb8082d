"""The records room's error type: what went wrong and what the user must do about it."""


class StoreError(Exception):
    """A Store or catalog problem the user can fix; the message says how."""


class CatalogError(StoreError):
    """An unknown GPU or model name, or a catalog file that does not hold together."""


class StoreUrlError(StoreError):
    """A Store URL that cannot be used as written (syntax, or a database kind not supported)."""
