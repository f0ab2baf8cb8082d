"""Measurements: J/token against load, the energy-latency Pareto front, power traces, roofline."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

import planner
from dashboard.common import USER_ERRORS, store


def pareto_front(points: pd.DataFrame) -> pd.DataFrame:
    """Points no other point beats on both TPOT and J/token."""
    ordered = points.sort_values(["tpot_ms", "mj_per_tok"])
    best = float("inf")
    keep = []
    for index, row in ordered.iterrows():
        if row.mj_per_tok < best:
            keep.append(index)
            best = row.mj_per_tok
    return ordered.loc[keep]


st.title("Measurements")
try:
    table = planner.operating_points_table(store())
except USER_ERRORS as error:
    st.error(str(error))
    st.stop()
if not table.empty:
    table["prompt"] = table["prompt"].astype(str)  # token counts, or a task profile's name
if table.empty:
    st.info("The Store holds no measurements yet. Add some with `planner import FILE.csv` or `planner bench`.")
    st.stop()

filters = st.columns(3)
all_models = sorted(table.model.unique())
reference_models = sorted(table[table.source.str.startswith("reference/")].model.unique())
models = filters[0].multiselect("Model", all_models, default=reference_models or all_models[:3])
gpus = filters[1].multiselect("Hardware", sorted(table.hardware.unique()), default=sorted(table.hardware.unique()))
runtimes = filters[2].multiselect("Runtime", sorted(table.runtime.unique()), default=sorted(table.runtime.unique()))
shown = table[table.model.isin(models) & table.hardware.isin(gpus) & table.runtime.isin(runtimes)]
energy = shown.dropna(subset=["mj_per_tok"])
if energy.empty:
    st.warning("No measurement with a usable energy matches these filters. Widen them.")
    st.stop()
st.caption(f"{len(shown)} operating points; {len(energy)} with usable energy.")

left, right = st.columns(2)
with left:
    st.subheader("J/token against batch or concurrency")
    chart = (
        alt.Chart(energy)
        .mark_line(point=True)
        .encode(
            x=alt.X("load:Q", scale=alt.Scale(type="log", base=2), title="batch / concurrency"),
            y=alt.Y("mj_per_tok:Q", scale=alt.Scale(type="log"), title="mJ per output token (end to end)"),
            color="hardware:N",
            strokeDash="model:N",
            detail="runtime:N",
            tooltip=["model", "hardware", "runtime", "load", "mj_per_tok", "tpot_ms", "tok_s"],
        )
    )
    st.altair_chart(chart, width="stretch")
with right:
    st.subheader("Energy against latency")
    slo_ms = st.number_input("TPOT SLO (ms)", min_value=1.0, value=15.0, step=1.0)
    front = pareto_front(energy)
    points = alt.Chart(energy).mark_circle(size=60).encode(
        x=alt.X("tpot_ms:Q", scale=alt.Scale(type="log"), title="TPOT (ms)"),
        y=alt.Y("mj_per_tok:Q", scale=alt.Scale(type="log"), title="mJ per token"),
        color="hardware:N",
        tooltip=["model", "hardware", "runtime", "load", "tpot_ms", "mj_per_tok"],
    )
    line = alt.Chart(front).mark_line(color="black").encode(x="tpot_ms:Q", y="mj_per_tok:Q")
    rule = alt.Chart(pd.DataFrame({"slo": [slo_ms]})).mark_rule(color="red", strokeDash=[4, 4]).encode(x="slo:Q")
    st.altair_chart(points + line + rule, width="stretch")
    within = front[front.tpot_ms <= slo_ms]
    if within.empty:
        st.warning(f"No Pareto point meets a {slo_ms:g} ms TPOT.")
    else:
        best = within.iloc[-1]
        st.metric(f"Fewest mJ/token within {slo_ms:g} ms", f"{best.mj_per_tok:.1f}", help=f"{best.model} on {best.hardware}, load {best.load}")

st.subheader("Memory-bandwidth roofline")
st.caption("Share of the datasheet bandwidth one decode step uses (weights + KV cache read once per step).")
st.dataframe(
    shown[["model", "hardware", "runtime", "load", "tpot_ms", "roofline", "mj_per_tok", "decode_mj_per_tok", "note"]],
    column_config={"roofline": st.column_config.ProgressColumn("roofline", min_value=0.0, max_value=1.0, format="%.2f")},
    hide_index=True,
)

st.subheader("Power trace of a run")
runs = store().runs()
if runs.empty:
    st.info("No run with raw samples is stored.")
else:
    run_ids = {row.source_key: int(row.id) for row in runs.itertuples()}
    run_key = st.selectbox("Run", list(run_ids))
    samples = store().samples(run_ids[run_key])
    if samples.empty:
        st.info("This run has no samples.")
    else:
        long = samples.melt(id_vars=["t_s", "gpu_index", "label"], value_vars=["power_w", "power_instant_w"], var_name="reading", value_name="W")
        trace = alt.Chart(long.dropna(subset=["W"])).mark_line().encode(
            x=alt.X("t_s:Q", title="s"), y=alt.Y("W:Q", title="W"), color="reading:N", strokeDash="gpu_index:N",
            tooltip=["t_s", "W", "label"],
        )
        st.altair_chart(trace, width="stretch")
        st.caption("power_w is NVML's 1 s moving average on Hopper; power_instant_w follows within ~100 ms.")
