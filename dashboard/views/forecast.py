"""Forecast: a demand history -> the demand band, GPUs by type and kW against each site's budget
month by month, with the month a site runs out marked."""

from __future__ import annotations

import io

import altair as alt
import pandas as pd
import streamlit as st

import planner
from dashboard.common import USER_ERRORS, store
from planner.bundled import bundled_histories, bundled_scenarios
from planner.forecasting import BAND

UPLOAD = "upload a CSV..."

st.title("Forecast")
pick = st.columns(2)
scenario_name = pick[0].selectbox("Scenario (sites, SLOs, workloads)", list(bundled_scenarios()))
history_choice = pick[1].selectbox("Demand history", [*bundled_histories(), UPLOAD])
uploaded = None
if history_choice == UPLOAD:
    uploaded = st.file_uploader("History CSV: timestamp, workload, tokens_per_s", type=["csv"])

with st.form("forecast"):
    settings = st.columns(3)
    horizon = settings[0].number_input("Horizon (months)", min_value=1, max_value=60, value=12)
    quantile = settings[1].slider("Plan for this quantile of peak demand", 0.5, 0.99, 0.9)
    month_limit_s = settings[2].number_input("Solver limit per month (s)", min_value=1.0, max_value=120.0, value=20.0)
    submitted = st.form_submit_button("Run forecast", type="primary")

if submitted:
    if history_choice == UPLOAD and uploaded is None:
        st.error("Upload a demand history first (columns timestamp, workload, tokens_per_s).")
    else:
        try:
            source = pd.read_csv(io.BytesIO(uploaded.getvalue())) if uploaded else str(bundled_histories()[history_choice])
            with st.spinner(f"Planning {horizon} months..."):
                st.session_state["forecast_result"] = planner.forecast(
                    source, str(bundled_scenarios()[scenario_name]), horizon_months=int(horizon),
                    quantile=float(quantile), store=store(), time_limit_s=float(month_limit_s),
                )  # fmt: skip
        except (*USER_ERRORS, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            st.session_state.pop("forecast_result", None)
            st.error(str(error))

result = st.session_state.get("forecast_result")
if result is not None:
    timeline, demand, exhaustion = result.timeline, result.demand, result.exhaustion
    band_low, band_high = (f"p{round(share * 100)}_tok_s" for share in BAND)
    st.subheader("Demand")
    base = alt.Chart(demand).encode(x=alt.X("period:O", title="month"), color="workload:N")
    band = base.mark_area(opacity=0.25).encode(y=alt.Y(f"{band_low}:Q", title="peak tokens/s"), y2=f"{band_high}:Q")
    st.altair_chart(band + base.mark_line(point=True).encode(y="planned_tok_s:Q") + base.mark_line(strokeDash=[3, 3]).encode(y="mean_tok_s:Q"), width="stretch")
    st.caption(f"Band: {band_low[:-6]}..{band_high[:-6]} of the peak; solid: planned ({result.quantile:.0%}); dashed: mean.")

    marks = exhaustion[exhaustion.site != "-"] if not exhaustion.empty else exhaustion
    gpu_columns = [c for c in timeline.columns if c.startswith("gpus_")]
    planned = timeline[timeline.status != "infeasible"]
    st.subheader("GPUs by type")
    if planned.empty:
        st.error("No month could be planned: the fleet cannot serve the demand from the first month on.")
    else:
        gpus = planned.melt(id_vars=["period", "site"], value_vars=gpu_columns, var_name="gpu", value_name="count")
        gpus["gpu"] = gpus["gpu"].str.removeprefix("gpus_")
        stacked = alt.Chart(gpus).mark_bar().encode(
            x=alt.X("period:O", title="month"),
            y=alt.Y("sum(count):Q", title="GPUs"),
            color="gpu:N",
            tooltip=["period", "site", "gpu", "count"],
        )
        layers = [stacked]
        if not marks.empty:
            layers.append(alt.Chart(marks).mark_rule(color="red", strokeWidth=2).encode(x="period:O", tooltip=["site", "constraint", "reason"]))
        st.altair_chart(alt.layer(*layers), width="stretch")

        st.subheader("Peak facility kW against each site's budget")
        sites = next(iter(result.plans.values())).problem.sites  # the scenario this forecast planned
        budgets = pd.DataFrame([{"site": site.name, "budget_kw": site.power_budget_w / 1000} for site in sites])
        power = alt.Chart(planned).mark_line(point=True).encode(x=alt.X("period:O", title="month"), y=alt.Y("peak_kw:Q", title="kW"), color="site:N")
        limits = alt.Chart(budgets).mark_rule(strokeDash=[6, 3]).encode(y="budget_kw:Q", color="site:N")
        st.altair_chart(power + limits, width="stretch")
    if marks.empty:
        st.success(f"Every site holds for the whole horizon of {len(demand.period.unique())} months.")
    else:
        for row in marks.itertuples():
            st.warning(f"{row.site} runs out in {row.period}: {row.constraint} ({row.reason})")
    for period, additions in result.additions.items():
        st.info(f"Cheapest addition for {period}: " + "; ".join(additions))
    st.subheader("Timeline")
    st.dataframe(timeline, hide_index=True)
    st.download_button("Download the timeline CSV", timeline.to_csv(index=False), file_name="timeline.csv", mime="text/csv")
