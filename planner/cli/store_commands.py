"""`planner db info | measurements | import | export`: what the Store holds, and what goes in and out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from models import load_catalog
from planner.cli.common import open_store_of, print_table
from planner.errors import InputError


def cmd_db_info(args: argparse.Namespace) -> int:
    from planner.store_setup import store_overview

    overview = store_overview(open_store_of(args))
    print(f"store: {overview.url} (schema {overview.schema_revision})")
    print("rows: " + ", ".join(f"{table} {count}" for table, count in overview.row_counts.items()))
    if overview.measurements.empty:
        print("no measurements yet: `planner import FILE.csv` adds some.")
        return 0
    print_table(overview.measurements)
    if not overview.runs.empty:
        print("\nruns (`planner export KEY FOLDER` writes one out):")
        print_table(overview.runs)
    return 0


def _simulated_check(args: argparse.Namespace) -> int:
    from planner.calibration import REQUESTS_PER_SLOT, simulated_holdout, summary

    table, notes = simulated_holdout(open_store_of(args), model=args.model, hardware=args.hardware)
    if table.empty:
        print("no sweep of three or more batch sizes matches: nothing to hold out.")
        return 0
    print_table(table)
    print()
    print_table(summary(table))
    print(f"\neach batch simulated on curves fitted to the rest of its sweep: {REQUESTS_PER_SLOT} requests per batch slot submitted at once "
          "(a saturated engine, as the sweeps were measured); errors are simulated / measured - 1 in %.")  # fmt: skip
    for note in notes:
        print(f"note: {note}")
    return 0


def _shown(table: pd.DataFrame, when_empty: str) -> bool:
    """Print a check's table, or the line saying why there is none; whether there was one."""
    if table.empty:
        print(when_empty)
        return False
    print_table(table)
    return True


def _context_check(args: argparse.Namespace) -> int:
    from planner.model_check import context_check

    table = context_check(open_store_of(args), model=args.model, hardware=args.hardware)
    if _shown(table, "no configuration has its decode measured apart at two or more prompt lengths: no context to check."):
        print("\neach decode window predicted from its configuration's window at the most measured prompt length and the same batch, "
              "with the KV tokens read per step moved: blind (no cost), the bandwidth roofline's, and the slopes fitted on the other "
              "prompt lengths ('-': none left that share a batch); errors are predicted / measured - 1 in %.")  # fmt: skip
    return 0


LENGTHS_NEAR_RATIO = 4.0
"""Predictions from a prompt at most this many times shorter or longer are summarised apart:
slices of a trace sit that close to some measured prompt, the 32k ends of the grid do not."""


def _lengths_check(args: argparse.Namespace) -> int:
    from planner.model_check import lengths_check

    table = lengths_check(open_store_of(args), model=args.model, hardware=args.hardware)
    if not _shown(table, "no configuration has whole requests measured with their phases apart at two or more prompt lengths: nothing to move."):
        return 0
    ratio = np.maximum(table["prompt"] / table["from prompt"], table["from prompt"] / table["prompt"])
    near = table[ratio <= LENGTHS_NEAR_RATIO]
    if not near.empty:
        print(f"\nwithin {LENGTHS_NEAR_RATIO:g}x of the measured prompt ({len(near)} predictions): median |error| "
              + ", ".join(f"{column.removesuffix(' %')} {near[column].abs().median():.1f} %" for column in ("tok/s %", "J/tok %", "TPOT %")))
    print("\neach point predicted by moving a measurement of its configuration and batch at another prompt length to its own "
          "(prefill per prompt token, decode steps by the KV slopes fitted without its prompt length, else the roofline): "
          "what `derive_lengths: true` plans with; errors are predicted / measured - 1 in %.")  # fmt: skip
    return 0


def cmd_model_check(args: argparse.Namespace) -> int:
    from planner.model_check import model_check

    if sum((args.simulate, args.context, args.lengths)) > 1:
        raise InputError("--simulate, --context and --lengths check different things. To fix: pass one of them.")
    if args.simulate:
        return _simulated_check(args)
    if args.context:
        return _context_check(args)
    if args.lengths:
        return _lengths_check(args)
    table = model_check(open_store_of(args), model=args.model, hardware=args.hardware)
    if not _shown(table, "no sweep of three or more batch sizes matches: nothing to hold out."):
        return 0
    print(
        "\neach point predicted by the curves fitted to the rest of its sweep (cycle time and TPOT linear in batch, "
        "and a cycle's energy linear in batch); largest |predicted / measured - 1| in %. interp: inside the other points' "
        "batch range; extrap: the sweep's smallest or largest batch."
    )
    return 0


