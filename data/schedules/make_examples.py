"""Builds the bundled example series of data/scenarios/large.yaml from the bundled public slices.

    python data/schedules/make_examples.py

Demand (`large-week-demand.csv`; `example-day-demand.csv` for data/scenarios/example.yaml, the
first day, its own peak hour at the scenario's demand): the first seven days of the ServeGen service's request rate,
summed over its 43 clients (data/public/servegen-language-m-small/rate_summed.csv), averaged per
hour and divided by the week's highest hour; each workload's tokens/s is that shape times the
scenario's tokens_per_s (its peak). Day 0 of ServeGen (its t = 0 is a midnight; the zone is not
published) is placed at 2023-07-03T00:00Z, the week of the site series.

Sites (`large-week-sites.csv`): the hourly lifecycle carbon intensity of Electricity Maps (via
green-dcc, data/public/green-dcc-2023/week-2023-07-03.csv) for the three sites in those zones
(us-ca-3: US-CAL-CISO, us-tx-2: US-TEX-ERCO, de-6: DE-LU), and the day-ahead price's hourly
swing around its weekly mean added to the scenario's price for the site (wholesale prices
are a fraction of what a site pays; the swing is what shifting load by the hour can use). The
other nine sites are not in the file and keep the scenario's constant figures.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

DATA = Path(__file__).resolve().parents[1]
HERE = DATA / "schedules"
WEEK_START = datetime(2023, 7, 3, tzinfo=UTC)
HOURS = 7 * 24
SITE_ZONES = {"us-ca-3": "US-CAL-CISO", "us-tx-2": "US-TEX-ERCO", "de-6": "DE-LU"}


def hourly_shape() -> list[float]:
    with (DATA / "public" / "servegen-language-m-small" / "rate_summed.csv").open() as stream:
        rates = [float(row["requests_per_s"]) for row in csv.DictReader(stream)]
    per_hour = 3600 // 600
    hourly = [sum(rates[h * per_hour : (h + 1) * per_hour]) / per_hour for h in range(HOURS)]
    top = max(hourly)
    return [rate / top for rate in hourly]


def stamp(hour: int) -> str:
    return (WEEK_START + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_demand(scenario_name: str, hours: int, target: str) -> dict:
    """The scenario's peaks times the shape, for its first `hours` hours."""
    scenario = yaml.safe_load((DATA / "scenarios" / f"{scenario_name}.yaml").read_text())
    shape = hourly_shape()[:hours]
    top = max(shape)
    with (HERE / target).open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["timestamp", "workload", "tokens_per_s"])
        for hour, share in enumerate(shape):
            for workload in scenario["workloads"]:
                writer.writerow([stamp(hour), workload["name"], f"{workload['tokens_per_s'] * share / top:.1f}"])
    return scenario


def main() -> None:
    write_demand("example", 24, "example-day-demand.csv")
    scenario = write_demand("large", HOURS, "large-week-demand.csv")
    with (DATA / "public" / "green-dcc-2023" / "week-2023-07-03.csv").open() as stream:
        zones: dict[str, list[dict[str, str]]] = {}
        for row in csv.DictReader(stream):
            zones.setdefault(row["zone"], []).append(row)
    prices = {site["name"]: site["usd_per_kwh"] for site in scenario["sites"]}
    with (HERE / "large-week-sites.csv").open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["timestamp", "site", "carbon_g_per_kwh", "usd_per_kwh"])
        for site, zone in SITE_ZONES.items():
            rows = zones[zone]
            mean_usd_per_kwh = sum(float(r["usd_per_mwh"]) for r in rows) / len(rows) / 1000
            for hour, row in enumerate(rows):
                assert row["timestamp"] == stamp(hour)
                usd_per_kwh = prices[site] + float(row["usd_per_mwh"]) / 1000 - mean_usd_per_kwh
                writer.writerow([row["timestamp"], site, row["carbon_lca_g_per_kwh"], f"{usd_per_kwh:.5f}"])


if __name__ == "__main__":
    main()
