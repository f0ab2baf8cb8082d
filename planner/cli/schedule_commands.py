"""`planner schedule`: the installed fleet by the interval, against demand, carbon and prices."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from planner.cli.common import open_store_of, print_table
from planner.cli.plan_commands import EXIT_INFEASIBLE, EXIT_NO_SOLUTION
from planner.errors import InputError


def cmd_schedule(args: argparse.Namespace) -> int:
    from planner.formats.placement import check_output_path
    from planner.formats.schedule_file import write_schedule
    from planner.schedule_content import baseline_table, interval_table, schedule_file
    from planner.scheduling import schedule

    if args.output:
        check_output_path(Path(args.output))
    result = schedule(
        Path(args.scenario), Path(args.demand), Path(args.sites) if args.sites else None, store=open_store_of(args), objective=args.objective,
        time_limit_s=args.time_limit, gap_rel=args.gap, load_gb_per_s=args.load_gb_per_s,
        max_changes_per_site=args.max_changes_per_site, min_up_intervals=args.min_up_intervals,
        window=args.window, with_baselines=not args.no_baselines, lookahead=args.lookahead, progress=sys.stderr.isatty(),
        current=Path(args.current) if args.current else None,
    )  # fmt: skip
    content = schedule_file(result)
    gap = "" if content.gap is None else f", gap {content.gap:.3%}"
    print(f"schedule of {content.scenario.name}: {len(result.starts)} intervals of {content.interval_minutes:g} min, "
          f"objective {content.objective}, status {content.status}{gap} ({result.solution.solve_s:.1f} s, {content.windows} window(s))")  # fmt: skip
    for reason in content.reasons:
        print(f"  {reason}")
    if content.intervals:
        print()
        table = interval_table(content)
        if len(table) > args.rows:
            table = _by_day(table)
            print("(one row per day; the file holds every interval)")
        print_table(table)
        print()
        print_table(baseline_table(content))
    if content.intervals:
        print(f"note: {result.load_note}")
    if args.output and content.intervals:
        write_schedule(content, Path(args.output))
        print(f"\nschedule written to {args.output}")
    return {"infeasible": EXIT_INFEASIBLE, "no_solution": EXIT_NO_SOLUTION}.get(content.status, 0)


def _renames(entries: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for entry in entries:
        model, separator, workload = entry.partition("=")
        if not separator or not model or not workload:
            raise InputError(f"--workload {entry!r} is not MODEL=WORKLOAD. To fix: e.g. --workload meta-llama/Llama-3.1-8B-Instruct=chat-8b.")
        if model in found or workload in found.values():
            raise InputError(f"--workload names {model if model in found else workload} twice. To fix: one workload per served model.")
        found[model] = workload
    return found


def cmd_demand_series(args: argparse.Namespace) -> int:
    from planner.demand_series import demand_rows, write_demand
    from planner.formats.fleet import parse_time
    from planner.importing import read_exporter_dump
    from telemetry.exposition import fetch_prometheus

    output = Path(args.output)
    if output.suffix.lower() != ".csv" or not output.parent.is_dir():
        raise InputError(f"{output}: write the series as a .csv in an existing folder. To fix: e.g. -o demand.csv.")
    start_s, end_s = parse_time(args.start, "--start"), parse_time(args.end, "--end")
    if end_s <= start_s:
        raise InputError("--end is not after --start. To fix: swap them or widen the window.")
    renames = _renames(args.workload or [])
    series = fetch_prometheus(args.source, start_s, end_s) if args.format == "prometheus" else read_exporter_dump(Path(args.source))
    rows = demand_rows(series, start_s, end_s, args.step, renames)
    write_demand(rows, output)
    workloads = sorted({workload for _, workload, _ in rows})
    print(f"{len(rows) // len(workloads)} intervals of {args.step:g} s for {', '.join(workloads)} written to {output}")
    return 0


def _by_day(table):  # type: ignore[no-untyped-def]
    """Sums (energy, money, CO2, starts) and peaks (replicas, GPUs, kW) per UTC day."""
    day = table["start (UTC)"].str[:10]
    sums = [c for c in ("starts", "kWh", "USD", "kg CO2") if c in table]
    peaks = [c for c in table.columns if c not in sums and c not in ("start (UTC)", "gCO2/kWh")]
    grouped = table.groupby(day)
    frame = grouped[peaks].max().add_prefix("max ").join(grouped[sums].sum().round(1))
    return frame.reset_index(names="day (UTC)")


def add_parsers(commands: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    scheduling = commands.add_parser(
        "schedule",
        help="which replicas run each interval of a horizon on the installed fleet, against demand, carbon and prices",
        description="Schedule the scenario's fleet (its inventories) over the horizon of a demand series, with an optional "
        "site series of carbon intensity, price and budgets per interval. Exit 0: scheduled; 3: an interval "
        "cannot be served (reasons printed); 4: no schedule found within --time-limit; 2: invalid input.",
    )
    scheduling.add_argument("scenario", help="scenario YAML: the fleet, SLOs and lengths (e.g. data/scenarios/large.yaml)")
    scheduling.add_argument("--demand", required=True, help="CSV: timestamp, workload, tokens_per_s or requests_per_s")
    scheduling.add_argument(
        "--sites", help="CSV: timestamp, site, carbon_g_per_kwh, usd_per_kwh, power_budget_kw (any); default: the scenario's figures throughout"
    )
    scheduling.add_argument("-o", "--output", help="write the schedule file (.yaml, .yml or .json)")
    scheduling.add_argument("--objective", choices=["energy", "cost", "carbon"], help="override the scenario's objective")
    scheduling.add_argument(
        "--time-limit", type=float, default=120.0, metavar="S",
        help="wall-clock limit of the command (default 120): half for the schedule when baselines follow, the rest shared by them",
    )  # fmt: skip
    scheduling.add_argument("--gap", type=float, default=1e-3, metavar="FRACTION", help="relative gap to stop at (default 0.001)")
    scheduling.add_argument("--load-gb-per-s", type=float, default=2.0, metavar="GB_S", help="storage bandwidth a starting replica loads its weights at (default 2)")
    scheduling.add_argument("--max-changes-per-site", type=int, metavar="N", help="replicas started plus stopped per site and interval (default: no limit)")
    scheduling.add_argument("--min-up-intervals", type=int, default=1, metavar="N", help="a started replica runs at least N intervals (default 1)")
    scheduling.add_argument("--window", type=int, metavar="N", help="solve rolling windows of N intervals (default: the whole horizon at once)")
    scheduling.add_argument("--lookahead", type=int, default=0, metavar="N", help="with --window: solve N intervals past each window, then drop them")
    scheduling.add_argument("--current", metavar="PLACEMENT", help="today's placement file: its replicas run before the first interval (default: it starts free)")
    scheduling.add_argument("--no-baselines", action="store_true", help="skip the baseline schedules")
    scheduling.add_argument("--rows", type=int, default=48, metavar="N", help="print one row per day beyond N intervals (default 48)")
    scheduling.set_defaults(handler=cmd_schedule)

    series = commands.add_parser(
        "demand-series",
        help="a demand series for `planner schedule` from vLLM's token counters in Prometheus or an exporter dump",
        description="Output tokens/s per served model and interval, from the rate of vllm:generation_tokens_total within "
        "each interval (resets left out), summed over engines. Exit 0: written; 1: the source cannot be read; 2: invalid input.",
    )
    series.add_argument("source", help="a Prometheus base URL (--format prometheus) or a /metrics dump with timestamps (--format dcgm)")
    series.add_argument("--format", choices=["prometheus", "dcgm"], default="prometheus")
    series.add_argument("--start", required=True, metavar="TIME", help="first interval's start, ISO 8601 or unix seconds")
    series.add_argument("--end", required=True, metavar="TIME", help="the window's end")
    series.add_argument("--step", type=float, default=3600.0, metavar="S", help="interval length in seconds, 300 to 3600 (default 3600)")
    series.add_argument("--workload", action="append", metavar="MODEL=WORKLOAD", help="name a served model's series after a scenario workload (repeat)")
    series.add_argument("-o", "--output", required=True, help="the demand series CSV to write")
    series.set_defaults(handler=cmd_demand_series)