def cmd_measurements(args: argparse.Namespace) -> int:
    from planner.stored_points import operating_points_table

    catalog = load_catalog()
    model = catalog.resolve("llm", args.model) if args.model else None
    hardware = catalog.resolve("gpu", args.hardware) if args.hardware else None
    table = operating_points_table(open_store_of(args), model=model, hardware=hardware)
    if table.empty:
        print("no measurements match.")
        return 0
    print_table(table)
    print(
        "\ndecode_mj_per_tok: decode window alone; mj_per_tok: whole requests (prefill + decode) "
        "at the measured prompt/output lengths, what the optimizer plans with."
    )
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from planner.formats.fleet import parse_time
    from planner.importing import import_file, import_fleet

    catalog = load_catalog()
    if args.format in ("dcgm", "prometheus"):
        start_s = parse_time(args.start, "--start") if args.start else None
        end_s = parse_time(args.end, "--end") if args.end else None
        join_labels = tuple(label.strip() for label in (args.join_label or "").split(",") if label.strip())
        report = import_fleet(open_store_of(args), args.format, args.source, start_s, end_s, join_labels, catalog)
    else:
        if args.start or args.end:
            raise InputError(f"--start/--end apply to --format dcgm and prometheus, not {args.format}. To fix: drop them.")
        source = Path(args.source)
        if not source.exists():  # import_file checks too; here before a new Store is created and seeded for a typo
            raise InputError(f"{source} does not exist. To fix: pass the path of the file or folder to import.")
        report = import_file(open_store_of(args), args.format, source, catalog)
    for line in report.lines:
        print(line)
    if report.table is not None:
        print_table(report.table)
    for note in report.notes:
        print(f"planner: note: {note}", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from planner.formats.run_bundle import export_run_bundle

    report = export_run_bundle(open_store_of(args), args.run, Path(args.folder))
    print(f"run {args.run}: {report.measurements} measurement(s) and {report.samples} sample(s) written to {args.folder}/")
    if report.left_out:
        print(f"{len(report.left_out)} measurement(s) left out, their energy untrusted in the Store:")
        for line in report.left_out:
            print(f"  {line}")
    return 0


def add_parsers(commands: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    db = commands.add_parser("db", help="what the Store holds")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="SUBCOMMAND", parser_class=parser_class)
    info = db_commands.add_parser("info", help="row counts and the measurements by source, model and GPU")
    info.set_defaults(handler=cmd_db_info)

    measurements = commands.add_parser(
        "measurements", help="stored operating points with decode-only and end-to-end J/token"
    )
    measurements.add_argument("--model", help="only this model (any alias)")
    measurements.add_argument("--hardware", help="only this GPU type (any alias)")
    measurements.set_defaults(handler=cmd_measurements)

    checking = commands.add_parser(
        "model-check", help="leave-one-out error of the batch curves (simulator/performance.py) on each measured sweep"
    )
    checking.add_argument("--model", help="only this model (any alias)")
    checking.add_argument("--hardware", help="only this GPU type (any alias)")
    checking.add_argument("--simulate", action="store_true", help="simulate each held-out batch with its benchmark's setup (saturated engine)")
    checking.add_argument("--context", action="store_true", help="predict decode windows at other prompt lengths from the KV context's cost")
    checking.add_argument("--lengths", action="store_true", help="predict whole-request points at other prompt lengths as derive_lengths plans them")
    checking.set_defaults(handler=cmd_model_check)

    importer = commands.add_parser(
        "import",
        help="measurements from a file into the Store",
        description="Import measurements. csv: the layout documented in README.md (units in column names); "
        "reference: a folder written by measure_decode.py (results.json + trace.csv); mlenergy-v2 / mlenergy-v3: "
        "a folder of ML.ENERGY leaderboard JSON files (whole requests on the leaderboard's tasks); dcgm: a text dump of "
        "dcgm-exporter and vLLM /metrics scrapes with timestamps; prometheus: a Prometheus server's raw samples of both "
        "over --start..--end. The last two join DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION with vllm:generation_tokens_total "
        "per host into J/token.",
    )
    importer.add_argument("source", help="the file or folder to import (a Prometheus base URL with --format prometheus)")
    importer.add_argument("--format", choices=["csv", "reference", "mlenergy-v2", "mlenergy-v3", "dcgm", "prometheus"], default="csv")
    importer.add_argument("--start", metavar="TIME", help="dcgm/prometheus: window start, ISO 8601 or unix seconds")
    importer.add_argument("--end", metavar="TIME", help="dcgm/prometheus: window end, ISO 8601 or unix seconds")
    importer.add_argument(
        "--join-label", metavar="LABEL[,LABEL]",
        help="dcgm/prometheus: the label pairing GPUs with engines, first found wins (default: the scraped host; "
        "in Kubernetes e.g. exported_pod,pod)",
    )  # fmt: skip
    importer.set_defaults(handler=cmd_import)

    exporter = commands.add_parser(
        "export",
        help="a stored run as a run bundle folder (run.yaml, measurements.csv, samples.csv)",
        description="Write one run of the Store (e.g. a `planner bench`) as a run bundle. Committed under "
        "data/runs/, it ships with the package and seeds every new Store. Measurements whose energy "
        "could not be trusted are left out.",
    )
    exporter.add_argument("run", help="the run's key (`planner db info` lists them)")
    exporter.add_argument("folder", help="a new folder to write")
    exporter.set_defaults(handler=cmd_export)
