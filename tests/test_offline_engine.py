"""The offline engine's contract (DESIGN.md): config hand-off, recorded resources, files, determinism."""

from __future__ import annotations

import json

import pytest
import yaml

from offline.fakes import AUTONAMED, autoname, computed_outputs
from offline.project import ProjectError, placeholder_value, read_stack
from tests.conftest import ROOT, plan

RESOURCE_KEYS = {"urn", "type", "name", "parent", "custom", "inputs", "dependencies", "options"}
OPTION_KEYS = {"protect", "retainOnDelete", "deleteBeforeReplace", "ignoreChanges", "additionalSecretOutputs",
               "replaceOnChanges", "customTimeouts"}


def test_config_reaches_the_program_as_the_cli_sends_it():
    inputs = read_stack(ROOT, "staging")
    assert inputs.project == "archon" and inputs.main == ROOT / "__main__.py"
    assert inputs.config["archon:namespace"] == "archon-staging"
    assert inputs.config["archon:protectStatefulResources"] == "false"
    assert json.loads(inputs.config["archon:services"])["server"]["replicas"] == 1
    assert inputs.config["archon:openaiApiKey"] == placeholder_value("archon:openaiApiKey")
    assert inputs.secret_keys == ["archon:openaiApiKey"]


def test_encrypted_values_become_listed_placeholders(project_copy):
    stack_file = project_copy / "Pulumi.staging.yaml"
    doc = yaml.safe_load(stack_file.read_text())
    doc["config"]["archon:openaiApiKey"] = {"secure": "v1:c2VjcmV0"}
    doc["config"]["archon:images"]["registryPassword"] = {"secure": "v1:cGFzcw=="}
    stack_file.write_text(yaml.safe_dump(doc))
    inputs = read_stack(project_copy, "staging")
    assert {(p.key, p.reason) for p in inputs.placeholders} == {
        ("archon:openaiApiKey", "encrypted (secure:) value, cannot be decrypted offline"),
        ("archon:images", "contains an encrypted (secure:) value")}
    assert json.loads(inputs.config["archon:images"])["registryPassword"] == placeholder_value("archon:images")
    assert sorted(inputs.secret_keys) == ["archon:images", "archon:openaiApiKey"]


def test_project_defaults_apply_when_the_stack_file_is_silent(project_copy):
    stack_file = project_copy / "Pulumi.staging.yaml"
    doc = yaml.safe_load(stack_file.read_text())
    del doc["config"]["archon:protectStatefulResources"]
    stack_file.write_text(yaml.safe_dump(doc))
    assert read_stack(project_copy, "staging").config["archon:protectStatefulResources"] == "false"


def test_resources_json_has_the_documented_shape(plans):
    resources = plans["staging"].resources
    assert all(set(r) == RESOURCE_KEYS and set(r["options"]) == OPTION_KEYS for r in resources)
    stack = resources[0]
    assert (stack["type"], stack["name"], stack["parent"], stack["custom"]) == \
        ("pulumi:pulumi:Stack", "archon-staging", None, False)
    assert all(r["parent"] for r in resources[1:])


def test_urns_are_built_like_the_engine_builds_them(plans):
    urns = {(r["type"], r["name"]): r["urn"] for r in plans["staging"].resources}
    base = "urn:pulumi:staging::archon::"
    assert urns[("archon:components:NamespaceBaseline", "archon")] == \
        base + "archon:components:NamespaceBaseline::archon"
    assert urns[("kubernetes:core/v1:Namespace", "archon")] == \
        base + "archon:components:NamespaceBaseline$kubernetes:core/v1:Namespace::archon"
    assert urns[("kubernetes:core/v1:ResourceQuota", "archon-quota")] == \
        base + "archon:components:NamespaceBaseline$kubernetes:core/v1:ResourceQuota::archon-quota"


def test_inputs_are_camel_case_with_whole_numbers_as_ints(plans):
    dns = plans["staging"].resource("kubernetes:networking.k8s.io/v1:NetworkPolicy", "archon-allow-dns")
    port = dns["inputs"]["spec"]["egress"][0]["ports"][0]
    assert port == {"port": 53, "protocol": "UDP"} and type(port["port"]) is int
    assert "podSelector" in dns["inputs"]["spec"] and dns["inputs"]["apiVersion"] == "networking.k8s.io/v1"


def test_outputs_are_resolved_and_secrets_never_shown(tmp_path):
    result = plan("test", tmp_path, project_dir=ROOT / "tests" / "programs" / "workloads")
    assert result.exit_code == 0, result.stderr
    assert result.outputs == {"apiToken": "[secret]", "configMapName": "unnamed-config-e45f71dd",
                              "deploymentReplicas": 2}
    assert "not-a-real-token" not in result.stdout
    assert "not-a-real-token" not in (tmp_path / "outputs.json").read_text()


def test_unnamed_objects_get_the_providers_autoname_and_annotation(tmp_path):
    result = plan("test", tmp_path, project_dir=ROOT / "tests" / "programs" / "workloads")
    (config_map,) = result.objects("ConfigMap")
    assert config_map["metadata"]["name"] == "unnamed-config-e45f71dd"
    assert config_map["metadata"]["annotations"] == {AUTONAMED: "true"}
    (deployment,) = result.objects("Deployment")
    assert AUTONAMED not in (deployment["metadata"].get("annotations") or {})
    assert (tmp_path / "manifests" / "configmap-archon-test-unnamed-config-e45f71dd.yaml").is_file()


