"""A schedule's charts from its file's content (the Schedule page's), apart from the page script
so that they can be built and tested without running it."""

from __future__ import annotations

import altair as alt
import pandas as pd

from planner.formats.schedule_file import ScheduleFile


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


def charts(content: ScheduleFile) -> tuple[alt.Chart, alt.FacetChart, alt.Chart, alt.Chart]:
    """GPUs by type (stacked), each site's peak power against its budget, carbon intensity and
    price by site."""
    stacked = alt.Chart(gpus_by_type(content)).mark_area().encode(
        x=alt.X("start:T", title="interval (UTC)"), y=alt.Y("gpus:Q", stack="zero", title="GPUs running"), color="hardware:N"
    )
    sites = site_power(content)
    used = sites[sites.groupby("site")["kW"].transform("max") > 0]
    power = alt.layer(
        alt.Chart().mark_line().encode(x=alt.X("start:T", title=None), y=alt.Y("peak kW:Q", title="kW (facility)")),
        alt.Chart().mark_line(strokeDash=[4, 4], color="gray").encode(x="start:T", y="budget kW:Q"),
        data=used,
    ).properties(width=260, height=130).facet(facet="site:N", columns=3)
    by_site = alt.Chart(sites.drop_duplicates(["start", "site"])).mark_line()
    carbon = by_site.encode(x=alt.X("start:T", title="interval (UTC)"), y=alt.Y("gCO2/kWh:Q"), color="site:N")
    price = by_site.encode(x=alt.X("start:T", title="interval (UTC)"), y=alt.Y("USD/kWh:Q"), color="site:N")
    return stacked, power, carbon, price
