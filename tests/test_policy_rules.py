"""Rule functions on plain manifests: the edge cases of notes/policy-semantics.md §7, where peers go wrong."""

from __future__ import annotations

import copy

import pytest

from policies.archon_policies.catalog import BY_NAME, RULES
from tests.policy_helpers import messages

GOOD_SC = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}
PROBES = {"readinessProbe": {"httpGet": {"path": "/health", "port": "http"}},
          "livenessProbe": {"tcpSocket": {"port": "http"}}}


def container(name: str = "app", **overrides) -> dict:
    return {"name": name, "image": "ghcr.io/acme/app:1.2.3", "securityContext": copy.deepcopy(GOOD_SC),
            "resources": copy.deepcopy(RESOURCES), **copy.deepcopy(PROBES), **overrides}


def pod(*containers: dict, init: tuple = (), ephemeral: tuple = (), pod_sc: dict | None = None, **spec) -> dict:
    sc = {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "archon"},
            "spec": {"securityContext": pod_sc if pod_sc is not None else sc,
                     "containers": list(containers) or [container()],
                     **({"initContainers": list(init)} if init else {}),
                     **({"ephemeralContainers": list(ephemeral)} if ephemeral else {}), **spec}}


def deployment(template_spec: dict, replicas: int = 1, labels: dict | None = None, **meta) -> dict:
    labels = labels or {"app.kubernetes.io/name": "app"}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "app", "namespace": "archon", **meta},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": template_spec}}}


def test_a_hardened_pod_passes_every_resource_rule():
    for rule in RULES:
        if rule.scope == "resource":
            assert messages(rule.name, pod()) == [], rule.name


# --- pods-run-as-non-root (E-1 .. E-6) -------------------------------------------------------------------------
def test_pod_level_run_as_non_root_is_inherited():  # E-1
    assert messages("pods-run-as-non-root", pod(pod_sc={"runAsNonRoot": True})) == []


def test_container_false_overrides_pod_true():  # E-2
    c = container(securityContext={**GOOD_SC, "runAsNonRoot": False, "runAsUser": 1000})
    assert messages("pods-run-as-non-root", pod(c)) == [
        "container 'app' (spec.containers[0]): securityContext.runAsNonRoot is false; set it to true"]


def test_pod_false_fails_even_when_every_container_says_true():  # E-3
    c = container(securityContext={**GOOD_SC, "runAsNonRoot": True})
    assert messages("pods-run-as-non-root", pod(c, pod_sc={"runAsNonRoot": False})) == [
        "spec.securityContext.runAsNonRoot is false; set it to true"]


def test_run_as_user_without_run_as_non_root_fails():  # E-4
    assert messages("pods-run-as-non-root", pod(pod_sc={"runAsUser": 1000})) == [
        "container 'app' (spec.containers[0]): runAsNonRoot is set neither on the container nor on the pod; "
        "set securityContext.runAsNonRoot: true on the pod (spec)"]


def test_uid_zero_anywhere_fails_even_when_overridden():  # E-5, E-6
    c = container(securityContext={**GOOD_SC, "runAsUser": 1000})
    assert messages("pods-run-as-non-root", pod(c, pod_sc={"runAsNonRoot": True, "runAsUser": 0})) == [
        "spec.securityContext.runAsUser is 0 (root); set a non-zero UID such as 1000"]


def test_init_and_ephemeral_containers_are_checked_for_non_root():  # E-13, E-15
    bad = {**GOOD_SC, "runAsNonRoot": False}
    found = messages("pods-run-as-non-root", pod(init=(container("init", securityContext=bad),),
                                                 ephemeral=({"name": "debug", "securityContext": bad},)))
    assert [m.split(":")[0] for m in found] == ["container 'init' (spec.initContainers[0])",
                                               "container 'debug' (spec.ephemeralContainers[0])"]


def test_user_namespaces_relax_non_root_only_when_configured():  # E-29
    user_ns = pod(pod_sc={}, hostUsers=False)
    assert messages("pods-run-as-non-root", user_ns) != []
    assert messages("pods-run-as-non-root", user_ns, {"allowUserNamespaces": True}) == []


