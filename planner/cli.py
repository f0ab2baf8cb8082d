"""The `planner` command: parse, call one library function, render, map errors to one line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn
from pathlib import Path

import pandas as pd

from models import Catalog, Store, StoreError, load_catalog
from models.catalog import LlmSpec
from telemetry.loadgen import Workload
from optimizer.model import OptimizerError
from planner.errors import InputError, PlannerError
from telemetry.energy_window import TelemetryError

DESCRIPTION = "Energy-aware LLM inference placement and capacity planner."


def _store(args: argparse.Namespace) -> Store:
    from planner.store_setup import open_store

    return open_store(args.db)


def _print_table(frame: pd.DataFrame) -> None:
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200):
        print(frame.to_string(index=False, na_rep="-"))


def cmd_db_info(args: argparse.Namespace) -> int:
    store = _store(args)
    print(f"store: {store.display_url} (schema {store.schema_revision()})")
    counts = store.row_counts()
    print("rows: " + ", ".join(f"{table} {count}" for table, count in counts.items()))
    measurements = store.measurements()
    if measurements.empty:
        print("no measurements yet: `planner import FILE.csv` adds some.")
        return 0
    grouped = (
        measurements.groupby(["source", "workload_profile", "model", "hardware", "runtime"], dropna=False)
        .agg(points=("id", "count"), loads=("batch", lambda loads: ",".join(str(int(v)) for v in sorted(loads.dropna()))))
        .reset_index()
    )
    _print_table(grouped)
    runs = store.runs()
    if not runs.empty:
        print("\nruns (`planner export KEY FOLDER` writes one out):")
        _print_table(runs[["source_key", "tool", "gpu_name", "started_at"]])
    return 0


def cmd_measurements(args: argparse.Namespace) -> int:
    from planner.operating_points import operating_points_table

    store = _store(args)
    catalog = load_catalog()
    model = catalog.resolve("llm", args.model) if args.model else None
    hardware = catalog.resolve("gpu", args.hardware) if args.hardware else None
    table = operating_points_table(store, model=model, hardware=hardware)
    if table.empty:
        print("no measurements match.")
        return 0
    _print_table(table)
    print(
        "\ndecode_mj_per_tok: decode window alone; mj_per_tok: whole requests (prefill + decode) "
        "at the measured prompt/output lengths, what the optimizer plans with."
    )
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from planner.formats.measurements_csv import read_measurements_csv
    from planner.formats.reference import read_reference_run
    from planner.store_setup import store_bundle

    if args.format in ("dcgm", "prometheus"):
        return _import_fleet(args)
    if args.start or args.end:
        raise InputError(f"--start/--end apply to --format dcgm and prometheus, not {args.format}. To fix: drop them.")
    source = Path(args.source)
    if not source.exists():
        raise InputError(f"{source} does not exist. To fix: pass the path of the file or folder to import.")
    catalog = load_catalog()
    if args.format == "csv":
        if not source.is_file():
            raise InputError(f"{source} is not a file. To fix: pass a measurement CSV (--format csv).")
        records = read_measurements_csv(source, catalog)
        store = _store(args)
        counts = store.add_measurements(records)
        print(f"{source}: {len(records)} rows read, {counts.added} added, {counts.already_present} already stored.")
        return 0
    if args.format in ("mlenergy-v2", "mlenergy-v3"):
        return _import_mlenergy(args, source, catalog)
    if not (source / "results.json").is_file():
        raise InputError(f"{source} has no results.json. To fix: pass a folder written by measure_decode.py.")
    bundle = read_reference_run(source, catalog)
    added, samples_added = store_bundle(_store(args), bundle)
    print(f"{source}: {len(bundle.measurements)} measurements read, {added} added; {samples_added} samples added.")
    return 0


def _import_fleet(args: argparse.Namespace) -> int:
    from planner.formats.fleet import parse_time, read_fleet
    from planner.store_setup import store_bundle
    from telemetry.exposition import fetch_prometheus, parse_exposition

    start_s = parse_time(args.start, "--start") if args.start else None
    end_s = parse_time(args.end, "--end") if args.end else None
    if args.format == "prometheus":
        if start_s is None or end_s is None:
            raise InputError("--format prometheus needs --start and --end. To fix: pass the window, e.g. --start 2026-11-20T10:00Z --end 2026-11-20T11:00Z.")
        if end_s <= start_s:
            raise InputError("--end is not after --start. To fix: swap them or widen the window.")
        series = fetch_prometheus(args.source, start_s, end_s)
        origin = f"prometheus {args.source}"
    else:
        path = Path(args.source)
        if not path.is_file():
            raise InputError(f"{path} is not a file. To fix: pass an exporter text dump (--format dcgm).")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"cannot read {path}: {error}. To fix: pass a UTF-8 text dump.") from error
        try:
            series = parse_exposition(text, str(path))
        except TelemetryError as error:
            raise InputError(str(error)) from error
        origin = f"dcgm {path.name}"
    join_labels = tuple(label.strip() for label in (args.join_label or "").split(",") if label.strip())
    found = read_fleet(series, origin, start_s, end_s, load_catalog(), join_labels)
    store = _store(args)
    rows = []
    for bundle in found.bundles:
        added, samples_added = store_bundle(store, bundle)
        (m,) = bundle.measurements
        energy_j, uncertainty_j = m.decode.energy_j or 0.0, m.decode.uncertainty_j or 0.0
        rows.append(
            {
                "host": bundle.run.host or "-",
                "model": m.model,
                "hardware": f"{m.hardware} x{m.gpus_per_replica}",
                "window_s": round(m.decode.window_s, 1),
                "tok_s": round(m.output_tok_s, 1),
                "W": round(m.busy_power_w or 0),
                "mJ_per_tok": round(energy_j / m.decode_tokens * 1000, 2),
                "+-mJ": round(uncertainty_j / m.decode_tokens * 1000, 2),
                "tpot_p95_ms": round(m.tpot_ms, 1),
                "added": added,
                "samples": samples_added,
            }
        )
    _print_table(pd.DataFrame(rows))
    for host in found.skipped:
        print(f"planner: note: skipped {host}", file=sys.stderr)
    return 0


def _import_mlenergy(args: argparse.Namespace, source: Path, catalog: Catalog) -> int:
    from planner.formats.mlenergy import read_mlenergy_v2, read_mlenergy_v3

    if not source.is_dir():
        raise InputError(f"{source} is not a folder. To fix: pass the folder that holds the leaderboard's JSON files.")
    report = (read_mlenergy_v2 if args.format == "mlenergy-v2" else read_mlenergy_v3)(source, catalog)
    if report.errors:
        for error in report.errors:
            print(f"planner: error: {error}", file=sys.stderr)
        raise InputError(
            f"{len(report.errors)} file(s) under {source} cannot be imported; nothing was stored. "
            "To fix: correct or remove them and import again."
        )
    counts = _store(args).add_measurements(report.records)
    print(f"{source}: {report.summary()}.")
    print(f"{counts.added} added, {counts.already_present} already stored.")
    return 0


def _gpu_list(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError as error:
        raise InputError(f"--gpus {text!r} is not a list of GPU indices. To fix: pass e.g. --gpus 0,1.") from error


def cmd_export(args: argparse.Namespace) -> int:
    from planner.formats.run_bundle import export_run_bundle

    measurements, samples = export_run_bundle(_store(args), args.run, Path(args.folder))
    print(f"run {args.run}: {measurements} measurement(s) and {samples} sample(s) written to {args.folder}/")
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    import time

    from planner.collect import collect, open_source, windows_table

    replay = Path(args.replay) if args.replay else None
    record = Path(args.record) if args.record else None
    if record is not None and not record.parent.is_dir():
        raise InputError(f"--record {record}: folder {record.parent} does not exist. To fix: create it first.")
    source = open_source(replay, _gpu_list(args.gpus), args.power_limit, speed=None)
    store = _store(args)
    what = f"replaying {replay}" if replay else f"sampling {len(source.gpus())} GPU(s) at {args.rate:g} Hz"
    print(f"planner collect: {what} (Ctrl-C stops, keeping every sample)", file=sys.stderr)
    result = collect(store, source, args.rate, args.duration, record, args.min_window, time.sleep)
    print(f"run {result.run_key}: {result.samples_written} samples stored" + (f", trace written to {record}" if record else ""))
    if result.windows:
        _print_table(windows_table(result.windows))
    for error in result.errors:
        print(f"planner: warning: {error}", file=sys.stderr)
    return 0


DEFAULT_RUNTIMES = {"openai": "vllm", "torch-decode": "torch-decode"}


def _bench_workload(args: argparse.Namespace, llm: LlmSpec) -> Workload:
    """The load generator `--workload` names, from its own options."""
    if args.workload == "torch-decode":
        from telemetry.loadgen.torch_decode import TorchDecodeWorkload, decoder_shape

        if args.url is not None:
            raise InputError("--url is for --workload openai; torch-decode runs its own decoder. To fix: drop --url.")
        return TorchDecodeWorkload(
            decoder_shape(llm), prompt_tokens=args.prompt_tokens, output_tokens=args.output_tokens,
            device=args.device, dtype_name=args.dtype, cuda_graphs=not args.no_cuda_graphs,
        )  # fmt: skip
    from telemetry.loadgen.openai import OpenAiWorkload

    if args.url is None:
        raise InputError("--workload openai needs --url. To fix: pass the server's base URL, e.g. http://127.0.0.1:8000.")
    return OpenAiWorkload(
        url=args.url, model=args.served_model or args.model, prompt_tokens=args.prompt_tokens,
        output_tokens=args.output_tokens, api=args.api, sample_lengths=args.sample_lengths,
    )  # fmt: skip


def cmd_bench(args: argparse.Namespace) -> int:
    import socket
    from datetime import UTC, datetime

    from tqdm import tqdm

    from planner.collect import bench, bench_table, open_source, resolve_bench_names
    from telemetry.bench import BenchSettings
    from telemetry.loadgen import check_concurrency

    try:
        levels = check_concurrency([int(part) for part in args.concurrency.split(",") if part.strip()])
    except ValueError as error:
        raise InputError(f"--concurrency {args.concurrency!r} is not a list of whole numbers. To fix: pass e.g. 1,4,16,64.") from error
    source = open_source(Path(args.replay) if args.replay else None, _gpu_list(args.gpus), args.power_limit, speed=1.0)
    catalog = load_catalog()
    model, hardware = resolve_bench_names(catalog, args.model, args.hardware, source)
    try:
        if args.workload == "torch-decode" and len(source.gpus()) > 1:
            raise InputError(
                f"torch-decode runs on one GPU but {len(source.gpus())} are sampled, whose idle power would be charged to it. "
                "To fix: pass --gpus with the NVML index of --device (nvidia-smi lists them)."
            )
        workload = _bench_workload(args, catalog.llms[model])
    except BaseException:
        source.close()
        raise
    settings = BenchSettings(
        model=model,
        hardware=hardware,
        runtime=args.runtime or DEFAULT_RUNTIMES[args.workload],
        runtime_version=args.runtime_version or getattr(workload, "runtime_version", None),
        concurrency=tuple(levels),
        source=f"bench/{socket.gethostname()}/{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}",
        prompt_tokens=args.prompt_tokens,
        output_tokens=args.output_tokens,
        gpus_per_replica=args.gpus_per_replica,
        warmup_s=args.warmup,
        window_s=args.window,
    )
    store = _store(args)
    with tqdm(total=len(levels), unit="level", desc="bench", file=sys.stderr) as progress:

        def advance(outcome) -> None:  # noqa: ANN001
            progress.set_postfix_str(f"{'batch' if outcome.prefill is not None else 'concurrency'} {outcome.concurrency} done")
            progress.update()

        outcomes = bench(store, source, workload, settings, args.rate, advance)
    _print_table(bench_table(outcomes))
    stored = sum(outcome.measurement is not None for outcome in outcomes)
    print(f"{stored} of {len(outcomes)} level(s) stored under {settings.source}.")
    if stored == 0:
        raise PlannerError(f"no level gave a measurement; the first problem: {outcomes[0].problems[0]}")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    import os
    import subprocess

    app = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
    if not app.is_file():
        raise PlannerError(f"the dashboard is not installed at {app}. To fix: reinstall the package.")
    if not 0 < args.port < 65536:
        raise InputError(f"--port {args.port} is not a TCP port. To fix: pick 1..65535.")
    environment = dict(os.environ)
    if args.db:
        environment["PLANNER_DB_URL"] = args.db
    _store(args)  # migrate and seed before the first page asks, and fail here in one line if the URL is bad
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(args.port),
               "--server.address", args.address, "--server.headless", "true", "--browser.gatherUsageStats", "false"]  # fmt: skip
    print(f"planner dashboard: http://{args.address}:{args.port} (Ctrl-C stops)", file=sys.stderr)
    return subprocess.call(command, env=environment)


def cmd_plan(args: argparse.Namespace) -> int:
    from planner.formats.placement import check_output_path, read_placement
    from planner.plan import plan
    from planner.render import render_moves, render_plan

    scenario = Path(args.scenario)
    current = read_placement(Path(args.current)) if args.current else None
    if args.output:
        check_output_path(Path(args.output))
    if args.time_limit is not None and args.time_limit <= 0:
        raise InputError(f"--time-limit {args.time_limit} must be positive. To fix: give seconds, e.g. --time-limit 30.")
    if not 0 <= args.gap < 1:
        raise InputError(f"--gap {args.gap} must be a fraction in [0, 1). To fix: e.g. --gap 0.001 for 0.1 %.")
    result = plan(
        scenario,
        store=_store(args),
        objective=args.objective,
        time_limit_s=args.time_limit,
        gap_rel=args.gap,
        with_baselines=not args.no_baselines,
        solver=args.solver,
    )
    placement = result.to_placement()
    print(render_plan(placement))
    if current is not None:
        print()
        print(render_moves(current, placement))
    if args.output:
        result.to_file(args.output)
        print(f"\nplacement written to {args.output}")
    return 0 if placement.status != "infeasible" else 3


def cmd_forecast(args: argparse.Namespace) -> int:
    from planner.forecast import forecast
    from planner.render import render_forecast

    if args.output and not Path(args.output).parent.is_dir():
        raise InputError(f"folder {Path(args.output).parent} does not exist. To fix: create it or write elsewhere.")
    result = forecast(
        args.history,
        Path(args.scenario),
        horizon_months=args.horizon,
        quantile=args.quantile,
        store=_store(args),
        start=args.start,
        time_limit_s=args.time_limit,
        progress=sys.stderr.isatty(),
    )
    print(render_forecast(result))
    if args.output:
        result.to_csv(args.output)
        print(f"\ntimeline written to {args.output}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from planner.validate import validate_file

    problems = validate_file(Path(args.placement), Path(args.scenario), _store(args))
    if problems:
        for problem in problems:
            print(f"violated: {problem}")
        print(f"{args.placement}: {len(problems)} problem(s) against {args.scenario}")
        return 1
    print(f"{args.placement}: valid against {args.scenario} (demand, SLOs, inventory, power budgets, Store figures)")
    return 0


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

    db = commands.add_parser("db", help="what the Store holds")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="SUBCOMMAND", parser_class=_Parser)
    info = db_commands.add_parser("info", help="row counts and the measurements by source, model and GPU")
    info.set_defaults(handler=cmd_db_info)

    measurements = commands.add_parser(
        "measurements", help="stored operating points with decode-only and end-to-end J/token"
    )
    measurements.add_argument("--model", help="only this model (any alias)")
    measurements.add_argument("--hardware", help="only this GPU type (any alias)")
    measurements.set_defaults(handler=cmd_measurements)

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

    def add_source_arguments(command: argparse.ArgumentParser) -> None:
        command.add_argument("--gpus", metavar="0,1,...", help="GPU indices to sample (default: all)")
        command.add_argument("--rate", type=float, default=10.0, metavar="HZ", help="sampling rate (default 10 Hz)")
        command.add_argument("--replay", metavar="TRACE", help="play a recorded trace back instead of reading live GPUs")
        command.add_argument("--power-limit", type=float, metavar="W", help="the replayed GPUs' power limit")

    collecting = commands.add_parser(
        "collect",
        help="sample GPU energy and power into the Store (passive), or replay a recorded trace",
        description="Sample every GPU's energy counter and power at --rate into the Store. With --replay, a "
        "recorded trace is played back and each labelled stretch is reported as a window.",
    )
    add_source_arguments(collecting)
    collecting.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: Ctrl-C)")
    collecting.add_argument("--record", metavar="FILE", help="also write the samples as a trace CSV")
    collecting.add_argument("--min-window", type=float, default=1.0, metavar="S", help="flag windows shorter than this (default 1)")
    collecting.set_defaults(handler=cmd_collect)

    benching = commands.add_parser(
        "bench",
        help="drive a workload at each concurrency and store one measurement per level",
        description="For each concurrency level: warm up, then hold an energy window of --window seconds "
        "and store its whole-request J/token, tokens/s, TPOT and TTFT with the raw samples.",
    )
    add_source_arguments(benching)
    benching.add_argument("--model", required=True, help="the model served (any catalog alias)")
    benching.add_argument("--hardware", help="GPU type (default: the card's own name)")
    benching.add_argument(
        "--workload", choices=["openai", "torch-decode"], default="openai",
        help="openai: an OpenAI-compatible server at --url; torch-decode: the built-in Llama-shaped decoder "
        "(random weights, static KV cache, CUDA graphs; prefill and decode windows per batch; extra 'torch')",
    )  # fmt: skip
    benching.add_argument("--url", help="base URL of an OpenAI-compatible server")
    benching.add_argument("--api", choices=["completions", "chat"], default="completions")
    benching.add_argument("--served-model", help="the model name the server expects (default: --model)")
    benching.add_argument("--concurrency", default="1,4,16,64", help="levels, comma separated (default 1,4,16,64)")
    benching.add_argument("--prompt-tokens", type=int, default=512)
    benching.add_argument("--output-tokens", type=int, default=256)
    benching.add_argument("--sample-lengths", action="store_true", help="draw lengths from 0.5x to 1.5x the set ones")
    benching.add_argument("--runtime", help="runtime name stored with each row (default: vllm, or torch-decode)")
    benching.add_argument("--runtime-version")
    benching.add_argument("--gpus-per-replica", type=int, default=1)
    benching.add_argument("--device", default="cuda", help="torch-decode: the torch device (default cuda)")
    benching.add_argument("--dtype", choices=["bfloat16", "float16", "float32"], help="torch-decode: default bfloat16 on a GPU, float32 on a CPU")
    benching.add_argument("--no-cuda-graphs", action="store_true", help="torch-decode: run decode steps eagerly")
    benching.add_argument("--warmup", type=float, default=5.0, metavar="S", help="warm-up per level (default 5)")
    benching.add_argument("--window", type=float, default=10.0, metavar="S", help="energy window per level (default 10)")
    benching.set_defaults(handler=cmd_bench)

    planning = commands.add_parser(
        "plan",
        help="the placement with the fewest joules per token under SLOs, inventory and power budgets",
        description="Plan a scenario on the Store's measurements. Exit 0: planned; 3: infeasible (reasons "
        "printed); 2: invalid input.",
    )
    planning.add_argument("scenario", help="scenario YAML (see data/scenarios/example.yaml)")
    planning.add_argument("-o", "--output", help="write the placement file (.yaml, .yml or .json)")
    planning.add_argument("--objective", choices=["energy", "cost", "carbon"], help="override the scenario's objective")
    planning.add_argument("--time-limit", type=float, metavar="S", help="wall-clock limit per solve in seconds, model build included")
    planning.add_argument("--gap", type=float, default=1e-3, metavar="FRACTION", help="relative MIP gap to stop at (default 0.001)")
    planning.add_argument("--current", metavar="PLACEMENT", help="today's placement file: show what moves")
    planning.add_argument("--no-baselines", action="store_true", help="skip the baseline solves")
    planning.add_argument(
        "--solver", choices=["HiGHS", "PULP_CBC_CMD"], default="HiGHS", help="MILP solver (default HiGHS; CBC is PuLP's bundled fallback)"
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
    forecasting.add_argument("-o", "--output", help="write the timeline CSV")
    forecasting.set_defaults(handler=cmd_forecast)

    dashboard = commands.add_parser("dashboard", help="the Streamlit dashboard on the same Store")
    dashboard.add_argument("--port", type=int, default=8501, help="TCP port (default 8501)")
    dashboard.add_argument("--address", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    dashboard.set_defaults(handler=cmd_dashboard)

    validate = commands.add_parser(
        "validate",
        help="re-check a placement file against a scenario and the Store",
        description="Exit 0: valid; 1: violations listed; 2: invalid input.",
    )
    validate.add_argument("placement")
    validate.add_argument("scenario")
    validate.set_defaults(handler=cmd_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except InputError as error:
        print(f"planner: error: {error}", file=sys.stderr)
        return error.exit_code
    except (PlannerError, StoreError, OptimizerError, TelemetryError) as error:
        print(f"planner: error: {error}", file=sys.stderr)
        return getattr(error, "exit_code", 1)
    except KeyboardInterrupt:
        print("planner: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
