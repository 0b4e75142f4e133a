"""Unknown preview values never crash a rule and never pass silently (checked at every leaf of many objects)."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest

from policies.archon_policies.catalog import RULES
from policies.archon_policies.values import UNKNOWN, to_plain
from tests.policy_helpers import conformance_dir, load, subject
from tests.test_policy_rules import container, deployment, pod

RESOURCE_RULES = [r for r in RULES if r.scope == "resource"]
STACK_RULES = [r for r in RULES if r.scope == "stack"]


def samples() -> list[tuple[str, dict]]:
    found = [("hardened-pod", pod()),
             ("bad-deployment", deployment(pod(container(securityContext={}, image="app"), pod_sc={})["spec"],
                                           replicas=3))]
    fixtures = conformance_dir()
    if fixtures:
        found += [(f"{p.parent.name}/{p.stem}", load(p)) for p in sorted(fixtures.glob("*/*.yaml"))]
    return found


def leaves(node, path=()) -> Iterator[tuple]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from leaves(value, (*path, index))
    if path:
        yield path


def with_unknown(obj: dict, path: tuple) -> dict:
    copied = copy.deepcopy(obj)
    node = copied
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = UNKNOWN
    return copied


@pytest.mark.parametrize("name, obj", samples(), ids=lambda v: v if isinstance(v, str) else "")
def test_an_unknown_anywhere_never_crashes_and_never_hides_a_violation(name, obj):
    baseline = {rule.name: rule.check(subject(obj), {}) for rule in RESOURCE_RULES}
    for path in leaves(obj):
        if path[0] in ("apiVersion", "kind"):
            continue
        changed = with_unknown(obj, path)
        for rule in RESOURCE_RULES:
            result = rule.check(subject(changed), {})  # must not raise
            if baseline[rule.name]:
                assert result, f"{rule.name} passed silently with {'.'.join(map(str, path))} unknown in {name}"
        for rule in STACK_RULES:
            rule.check([subject(changed)], {})


def test_sentinels_from_the_engine_become_the_unknown_marker():
    sentinel = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    plain = to_plain({"spec": {"replicas": 2.0, "image": sentinel, "list": [sentinel, 1.5]}})
    assert plain == {"spec": {"replicas": 2, "image": UNKNOWN, "list": [UNKNOWN, 1.5]}}
    assert type(plain["spec"]["replicas"]) is int


def test_the_unknown_marker_refuses_to_be_truth_tested():
    with pytest.raises(TypeError):
        bool(UNKNOWN)