# --- containers-have-resource-limits (E-8 .. E-10, ephemeral) --------------------------------------------------
def test_requests_default_to_limits():  # E-9
    c = container(resources={"limits": {"cpu": "500m", "memory": "256Mi"}})
    assert messages("containers-have-resource-limits", pod(c)) == []


def test_requests_without_limits_fail_per_resource():  # E-8, E-10
    c = container(resources={"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}})
    assert messages("containers-have-resource-limits", pod(c)) == [
        "container 'app' (spec.containers[0]): resources.limits.cpu is not set; set it (e.g. 250m)"]


def test_zero_counts_as_unset_and_requests_above_limits_fail():
    c = container(resources={"requests": {"cpu": "0", "memory": "512Mi"}, "limits": {"cpu": "0", "memory": "256Mi"}})
    assert messages("containers-have-resource-limits", pod(c)) == [
        "container 'app' (spec.containers[0]): resources.limits.cpu is not set; set it (e.g. 250m)",
        "container 'app' (spec.containers[0]): resources.requests.cpu is not set; set it (e.g. 250m)",
        "container 'app' (spec.containers[0]): resources.requests.memory is above resources.limits.memory; "
        "lower the request or raise the limit"]


def test_init_containers_need_resources_but_ephemeral_ones_cannot_have_them():  # E-13, E-15
    found = messages("containers-have-resource-limits",
                     pod(init=(container("init", resources={}),), ephemeral=({"name": "debug"},)))
    assert len(found) == 4 and all(m.startswith("container 'init'") for m in found)


def test_a_quantity_that_is_not_one_is_reported():
    c = container(resources={**RESOURCES, "limits": {"cpu": "lots", "memory": "256Mi"}})
    assert "resources.limits.cpu 'lots' is not a Kubernetes quantity" in messages(
        "containers-have-resource-limits", pod(c))[0]


# --- containers-read-only-root-filesystem (E-17, E-28) ---------------------------------------------------------
def test_pod_level_read_only_root_filesystem_does_not_count():  # E-17
    c = container(securityContext={k: v for k, v in GOOD_SC.items() if k != "readOnlyRootFilesystem"})
    spec_sc = {"runAsNonRoot": True, "readOnlyRootFilesystem": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert messages("containers-read-only-root-filesystem", pod(c, pod_sc=spec_sc)) == [
        "container 'app' (spec.containers[0]): securityContext.readOnlyRootFilesystem is not set; set it to true "
        "and mount an emptyDir where the container writes (e.g. /tmp)"]


def test_windows_pods_are_exempt_from_linux_only_controls():  # E-28
    bare = {"name": "app", "image": "mcr.microsoft.com/windows/nanoserver:ltsc2022"}
    windows = pod(bare, pod_sc={"runAsNonRoot": True}, os={"name": "windows"})
    for rule in ("containers-read-only-root-filesystem", "no-privilege-escalation", "drop-all-capabilities",
                 "seccomp-runtime-default"):
        assert messages(rule, windows) == [], rule
    linux = pod(bare, pod_sc={"runAsNonRoot": True})
    assert all(messages(rule, linux) for rule in ("containers-read-only-root-filesystem", "no-privilege-escalation",
                                                  "drop-all-capabilities", "seccomp-runtime-default"))


# --- capabilities and seccomp (E-18 .. E-21) -------------------------------------------------------------------
def test_lower_case_all_does_not_drop_everything():  # E-18
    c = container(securityContext={**GOOD_SC, "capabilities": {"drop": ["all"]}})
    assert messages("drop-all-capabilities", pod(c)) == [
        "container 'app' (spec.containers[0]): securityContext.capabilities.drop does not contain \"ALL\" "
        "(exact, upper case); set capabilities.drop: [ALL]"]


def test_adding_cap_sys_admin_is_caught_with_its_prefix():  # E-19
    c = container(securityContext={**GOOD_SC, "capabilities": {"drop": ["ALL"], "add": ["CAP_SYS_ADMIN",
                                                                                         "NET_BIND_SERVICE"]}})
    assert messages("drop-all-capabilities", pod(c)) == [
        "container 'app' (spec.containers[0]): securityContext.capabilities.add has 'CAP_SYS_ADMIN'; remove it "
        "(only NET_BIND_SERVICE may be added)"]


def test_container_unconfined_fails_despite_pod_runtime_default():  # E-20
    c = container(securityContext={**GOOD_SC, "seccompProfile": {"type": "Unconfined"}})
    assert messages("seccomp-runtime-default", pod(c)) == [
        "container 'app' (spec.containers[0]): securityContext.seccompProfile.type is 'Unconfined'; set it to "
        "RuntimeDefault"]


def test_localhost_seccomp_profiles_pass():  # E-21
    sc = {"runAsNonRoot": True, "seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}}
    assert messages("seccomp-runtime-default", pod(pod_sc=sc)) == []


def test_missing_seccomp_names_the_container_and_the_fix():
    assert messages("seccomp-runtime-default", pod(pod_sc={"runAsNonRoot": True})) == [
        "container 'app' (spec.containers[0]): no seccompProfile on the container or the pod; set "
        "securityContext.seccompProfile.type: RuntimeDefault on the pod (spec)"]


# --- ports, images, secrets, namespaces ------------------------------------------------------------------------
def test_host_port_zero_is_no_host_port():  # E-22
    assert messages("no-host-ports", pod(container(ports=[{"containerPort": 80, "hostPort": 0}]))) == []
    assert messages("no-host-ports", pod(container(ports=[{"containerPort": 80, "hostPort": 8080}]))) == [
        "container 'app' (spec.containers[0]): ports[0].hostPort is 8080; remove it and expose the port through a "
        "Service"]


@pytest.mark.parametrize("image, config, problem", [
    ("registry:5000/app", {}, "has no tag"),  # E-23
    ("ghcr.io/acme/app", {}, "has no tag"),
    ("ghcr.io/acme/app:latest", {}, "has the tag latest"),
    ("ghcr.io/acme/app:1.2.3", {}, None),
    ("registry:5000/app:1.2.3", {}, None),
    ("ghcr.io/acme/app@sha256:" + "a" * 64, {}, None),
    ("ghcr.io/acme/app:1.2.3", {"requireDigest": True}, "has no digest"),
])
def test_image_references_are_parsed_properly(image, config, problem):
    found = messages("image-pinned", pod(container(image=image)), config)
    assert (problem is None and found == []) or (problem is not None and len(found) == 1 and problem in found[0])


def test_literal_secrets_in_env_are_caught_by_name_and_by_shape():
    env = [{"name": "DB_PASSWORD", "value": "hunter2"}, {"name": "GREETING", "value": "sk-" + "x" * 24},
           {"name": "LOG_LEVEL", "value": "info"},
           {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "token"}}}]
    assert [m.split(": ", 1)[1] for m in messages("no-literal-secrets-in-env", pod(container(env=env)))] == [
        "env[0] DB_PASSWORD has a literal value that looks like a secret; move it to a Secret and use "
        "valueFrom.secretKeyRef",
        "env[1] GREETING has a literal value that looks like a secret; move it to a Secret and use "
        "valueFrom.secretKeyRef"]


def test_namespace_missing_default_or_from_the_provider():  # E-24
    unnamespaced = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    assert messages("no-default-namespace", unnamespaced) == [
        "ConfigMap c: metadata.namespace is not set, so the provider's default namespace (usually 'default') is used; "
        "set metadata.namespace"]
    assert messages("no-default-namespace", unnamespaced, provider_namespace="archon") == []
    explicit = {**unnamespaced, "metadata": {"name": "c", "namespace": "default"}}
    assert messages("no-default-namespace", explicit) == [
        "ConfigMap default/c: metadata.namespace is 'default'; use the stack's namespace"]
    assert messages("no-default-namespace", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}) == []


# --- services, ingress, probes, data ---------------------------------------------------------------------------
def service(spec: dict, annotations: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "s", "namespace": "archon", "annotations": annotations or {}}, "spec": spec}


