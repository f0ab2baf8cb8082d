"""`planner schedule`: the installed fleet by the interval, against demand, carbon and prices."""

from __future__ import annotations

import argparse
from pathlib import Path

from planner.cli.common import open_store_of, print_table
from planner.cli.plan_commands import EXIT_INFEASIBLE, EXIT_NO_SOLUTION


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
        window=args.window, with_baselines=not args.no_baselines,
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
    if args.output and content.intervals:
        write_schedule(content, Path(args.output))
        print(f"\nschedule written to {args.output}")
    return {"infeasible": EXIT_INFEASIBLE, "no_solution": EXIT_NO_SOLUTION}.get(content.status, 0)


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
    scheduling.add_argument("--time-limit", type=float, metavar="S", help="wall-clock limit: the schedule, then baselines in what is left")
    scheduling.add_argument("--gap", type=float, default=1e-3, metavar="FRACTION", help="relative gap to stop at (default 0.001)")
    scheduling.add_argument("--load-gb-per-s", type=float, default=2.0, metavar="GB_S", help="storage bandwidth a starting replica loads its weights at (default 2)")
    scheduling.add_argument("--max-changes-per-site", type=int, metavar="N", help="replicas started plus stopped per site and interval (default: no limit)")
    scheduling.add_argument("--min-up-intervals", type=int, default=1, metavar="N", help="a started replica runs at least N intervals (default 1)")
    scheduling.add_argument("--window", type=int, metavar="N", help="solve rolling windows of N intervals (default: the whole horizon at once)")
    scheduling.add_argument("--no-baselines", action="store_true", help="skip the baseline schedules")
    scheduling.add_argument("--rows", type=int, default=48, metavar="N", help="print one row per day beyond N intervals (default 48)")
    scheduling.set_defaults(handler=cmd_schedule)
