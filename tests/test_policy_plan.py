"""The policy step of the plan: verdicts on our stacks, exit codes, reports, SARIF, per-stack config."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import ROOT, STACKS, copy_project
from tests.test_plan_cli import run_cli

SARIF_SCHEMA_ENV = "SARIF_SCHEMA"
SARIF_SCHEMA_DEFAULT = ROOT.parent / "shared" / "schemas" / "sarif-schema-2.1.0.json"
ROFS = "containers-read-only-root-filesystem"
# Appended to a copy of the program: one workload from the builder, then its readOnlyRootFilesystem removed.
WORKLOAD_WITHOUT_ROFS = '''
import pulumi_kubernetes as k8s
from components import workload as w
from components.labels import recommended_labels, selector_labels

_labels = recommended_labels("probe-app", "test", "t", "v1")
_template = w.pod_template(labels=_labels, run_as=w.RunAs(1000, 1000), containers=[w.Container(
    name="app", image="ghcr.io/acme/app:1.2.3", resources=cfg.services.server.resources, ports={"http": 8080},
    probes=w.Probes(readiness=w.Probe(http_path="/health"), liveness=w.Probe(tcp=True)),
    writable_paths=[w.WritablePath("/tmp")])])
pulumi.set(_template.spec.containers[0].security_context, "read_only_root_filesystem", None)
k8s.apps.v1.Deployment("probe-app", metadata=k8s.meta.v1.ObjectMetaArgs(name="probe-app", namespace=cfg.namespace),
    spec=k8s.apps.v1.DeploymentSpecArgs(selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector_labels(_labels)),
                                        template=_template),
    opts=pulumi.ResourceOptions(depends_on=[baseline]))
'''


def sarif_schema() -> dict | None:
    path = Path(os.environ.get(SARIF_SCHEMA_ENV, SARIF_SCHEMA_DEFAULT))
    if path.is_file():
        return json.loads(path.read_text())
    if os.environ.get("CI") == "true":
        pytest.fail(f"SARIF schema not found at {path} (set {SARIF_SCHEMA_ENV})")
    return None


def assert_valid_sarif(path: Path) -> dict:
    schema = sarif_schema()
    doc = json.loads(path.read_text())
    if schema is None:
        pytest.skip("SARIF schema not present")
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert errors == []
    return doc


@pytest.mark.parametrize("stack", STACKS)
def test_our_stacks_have_no_violations(plans, stack):
    report = json.loads((plans[stack].out / "policy-report.json").read_text())
    assert report["policyPack"] == {"name": "archon-security", "version": "0.1.0"}
    assert report["summary"] == {"mandatory": 0, "advisory": 0, "exempted": 3}
    exempted = [(f["policy"], f["name"]) for f in report["findings"] if f["exempted"]]
    assert sorted(exempted) == [("no-service-account-token-automount", "alloy"),
                                ("no-service-account-token-automount", "kube-state-metrics"),
                                ("no-service-account-token-automount", "prometheus")]
    assert all(f["justification"] for f in report["findings"])  # only justified exemptions
    assert plans[stack].exit_code == 0


@pytest.mark.parametrize("stack", STACKS)
def test_our_stacks_sarif_is_valid(plans, stack):
    doc = assert_valid_sarif(plans[stack].out / "policy-report.sarif")
    rules = doc["runs"][0]["tool"]["driver"]["rules"]
    assert len(rules) == 37 and all(r["help"]["text"] for r in rules)


@pytest.fixture(scope="module")
def without_rofs(tmp_path_factory):
    """`make plan STACK=production` on a copy whose one workload lost its readOnlyRootFilesystem."""
    copy = copy_project(tmp_path_factory.mktemp("rofs"))
    with (copy / "__main__.py").open("a") as main:
        main.write(WORKLOAD_WITHOUT_ROFS)
    result = run_cli("plan", "--stack", "production", "--project-dir", str(copy))
    return copy / "build" / "production", result


def test_a_container_without_read_only_root_filesystem_fails_the_plan(without_rofs):
    out, result = without_rofs
    assert result.returncode == 1, result.stderr
    report = json.loads((out / "policy-report.json").read_text())
    mandatory = [(f["policy"], f["name"], f["type"]) for f in report["findings"]
                 if f["enforcement"] == "mandatory" and not f["exempted"]]
    assert mandatory == [(ROFS, "probe-app", "kubernetes:apps/v1:Deployment")]
    assert report["summary"]["mandatory"] == 1
    assert f"    {ROFS}" in result.stdout and "Deployment probe-app" in result.stdout
    assert "1 mandatory violation(s)" in result.stdout


def test_the_failing_plan_sarif_marks_the_violation_as_an_error_at_the_manifest(without_rofs):
    out, _ = without_rofs
    doc = assert_valid_sarif(out / "policy-report.sarif")
    (result,) = [r for r in doc["runs"][0]["results"] if "suppressions" not in r]
    assert (result["ruleId"], result["level"]) == (ROFS, "error")
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        "build/production/manifests/deployment-archon-probe-app.yaml"
    assert result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].endswith("::probe-app")


def test_policy_config_override_can_exempt_with_a_reason(without_rofs, tmp_path):
    out, _ = without_rofs
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"all": "mandatory", "exempted-findings": "advisory",
                                  ROFS: {"exemptions": [{"resource": "probe-app", "justification": "test only"}]}}))
    result = run_cli("plan", "--stack", "production", "--project-dir", str(out.parents[1]),
                     "--policy-config", str(config), "--out", str(tmp_path / "plan"))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "plan" / "policy-report.json").read_text())
    assert report["summary"] == {"mandatory": 0, "advisory": 0, "exempted": 4}
    (finding,) = [f for f in report["findings"] if f["policy"] == ROFS]
    assert (finding["policy"], finding["exempted"], finding["justification"]) == (ROFS, True, "test only")
    sarif = assert_valid_sarif(tmp_path / "plan" / "policy-report.sarif")
    (rofs,) = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == ROFS]
    assert rofs["suppressions"][0]["justification"] == "test only"
    assert "exempted (mandatory)" in result.stdout and "justification: test only" in result.stdout


@pytest.mark.parametrize("config, message", [
    ({"no-such-rule": "mandatory"}, "no-such-rule is not a policy of pack archon-security"),
    ({"all": "strict"}, "all: 'strict' is not an enforcement level"),
    ({ROFS: {"exemptions": [{"resource": "x"}]}}, f"{ROFS}.exemptions.0: 'justification' is a required property"),
    ({ROFS: {"exemptions": [{"resource": "x", "justification": " "}]}}, f"{ROFS}.exemptions.0.justification"),
    ({"image-pinned": {"requireDigest": "yes"}}, "image-pinned.requireDigest: 'yes' is not of type 'boolean'"),
])
def test_bad_policy_config_exits_2_naming_the_problem(tmp_path, config, message):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    result = run_cli("plan", "--stack", "staging", "--policy-config", str(path), "--out", str(tmp_path / "p"))
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "p" / "resources.json").exists()


def test_stack_configs_set_the_levels_the_design_asks_for():
    staging = json.loads((ROOT / "policies" / "config" / "staging.json").read_text())
    production = json.loads((ROOT / "policies" / "config" / "production.json").read_text())
    for rule in ("pods-run-as-non-root", "containers-have-resource-limits", ROFS):
        assert staging[rule] == "mandatory"
    assert production["all"] == "mandatory"
    assert staging["exempted-findings"] == production["exempted-findings"] == "advisory"


def test_the_pack_prints_nothing_on_stdout_while_loading():
    import subprocess
    import sys

    code = "import archon_policies.pack as p; p.build_policies()"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "policies", capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