def test_service_exposure():
    assert messages("no-public-service-types", service({"type": "ClusterIP"})) == []
    assert "spec.type is NodePort" in messages("no-public-service-types", service({"type": "NodePort"}))[0]
    assert "spec.type is LoadBalancer" in messages("no-public-service-types", service({"type": "LoadBalancer"}))[0]
    internal = service({"type": "LoadBalancer"}, {"networking.gke.io/load-balancer-type": "Internal"})
    assert messages("no-public-service-types", internal) == []
    ranged = service({"type": "LoadBalancer", "loadBalancerSourceRanges": ["10.0.0.0/8"]})
    assert messages("no-public-service-types", ranged) == []
    assert "externalIPs" in messages("no-public-service-types", service({"externalIPs": ["1.2.3.4"]}))[0]


def ingress(tls: list, hosts: list) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "i", "namespace": "archon"},
            "spec": {"tls": tls, "rules": [{"host": h} if h else {} for h in hosts]}}


def test_ingress_tls_covers_every_host_wildcards_included():
    assert messages("ingress-requires-tls", ingress([{"hosts": ["*.example.org"]}], ["a.example.org"])) == []
    assert messages("ingress-requires-tls", ingress([{"hosts": ["*.example.org"]}], ["a.b.example.org"])) == [
        "Ingress archon/i: host 'a.b.example.org' is not in any spec.tls[].hosts; add it"]
    assert "spec.tls is empty" in messages("ingress-requires-tls", ingress([], ["a.example.org"]))[0]
    assert "has no host" in messages("ingress-requires-tls", ingress([{"hosts": ["a"]}], [None]))[0]


