"""The optimizer's typed results in words, for the terminal, the dashboard and the files people read."""

from __future__ import annotations

from collections.abc import Mapping

from optimizer.candidates import Flag
from optimizer.diagnosis import Addition, Shortfall


def describe_flag(flag: Flag) -> str:
    return f"{flag.kind}: {flag.detail}" if flag.detail else flag.kind


def describe_shortfall(shortfall: Shortfall, pue: Mapping[str, float]) -> str:
    """One line naming the constraint, the site and what would fix it; `pue` by site name."""
    served = ", ".join(shortfall.workloads)
    if shortfall.constraint == "power_budget" and shortfall.site is not None:
        return (
            f"site {shortfall.site} needs {shortfall.missing or 0.0:.1f} kW more (budget {shortfall.held or 0.0:g} kW "
            f"facility, PUE {pue[shortfall.site]:g}) to serve {served}"
        )
    if shortfall.constraint == "inventory" and shortfall.site is not None:
        return (
            f"site {shortfall.site} needs {shortfall.missing or 0.0:g} more {shortfall.hardware} "
            f"(has {shortfall.held or 0.0:g}) to serve {served}"
        )
    if shortfall.constraint == "no_candidate":
        return f"workload {served}: {shortfall.detail}"
    if shortfall.constraint == "min_sites":
        return "no placement exists even with unlimited power and GPUs: check min_sites against the number of sites"
    if shortfall.constraint == "time_limit":
        return (
            f"no placement found within the time limit of {shortfall.held:g} s; the problem is not proven infeasible: "
            "allow more time (--time-limit) or a larger gap (--gap)"
        )
    return "infeasible, but relaxing power and inventory alone does not show why"


def describe_addition(addition: Addition) -> str:
    unit = "kW" if addition.what == "power" else addition.what
    sites = ", ".join(f"{site} {amount:g}" for site, amount in addition.per_site.items())
    return f"{addition.amount:g} {unit} ({sites}) for ${addition.usd_per_hour:,.2f}/h"
