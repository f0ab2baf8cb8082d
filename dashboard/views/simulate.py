"""Simulate: plan a bundled scenario, replay request traces against it, read latency against SLOs."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import get_args

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

import planner
from dashboard.common import USER_ERRORS, store
from models import load_catalog
from planner.bundled import bundled_scenarios, bundled_traces
from planner.formats.scenario import load_scenario
from planner.planning import workload_specs
from simulator.serving import RouterPolicy


def cdf(values: np.ndarray, workload: str, metric: str) -> pd.DataFrame:
    ordered = np.sort(values[~np.isnan(values)])
    return pd.DataFrame({"ms": ordered * 1000, "share": np.arange(1, len(ordered) + 1) / len(ordered), "workload": workload, "metric": metric})


def latency_charts(simulation: planner.Simulation, scenario_path: Path) -> dict[str, alt.LayerChart | alt.FacetChart]:
    """Per metric (TTFT, TPOT): each workload's distribution, its SLO bound as a dashed rule."""
    result = simulation.result
    scenario, _ = load_scenario(scenario_path, load_catalog())
    frames, rules = [], []
    for spec in workload_specs(scenario):
        chosen = result.workload == spec.name
        frames += [cdf(result.ttft_s[chosen], spec.name, "TTFT"), cdf(result.tpot_s[chosen], spec.name, "TPOT")]
        rules += [{"metric": m, "ms": bound, "workload": spec.name} for m, bound in (("TTFT", spec.ttft_slo_ms), ("TPOT", spec.tpot_slo_ms)) if bound]
    curves, bounds = pd.concat(frames), pd.DataFrame(rules, columns=["metric", "ms", "workload"])
    charts: dict[str, alt.LayerChart | alt.FacetChart] = {}
    for metric in ("TTFT", "TPOT"):
        lines = alt.Chart(curves[curves["metric"] == metric]).mark_line().encode(
            x=alt.X("ms:Q", scale=alt.Scale(type="log"), title=f"{metric} ms"), y=alt.Y("share:Q", title="share of requests"),
            color="workload:N",
        )
        rule = alt.Chart(bounds[bounds["metric"] == metric]).mark_rule(strokeDash=[4, 4]).encode(x="ms:Q", color="workload:N")
        charts[metric] = alt.layer(lines, rule)
    return charts


def site_power_chart(simulation: planner.Simulation) -> alt.FacetChart:
    """Each site's facility kW by the second, its budget dashed."""
    frame = simulation.site_power.merge(simulation.sites[["site", "budget kW"]], on="site")
    line = alt.Chart().mark_line().encode(x=alt.X("second:Q", title="second of the simulated span"), y=alt.Y("facility kW:Q"))
    rule = alt.Chart().mark_rule(strokeDash=[4, 4], color="gray").encode(y="budget kW:Q")
    return alt.layer(line, rule, data=frame).properties(width=320, height=150).facet(facet="site:N", columns=2)


st.title("Simulate")
scenarios = bundled_scenarios()
traces = bundled_traces()
with st.form("simulate"):
    name = st.selectbox("Scenario", list(scenarios))
    scenario_path = scenarios[name]
    workloads = [spec.name for spec in workload_specs(load_scenario(scenario_path, load_catalog())[0])]
    chosen = {w: st.selectbox(f"Trace for {w}", list(traces), key=f"trace-{w}") for w in workloads}
    duration_s = st.number_input("Seconds of traffic", min_value=1.0, max_value=3600.0, value=30.0, step=10.0)
    router: RouterPolicy = st.selectbox("Router", get_args(RouterPolicy))
    submitted = st.form_submit_button("Plan and simulate", type="primary")
st.caption("Each trace is time-compressed to its workload's planned demand (Azure 2023 traces, CC-BY-4.0).")
if submitted:
    try:
        with st.spinner("Planning and simulating..."), tempfile.TemporaryDirectory() as folder:
            placement = Path(folder) / "placement.yaml"
            planner.plan(scenario_path, store(), with_baselines=False, with_shadow_prices=False).to_file(placement)
            st.session_state["simulation"] = (planner.simulate(placement, scenario_path, store(), {w: traces[t] for w, t in chosen.items()},
                                                               policy=router, duration_s=duration_s), scenario_path)  # fmt: skip
    except USER_ERRORS as error:
        st.session_state.pop("simulation", None)
        st.error(str(error))
if "simulation" in st.session_state:
    simulation, path = st.session_state["simulation"]
    missed = list(simulation.table.loc[~simulation.table["meets SLO"], "workload"])
    if missed:
        st.warning(f"SLO missed by {', '.join(missed)}")
    else:
        st.success("Every workload meets its SLO statistic")
    st.subheader("Latency per workload")
    st.dataframe(simulation.table, hide_index=True)
    for column, chart in zip(st.columns(2), latency_charts(simulation, path).values(), strict=True):
        column.altair_chart(chart)
    st.caption("Dashed rules: each workload's SLO bound.")
    st.subheader("Energy: plan against simulation")
    st.dataframe(simulation.energy, hide_index=True)
    st.subheader("Site power by the second against the budget")
    if simulation.over_budget:
        st.warning(f"power budget exceeded at {', '.join(simulation.over_budget)}")
    st.dataframe(simulation.sites, hide_index=True)
    st.altair_chart(site_power_chart(simulation))
    st.caption("Dashed: each site's budget (facility power, PUE included).")
    st.subheader("Replicas")
    st.dataframe(simulation.replicas, hide_index=True)
    for note in simulation.notes:
        st.caption(f"note: {note}")
