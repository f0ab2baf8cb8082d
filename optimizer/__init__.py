"""Deciding: candidate operating points -> MILP -> placement. Pure: no database, files or printing."""
