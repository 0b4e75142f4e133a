"""Conformance: the PSS-derived rules agree 100% with the Pod Security Admission "restricted" fixtures."""

from __future__ import annotations

import re

import pytest

from policies.archon_policies.catalog import PSS_RULES
from tests.policy_helpers import conformance_dir, load, run

FIXTURES = conformance_dir()
CONTROL_TO_RULE = {control.lower(): rule.name for rule in PSS_RULES for control in rule.pss_controls}


def fixture_files(kind: str) -> list:
    return sorted((FIXTURES / kind).glob("*.yaml")) if FIXTURES else []


def control_of(path) -> str:
    return re.sub(r"\d+$", "", path.stem)


@pytest.mark.skipif(FIXTURES is None, reason="conformance fixtures not present (set PSS_CONFORMANCE_DIR)")
def test_every_control_in_the_fixtures_has_a_rule():
    controls = {control_of(p) for p in fixture_files("fail")}
    assert controls, "no fail fixtures found"
    assert sorted(controls - set(CONTROL_TO_RULE)) == []


@pytest.mark.parametrize("path", fixture_files("fail"), ids=lambda p: p.stem)
def test_fail_fixture_is_flagged_by_the_rule_for_its_control(path):
    rule = CONTROL_TO_RULE[control_of(path)]
    violations = run(rule, load(path))
    assert violations, f"{rule} passed {path.name}, which violates {control_of(path)}"
    assert not any(v.unknown for v in violations)


@pytest.mark.parametrize("path", fixture_files("pass"), ids=lambda p: p.stem)
def test_no_pss_rule_flags_a_pass_fixture(path):
    obj = load(path)
    flagged = {rule.name: [v.message for v in run(rule.name, obj)] for rule in PSS_RULES}
    assert {name: found for name, found in flagged.items() if found} == {}


def test_fixture_counts_are_what_the_suite_expects():
    if FIXTURES is None:
        pytest.skip("conformance fixtures not present")
    assert len(fixture_files("fail")) >= 70 and len(fixture_files("pass")) >= 20
