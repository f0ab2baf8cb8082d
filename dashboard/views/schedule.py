"""Schedule: a bundled scenario's fleet by the interval against a demand series and site data."""

from __future__ import annotations

from typing import get_args

import streamlit as st

import planner
from dashboard.common import USER_ERRORS, store
from dashboard.schedule_charts import charts
from planner.bundled import bundled_scenarios, bundled_series
from planner.formats.scenario import Objective
from planner.formats.schedule_file import ScheduleFile

NO_SITE_SERIES = "(the scenario's figures throughout)"


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
        stacked, power, carbon, price = charts(content)
        st.subheader("GPUs running by type")
        st.altair_chart(stacked)
        st.subheader("Each site's peak power against its budget")
        st.altair_chart(power)
        st.caption("Dashed: the interval's budget. Only sites that run replicas are shown.")
        st.subheader("Carbon intensity and price by site")
        left, right = st.columns(2)
        left.altair_chart(carbon)
        right.altair_chart(price)
        st.subheader("Intervals")
        st.dataframe(interval_table(content), hide_index=True)
