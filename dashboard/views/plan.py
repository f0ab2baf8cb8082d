"""Plan: pick or upload a scenario, edit demand, SLOs and budgets, solve, read and download."""

from __future__ import annotations

import copy

import altair as alt
import pandas as pd
import streamlit as st
import yaml

import planner
from dashboard.common import USER_ERRORS, store
from planner.bundled import bundled_scenarios
from planner.formats.placement import placement_text
from planner.render import placement_table, site_power_table

UPLOAD = "upload a file..."


def load_content() -> dict | None:
    choices = [*bundled_scenarios(), UPLOAD]
    choice = st.selectbox("Scenario", choices, index=0)
    if choice == UPLOAD:
        uploaded = st.file_uploader("Scenario YAML", type=["yaml", "yml"])
        if uploaded is None:
            st.info("Upload a scenario file (see data/scenarios/example.yaml for the layout).")
            return None
        text, label = uploaded.getvalue().decode("utf-8", errors="replace"), uploaded.name
    else:
        text, label = bundled_scenarios()[choice].read_text(encoding="utf-8"), choice
    try:
        content = yaml.safe_load(text)
    except yaml.YAMLError as error:
        st.error(f"{label} is not valid YAML: {error}. Fix the file and upload it again.")
        return None
    if not isinstance(content, dict):
        st.error(f"{label} holds no scenario mapping. See data/scenarios/example.yaml for the layout.")
        return None
    return content


def edited(content: dict) -> dict:
    """The scenario with the form's demand, SLOs, budgets and objective."""
    result = copy.deepcopy(content)
    objectives = ["energy", "cost", "carbon"]
    result["objective"] = st.radio(
        "Objective", objectives, index=objectives.index(content.get("objective", "energy")), horizontal=True
    )
    workloads = pd.DataFrame(
        [
            {
                "name": w.get("name", w.get("model")),
                "model": w.get("model"),
                "tokens_per_s": float(w.get("tokens_per_s", 0) or 0),
                "tpot_ms": float((w.get("slo") or {}).get("tpot_ms", 0) or 0),
                "ttft_ms": float((w.get("slo") or {}).get("ttft_ms", 0) or 0),
            }
            for w in content.get("workloads", [])
        ]
    )
    sites = pd.DataFrame(
        [{"name": s.get("name"), "power_budget_kw": float(s.get("power_budget_kw", 0) or 0), "pue": float(s.get("pue", 1.0)),
          "gpus": ", ".join(f"{k}: {v}" for k, v in (s.get("gpus") or {}).items())} for s in content.get("sites", [])]
    )  # fmt: skip
    st.caption("Demand and SLOs (edit the numbers)")
    workloads = st.data_editor(workloads, disabled=["name", "model"], hide_index=True, key="workloads")
    st.caption("Sites (edit budgets and PUE; the GPU inventory comes from the file)")
    sites = st.data_editor(sites, disabled=["name", "gpus"], hide_index=True, key="sites")
    for workload, row in zip(result.get("workloads", []), workloads.itertuples(), strict=False):
        workload["tokens_per_s"] = float(row.tokens_per_s)
        workload.pop("requests_per_s", None)
        slo = dict(workload.get("slo") or {})
        slo.update(tpot_ms=float(row.tpot_ms), ttft_ms=float(row.ttft_ms))
        workload["slo"] = slo
    for site, row in zip(result.get("sites", []), sites.itertuples(), strict=False):
        site["power_budget_kw"] = float(row.power_budget_kw)
        site["pue"] = float(row.pue)
    return result


def show(result: planner.Plan) -> None:
    placement = result.to_placement()
    if placement.status in ("infeasible", "no_solution"):
        headline = "No placement meets this scenario" if placement.status == "infeasible" else "No placement found in time"
        st.error(f"{headline}:\n\n" + "\n".join(f"- {reason}" for reason in placement.reasons))
        return
    summary = placement.summary
    assert summary is not None
    status = placement.status + (f" (gap {placement.gap:.2%})" if placement.status == "feasible" and placement.gap else "")
    st.success(f"Status: {status}, solved by {placement.solver}")
    cards = st.columns(5)
    cards[0].metric("Fleet mJ/token", f"{summary.joules_per_token * 1000:.1f}", help="facility energy, PUE included")
    usd, co2 = summary.usd_per_million_tokens, summary.g_co2_per_million_tokens
    cards[1].metric("$ per M tokens", "-" if usd is None else f"{usd:.3f}", help=None if usd is not None else "a site has no usd_per_kwh")
    cards[2].metric("gCO2 per M tokens", "-" if co2 is None else f"{co2:.1f}", help=None if co2 is not None else "a site has no carbon_g_per_kwh")
    cards[3].metric("Tokens/s", f"{summary.tokens_per_s:,.0f}")
    cards[4].metric("GPUs", f"{summary.gpus}")
    if summary.baselines:
        st.subheader("Against the baselines")
        st.dataframe(
            pd.DataFrame(
                [{"baseline": b.name, "what": b.description, "status": b.status,
                  "mJ/token": None if b.joules_per_token is None else round(b.joules_per_token * 1000, 1),
                  "plan saves %": None if b.plan_saves_pct is None else round(b.plan_saves_pct, 1)} for b in summary.baselines]
            ),
            hide_index=True,
        )  # fmt: skip
    st.subheader("Placement")
    st.dataframe(
        placement_table(placement),
        column_config={"util": st.column_config.NumberColumn(format="percent"), "TPOT ms": st.column_config.NumberColumn(format="%.1f")},
        hide_index=True,
    )
    st.subheader("Power per site against its budget")
    sites = site_power_table(placement)
    bars = alt.Chart(sites).mark_bar().encode(x=alt.X("site:N"), y=alt.Y("peak kW:Q", title="peak facility kW"))
    ticks = alt.Chart(sites).mark_tick(color="red", thickness=3, size=40).encode(x="site:N", y="budget kW:Q")
    st.altair_chart(bars + ticks, width="stretch")
    st.caption("Bars: peak facility power of the placement (PUE included); red ticks: each site's budget.")
    if placement.shadow_prices:
        st.subheader("Binding constraints and what one more unit is worth")
        st.dataframe(
            pd.DataFrame(
                [{"resource": p.resource, "unit": p.unit, "objective falls by": p.objective_change_per_unit,
                  "+-": p.resolution, "in": p.objective_unit, "method": p.method} for p in placement.shadow_prices]
            ),
            hide_index=True,
        )  # fmt: skip
    for note in placement.notes:
        st.caption(f"note: {note}")
    st.download_button("Download the placement file", placement_text(placement), file_name="placement.yaml", mime="application/yaml")


st.title("Plan")
content = load_content()
if content is not None:
    with st.form("scenario"):
        scenario = edited(content)
        time_limit_s = st.number_input("Solver time limit (s)", min_value=1.0, max_value=600.0, value=60.0, step=5.0)
        baselines = st.checkbox("Compare with the baselines", value=True)
        submitted = st.form_submit_button("Solve", type="primary")
    if submitted:
        try:
            with st.spinner("Solving..."):
                st.session_state["plan_result"] = planner.plan(scenario, store=store(), time_limit_s=time_limit_s, with_baselines=baselines)
        except USER_ERRORS as error:
            st.session_state.pop("plan_result", None)
            st.error(str(error))
    if "plan_result" in st.session_state:
        show(st.session_state["plan_result"])