def test_probes_are_required_on_long_running_workloads_only():
    no_probes = container(readinessProbe=None, livenessProbe=None)
    assert len(messages("workloads-have-probes", pod(no_probes))) == 2
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": "archon"},
           "spec": {"template": {"spec": pod(no_probes)["spec"]}}}
    assert messages("workloads-have-probes", job) == []
    same = container(livenessProbe=PROBES["readinessProbe"])
    assert "livenessProbe checks the same thing as readinessProbe" in messages("workloads-have-probes", pod(same))[0]


def test_stateful_data_must_be_protected_and_keep_its_claims():
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "archon"},
           "spec": {"persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"},
                    "template": {"spec": pod()["spec"]}}}
    assert messages("stateful-data-protected", sts, protect=True) == [
        "StatefulSet archon/db: spec.persistentVolumeClaimRetentionPolicy.whenDeleted is Delete; set it to Retain"]
    assert messages("stateful-data-protected", sts)[0].startswith("StatefulSet archon/db: not protected")
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "d", "namespace": "archon"}}
    assert messages("stateful-data-protected", pvc, protect=True) == []


# --- discovery: every pod-bearing kind, CRDs, undiscoverable containers (E-12, E-16) -----------------------------
POD_PATHS = {"Pod": ["spec"], "PodTemplate": ["template", "spec"], "CronJob": ["spec", "jobTemplate", "spec",
             "template", "spec"], **{k: ["spec", "template", "spec"] for k in (
                 "ReplicationController", "ReplicaSet", "Deployment", "StatefulSet", "DaemonSet", "Job")}}


@pytest.mark.parametrize("kind", sorted(POD_PATHS))
def test_every_pod_bearing_kind_is_checked(kind):
    obj: dict = {"apiVersion": "v1", "kind": kind, "metadata": {"name": "x", "namespace": "archon"}}
    node = obj
    for key in POD_PATHS[kind][:-1]:
        node = node.setdefault(key, {})
    bad = container(securityContext={**GOOD_SC, "readOnlyRootFilesystem": False})
    node[POD_PATHS[kind][-1]] = pod(bad)["spec"]
    assert len(messages("containers-read-only-root-filesystem", obj)) == 1


