"""The pack end to end over the analyzer gRPC protocol, started and called exactly as the CLI does."""

from __future__ import annotations

import pytest

from offline.analyzer import PolicyPack, PolicyPackError, StackContext
from offline.policy_config import reconcile, to_configure_request
from offline.policy_report import findings
from offline.recorder import Registration
from tests.conftest import ROOT
from tests.test_policy_rules import GOOD_SC, container, deployment, pod

CONTRACT = ["pods-run-as-non-root", "containers-have-resource-limits", "containers-read-only-root-filesystem",
            "no-privilege-escalation", "drop-all-capabilities", "seccomp-runtime-default", "no-privileged-containers",
            "no-host-namespaces", "no-host-path-volumes", "no-host-ports", "restricted-volume-types", "safe-sysctls",
            "default-proc-mount", "no-host-probes-or-lifecycle", "restricted-selinux-options",
            "restricted-apparmor-profile", "no-windows-host-process", "image-pinned",
            "no-service-account-token-automount", "no-literal-secrets-in-env", "no-default-namespace",
            "no-public-service-types", "ingress-requires-tls", "workloads-have-probes",
            "workloads-have-network-policy", "replicated-workloads-have-pdb", "stateful-data-protected"]
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SECRET_SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}
ROFS = "containers-read-only-root-filesystem"


@pytest.fixture(scope="module")
def pack():
    with PolicyPack(ROOT / "policies", StackContext(project="archon", stack="test", config={}, secret_keys=[])) as p:
        yield p


def analyze(pack, objects: list[dict], config: dict | None = None):
    info = pack.info()
    levels = reconcile(info, config or {}, "test")
    pack.configure(to_configure_request(levels))
    resources = [Registration(urn=f"urn:pulumi:test::archon::kubernetes:apps/v1:{o['kind']}::r{i}",
                              type=f"kubernetes:apps/v1:{o['kind']}", name=f"r{i}", parent=None, custom=True,
                              inputs=o, dependencies=[], options={"protect": False}) for i, o in enumerate(objects)]
    return findings(pack.analyze(resources), info, {k: v["enforcementLevel"] for k, v in levels.items()}, resources)


def without_rofs() -> dict:
    return deployment(pod(container(securityContext={k: v for k, v in GOOD_SC.items()
                                                     if k != "readOnlyRootFilesystem"}))["spec"])


def test_the_pack_declares_every_contract_policy_with_metadata(pack):
    info = pack.info()
    policies = {p.name: p for p in info.policies}
    assert info.name == "archon-security"
    assert sorted(set(CONTRACT) - set(policies)) == []
    for name in CONTRACT:
        p = policies[name]
        assert p.description and p.remediation_steps and p.severity != 0, name
        assert "exemptions" in p.configSchema.properties, name


def test_a_missing_read_only_root_filesystem_is_a_mandatory_violation(pack):
    found = [f for f in analyze(pack, [without_rofs()]) if f.policy == ROFS]
    assert [(f.enforcement, f.exempted, f.name) for f in found] == [("mandatory", False, "r0")]
    assert found[0].message.startswith("container 'app' (spec.template.spec.containers[0]): "
                                       "securityContext.readOnlyRootFilesystem is not set; set it to true")


def test_unknown_values_are_advisory_and_do_not_hide_definite_violations(pack):
    obj = without_rofs()
    obj["spec"]["template"]["spec"]["containers"][0]["image"] = UNKNOWN_STRING
    found = analyze(pack, [obj])
    image = [f for f in found if f.policy == "image-pinned"]
    assert [(f.enforcement, f.message) for f in image] == [(
        "advisory", "container 'app' (spec.template.spec.containers[0]): image is unknown during preview; it is "
                    "checked again at `pulumi up`")]
    assert [f.enforcement for f in found if f.policy == ROFS] == ["mandatory"]


def test_secret_wrapped_values_are_unwrapped_and_checked(pack):
    env = [{"name": "DB_PASSWORD", "value": {**SECRET_SIG, "value": "hunter2"}}]
    found = [f for f in analyze(pack, [deployment(pod(container(env=env))["spec"])])
             if f.policy == "no-literal-secrets-in-env"]
    assert len(found) == 1 and "env[0] DB_PASSWORD has a literal value" in found[0].message


def test_a_justified_annotation_exemption_is_reported_as_exempted(pack):
    obj = without_rofs()
    obj["metadata"]["annotations"] = {"policy.archon.io/exempt": ROFS,
                                      "policy.archon.io/justification": "vendor image writes to /var/lib at start"}
    found = [f for f in analyze(pack, [obj]) if f.policy == ROFS]
    assert [(f.exempted, f.enforcement, f.justification) for f in found] == [
        (True, "mandatory", "vendor image writes to /var/lib at start")]
    assert [f.policy for f in analyze(pack, [obj]) if f.policy == "exemptions-justified"] == []


def test_an_exemption_without_a_reason_is_a_violation_and_is_not_honoured(pack):
    obj = without_rofs()
    obj["metadata"]["annotations"] = {"policy.archon.io/exempt": ROFS}
    found = {(f.policy, f.enforcement, f.exempted) for f in analyze(pack, [obj])}
    assert {("exemptions-justified", "mandatory", False), (ROFS, "mandatory", False)} <= found


def test_config_exemptions_match_names_with_a_reason(pack):
    config = {ROFS: {"exemptions": [{"resource": "archon/app", "justification": "legacy image, ticket OPS-12"}]}}
    found = [f for f in analyze(pack, [without_rofs()], config) if f.policy == ROFS]
    assert [(f.exempted, f.justification) for f in found] == [(True, "legacy image, ticket OPS-12")]


def test_stack_rules_run_in_analyze_stack_and_point_at_the_workload(pack):
    found = [f for f in analyze(pack, [deployment(pod()["spec"])]) if f.policy == "workloads-have-network-policy"]
    assert {f.urn for f in found} == {"urn:pulumi:test::archon::kubernetes:apps/v1:Deployment::r0"}
    assert all(f.enforcement == "advisory" for f in found)


def test_a_pack_that_prints_to_stdout_cannot_start(tmp_path):
    (tmp_path / "PulumiPolicy.yaml").write_text("runtime: python\nversion: 0.0.1\n")
    (tmp_path / "__main__.py").write_text("print('hello from the pack')\n")
    with pytest.raises(PolicyPackError, match="printed 'hello from the pack' instead of its port"):
        PolicyPack(tmp_path, StackContext(project="p", stack="s", config={}, secret_keys=[]))
