"""Schedule: a bundled scenario's fleet by the interval against a demand series and site data."""

from __future__ import annotations

from typing import get_args

import altair as alt
import pandas as pd
import streamlit as st

import planner
from dashboard.common import USER_ERRORS, store
from planner.bundled import bundled_scenarios, bundled_series
from planner.formats.scenario import Objective
from planner.formats.schedule_file import ScheduleFile

NO_SITE_SERIES = "(the scenario's figures throughout)"


def gpus_by_type(content: ScheduleFile) -> pd.DataFrame:
    rows = []
    for entry in content.intervals:
        for row in entry.placements:
            rows.append({"start": entry.start, "hardware": row.hardware, "gpus": row.gpus})
    frame = pd.DataFrame(rows, columns=["start", "hardware", "gpus"])
    return frame.groupby(["start", "hardware"], as_index=False)["gpus"].sum()


def site_power(content: ScheduleFile) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"start": e.start, "site": s.site, "kW": s.facility_power_kw, "peak kW": s.peak_facility_power_kw,
             "budget kW": s.power_budget_kw, "gCO2/kWh": s.carbon_g_per_kwh, "USD/kWh": s.usd_per_kwh}  # fmt: skip
            for e in content.intervals
            for s in e.sites
        ]
    )


def charts(content: ScheduleFile) -> tuple[alt.Chart, alt.FacetChart, alt.Chart]:
    """GPUs by type (stacked), each site's peak power against its budget, carbon intensity by site."""
    stacked = alt.Chart(gpus_by_type(content)).mark_area().encode(
        x=alt.X("start:T", title="interval (UTC)"), y=alt.Y("gpus:Q", stack="zero", title="GPUs running"), color="hardware:N"
    )
    sites = site_power(content)
    used = sites[sites.groupby("site")["kW"].transform("max") > 0]
    power = alt.layer(
        alt.Chart().mark_line().encode(x=alt.X("start:T", title=None), y=alt.Y("peak kW:Q", title="kW (facility)")),
        alt.Chart().mark_line(strokeDash=[4, 4], color="gray").encode(x="start:T", y="budget kW:Q"),
        data=used,
    ).facet(facet="site:N", columns=4)
    carbon = alt.Chart(sites.drop_duplicates(["start", "site"])).mark_line().encode(
        x=alt.X("start:T", title="interval (UTC)"), y=alt.Y("gCO2/kWh:Q"), color="site:N"
    )
    return stacked, power, carbon


st.title("Schedule")
scenarios = bundled_scenarios()
demands, site_series = bundled_series()
with st.form("schedule"):
    name = st.selectbox("Scenario", list(scenarios), index=list(scenarios).index("example") if "example" in scenarios else 0)
    demand = st.selectbox("Demand series", list(demands))
    sites = st.selectbox("Site series", [NO_SITE_SERIES, *site_series])
    objective: Objective = st.selectbox("Objective", get_args(Objective))
    time_limit_s = st.number_input("Time limit (s)", min_value=1.0, max_value=600.0, value=30.0, step=5.0)
    baselines = st.checkbox("Baselines (static peak plan, energy and carbon optima)", value=True)
    submitted = st.form_submit_button("Schedule", type="primary")
st.caption("Demand: ServeGen's two weeks summed over 43 clients (Apache-2.0); site data: Electricity Maps carbon (ODbL) and day-ahead prices via green-dcc.")
if submitted:
    try:
        with st.spinner("Scheduling..."):
            result = planner.schedule(scenarios[name], demands[demand], None if sites == NO_SITE_SERIES else site_series[sites], store(),
                                      objective=objective, time_limit_s=time_limit_s, with_baselines=baselines)  # fmt: skip
        st.session_state["schedule_result"] = result.to_schedule_file()
    except USER_ERRORS as error:
        st.session_state.pop("schedule_result", None)
        st.error(str(error))
if "schedule_result" in st.session_state:
    content: ScheduleFile = st.session_state["schedule_result"]
    gap = "" if content.gap is None else f", gap {content.gap:.3%}"
    (st.success if content.intervals else st.error)(f"{content.status}{gap}: {len(content.intervals)} intervals of {content.interval_minutes:g} min")
    for reason in content.reasons:
        st.write(reason)
    if content.intervals:
        from planner.schedule_content import baseline_table, interval_table

        st.subheader("Against the baselines")
        st.dataframe(baseline_table(content), hide_index=True)
        stacked, power, carbon = charts(content)
        st.subheader("GPUs running by type")
        st.altair_chart(stacked)
        st.subheader("Each site's peak power against its budget")
        st.altair_chart(power)
        st.caption("Dashed: the interval's budget. Only sites that run replicas are shown.")
        st.subheader("Carbon intensity by site")
        st.altair_chart(carbon)
        st.subheader("Intervals")
        st.dataframe(interval_table(content), hide_index=True)
