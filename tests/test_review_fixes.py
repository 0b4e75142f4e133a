"""Smaller fixes found by peers (kube-score) and review, each pinned: StatefulSets named through headless Services,
secrets never in plain text, provider-key typos, config that reaches no pod, the inhibition that never matched."""

from __future__ import annotations

import pytest
import yaml

from monitoring.configs import alertmanager_config
from offline.variant import copy_project
from stackconfig import ConfigError, load_stack_config
from tests.conftest import ROOT, STACKS, plan, plan_with, raw_config

RULES_FILE = ROOT / "monitoring" / "rules" / "archon-alerts.yaml"


@pytest.mark.parametrize("stack", STACKS)
def test_every_statefulset_is_named_through_a_headless_service(plans, stack):
    headless = {s["metadata"]["name"] for s in plans[stack].objects("Service") if s["spec"].get("clusterIP") == "None"}
    statefulsets = plans[stack].objects("StatefulSet")
    assert {s["metadata"]["name"] for s in statefulsets} >= {"archon-prometheus", "archon-alertmanager", "archon-loki"}
    assert {s["metadata"]["name"]: s["spec"]["serviceName"] in headless for s in statefulsets} == \
        {s["metadata"]["name"]: True for s in statefulsets}


def test_a_declared_secret_in_plain_text_is_refused_as_the_cli_refuses_it(tmp_path):
    result = plan_with(tmp_path, "staging", lambda c: c.update({"archon:openaiApiKey": "sk-plain"}))
    assert result.exit_code != 0 and not (result.out / "manifests.yaml").exists()
    assert "Stack 'staging' with configuration key 'archon:openaiApiKey' must be encrypted as it's secret" \
        in result.stderr


def test_an_undeclared_secret_in_plain_text_is_refused_before_anything_is_registered(tmp_path):
    def plain_webhook(config: dict) -> None:
        config["archon:monitoring"]["receivers"] = {"slackChannel": "#alerts"}
        config["archon:slackWebhookUrl"] = "https://hooks.slack.com/services/T0/B0/plain"
    result = plan_with(tmp_path, "staging", plain_webhook)
    assert result.exit_code != 0 and not (result.out / "manifests.yaml").exists()
    assert "archon:slackWebhookUrl: is a secret (Slack incoming-webhook URL for alerts) but is set in plain text" \
        in result.stderr
    assert "hooks.slack.com" not in result.stdout + result.stderr


def test_a_typo_in_a_provider_key_is_named_with_the_key_it_meant():
    with pytest.raises(ConfigError) as caught:
        load_stack_config("staging", raw_config("staging") | {"kubernetes:enableSecretMutabel": "true"})
    (issue,) = caught.value.issues
    assert str(issue).startswith("kubernetes:enableSecretMutabel = 'true': unknown key of the Kubernetes provider, "
                                 "which would ignore it; did you mean 'enableSecretMutable'?")


def test_sentry_dsn_reaches_no_pod_so_it_is_refused():
    with pytest.raises(ConfigError, match=r"archon:sentryDsn = 'https://x@sentry.io/1': unknown key"):
        load_stack_config("staging", raw_config("staging") | {"archon:sentryDsn": "https://x@sentry.io/1"})


def test_the_log_level_is_config(tmp_path):
    result = plan_with(tmp_path, "staging", lambda c: c.update({"archon:logLevel": "DEBUG"}))
    assert result.exit_code == 0, result.stderr
    for deployment in result.objects("Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            env = {e["name"]: e.get("value") for e in container.get("env", [])}
            if "ARCHON_SERVER_PORT" in env:
                assert env["LOG_LEVEL"] == "DEBUG", deployment["metadata"]["name"]


def test_the_inhibition_matches_on_a_label_both_alerts_carry():
    (inhibition,) = alertmanager_config(None, None, None, None)["inhibit_rules"]
    assert inhibition["equal"] == ["deployment"]
    groups = yaml.safe_load(RULES_FILE.read_text())["groups"]
    rules = {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}
    for target in ("ArchonHighErrorRate", "ArchonHighLatency"):  # the promtool test checks the value it gets
        assert '"deployment", "$1", "service"' in rules[target]["expr"]


def test_a_stack_without_policy_config_is_refused_instead_of_running_every_rule_advisory(tmp_path):
    project = copy_project(tmp_path / "project")
    (project / "Pulumi.qa.yaml").write_text((project / "Pulumi.staging.yaml").read_text())
    refused = plan("qa", tmp_path / "refused", project_dir=project)
    assert refused.exit_code != 0 and not (refused.out / "manifests.yaml").exists()
    assert "stack 'qa' has no policy config (policies/config/qa.json): without one every rule runs at the pack's " \
        "default level" in refused.stderr
    (project / "policies" / "config" / "qa.json").write_text((project / "policies" / "config" / "staging.json")
                                                              .read_text())
    assert plan("qa", tmp_path / "planned", project_dir=project).exit_code == 0


def test_a_typo_in_a_declared_key_is_named_beside_the_missing_key(tmp_path):
    def typo(config: dict) -> None:
        config["archon:domian"] = config.pop("archon:domain")
    result = plan_with(tmp_path, "staging", typo)
    assert result.exit_code != 0
    assert "Stack 'staging' is missing configuration value 'archon:domain' (archon:domian is set in " \
        "Pulumi.staging.yaml: a typo of it?)" in result.stderr
