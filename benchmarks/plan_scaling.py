"""Solver scaling: build and solve placement MILPs of growing size (the issue's S, L and XL).

Run: python benchmarks/plan_scaling.py [--sizes S,L,XL] [--time-limit 60] [--gap 0.005] [--no-prune]
     [--budget-scales 1,0.12,0.08] [--seeds 1,2] [--plain]

--budget-scales multiplies every site's power budget: the generated fleets' budgets are loose
(at 1 no budget binds; on L they start to bind near 0.12 and the problem turns infeasible near
0.06), and binding budgets are where the planner earns its keep. --plain also solves each fleet
the way a plain HiGHS model would (no starting solution, presolve on) in the same run.
benchmarks/binding_budgets.py sets the budgets per fleet by how tightly they bind instead, and
compares against plain HiGHS by the time each needs to the same proven gap.

Fleets are generated from the bundled catalogs (data/gpus.csv, data/llms.csv): every model x
GPU type gets 8 batch sizes whose step time and power follow a memory-bandwidth roofline of
the catalog figures. These are benchmark inputs, not measurements: they exercise the solver at
the sizes a fleet operator plans, and no bundled data comes from them. Each size runs in its own
process so that its peak memory (max RSS) is its own.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import resource
import time
from dataclasses import dataclass

from tqdm import tqdm

from models import load_catalog
from optimizer.candidates import WorkloadSpec, build_candidates
from optimizer.operating_point import OperatingPoint
from optimizer.problem import PlanProblem, SiteSpec, SolveOptions
from optimizer.replica_groups import configurations
from optimizer.solve import solve

BATCHES = (1, 2, 4, 8, 16, 32, 64, 128)
BANDWIDTH_EFFICIENCY = 0.65  # share of datasheet bandwidth decode reached on the reference runs (57-76 %)
PROMPT_TOKENS, OUTPUT_TOKENS = 512, 256


@dataclass(frozen=True)
class Size:
    name: str
    models: int
    gpu_types: int
    configs: int
    sites: int


SIZES = {
    "S": Size("S", 20, 10, 8, 20),
    "L": Size("L", 20, 10, 8, 40),
    "XL": Size("XL", 100, 10, 8, 100),
}


def _points(
    rng: random.Random, size: Size, prompt_tokens: int = PROMPT_TOKENS, output_tokens: int = OUTPUT_TOKENS
) -> tuple[list[OperatingPoint], list[str], list[str]]:
    catalog = load_catalog()
    gpus = [gpu for gpu in catalog.gpus.values() if gpu.bf16_dense_tflops][: size.gpu_types]  # the roofline below needs the tensor peak
    base_models = list(catalog.llms.values())
    points: list[OperatingPoint] = []
    model_names = []
    for index in range(size.models):
        llm = base_models[index % len(base_models)]
        name = f"{llm.name}#{index}"
        model_names.append(name)
        for gpu in gpus:
            tp = next((t for t in (1, 2, 4, 8) if t * gpu.memory_gb * 1e9 * 0.9 > llm.weight_bytes * 1.2), None)
            if tp is None:
                continue
            for batch in BATCHES[: size.configs]:
                kv_bytes = batch * (prompt_tokens + output_tokens) * llm.kv_bytes_per_token
                if llm.weight_bytes + kv_bytes > tp * gpu.memory_gb * 1e9 * 0.9:
                    continue
                step_s = (llm.active_params_b * 1e9 * llm.bytes_per_param + kv_bytes) / (
                    tp * gpu.memory_bandwidth_tb_s * 1e12 * BANDWIDTH_EFFICIENCY
                )
                prefill_s = 2 * llm.active_params_b * 1e9 * prompt_tokens * batch / (tp * (gpu.bf16_dense_tflops or 0) * 1e12 * 0.5)
                load = min(1.0, 0.45 + 0.55 * batch / 64)
                decode_w = tp * (gpu.idle_w + (gpu.tdp_w - gpu.idle_w) * load) * rng.uniform(0.97, 1.03)
                cycle_s = prefill_s + output_tokens * step_s
                energy_j = prefill_s * tp * gpu.tdp_w + output_tokens * step_s * decode_w
                points.append(
                    OperatingPoint(
                        measurement_id=len(points), source="benchmark", source_key=f"{name}/{gpu.name}/{batch}/{prompt_tokens}/{output_tokens}",
                        model=name, hardware=gpu.name, runtime="roofline", gpus_per_replica=tp, load=batch,
                        prompt_tokens=prompt_tokens, output_tokens=output_tokens,
                        tok_s=batch * output_tokens / cycle_s, power_w=energy_j / cycle_s,
                        peak_power_w=tp * gpu.tdp_w, ttft_ms=prefill_s * 1000, ttft_stat="p95",
                        tpot_ms=step_s * 1000, tpot_stat="p95",
                        prefill_energy_estimated=True, peak_power_estimated=True,
                    )
                )
    return points, model_names, [gpu.name for gpu in gpus]


def build_problem(
    size: Size, seed: int = 1, budget_scale: float = 1.0, per_model: int = 1, mixed_lengths: bool = False
) -> tuple[PlanProblem, dict[str, int], int]:
    """`per_model` > 1 splits each model's demand over that many workloads (shares drawn at
    random), which then share replicas: the same fleet and demand, shared or not. With
    `mixed_lengths` workload k of a model asks for (k + 1) x the output tokens, measured by the
    same roofline, so its configurations are shared with different tok/s and power."""
    rng = random.Random(seed)
    points, model_names, gpu_names = _points(rng, size)
    lengths = [OUTPUT_TOKENS * (part + 1) if mixed_lengths else OUTPUT_TOKENS for part in range(per_model)]
    for output_tokens in sorted(set(lengths) - {OUTPUT_TOKENS}):
        points += _points(random.Random(f"{seed}/{output_tokens}"), size, output_tokens=output_tokens)[0]
    workloads = []
    for name in model_names:
        tpots = sorted(p.tpot_ms for p in points if p.model == name)
        demand_tok_s = rng.uniform(20_000, 200_000)
        # the split has a generator of its own: the fleet and each model's demand stay as per_model 1 draws them
        split = random.Random(f"{seed}/{name}")
        weights = [1.0] if per_model == 1 else [split.uniform(0.2, 1.0) for _ in range(per_model)]
        for part, weight in enumerate(weights):
            workloads.append(
                WorkloadSpec(name=f"w-{name}" + (f"-{part}" if per_model > 1 else ""), model=name,
                             demand_tok_s=demand_tok_s * weight / sum(weights),
                             prompt_tokens=PROMPT_TOKENS, output_tokens=lengths[part], ttft_slo_ms=10_000,
                             tpot_slo_ms=tpots[len(tpots) * 3 // 4], slo_statistic="p95")
            )
    catalog = load_catalog()
    candidate_set = build_candidates(workloads, points, prune=PRUNE)
    sites = []
    for index in range(size.sites):
        types = rng.sample(gpu_names, k=rng.randint(3, min(5, len(gpu_names))))
        inventory = {gpu: rng.choice((64, 128, 256, 512)) for gpu in types}
        full_w = sum(count * catalog.gpus[gpu].tdp_w for gpu, count in inventory.items())
        sites.append(SiteSpec(name=f"site-{index:03d}", power_budget_w=full_w * rng.uniform(0.5, 0.9) * 1.3 * budget_scale,
                              pue=rng.uniform(1.1, 1.5), carbon_g_per_kwh=rng.uniform(30, 700),
                              usd_per_kwh=rng.uniform(0.04, 0.2), inventory=inventory))
    problem = PlanProblem(workloads=tuple(workloads), candidates=candidate_set.candidates, sites=tuple(sites),
                          usd_per_gpu_hour={n: g.usd_per_gpu_hour for n, g in catalog.gpus.items()})
    return problem, dict(candidate_set.pruned), len(points)


PRUNE = True


def run_size(
    name: str, time_limit_s: float, gap: float, prune: bool, flags: dict[str, bool], scale: float, seed: int,
    per_model: int, mixed_lengths: bool, queue: multiprocessing.Queue,
) -> None:
    global PRUNE
    PRUNE = prune
    started = time.perf_counter()
    problem, pruned, generated = build_problem(SIZES[name], seed, scale, per_model, mixed_lengths)
    generate_s = time.perf_counter() - started
    solution = solve(problem, SolveOptions(time_limit_s=time_limit_s, gap_rel=gap, tie_break=False, **flags))
    queue.put({
        "size": name, "scale": scale, "seed": seed, "per_model": per_model,
        "shared_configs": sum(c.shared for c in configurations(problem.candidates)),
        "objective": solution.objective_value, "solver": "plain" if not flags["warm_start"] else "planner",
        "points": generated, "candidates": len(problem.candidates),
        "slo_filtered": sum(n for why, n in pruned.items() if not why.startswith("dominated")),
        "dominated": sum(n for why, n in pruned.items() if why.startswith("dominated")), "generate_s": generate_s, "build_s": solution.build_s,
        "solve_s": solution.solve_s, "status": solution.status, "gap": solution.gap,
        # a large model is solved in a child process (optimizer/child_solve.py): both peaks, as if at once
        "peak_rss_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024,
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="S,L,XL")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--gap", type=float, default=0.005)
    parser.add_argument("--no-prune", action="store_true", help="keep dominated candidates")
    parser.add_argument("--no-warm-start", action="store_true", help="no LP-rounding starting solution")
    parser.add_argument("--no-presolve", action="store_true", help="HiGHS presolve off")
    parser.add_argument("--budget-scales", default="1", help="multiply every site's budget by each (default 1)")
    parser.add_argument("--seeds", default="1", help="fleet generator seeds (default 1)")
    parser.add_argument("--workloads-per-model", default="1", help="workloads per model, each list entry a run (e.g. 1,2: the same demand unshared and shared)")
    parser.add_argument("--mixed-lengths", action="store_true", help="workload k of a model asks for (k + 1) x the output tokens")
    parser.add_argument("--plain", action="store_true", help="also solve each fleet as a plain HiGHS model (no start)")
    args = parser.parse_args()
    variants = [{"warm_start": not args.no_warm_start, "presolve": not args.no_presolve}]
    if args.plain:
        variants.append({"warm_start": False, "presolve": True})
    runs = [
        (name, float(scale), int(seed), int(per_model), flags)
        for name in args.sizes.split(",")
        for per_model in args.workloads_per_model.split(",")
        for scale in args.budget_scales.split(",")
        for seed in args.seeds.split(",")
        for flags in variants
    ]
    context = multiprocessing.get_context("spawn")
    rows = []
    for name, scale, seed, per_model, flags in tqdm(runs, desc="fleets", unit="solve"):
        queue = context.Queue()
        process = context.Process(
            target=run_size, args=(name, args.time_limit, args.gap, not args.no_prune, flags, scale, seed, per_model, args.mixed_lengths, queue)
        )
        process.start()
        rows.append(queue.get())
        process.join()
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"HiGHS 1 thread, gap target {args.gap:.1%}, time limit {args.time_limit:g} s, pruning {'off' if args.no_prune else 'on'}, "
          f"warm start {'off' if args.no_warm_start else 'on'}, presolve {'off' if args.no_presolve else 'on'}")
    print(f"{'size':<4} {'budget':>6} {'seed':>4} {'wl/m':>4} {'shared':>6} "
          f"{'solver':>7} {'points':>7} {'cands':>6} {'off-SLO':>7} {'dominated':>9} "
          f"{'build s':>8} {'solve s':>8} {'status':>11} {'gap':>7} {'peak MB':>8}")
    for row in rows:
        gap = "-" if row["gap"] is None else f"{row['gap']:.2%}"
        print(f"{row['size']:<4} {row['scale']:>6g} {row['seed']:>4} {row['per_model']:>4} {row['shared_configs']:>6} "
              f"{row['solver']:>7} {row['points']:>7} {row['candidates']:>6} "
              f"{row['slo_filtered']:>7} {row['dominated']:>9} {row['build_s']:>8.2f} {row['solve_s']:>8.2f} {row['status']:>11} "
              f"{gap:>7} {row['peak_rss_mb']:>8.0f}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