def test_autonaming_is_deterministic_and_leaves_named_objects_alone():
    unnamed = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "x"}}
    assert autoname("kubernetes:core/v1:ConfigMap", "cfg", unnamed) == \
        autoname("kubernetes:core/v1:ConfigMap", "cfg", unnamed)
    assert "name" not in unnamed["metadata"]
    named = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fixed"}}
    assert autoname("kubernetes:core/v1:ConfigMap", "cfg", named) is named
    assert autoname("kubernetes:helm.sh/v3:Release", "traefik", {"chart": "traefik"}) == {"chart": "traefik"}


def test_computed_outputs_are_obviously_fake_and_stable():
    password = computed_outputs("random:index/randomPassword:RandomPassword", "db", {"length": 24})
    assert password["result"].startswith("offlinefake") and len(password["result"]) == 24
    assert password == computed_outputs("random:index/randomPassword:RandomPassword", "db", {"length": 24})
    image = computed_outputs("docker:index/image:Image", "server", {"imageName": "ghcr.io/acme/server:v1"})
    assert image["repoDigest"].startswith("ghcr.io/acme/server@sha256:")


def test_plans_are_byte_for_byte_reproducible(plans, tmp_path):
    again = plan("staging", tmp_path)
    assert again.exit_code == 0, again.stderr
    first = plans["staging"].out
    for name in ("resources.json", "outputs.json", "manifests.yaml"):
        assert (tmp_path / name).read_text() == (first / name).read_text(), name


def test_manifests_apply_in_dependency_order(plans):
    kinds = [m["kind"] for m in plans["production"].manifests]
    assert kinds[0] == "Namespace"
    assert kinds.index("NetworkPolicy") < kinds.index("ResourceQuota") < kinds.index("LimitRange")


def test_text_report_lists_tree_outputs_placeholders_and_policy_status(plans):
    out = plans["staging"].stdout
    assert " +   pulumi:pulumi:Stack" in out
    assert "└─ archon:components:NamespaceBaseline" in out
    assert "archon:openaiApiKey  declared secret, not set in Pulumi.staging.yaml" in out
    assert "Policies (archon-security 0.1.0, config policies/config/staging.json):" in out
    assert "0 mandatory violation(s), 0 advisory, 3 exempted" in out
    assert f"+ {len(plans['staging'].resources)} to create" in out


def test_invalid_config_registers_nothing_but_the_root_stack(project_copy):
    from offline.runner import ProgramError, run_program

    stack_file = project_copy / "Pulumi.staging.yaml"
    stack_file.write_text(stack_file.read_text().replace("replicas: 1", "replicas: -1", 1))
    with pytest.raises(ProgramError) as caught:
        run_program(read_stack(project_copy, "staging"))
    assert caught.value.registered == ["pulumi:pulumi:Stack"]
    assert "archon:services.frontend.replicas = -1: must be at least 0" in str(caught.value)


@pytest.mark.parametrize("project_yaml, stack_yaml, message", [
    ("name: archon\nruntime: python\nconfig:\n  services:\n    type: object\n", "config: {}\n",
     "Pulumi.yaml: config key 'archon:services' has type 'object'; the Pulumi CLI allows only string, integer, "
     "boolean, array (structured keys stay undeclared)"),
    ("name: archon\nruntime: python\n", "config: [1, 2]\n",
     "Pulumi.staging.yaml: 'config' must be a mapping of keys to values"),
    ("name: archon\nruntime: python\n", "config: {archon:x: [unclosed\n", "Pulumi.staging.yaml is not valid YAML"),
    ("runtime: python\n", "config: {}\n", "Pulumi.yaml: 'name' is required"),
])
def test_broken_project_files_are_named_in_the_error(tmp_path, project_yaml, stack_yaml, message):
    (tmp_path / "Pulumi.yaml").write_text(project_yaml)
    (tmp_path / "Pulumi.staging.yaml").write_text(stack_yaml)
    with pytest.raises(ProjectError) as caught:
        read_stack(tmp_path, "staging")
    assert str(caught.value).startswith(message)


def test_nested_urns_chain_every_parent_type_but_the_root_stack():
    from offline.recorder import engine_urn

    stack = engine_urn("s", "p", "", "pulumi:pulumi:Stack", "p-s")
    component = engine_urn("s", "p", stack, "archon:components:Service", "server")
    inner = engine_urn("s", "p", component, "archon:components:Database", "db")
    leaf = engine_urn("s", "p", inner, "kubernetes:apps/v1:StatefulSet", "db")
    assert component == "urn:pulumi:s::p::archon:components:Service::server"
    assert inner == "urn:pulumi:s::p::archon:components:Service$archon:components:Database::db"
    assert leaf == ("urn:pulumi:s::p::archon:components:Service$archon:components:Database"
                    "$kubernetes:apps/v1:StatefulSet::db")
