"""Scenario text read at a bounded cost: no anchors or aliases, a size limit, a cap on requests,
values and depth; everything else read as yaml.safe_load reads it, by libyaml or PyYAML."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from loadtester.loadgen.errors import LoadSpecError
from loadtester.loadgen.input.boundedyaml import DocumentRefused, TooManyItems, load_bounded
from loadtester.loadgen.input.scenario import (
    MAX_DEPTH,
    MAX_REQUESTS,
    MAX_SCENARIO_BYTES,
    MAX_VALUES,
    parse_scenario,
)
from tests.support.hostile_input import HUGE_LIST, alias_bomb, flow_list

BASE = "http://127.0.0.1:1/"
# the scenario of docs/scenarios.md
DOCS_SCENARIO = """\
requests:
  - {name: home, url: /, weight: 80}
  - {name: items, url: /api/items, weight: 15, expect: {status: [200]}}
  - name: orders
    method: POST
    url: /api/orders
    headers: {Content-Type: application/json}
    body: '{"item": 1, "quantity": 2}'
    weight: 5
    expect: {status: [200, 201], body: '"status":"ok"', maxLatency: 300ms}
    thresholds: {maxP99: 200ms, maxErrorRate: 1}
"""
SAFE_LOAD_DOCS = [
    DOCS_SCENARIO,
    "stages: [{duration: 30s, target: 100}, {duration: 2m, target: 0}]\nrequests: [{url: /}]",
    "a: 1\nb: 1.5\nc: true\nd: null\ne: ~\nf: 0x1f\ng: 1_000\nh: .inf\ni: 2001-12-14\nj: '1'",
    'k: "\\u00e9\\t"\nl: |\n  two\n  lines\nm: >\n  folded\n  text\nn: !!str 12\no: []\np: {}',
    "",
    "- 1\n- [2, [3, {x: y}]]",
    "requests:\n  - url: /\n    headers:\n      X-A: 1\n      X-B: 'b'\n",
]
LIMITS: dict[str, Any] = {"max_nodes": MAX_VALUES, "max_depth": MAX_DEPTH,
                          "max_items": {"requests": MAX_REQUESTS}}


@pytest.mark.parametrize("pure_python", [False, True], ids=["libyaml", "pyyaml"])
@pytest.mark.parametrize("text", SAFE_LOAD_DOCS)
def test_reads_as_safe_load(text: str, pure_python: bool) -> None:
    """A document without anchors reads exactly as yaml.safe_load reads it."""
    assert load_bounded(text, pure_python=pure_python, **LIMITS) == yaml.safe_load(text)


def test_libyaml_is_used() -> None:
    """The locked PyYAML wheel carries libyaml, so the C parser reads scenarios here (and in
    the image, installed from the same lock)."""
    assert yaml.__with_libyaml__


@pytest.mark.parametrize("pure_python", [False, True], ids=["libyaml", "pyyaml"])
@pytest.mark.parametrize(("text", "line"), [
    ("requests: [{url: &u 'http://x/'}]", 1),
    ("a: &x 1\nb: 2", 1),
    ("a: 1\nb: *x", 2),
    ("base: &b {url: /}\nrequests: [{<<: *b}]", 1),
    ("requests:\n- &r {url: /}", 2),
    ("requests:\n- {url: /}\n- !!str &t text", 3),
])  # fmt: skip
def test_anchors_and_aliases_refused(text: str, line: int, pure_python: bool) -> None:
    """An anchor or an alias is refused even where it would be harmless, naming its line."""
    with pytest.raises(DocumentRefused) as caught:
        load_bounded(text, pure_python=pure_python, **LIMITS)
    assert str(caught.value) == f"YAML anchors and aliases are not allowed (line {line})"


def test_values_budget() -> None:
    """A flow list of 131 000 values is refused once past the budget, not built."""
    with pytest.raises(DocumentRefused, match=f"^more than {MAX_VALUES} YAML values$"):
        load_bounded(flow_list("stages", MAX_SCENARIO_BYTES), **LIMITS)


def test_depth_limit() -> None:
    """Lists nested deeper than the limit are refused."""
    with pytest.raises(DocumentRefused, match=f"^YAML nested more than {MAX_DEPTH} deep$"):
        load_bounded("a: " + "[" * 100 + "]" * 100, **LIMITS)


def test_items_cap_only_at_the_top() -> None:
    """The request cap counts the top-level `requests` list only, as its items arrive."""
    nested = "x: {requests: [" + "1, " * (MAX_REQUESTS + 1) + "]}"
    assert len(load_bounded(nested, **LIMITS)["x"]["requests"]) == MAX_REQUESTS + 1
    with pytest.raises(TooManyItems) as caught:
        load_bounded("requests: [" + "1, " * (MAX_REQUESTS + 1) + "]", **LIMITS)
    assert (caught.value.key, caught.value.limit) == ("requests", MAX_REQUESTS)


def _reason(text: str) -> str:
    with pytest.raises(LoadSpecError) as caught:
        parse_scenario(text, BASE)
    return str(caught.value)


def test_huge_list_and_alias_bomb_refused() -> None:
    """A 500 KB list is refused for its size, its alias bomb for its aliases."""
    assert _reason(HUGE_LIST) == "scenario is 500012 bytes: at most 262144 (256 KiB)"
    assert _reason(alias_bomb()) == "scenario: YAML anchors and aliases are not allowed (line 4)"


def test_size_limit_in_bytes() -> None:
    """The size limit counts UTF-8 bytes: 256 KiB passes to the parser, one byte more not."""
    assert "more than 20000 YAML values" in _reason(flow_list("stages", MAX_SCENARIO_BYTES))
    over = flow_list("stages", MAX_SCENARIO_BYTES - 1) + "é"
    assert _reason(over) == f"scenario is {MAX_SCENARIO_BYTES + 1} bytes: at most 262144 (256 KiB)"


def test_too_many_requests_named() -> None:
    """A list of requests past the cap is refused naming the cap, in YAML and in JSON."""
    yaml_text = "requests: [" + "{url: /}, " * (MAX_REQUESTS + 1) + "]"
    assert _reason(yaml_text) == "scenario has more than 100 requests: at most 100"
    json_text = json.dumps({"requests": [{"url": "/"}] * (MAX_REQUESTS + 1)})
    assert _reason(json_text) == "scenario has 101 requests: at most 100"


def test_deep_json_refused() -> None:
    """JSON nested past the interpreter's recursion limit is a 400, not a crash."""
    assert _reason('{"requests": ' + "[" * 100_000 + "]" * 100_000 + "}") == (
        "scenario is nested too deeply")


def test_long_yaml_problem_is_cut() -> None:
    """A YAML error quotes at most 200 characters of what it stumbled on."""
    reason = _reason("requests: [{url: /}]\n" + "!" + "t" * 10_000 + " x")
    assert len(reason) < 300 and reason.startswith("scenario is not valid YAML or JSON: ")


def test_scenario_reads_as_before() -> None:
    """A scenario in YAML parses to the same requests and stages as its JSON form, which
    json.loads reads without the bounded YAML loader."""
    for text in (DOCS_SCENARIO, SAFE_LOAD_DOCS[1]):
        as_json = json.dumps(yaml.safe_load(text))
        assert parse_scenario(text, BASE) == parse_scenario(as_json, BASE)
