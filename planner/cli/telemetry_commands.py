"""`planner collect | bench`: sampling GPUs (or a replayed trace) and driving workloads into the Store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from models import load_catalog
from models.catalog import LlmSpec
from planner.cli.common import gpu_list, open_store_of, print_table
from planner.errors import InputError, PlannerError
from telemetry.bench import LevelOutcome
from telemetry.loadgen import Workload

DEFAULT_RUNTIMES = {"openai": "vllm", "torch-decode": "torch-decode"}


def cmd_collect(args: argparse.Namespace) -> int:
    import time

    from planner.collecting import collect, windows_table
    from planner.runs import open_source

    replay = Path(args.replay) if args.replay else None
    record = Path(args.record) if args.record else None
    if record is not None and not record.parent.is_dir():
        raise InputError(f"--record {record}: folder {record.parent} does not exist. To fix: create it first.")
    source = open_source(replay, gpu_list(args.gpus), args.power_limit, speed=None, rate_hz=args.rate)
    store = open_store_of(args)
    what = f"replaying {replay}" if replay else f"sampling {len(source.gpus())} GPU(s) at {args.rate:g} Hz"
    stops = "" if replay else " (Ctrl-C stops, keeping every sample)"
    print(f"planner collect: {what}{stops}", file=sys.stderr)
    result = collect(store, source, args.rate, args.duration, record, args.min_window, time.sleep)
    print(f"run {result.run_key}: {result.samples_written} samples stored" + (f", trace written to {record}" if record else ""))
    if result.windows:
        print_table(windows_table(result.windows))
    for error in result.errors:
        print(f"planner: warning: {error}", file=sys.stderr)
    return 0



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

    from planner.benching import bench, bench_table, resolve_bench_names
    from planner.runs import open_source
    from telemetry.bench import BenchSettings
    from telemetry.loadgen import check_concurrency

    try:
        levels = check_concurrency([int(part) for part in args.concurrency.split(",") if part.strip()])
    except ValueError as error:
        raise InputError(f"--concurrency {args.concurrency!r} is not a list of whole numbers. To fix: pass e.g. 1,4,16,64.") from error
    source = open_source(Path(args.replay) if args.replay else None, gpu_list(args.gpus), args.power_limit, speed=1.0, rate_hz=args.rate)
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
    store = open_store_of(args)
    with tqdm(total=len(levels), unit="level", desc="bench", file=sys.stderr) as progress:

        def advance(outcome: LevelOutcome) -> None:
            progress.set_postfix_str(f"{'batch' if outcome.prefill is not None else 'concurrency'} {outcome.concurrency} done")
            progress.update()

        outcomes = bench(store, source, workload, settings, args.rate, advance)
    print_table(bench_table(outcomes))
    stored = sum(outcome.measurement is not None for outcome in outcomes)
    print(f"{stored} of {len(outcomes)} level(s) stored under {settings.source}.")
    if stored == 0:
        raise PlannerError(f"no level gave a measurement; the first problem: {outcomes[0].problems[0]}")
    return 0




def add_parsers(commands: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
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
