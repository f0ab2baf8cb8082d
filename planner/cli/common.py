"""What every command shares: the Store its --db names, tables printed whole, GPU index lists."""

from __future__ import annotations

import argparse

import pandas as pd

from models import Store
from planner.errors import InputError


def open_store_of(args: argparse.Namespace) -> Store:
    from planner.store_setup import open_store

    return open_store(args.db)


def print_table(frame: pd.DataFrame) -> None:
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200):
        print(frame.to_string(index=False, na_rep="-"))


def gpu_list(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError as error:
        raise InputError(f"--gpus {text!r} is not a list of GPU indices. To fix: pass e.g. --gpus 0,1.") from error
