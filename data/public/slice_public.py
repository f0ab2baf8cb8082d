"""How the ServeGen and green-dcc slices here were cut from the published files (provenance).

    python data/public/slice_public.py PUBLIC_DIR

PUBLIC_DIR holds `servegen-language-m-small/chunk-*-trace.csv` (alibaba/ServeGen, commit f891d11,
data/language/m-small) and `green-dcc-2023/{carbon_intensity,electricity_prices}/` (HewlettPackard/
green-dcc, commit 3f6ea95). Writes `servegen-language-m-small/rate_summed.csv` (the 43 clients'
request rates summed per 600 s row, two weeks) and `green-dcc-2023/week-2023-07-03.csv` (a week
of hourly carbon intensity and day-ahead price for the three zones).
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ZONES = ("US-CAL-CISO", "US-TEX-ERCO", "DE-LU")
WEEK_START = datetime(2023, 7, 3, tzinfo=UTC)


def summed_rates(folder: Path) -> dict[int, float]:
    totals: dict[int, float] = defaultdict(float)
    for path in sorted(folder.glob("chunk-*-trace.csv")):
        with path.open() as stream:
            for row in csv.reader(stream):
                totals[int(float(row[0]))] += float(row[1])
    return totals


def week_rows(folder: Path) -> list[list[str]]:
    rows = []
    for zone in ZONES:
        with (folder / "carbon_intensity" / f"{zone}_2023_hourly.csv").open(encoding="utf-8") as stream:
            carbon = {row[0]: (row[4], row[5]) for row in list(csv.reader(stream))[1:]}
        with (folder / "electricity_prices" / f"{zone}_electricity_prices_2023.csv").open(encoding="utf-8") as stream:
            prices = {row[0][:19]: row[2] for row in list(csv.reader(stream))[1:]}
        for hour in range(7 * 24):
            stamp = (WEEK_START + timedelta(hours=hour)).strftime("%Y-%m-%d %H:%M:%S")
            direct, lifecycle = carbon[stamp]
            rows.append([stamp.replace(" ", "T") + "Z", zone, lifecycle, direct, prices[stamp]])
    return rows


def main(public: Path) -> None:
    rates = summed_rates(public / "servegen-language-m-small")
    with (HERE / "servegen-language-m-small" / "rate_summed.csv").open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["time_s", "requests_per_s"])
        writer.writerows([time_s, f"{rate:.6g}"] for time_s, rate in sorted(rates.items()))
    with (HERE / "green-dcc-2023" / "week-2023-07-03.csv").open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["timestamp", "zone", "carbon_lca_g_per_kwh", "carbon_direct_g_per_kwh", "usd_per_mwh"])
        writer.writerows(week_rows(public / "green-dcc-2023"))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
