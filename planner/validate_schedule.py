"""`planner validate SCHEDULE SCENARIO --demand D [--sites S]`: a schedule file re-checked as a
placement is (planner/validate.py), interval by interval.

Nothing in the file is trusted: the series are read again (and must be the ones scheduled, by
sha256), each interval's problem is rebuilt from them, each interval's rows from the Store's
candidates, then every interval and horizon figure is recomputed from those rows, the
reconfiguration rules are checked on the replica counts, and each baseline's saving is
recomputed from its stated totals (the baselines themselves are other solves, not re-run).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path
from typing import cast, get_args

from models import Store, load_catalog
from optimizer.horizon import horizon_figures, running
from optimizer.problem import ReplicaGroup
from planner.formats.placement import read_placement
from planner.formats.scenario import Objective, load_scenario
from planner.formats.schedule_file import ScheduleFile, SeriesRef
from planner.planning import build_problem
from planner.schedule_content import interval_entry, saved, totals
from planner.scheduling import interval_problems, read_inputs, start_energy_j
from planner.stored_points import usable_operating_points
from planner.validate import check_rows, differences


def _series_problems(ref: SeriesRef | None, path: Path | None, what: str) -> list[str]:
    if ref is None and path is None:
        return []
    if ref is None or path is None:
        return [f"the schedule was made {'with' if ref else 'without'} a {what}; pass {'it' if ref else 'none'} to validate it"]
    if hashlib.sha256(path.read_bytes()).hexdigest() != ref.sha256:
        return [f"the {what} {path} is not the one scheduled ({ref.path}; sha256 differs)"]
    return []


def check_schedule(
    content: ScheduleFile, scenario_path: Path, demand_path: Path, sites_path: Path | None, store: Store, current_path: Path | None = None
) -> list[str]:
    """Every violated rule and every figure that disagrees, in words; empty means the schedule holds."""
    catalog = load_catalog()
    scenario, digest = load_scenario(scenario_path, catalog)
    problems: list[str] = []
    if content.scenario.sha256 != digest:
        problems.append(f"the schedule was made for another version of {scenario_path} (sha256 differs)")
    problems += _series_problems(content.demand, demand_path, "demand series") + _series_problems(content.sites_series, sites_path, "site series")
    problems += _series_problems(content.current, current_path, "current placement")
    if content.status in ("infeasible", "no_solution"):
        return problems + [f"the schedule holds no plan ({content.status}): " + "; ".join(content.reasons)]
    inputs = read_inputs(demand_path, sites_path, scenario)
    if content.objective not in get_args(Objective):
        return problems + [f"objective {content.objective!r} is not one of {', '.join(get_args(Objective))}"]
    base, _ = build_problem(scenario, usable_operating_points(store), catalog, cast(Objective, content.objective), prune=False)
    intervals = interval_problems(base, scenario, inputs)
    if len(content.intervals) != len(intervals):
        return problems + [f"the schedule has {len(content.intervals)} intervals, the demand series {len(intervals)}"]
    interval_h = inputs.demand.step.total_seconds() / 3600
    if abs(content.interval_minutes - interval_h * 60) > 1e-9:
        problems.append(f"interval_minutes stated {content.interval_minutes:g}, the demand series steps {interval_h * 60:g}")
    rebuilt: list[list[ReplicaGroup]] = []
    for entry, problem, start in zip(content.intervals, intervals, inputs.demand.starts, strict=True):
        groups, found = check_rows(entry.placements, problem, f"interval {entry.start}: ")
        problems += found
        rebuilt.append(groups)
        if entry.start != start.isoformat():
            problems.append(f"interval {entry.start}: the demand series has {start.isoformat()} here")
    rules = content.rules
    start_it_j = start_energy_j(base, catalog, rules.load_gb_per_s)
    idle_w = {name: gpu.idle_w for name, gpu in catalog.gpus.items()}
    initial = None if current_path is None or content.current is None else running(read_placement(current_path).placements)
    figures = horizon_figures(intervals, rebuilt, interval_h, start_it_j, idle_w, initial)
    for entry, problem, groups, interval_figures in zip(content.intervals, intervals, rebuilt, figures.intervals, strict=True):
        expected = interval_entry(entry.start, problem, groups, interval_figures, interval_h).model_dump()
        stated = entry.model_dump()
        problems += [f"interval {entry.start}: {d}" for d in differences(stated, expected, skip=("placements", "totals", "sites"))]
        problems += [f"interval {entry.start}: totals: {d}" for d in differences(stated["totals"], expected["totals"])]
        for given, wanted in zip(stated["sites"], expected["sites"], strict=False):
            problems += [f"interval {entry.start}: site {wanted['site']}: {d}" for d in differences(given, wanted)]
    horizon = totals(figures)
    if content.horizon is None:
        problems.append("the schedule has intervals but no horizon totals")
    else:
        problems += [f"horizon: {d}" for d in differences(content.horizon.model_dump(), horizon.model_dump())]
    for baseline in content.baselines:
        if baseline.totals is not None and baseline.schedule_saves is not None:
            expected_saving = saved(baseline.totals, horizon).model_dump()
            problems += [f"baseline {baseline.name!r}: schedule_saves {d}" for d in differences(baseline.schedule_saves.model_dump(), expected_saving)]
    problems += _rule_problems(content, rebuilt, initial)
    return problems


def _rule_problems(content: ScheduleFile, rebuilt: list[list[ReplicaGroup]], initial: dict[tuple[str, str], int] | None) -> list[str]:
    """The change limit and the minimum up-time, on replica counts by configuration and site (the
    first interval against today's placement where the schedule was made from one)."""
    rules = content.rules
    counts = [running(groups) for groups in rebuilt]
    before = [initial] + counts[:-1]
    problems = []
    for t, now_counts in enumerate(counts):
        previous = before[t]
        if previous is None:
            continue
        changes: dict[str, int] = defaultdict(int)
        for key in set(now_counts) | set(previous):
            changes[key[1]] += abs(now_counts.get(key, 0) - previous.get(key, 0))
        for site, changed in sorted(changes.items()):
            if rules.max_changes_per_site is not None and changed > rules.max_changes_per_site:
                problems.append(f"interval {content.intervals[t].start}: site {site} changes {changed} replicas, the limit is {rules.max_changes_per_site}")
        if rules.min_up_intervals > 1:
            recent = [tau for tau in range(max(0, t - rules.min_up_intervals + 1), t + 1) if before[tau] is not None]
            for key in sorted({key for tau in recent for key in counts[tau]}):
                now = now_counts.get(key, 0)
                started = sum(max(counts[tau].get(key, 0) - (before[tau] or {}).get(key, 0), 0) for tau in recent)
                if started > now:
                    problems.append(
                        f"interval {content.intervals[t].start}: {key[0]} at {key[1]} runs {now} replicas, {started} of them started "
                        f"within the last {rules.min_up_intervals} intervals"
                    )
    return problems
