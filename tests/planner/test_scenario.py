"""Scenario files: the example parses; each kind of bad input names its field and the fix."""

from importlib import resources
from pathlib import Path

import pytest
import yaml

from models import load_catalog
from planner.errors import InputError
from planner.formats.scenario import load_scenario, parse_scenario

EXAMPLE = yaml.safe_load(resources.files("planner_data").joinpath("scenarios/example.yaml").read_text())


def _changed(path: tuple, value) -> dict:
    content = yaml.safe_load(yaml.safe_dump(EXAMPLE))
    node = content
    for part in path[:-1]:
        node = node[part]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return content


def test_example_scenario_parses_with_catalog_names(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(_changed(("workloads", 0, "model"), "meta-llama/Meta-Llama-3.1-8B-Instruct")))
    scenario, digest = load_scenario(path, load_catalog())
    assert scenario.workloads[0].model == "llama-3.1-8b"
    assert scenario.workloads[0].demand_tok_s == EXAMPLE["workloads"][0]["tokens_per_s"]
    assert set(scenario.sites[0].gpus) == {"H100-SXM-80GB", "H200-SXM-141GB"}
    assert len(digest) == 64


def test_requests_per_s_becomes_output_tokens_per_s():
    content = _changed(("workloads", 0, "tokens_per_s"), KeyError)
    content["workloads"][0]["requests_per_s"] = 10
    assert parse_scenario(content, load_catalog()).workloads[0].demand_tok_s == 10 * 128


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("workloads", 0, "model"), "gpt-9", r"workloads\[chat-8b\]\.model: unknown model 'gpt-9'"),
        (("sites", 0, "gpus"), {"H100X": 4}, r"sites\[dc-east\]\.gpus: unknown GPU type 'H100X'. Did you mean"),
        (("workloads", 0, "tokens_per_s"), -5, r"workloads\[chat-8b\]\.tokens_per_s: Input should be greater than 0"),
        (("workloads", 0, "tokens_per_s"), 0, r"workloads\[chat-8b\]\.tokens_per_s: Input should be greater than 0"),
        (("workloads", 0, "slo", "tpot_ms"), 0, r"workloads\[chat-8b\]\.slo\.tpot_ms: Input should be greater than 0"),
        (("sites", 1, "gpus"), {}, r"sites\[eu-north\]\.gpus: a site needs at least one GPU"),
        (("sites", 1, "name"), "dc-east", r"site name 'dc-east' appears twice"),
        (("sites", 0, "power_kw"), 5, r"sites\[dc-east\]\.power_kw: unknown key 'power_kw'"),
        (("objective",), "speed", r"objective: Input should be 'energy', 'cost' or 'carbon'"),
        (("workloads", 0, "tokens_per_s"), True, r"workloads\[chat-8b\]\.tokens_per_s: Input should be a valid number"),
        (("workloads", 0, "tokens_per_s"), float("inf"), r"workloads\[chat-8b\]\.tokens_per_s: Input should be a finite number"),
        (("sites", 0, "power_budget_kw"), "400", r"sites\[dc-east\]\.power_budget_kw: Input should be a valid number"),
        (("workloads", 0, "sites"), ["dc-west"], r"workload 'chat-8b' names site 'dc-west' in sites, which is not a site"),
        (("workloads", 0, "sites"), [], r"workloads\[chat-8b\]\.sites: List should have at least 1 item"),
        (("workloads", 0, "min_sites"), 2, None),
    ],
)
def test_bad_scenarios_name_the_field(path, value, message):
    content = _changed(path, value)
    if message is None:  # min_sites 2 over a workload allowed one site
        content["workloads"][0]["sites"] = ["dc-east"]
        message = r"workload 'chat-8b' asks for min_sites 2 but allows 1 sites"
    with pytest.raises(InputError, match=message) as raised:
        parse_scenario(content, load_catalog(), "s.yaml")
    assert "To fix" in str(raised.value)


def test_unreadable_or_broken_files(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        load_scenario(Path(tmp_path / "missing.yaml"), load_catalog())
    broken = tmp_path / "broken.yaml"
    broken.write_text("workloads: [\n")
    with pytest.raises(InputError, match="not valid YAML"):
        load_scenario(broken, load_catalog())


def test_a_key_given_twice_is_refused_not_last_wins(tmp_path):
    text = resources.files("planner_data").joinpath("scenarios/example.yaml").read_text()
    doubled = tmp_path / "doubled.yaml"
    doubled.write_text(text.replace("max_utilization:", "objective: cost\nmax_utilization:", 1))
    with pytest.raises(InputError, match="the key 'objective' is given twice"):
        load_scenario(doubled, load_catalog())
