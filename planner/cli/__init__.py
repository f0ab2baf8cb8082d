"""The `planner` command: parse, call one library function, render, map errors to one line.

The parser of each command lives beside the command it serves (store_commands, telemetry_commands,
plan_commands); this module puts them together and turns user-facing errors into a line and an
exit code (planner/errors.py: 2 bad input, 1 other errors, 3 infeasible plan, 130 interrupted).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from planner.cli import plan_commands, schedule_commands, store_commands, telemetry_commands
from planner.errors import USER_ERRORS, error_line

DESCRIPTION = "Energy-aware LLM inference placement and capacity planner."


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}. To fix: see `{self.prog} --help`.\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="planner", description=DESCRIPTION)
    parser.add_argument(
        "--db",
        metavar="URL",
        help="Store URL: sqlite:///PATH or postgresql+psycopg://USER@HOST/DB "
        "(default: $PLANNER_DB_URL, else a SQLite file in your data directory)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    for group in (store_commands, telemetry_commands, plan_commands, schedule_commands):
        group.add_parsers(commands, _Parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except USER_ERRORS as error:
        line, code = error_line(error)
        print(line, file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print("planner: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`planner measurements | head`): what it wanted was printed
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
