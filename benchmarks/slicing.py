"""What slicing a request trace buys over one average request shape, on the bundled Azure traces.

For each trace: `planner slices` at 1 x 1 buckets (one workload at the trace's mean prompt and
output: the average shape), 2 x 2 and 3 x 3 (quantile edges), all at one total demand and SLO;
each planned on the bundled Store with `derive_lengths: true` (every slice lands at lengths
nobody measured), then replayed: each slice's own requests, time-compressed to its planned
demand, on the serving simulator. Prints per variant the plan (GPUs, facility mJ/token) and
what the replay says (IT mJ/token, the SLO statistic, requests within bounds).

    python benchmarks/slicing.py [--tokens-per-s 20000] [--tpot-ms 30] [--caps [--confirm ROUNDS]]

With `--caps` every variant plans at `max_utilization: auto`: each candidate held to the load its
simulated replica meets the SLO at under its own slice's requests (the average shape: the whole
trace). With `--confirm` each is re-planned until its fleet replay meets every SLO statistic
(`planner plan --confirm`), so the variants are compared at equal service.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd
import yaml

from planner import plan
from planner.cli import main
from planner.confirming import confirmed_plan
from planner.simulating import simulate_placement, slo_margin
from planner.store_setup import open_store

TRACES = Path(__file__).resolve().parents[1] / "data" / "public" / "azure-llm-inference-2023"
SITE = {"name": "dc", "power_budget_kw": 120, "pue": 1.2, "gpus": {"H100-SXM-80GB": 64, "H200-SXM-141GB": 64}}
BUCKETS = (1, 2, 3)
REPLAY_S = 600.0
"""Seconds of time-compressed traffic replayed (and confirmed on): at 20,000 tok/s the whole
conversation trace lasts about 200 s, the code trace 12 s."""


def sliced_scenario(trace: Path, buckets: int, folder: Path, tokens_per_s: float, tpot_ms: float, caps: bool) -> Path:
    workloads = folder / "workloads.yaml"
    code = main(["slices", str(trace), "--model", "llama-3.1-8b", "--prompt-buckets", str(buckets), "--output-buckets", str(buckets),
                 "--tokens-per-s", str(tokens_per_s), "--tpot-ms", str(tpot_ms), "--statistic", "mean",
                 "--trace-dir", str(folder / "traces"), "-o", str(workloads)])  # fmt: skip
    assert code == 0, f"planner slices failed on {trace}"
    entries = yaml.safe_load(workloads.read_text())["workloads"]
    scenario = folder / "scenario.yaml"
    content = {"version": 1, "name": f"{trace.stem}-{buckets}x{buckets}", "max_utilization": "auto" if caps else 0.8, "derive_lengths": True,
               "workloads": [{k: v for k, v in entry.items() if caps or k != "trace"} for entry in entries], "sites": [SITE]}  # fmt: skip
    scenario.write_text(yaml.safe_dump(content, sort_keys=False))
    return scenario


def study(trace: Path, tokens_per_s: float, tpot_ms: float, store_url: str, caps: bool, confirm: int) -> list[dict[str, object]]:
    rows = []
    for buckets in BUCKETS:
        folder = Path(tempfile.mkdtemp(prefix=f"slicing-{trace.stem}-{buckets}-"))
        scenario = sliced_scenario(trace, buckets, folder, tokens_per_s, tpot_ms, caps)
        traces = {entry.name.removesuffix(".csv"): entry for entry in (folder / "traces").iterdir()}
        rounds = 0
        if confirm:
            planned, history = confirmed_plan(scenario, open_store(store_url), traces, confirm, confirm_s=REPLAY_S, with_baselines=False)
            rounds = len(history) - 1
        else:
            planned = plan(scenario, store=open_store(store_url), with_baselines=False, with_shadow_prices=False)
        row: dict[str, object] = {"trace": trace.stem.removeprefix("AzureLLMInferenceTrace_"), "slices": f"{buckets}x{buckets}",
                                  "workloads": len(planned.problem.workloads), "status": planned.status}  # fmt: skip
        if confirm:
            row["re-plans"] = rounds
        if planned.fleet is None:
            rows.append(row | {"why": "; ".join(planned.reason_lines())})
            continue
        placement = folder / "placement.yaml"
        planned.to_file(placement)
        simulated = simulate_placement(placement, scenario, open_store(store_url), traces, duration_s=REPLAY_S)
        latency = simulated.table
        requests = latency["requests"].sum()
        within = sum(float(str(share).rstrip("%")) * n for share, n in zip(latency["requests within"], latency["requests"], strict=True)) / requests
        row |= {
            "GPUs": planned.fleet.gpus,
            "planned mJ/tok (facility)": round(planned.fleet.joules_per_token * 1000, 1),
            "planned IT mJ/tok": round(planned.fleet.it_joules_per_token * 1000, 1),
            "simulated IT mJ/tok": simulated.energy.iloc[1]["IT mJ/token"],
            "slices meeting SLO": f"{int(latency['meets SLO'].sum())}/{len(latency)}",
            # the SLO is TPOT alone, so each workload's margin is the bound over its simulated mean
            "worst TPOT mean ms": round(max(tpot_ms / slo_margin(simulated.result, w) for w in planned.problem.workloads), 1),
            "requests within": f"{within:.1f} %",
        }
        rows.append(row)
    return rows


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens-per-s", type=float, default=20_000.0)
    parser.add_argument("--tpot-ms", type=float, default=30.0)
    parser.add_argument("--caps", action="store_true", help="max_utilization: auto, each slice's caps simulated under its own requests (slower)")
    parser.add_argument("--confirm", type=int, default=0, metavar="ROUNDS", help="with --caps: re-plan until the fleet replay meets every SLO")
    args = parser.parse_args()
    if args.confirm and not args.caps:
        parser.error("--confirm re-plans caps from traffic: pass --caps with it")
    store_url = f"sqlite:///{tempfile.mkdtemp(prefix='slicing-store-')}/store.db"
    rows = []
    for name in ("conv", "code"):
        rows.extend(study(TRACES / f"AzureLLMInferenceTrace_{name}.csv", args.tokens_per_s, args.tpot_ms, store_url, args.caps, args.confirm))
    with pd.option_context("display.max_columns", None, "display.width", 250):
        print(pd.DataFrame(rows).to_string(index=False))
    print(f"\n{args.tokens_per_s:,.0f} output tok/s of llama-3.1-8b, TPOT {args.tpot_ms:g} ms mean, one site {SITE['gpus']}; "
          f"planned with derive_lengths: true at {'caps from each slice' + chr(39) + 's own requests' if args.caps else 'a blanket 80 % cap'}, "
          "replayed slice by slice on the serving simulator (least-outstanding router).")  # fmt: skip


if __name__ == "__main__":
    run()
