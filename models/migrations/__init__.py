"""Alembic migrations of the Store's schema; run by Store.migrate(), no alembic.ini needed."""
