"""Alert rules: promtool checks and unit tests them; every contract alert exists, is documented and is tested."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.conftest import ROOT
from tests.helpers import require_tool

RULES = sorted((ROOT / "monitoring" / "rules").glob("*.yaml"))
TESTS = sorted((ROOT / "monitoring" / "tests").glob("*.test.yaml"))
CONTRACT = ["ArchonServiceDown", "ArchonHighErrorRate", "ArchonHighLatency", "ArchonCPUExhaustion",
            "ArchonMemoryExhaustion", "ArchonDiskExhaustion", "ArchonDatabaseDown", "ArchonCertificateExpiringSoon",
            "ArchonPodCrashLooping"]


def promtool() -> str:
    return require_tool("promtool", ".ci/run installs Debian's prometheus package")


def alerts() -> list[dict]:
    return [rule for path in RULES for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"] if "alert" in rule]


@pytest.mark.parametrize("path", RULES, ids=lambda p: p.name)
def test_promtool_accepts_the_rule_file(path):
    result = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", TESTS, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(path):
    result = subprocess.run([promtool(), "test", "rules", str(path)], capture_output=True, text=True,
                            cwd=path.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_contract_alert_exists_with_severity_summary_description_and_runbook():
    by_name: dict[str, list[dict]] = {}
    for rule in alerts():
        by_name.setdefault(rule["alert"], []).append(rule)
    assert sorted(by_name) == sorted(CONTRACT)
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    for name, rules in by_name.items():
        assert f"\n## {name}\n" in runbook, name
        for rule in rules:
            assert rule["labels"]["severity"] in ("warning", "critical")
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]
            assert rule["annotations"]["runbook_url"].endswith(f"#{name.lower()}")


def test_every_contract_alert_is_proven_to_fire_by_a_unit_test():
    fired = {case["alertname"] for path in TESTS for test in yaml.safe_load(path.read_text())["tests"]
             for case in test.get("alert_rule_test", []) if case.get("exp_alerts")}
    assert sorted(set(CONTRACT) - fired) == []
