"""`planner plan | validate | forecast | dashboard`: placements, their checks, timelines and the pages."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from planner.cli.common import open_store_of, print_table
from planner.errors import InputError, PlannerError
from planner.formats.scenario import Sources

if TYPE_CHECKING:
    from planner.slicing import Slice
    from simulator.traffic import Trace

EXIT_INFEASIBLE = 3
"""`planner plan`: no placement meets the scenario, proven."""
EXIT_NO_SOLUTION = 4
"""`planner plan`: the time limit ran out before a placement was found; the problem may be feasible."""
EXIT_SLO_MISSED = 5
"""`planner simulate`: a workload's simulated latency misses its SLO statistic, or a site's
simulated facility power exceeds its budget in some second (a deployment gate)."""


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Streamlit replaces this process (exec), so a service manager's SIGTERM or Ctrl-C reaches
    the server itself: a child left behind would keep the port."""
    app = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
    if not app.is_file():
        raise PlannerError(f"the dashboard is not installed at {app}. To fix: reinstall the package.")
    if not 0 < args.port < 65536:
        raise InputError(f"--port {args.port} is not a TCP port. To fix: pick 1..65535.")
    environment = dict(os.environ)
    if args.db:
        environment["PLANNER_DB_URL"] = args.db
    open_store_of(args)  # migrate and seed before the first page asks, and fail here in one line if the URL is bad
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(args.port),
               "--server.address", args.address, "--server.headless", "true", "--browser.gatherUsageStats", "false"]  # fmt: skip
    print(f"planner dashboard: http://{args.address}:{args.port} (Ctrl-C stops)", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os.execve(sys.executable, command, environment)


def cmd_plan(args: argparse.Namespace) -> int:
    from planner.confirming import ConfirmRound, confirm_table, confirmed_plan
    from planner.formats.placement import check_output_path, read_placement
    from planner.planning import plan
    from planner.render import render_moves, render_plan

    scenario = Path(args.scenario)
    current = read_placement(Path(args.current)) if args.current else None
    if args.output:
        check_output_path(Path(args.output))
    sources = Sources(include=args.source, exclude=args.exclude_source) if args.source or args.exclude_source else None
    traces = _trace_files(args.trace) if args.trace else None
    rounds: list[ConfirmRound] = []
    if args.confirm is not None:
        traces = traces or _scenario_traces(scenario)
        if not traces:
            raise InputError("--confirm simulates the plan under its workloads' traces. To fix: add --trace WORKLOAD=FILE for each workload.")
        result, rounds = confirmed_plan(scenario, open_store_of(args), traces, args.confirm, args.confirm_duration,
                                        args.objective, args.time_limit, args.gap, not args.no_baselines, sources)  # fmt: skip
    else:
        result = plan(scenario, open_store_of(args), args.objective, args.time_limit, args.gap, not args.no_baselines, sources=sources, trace_files=traces)
    placement = result.to_placement()
    print(render_plan(placement))
    if rounds:
        print()
        print_table(confirm_table(rounds))
    if current is not None:
        print()
        print(render_moves(current, placement))
    if args.output:
        result.to_file(args.output)
        print(f"\nplacement written to {args.output}")
    if rounds and rounds[-1].missed and placement.status not in ("infeasible", "no_solution"):
        print(f"SLO still missed in the fleet simulation after {len(rounds) - 1} re-plan(s) by {', '.join(rounds[-1].missed)} (exit {EXIT_SLO_MISSED})")
        return EXIT_SLO_MISSED
    return {"infeasible": EXIT_INFEASIBLE, "no_solution": EXIT_NO_SOLUTION}.get(placement.status, 0)


def _scenario_traces(scenario: Path) -> dict[str, Path]:
    """The traces a scenario's workloads give (only with `max_utilization: auto`)."""
    from models import load_catalog
    from planner.formats.scenario import load_scenario

    return load_scenario(scenario, load_catalog())[0].traces


def cmd_forecast(args: argparse.Namespace) -> int:
    from planner.forecasting import forecast
    from planner.render import render_forecast

    if args.output and not Path(args.output).parent.is_dir():
        raise InputError(f"folder {Path(args.output).parent} does not exist. To fix: create it or write elsewhere.")
    result = forecast(
        args.history,
        Path(args.scenario),
        horizon_months=args.horizon,
        quantile=args.quantile,
        store=open_store_of(args),
        start=args.start,
        time_limit_s=args.time_limit,
        progress=sys.stderr.isatty(),
        gap_rel=args.gap,
    )
    print(render_forecast(result))
    if args.output:
        result.to_csv(args.output)
        print(f"\ntimeline written to {args.output}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from planner.formats.schedule_file import is_schedule_file, read_schedule
    from planner.validate import validate_file
    from planner.validate_schedule import check_schedule

    path = Path(args.placement)
    if is_schedule_file(path):
        if not args.demand:
            raise InputError(f"{path} is a schedule. To fix: pass the series it was made from, --demand FILE (and --sites FILE if it had one).")
        sites = Path(args.sites) if args.sites else None
        current = Path(args.current) if args.current else None
        problems = check_schedule(read_schedule(path), Path(args.scenario), Path(args.demand), sites, open_store_of(args), current)
    else:
        problems = validate_file(path, Path(args.scenario), open_store_of(args), _trace_files(args.trace) if args.trace else None)
    if problems:
        for problem in problems:
            print(f"violated: {problem}")
        print(f"{args.placement}: {len(problems)} problem(s) against {args.scenario}")
        return 1
    print(f"{args.placement}: valid against {args.scenario} (demand, SLOs, inventory, power budgets, Store figures"
          f"{', every interval, reconfiguration rules' if args.demand else ''})")  # fmt: skip
    return 0




def _edges(text: str | None, flag: str) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise InputError(f"{flag} {text!r} is not a comma-separated list of token counts. To fix: e.g. {flag} 512,2048.") from error


def cmd_slices(args: argparse.Namespace) -> int:
    import yaml

    from models import load_catalog
    from planner.formats.placement import check_output_path
    from planner.formats.request_trace import check_fits_the_model, read_request_trace
    from planner.slicing import quantile_edges, slices, workload_entries

    if args.output and Path(args.output).suffix.lower() not in (".yaml", ".yml"):
        raise InputError(f"{args.output}: slices are written as YAML. To fix: end the name in .yaml.")
    if args.output:
        check_output_path(Path(args.output))
    catalog = load_catalog()
    llm = catalog.llm(args.model)
    trace = read_request_trace(Path(args.trace))
    check_fits_the_model(trace, llm, args.trace)
    if args.tokens_per_s is not None and not args.tokens_per_s > 0:
        raise InputError(f"--tokens-per-s {args.tokens_per_s} must be positive. To fix: give the peak output tokens/s to plan for.")
    prompt_edges = _edges(args.prompt_edges, "--prompt-edges") or quantile_edges(trace.prompt_tokens, args.prompt_buckets)
    output_edges = _edges(args.output_edges, "--output-edges") or quantile_edges(trace.output_tokens, args.output_buckets)
    found = slices(trace, prompt_edges, output_edges, args.tokens_per_s)
    slo = {key: value for key, value in (("ttft_ms", args.ttft_ms), ("tpot_ms", args.tpot_ms)) if value is not None}
    entries = workload_entries(found, llm.name, args.prefix, {**slo, "statistic": args.statistic})
    if args.trace_dir:
        _write_slice_traces(trace, found, entries, (prompt_edges, output_edges), Path(args.trace_dir), Path(args.output or "."))
    print(f"{args.trace}: {trace.requests} requests over {trace.duration_s:,.0f} s; prompt edges {prompt_edges}, output edges {output_edges}")
    for piece, entry in zip(found, entries, strict=True):
        print(f"  {entry['name']}: {piece.requests} requests ({piece.requests / trace.requests:.0%}), mean prompt "
              f"{piece.prompt_tokens}, mean output {piece.output_tokens}, {piece.output_tok_s:,.1f} output tok/s")  # fmt: skip
    text = yaml.safe_dump({"workloads": entries}, sort_keys=False)
    if args.output:
        from planner.formats.placement import write_text_atomically

        write_text_atomically(text, Path(args.output))
        print(f"wrote {len(entries)} workloads to {args.output} (paste them into a scenario's workloads:)")
    else:
        print(text, end="")
    return 0


def _write_slice_traces(trace: Trace, found: list[Slice], entries: list[dict[str, object]], edges: tuple[list[int], list[int]],
                        folder: Path, output: Path) -> None:  # fmt: skip
    """Each slice's requests as a trace of its own, named in its workload's `trace:` relative to
    the folder of `output` (a scenario reads traces from its own folder), for `max_utilization:
    auto` and `planner simulate`."""
    from planner.formats.placement import write_text_atomically
    from planner.formats.request_trace import request_trace_csv
    from planner.slicing import requests_by_bucket

    if folder.exists() and not folder.is_dir():
        raise InputError(f"--trace-dir {folder} is a file. To fix: name a folder (it is created if missing).")
    folder.mkdir(parents=True, exist_ok=True)
    base = output.parent if output.suffix else output
    masks = requests_by_bucket(trace, *edges)
    for piece, entry in zip(found, entries, strict=True):
        path = folder / f"{entry['name']}.csv"
        write_text_atomically(request_trace_csv(trace, masks[piece.bucket]), path)
        entry["trace"] = os.path.relpath(path, base)
    print(f"wrote each slice's requests to {folder}/ (timestamps in seconds from the trace's first request)")


def _trace_files(entries: list[str]) -> dict[str, Path]:
    files = {}
    for entry in entries:
        name, separator, path = entry.partition("=")
        if not separator or not name or not path:
            raise InputError(f"--trace {entry!r} is not WORKLOAD=FILE. To fix: e.g. --trace chat-8b=conv.csv.")
        if name in files:
            raise InputError(f"--trace names {name} twice. To fix: give one trace per workload.")
        files[name] = Path(path)
    return files


def cmd_simulate(args: argparse.Namespace) -> int:
    from planner.formats.placement import check_output_path
    from planner.simulating import simulate_placement

    if args.output:
        if Path(args.output).suffix.lower() != ".json":
            raise InputError(f"{args.output}: the report is JSON. To fix: end the name in .json.")
        check_output_path(Path(args.output))
    simulation = simulate_placement(
        Path(args.placement), Path(args.scenario), open_store_of(args), _trace_files(args.trace or []),
        policy=args.router, seed=args.seed, duration_s=args.duration, chunked_prefill_tokens=args.chunked_prefill,
        progress=sys.stderr.isatty(),
    )  # fmt: skip
    result = simulation.result
    print(f"{len(result.workload):,} requests over {result.horizon_s:,.1f} s on {len(result.energy_j)} replicas ({args.router} routing)")
    print_table(simulation.table)
    print()
    print_table(simulation.energy)
    print()
    print_table(simulation.sites)
    print()
    print_table(simulation.replicas.groupby(["site", "configuration", "serves"], as_index=False)
                .agg(replicas=("busy", "size"), busy=("busy", "mean"), mean_batch=("mean_batch", "mean"), wh=("wh", "sum")))  # fmt: skip
    for note in simulation.notes:
        print(f"note: {note}")
    if args.output:
        simulation.to_json(args.output)
        print(f"report written to {args.output}")
    print("note: each replica is stepped by the batch curves of its configuration's measured sweep, each decode step moved by the KV context its requests hold")
    missed = list(simulation.table.loc[~simulation.table["meets SLO"], "workload"])
    if missed:
        print(f"SLO missed by {', '.join(missed)} (exit {EXIT_SLO_MISSED})", file=sys.stderr)
    if simulation.over_budget:
        print(f"power budget exceeded at {', '.join(simulation.over_budget)} (exit {EXIT_SLO_MISSED})", file=sys.stderr)
    return EXIT_SLO_MISSED if missed or simulation.over_budget else 0


def cmd_caps(args: argparse.Namespace) -> int:
    from planner.utilization_caps import caps, caps_table

    found, blanket = caps(Path(args.scenario), open_store_of(args), _trace_files(args.trace or []))
    print_table(caps_table(found, blanket))
    planned = "each candidate at its own cap" if blanket == "auto" else f"every candidate at {blanket:g}"
    print(f"\neach cap: the highest load (share of the candidate's measured tok/s) at which one simulated replica meets its "
          f"workload's SLO statistic under the trace, time-compressed to that load; the scenario plans {planned}")  # fmt: skip
    return 0


def add_parsers(commands: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    planning = commands.add_parser(
        "plan",
        help="the placement with the fewest joules per token under SLOs, inventory and power budgets",
        description="Plan a scenario on the Store's measurements. Exit 0: planned; 4: no placement found "
        "within --time-limit (not proven infeasible: allow more time); 3: infeasible (reasons "
        "printed); 5: with --confirm, an SLO still missed in the fleet simulation; 2: invalid input.",
    )
    planning.add_argument("scenario", help="scenario YAML (see data/scenarios/example.yaml)")
    planning.add_argument("-o", "--output", help="write the placement file (.yaml, .yml or .json)")
    planning.add_argument("--objective", choices=["energy", "cost", "carbon"], help="override the scenario's objective")
    planning.add_argument(
        "--time-limit", type=float, metavar="S",
        help="wall-clock limit of the whole plan in seconds: the main solve, then baselines and shadow prices in what is left",
    )  # fmt: skip
    planning.add_argument("--gap", type=float, default=1e-3, metavar="FRACTION", help="relative MIP gap to stop at (default 0.001)")
    planning.add_argument("--current", metavar="PLACEMENT", help="today's placement file: show what moves")
    planning.add_argument("--no-baselines", action="store_true", help="skip the baseline solves")
    planning.add_argument(
        "--trace", action="append", metavar="WORKLOAD=FILE",
        help="a request trace per workload (repeat): each candidate's utilisation cap is simulated under it (planner caps) instead of max_utilization",
    )  # fmt: skip
    planning.add_argument(
        "--confirm", type=int, metavar="ROUNDS",
        help="with --trace: simulate the plan as a fleet and plan again with lower caps where a workload misses its SLO, ROUNDS times at most (exit 5: missed)",
    )  # fmt: skip
    planning.add_argument("--confirm-duration", type=float, default=60.0, metavar="S", help="seconds of each scaled trace a --confirm round simulates (default 60)")
    planning.add_argument(
        "--source", action="append", default=[], metavar="PATTERN",
        help="plan only on measurements of this source (shell pattern, repeatable; replaces the scenario's sources:)",
    )  # fmt: skip
    planning.add_argument(
        "--exclude-source", action="append", default=[], metavar="PATTERN", help="never plan on this source (repeatable)"
    )
    planning.set_defaults(handler=cmd_plan)

    forecasting = commands.add_parser(
        "forecast",
        help="month-by-month capacity timeline: GPUs, kW, MWh, $, tCO2, and when a site runs out",
        description="Fit growth to a demand history (or use the scenario's growth:) and plan every month "
        "of the horizon for its peak demand at --quantile.",
    )
    forecasting.add_argument("scenario", help="scenario YAML (sites, SLOs; demand comes from the history or growth:)")
    forecasting.add_argument("--history", help="CSV: timestamp, workload (or model), tokens_per_s (or requests_per_s)")
    forecasting.add_argument("--horizon", type=int, default=12, metavar="MONTHS", help="months to plan (default 12)")
    forecasting.add_argument("--quantile", type=float, default=0.9, help="plan capacity for this quantile of peak demand (default 0.9)")
    forecasting.add_argument("--start", metavar="YYYY-MM", help="first month (default: the month after the history, or next month)")
    forecasting.add_argument("--time-limit", type=float, default=20.0, metavar="S", help="solver time limit per month (default 20)")
    forecasting.add_argument(
        "--gap", type=float, default=0.01, metavar="FRACTION", help="relative MIP gap each month stops at (default 0.01)"
    )
    forecasting.add_argument("-o", "--output", help="write the timeline CSV")
    forecasting.set_defaults(handler=cmd_forecast)

    dashboard = commands.add_parser("dashboard", help="the Streamlit dashboard on the same Store")
    dashboard.add_argument("--port", type=int, default=8501, help="TCP port (default 8501)")
    dashboard.add_argument("--address", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    dashboard.set_defaults(handler=cmd_dashboard)

    simulating = commands.add_parser(
        "simulate",
        help="replay request traces against a placement on the serving simulator: TTFT/TPOT percentiles, SLO met, energy",
        description="Validate PLACEMENT against SCENARIO, then simulate its replicas (continuous batching, KV cache, "
        "routing) serving each workload's request trace, time-compressed to the workload's planned demand. "
        "Exit 0: every workload meets its SLO statistic and every site stays within its budget; 5: one does not; 2: invalid input.",
    )
    simulating.add_argument("placement", help="placement file written by `planner plan -o`")
    simulating.add_argument("scenario", help="the scenario it was planned for")
    simulating.add_argument("--trace", action="append", metavar="WORKLOAD=FILE", help="a request trace per workload (repeat)")
    simulating.add_argument("--router", default="least_outstanding", choices=["least_outstanding", "round_robin", "power_of_two"])
    simulating.add_argument("--seed", type=int, default=0, help="seed of the power-of-two router (default 0)")
    simulating.add_argument("--duration", type=float, metavar="S", help="only the first S seconds of each scaled trace")
    simulating.add_argument("-o", "--output", help="write the report as JSON")
    simulating.add_argument("--chunked-prefill", type=int, metavar="TOKENS", help="at most this many prompt tokens per step (default: whole prompts)")
    simulating.set_defaults(handler=cmd_simulate)

    capping = commands.add_parser(
        "caps",
        help="how busy each candidate's replicas may run under a request trace and still meet the SLO (simulated)",
        description="Per candidate of the scenario, bisect the load at which one simulated replica still meets its "
        "workload's SLO statistic under the workload's trace, and compare it with the scenario's max_utilization.",
    )
    capping.add_argument("scenario")
    capping.add_argument("--trace", action="append", metavar="WORKLOAD=FILE", help="a request trace per workload (repeat)")
    capping.set_defaults(handler=cmd_caps)

    slicing = commands.add_parser(
        "slices",
        help="a request trace's prompt and output lengths bucketed into workloads of one model",
        description="Bucket a request trace (CSV: timestamp, prompt_tokens, output_tokens, or the Azure 2023 "
        "layout) by prompt and output length; each bucket becomes a scenario workload with its rate and mean "
        "lengths. Workloads of one model then share replicas in a plan.",
    )
    slicing.add_argument("trace", help="request trace CSV (e.g. data/public/azure-llm-inference-2023/AzureLLMInferenceTrace_conv.csv)")
    slicing.add_argument("--model", required=True, help="the model serving the trace (a catalog name or alias)")
    slicing.add_argument("--prompt-buckets", type=int, default=2, metavar="N", help="quantile buckets of prompt length (default 2)")
    slicing.add_argument("--output-buckets", type=int, default=2, metavar="N", help="quantile buckets of output length (default 2)")
    slicing.add_argument("--prompt-edges", metavar="T1,T2", help="fixed inner edges instead of quantiles, e.g. 512,2048")
    slicing.add_argument("--output-edges", metavar="T1,T2", help="fixed inner edges instead of quantiles, e.g. 128")
    slicing.add_argument("--tokens-per-s", type=float, metavar="TOK_S", help="scale the slices to this total output tok/s (default: the trace's own mean rate)")
    slicing.add_argument("--tpot-ms", type=float, help="TPOT SLO every slice inherits")
    slicing.add_argument("--ttft-ms", type=float, help="TTFT SLO every slice inherits")
    slicing.add_argument("--statistic", default="p95", choices=["mean", "p50", "p90", "p95", "p99"], help="the SLOs' statistic (default p95)")
    slicing.add_argument("--prefix", default="slice", help="workload name prefix (default slice)")
    slicing.add_argument("-o", "--output", help="write the workloads as YAML instead of printing them")
    slicing.add_argument("--trace-dir", metavar="DIR", help="also write each slice's requests as a trace there, named in its workload's trace:")
    slicing.set_defaults(handler=cmd_slices)

    validate = commands.add_parser(
        "validate",
        help="re-check a placement or schedule file against a scenario and the Store",
        description="Exit 0: valid; 1: violations listed; 2: invalid input. A schedule is checked against the series it was made from.",
    )
    validate.add_argument("placement", help="a placement file (planner plan -o) or a schedule file (planner schedule -o)")
    validate.add_argument("scenario")
    validate.add_argument("--demand", help="a schedule's demand series")
    validate.add_argument("--sites", help="a schedule's site series, if it had one")
    validate.add_argument("--current", metavar="PLACEMENT", help="the placement a schedule started from, if it had one")
    validate.add_argument("--trace", action="append", metavar="WORKLOAD=FILE", help="the traces a placement's caps were simulated under (planner plan --trace)")
    validate.set_defaults(handler=cmd_validate)