def test_custom_resources_with_pod_templates_are_discovered():  # E-16
    rollout = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "r", "namespace": "a"},
               "spec": {"template": {"metadata": {"labels": {"a": "b"}},
                                     "spec": pod(container(securityContext={}))["spec"]}}}
    found = messages("no-privilege-escalation", rollout)
    assert found == ["container 'app' (spec.template.spec.containers[0]): securityContext.allowPrivilegeEscalation "
                     "is not set (the default allows it); set it to false"]
    assert messages("pod-templates-discoverable", rollout) == []


def test_containers_no_known_path_leads_to_are_reported_not_passed():  # E-16
    workflow = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "w", "namespace": "a"},
                "spec": {"templates": [{"name": "main", "container": {"image": "alpine", "command": ["sh"]}}]}}
    assert messages("pod-templates-discoverable", workflow) == [
        "Workflow a/w: spec.templates.0.container holds containers that no pod-spec path of kind Workflow leads to, "
        "so no rule checked them; exempt this resource with a justification after reviewing them"]


# --- exemptions-justified ---------------------------------------------------------------------------------------
def test_exemption_annotations_need_a_reason_and_real_rule_names():
    obj = deployment(pod()["spec"], annotations={"policy.archon.io/exempt": "no-host-ports, no-such-rule"})
    assert messages("exemptions-justified", obj) == [
        "Deployment archon/app: annotation policy.archon.io/exempt exempts no-host-ports, no-such-rule without a "
        "reason; add policy.archon.io/justification saying why (the exemption is not honoured until then)",
        "Deployment archon/app: annotation policy.archon.io/exempt names 'no-such-rule', which is not a rule of this "
        "pack; fix the name"]


def test_every_rule_has_the_metadata_reviewers_need():
    for rule in RULES:
        assert rule.description and rule.remediation and rule.severity in ("low", "medium", "high", "critical")
        assert rule.check.__doc__ or rule.name == "exemptions-justified", rule.name
    assert BY_NAME["pods-run-as-non-root"].default_level == "mandatory"


def test_a_file_path_to_a_secret_is_not_a_secret():
    env = [{"name": "POSTGRES_PASSWORD_FILE", "value": "/run/secrets/archon/password"}]
    assert messages("no-literal-secrets-in-env", pod(container(env=env))) == []


def test_a_rules_description_is_the_first_paragraph_of_its_checks_docstring():
    import inspect

    for rule in RULES:
        first = " ".join(inspect.getdoc(rule.check).split("\n\n", 1)[0].split())
        assert rule.description == first, rule.name
    assert {rule.check.__module__.rsplit(".", 1)[-1] for rule in RULES} == {"pss", "platform", "rbac", "stack_rules"}


def test_a_rule_declared_wrongly_is_refused_by_name():
    import pytest

    from policies.archon_policies.rule import policy

    def undocumented(subject, config):
        return []

    def documented(subject, config):
        """Checks something."""
        return []

    with pytest.raises(ValueError, match="rule x: undocumented needs a docstring, the rule's description"):
        policy("x", "low", remediation="r")(undocumented)
    with pytest.raises(ValueError, match="rule x: severity 'urgent' is not one of low, medium, high, critical"):
        policy("x", "urgent", remediation="r")
    with pytest.raises(ValueError, match="rule pods-run-as-non-root is declared twice"):
        policy("pods-run-as-non-root", "low", remediation="r")(documented)
    assert len(RULES) == len(BY_NAME) == 36


def test_an_exempted_finding_reads_back_exactly_whatever_its_reason_and_message_hold():
    from policies.archon_policies.exemptions import ExemptedFinding

    tricky = ExemptedFinding("urn:a", "no-host-ports", 'Pod x: port "8080" | hostPort): set', 'reads " | ") and\nmore')
    text = tricky.report_text()
    assert text.startswith('exempted from no-host-ports (reason: "reads \\" | \\") and\\nmore"): Pod x')
    assert ExemptedFinding.from_report("urn:a", text) == tricky
    for other in ("can't run policy 'x' during preview: y", "exempted from x: y | z", 'exempted from x (reason: "y'):
        assert ExemptedFinding.from_report("urn:a", other) is None
