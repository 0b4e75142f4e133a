"""The fuzzers with the real pieces as judges: fuzzed manifests through the policy pack, each judged by the API
server's Pod Security Admission; and fuzzed configs through the real `pulumi preview`, each ending as the offline
plan of the same project does (a plan, or a failure carrying every one of its messages, creating nothing)."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings

from e2e import harness
from e2e.checks import namespace_exists
from e2e.paths import KUBECONFIG
from fuzz.config_cases import Case, cases, committed
from fuzz.manifest_run import run_manifests

pytestmark = pytest.mark.usefixtures("cluster")
PREVIEWS = 4


def test_fuzzed_manifests_judged_by_the_api_server_find_no_wrong_verdict():
    result = run_manifests(400, 20261202, KUBECONFIG)
    counts = result["counts"]
    assert result["failures"] == [], result["failures"][:3]
    assert counts["answered"] == 400 and counts["judged"] >= 60 and counts["breaks a control"] >= 40, counts


def as_assignments(case: Case) -> list[str] | None:
    """The case as --set assignments on the committed local stack, if it can be written that way (no deleted key,
    top-level keys only, text a YAML file can hold)."""
    base = committed("local")
    if case.stack != "local" or not set(base) <= set(case.raw):
        return None
    out = []
    for key, value in case.raw.items():
        if key in base and same(base[key], value):
            continue
        if not re.fullmatch(r"archon:[A-Za-z]+", key) or re.search(r"[\ud800-\udfff]|\\u[dD][89a-fA-F]", value) \
                or len(value) > 2000:
            return None
        structured = value.lstrip()[:1] in ("{", "[")
        out.append(f"{key}={value if structured else json.dumps(value)}")
    return out or None


def same(committed_value: str, value: str) -> bool:
    """Whether a case's value is the committed one (structured values compared decoded)."""
    try:
        return json.loads(committed_value) == json.loads(value)
    except json.JSONDecodeError:
        return committed_value == value


def sample() -> list[list[str]]:
    found: list[list[str]] = []

    @settings(max_examples=400, database=None, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(cases())
    def collect(case: Case) -> None:
        assignments = as_assignments(case)
        if assignments and len(found) < PREVIEWS and assignments not in found:
            found.append(assignments)
    collect()
    return found


def test_fuzzed_configs_end_in_the_real_preview_as_in_the_offline_plan(tmp_path):
    cases_run = sample()
    assert len(cases_run) == PREVIEWS
    for index, sets in enumerate(cases_run):
        offline = harness.offline_plan(tmp_path / str(index), "local", tuple(sets))
        real = harness.pulumi("preview", sets=tuple(sets), events=True)
        assert "Traceback" not in real.output, real.output[-3000:]
        if offline.returncode == 2:
            messages = [line.strip() for line in offline.stderr.splitlines() if line.startswith("  ")] or [
                offline.stderr.strip().removeprefix("error: ")]
            assert real.returncode != 0, sets
            for message in messages:
                assert message in real.output, (sets, message, real.output[-2000:])
            registered = [e for e in real.events if e.get("resource_pre_event")
                          and e["resource_pre_event"]["metadata"]["type"] != "pulumi:pulumi:Stack"]
            assert registered == [], "a refused config registered resources"
        else:
            assert real.returncode == 0, (sets, real.output[-3000:])
        assert not namespace_exists("archon-local"), "a preview created nothing"
