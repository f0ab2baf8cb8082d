"""Every field of every file format, as a fuzzer would fill it: the readers accept the file or
refuse it with an InputError (one line, the field named); never another exception."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import Store, load_catalog
from planner.errors import InputError
from planner.formats.measurements_csv import read_measurements_csv
from planner.formats.placement import read_placement
from planner.formats.scenario import load_scenario
from planner.validate import check_placement
from tests.planner.test_import_csv import GOOD_ROW, _write

EXAMPLE = yaml.safe_load(resources.files("planner_data").joinpath("scenarios/example.yaml").read_text())
CATALOG = load_catalog()

JUNK: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
CELL = st.one_of(
    st.sampled_from(["", "0", "-1", "1e400", "inf", "nan", "NaN", "true", "1.5", "99999999999999999999", "x", "p95", "phases"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=10),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path of a nested YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*prefix, index)
            yield from _paths(value, (*prefix, index))


def _value_at(document: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        document = document[key]
    return document


def _replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    copy = json.loads(json.dumps(document))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copy


SCENARIO_PATHS = list(_paths(EXAMPLE))
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(path=st.sampled_from(SCENARIO_PATHS), value=JUNK)
def test_any_scenario_field_with_any_value_is_read_or_refused_in_one_line(tmp_path: Path, path: tuple[Any, ...], value: Any) -> None:
    file = tmp_path / "fuzzed.yaml"
    try:
        file.write_text(yaml.safe_dump(_replaced(EXAMPLE, path, value), allow_unicode=True))
    except (ValueError, yaml.YAMLError):
        return  # not representable as YAML: nothing a user could write
    try:
        load_scenario(file, CATALOG)
    except InputError as error:
        assert "\n" not in str(error).strip() and "To fix" in str(error)


@FUZZ
@given(column=st.sampled_from(sorted(GOOD_ROW)), value=CELL)
def test_any_measurement_cell_is_imported_or_refused_in_one_line(tmp_path: Path, column: str, value: str) -> None:
    file = _write(tmp_path / "fuzzed.csv", [{**GOOD_ROW, column: value}])
    try:
        records = read_measurements_csv(file, CATALOG)
    except InputError as error:
        assert "To fix" in str(error)
        return
    (record,) = records
    assert record.output_tok_s > 0 and record.decode_tokens >= 1  # what was accepted is usable


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, Store]:
    import planner

    folder = tmp_path_factory.mktemp("fuzz")
    scenario = folder / "example.yaml"
    scenario.write_text(yaml.safe_dump(EXAMPLE))
    store = planner.open_store(f"sqlite:///{folder / 's.db'}")
    result = planner.plan(scenario, store, with_baselines=False, with_shadow_prices=False)
    return result.to_placement().model_dump(mode="json"), scenario, store


@FUZZ
@given(data=st.data(), value=JUNK)
def test_any_placement_field_with_any_value_is_refused_or_validated_without_a_traceback(
    tmp_path: Path, planned: tuple[dict[str, Any], Path, Store], data: st.DataObject, value: Any
) -> None:
    document, scenario, store = planned
    path = data.draw(st.sampled_from(list(_paths(document))))
    file = tmp_path / "fuzzed.json"
    try:
        file.write_text(json.dumps(_replaced(document, path, value), allow_nan=True))
    except ValueError:
        return
    try:
        placement = read_placement(file)
    except InputError as error:
        assert "To fix" in str(error)
        return
    problems = check_placement(placement, scenario, store)
    if _replaced(document, path, value) != document:
        # a changed field that reads fine must still be caught by validate, unless it changes
        # nothing a user reads (notes, the solver's name, the pruning counts, a flag's wording)
        harmless = path[0] in ("notes", "candidates_pruned", "solver", "gap", "shadow_prices", "objective") or (
            path[0] == "summary" and path[1:2] == ("gap",)
        )
        assert problems or harmless or value == _value_at(document, path), (path, value)
