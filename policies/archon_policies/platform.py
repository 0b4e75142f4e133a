"""Platform rules beyond the Pod Security Standards: resources, images, secrets, namespaces, exposure."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from . import quantities
from .pods import (
    CONTAINER_SETS,
    POD_SPEC_PATHS,
    each_container,
    each_container_field,
    each_pod,
    find_pods,
    undiscovered_containers,
)
from .rule import known_names, policy
from .subject import Subject, Violation, unknown
from .values import get, is_unknown

# Env var names that hold secrets; the workload builder refuses literal values for them too.
SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_KEY|CREDENTIAL|_DSN$|^DSN$)")
def is_secret_env(name: str, value: str) -> bool:
    """A literal env var that holds a secret: a secret-looking name (not a `*_FILE` path to one) or value."""
    upper = name.upper()
    return bool((SECRET_NAME.search(upper) and not upper.endswith("_FILE")) or SECRET_VALUE.search(str(value)))


SECRET_VALUE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----|^sk-[A-Za-z0-9_-]{16,}|^gh[pousr]_[A-Za-z0-9]{20,}"
                          r"|^AKIA[0-9A-Z]{16}$|^xox[abprs]-")
EXEMPT_ANNOTATION = "policy.archon.io/exempt"
JUSTIFICATION_ANNOTATION = "policy.archon.io/justification"
# Kinds that are cluster-scoped, so they have no namespace to check.
CLUSTER_SCOPED = frozenset({
    "Namespace", "Node", "PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding",
    "CustomResourceDefinition", "PriorityClass", "IngressClass", "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration", "APIService", "CSIDriver", "RuntimeClass", "ClusterIssuer",
    "VolumeSnapshotClass", "CertificateSigningRequest", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding"})
NAMESPACED_CORE = frozenset({*POD_SPEC_PATHS, "Service", "ConfigMap", "Secret", "ServiceAccount", "Role",
                             "RoleBinding", "NetworkPolicy", "PersistentVolumeClaim", "Ingress",
                             "PodDisruptionBudget", "HorizontalPodAutoscaler", "ResourceQuota", "LimitRange"})
LONG_RUNNING = frozenset({"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController"})
INTERNAL_LB_ANNOTATIONS = {
    "service.beta.kubernetes.io/aws-load-balancer-internal": ("true",),
    "service.beta.kubernetes.io/aws-load-balancer-scheme": ("internal",),
    "networking.gke.io/load-balancer-type": ("Internal",),
    "service.beta.kubernetes.io/azure-load-balancer-internal": ("true",),
}


@policy("containers-have-resource-limits", "medium",
        remediation="Set resources.requests and resources.limits for cpu and memory on every container.")
def containers_have_resource_limits(subject: Subject, config: dict) -> list[Violation]:
    """Every container and init container sets CPU and memory requests and limits (requests default to limits)."""
    out: list[Violation] = []
    for pod in each_pod(subject, out):
        for c in each_container(pod, out, ("initContainers", "containers")):
            resources = c.data.get("resources")
            if is_unknown(resources):
                out.append(unknown(c.where, "resources"))
                continue
            out += _resource_violations(c.where, resources if isinstance(resources, dict) else {})
    return out


def _resource_violations(where: str, resources: dict) -> list[Violation]:
    out: list[Violation] = []
    for kind, parse, example in (("cpu", quantities.parse_quantity, "250m"),
                                 ("memory", quantities.parse_quantity, "256Mi")):
        limit = _quantity(get(resources, "limits", kind), parse, where, f"resources.limits.{kind}", out)
        request = _quantity(get(resources, "requests", kind), parse, where, f"resources.requests.{kind}", out)
        if limit is None:
            out.append(Violation(f"{where}: resources.limits.{kind} is not set; set it (e.g. {example})"))
        if request is None and limit is None:
            out.append(Violation(f"{where}: resources.requests.{kind} is not set; set it (e.g. {example})"))
        if isinstance(limit, Decimal) and isinstance(request, Decimal) and request > limit:
            out.append(Violation(f"{where}: resources.requests.{kind} is above resources.limits.{kind}; "
                                 "lower the request or raise the limit"))
    return out


def _quantity(value: Any, parse, where: str, field: str, out: list[Violation]) -> Any:
    """Decimal for a set quantity, None for unset or zero (zero counts as unset), UNKNOWN as is."""
    if value is None or is_unknown(value):
        if is_unknown(value):
            out.append(unknown(where, field))
        return value
    try:
        number = parse(str(value))
    except quantities.QuantityError:
        out.append(Violation(f"{where}: {field} {value!r} is not a Kubernetes quantity"))
        return Decimal(0)
    return number if number > 0 else None


@policy("image-pinned", "medium",
        remediation="Use repo/image:1.2.3 or repo/image@sha256:…",
        settings={"requireDigest": {"type": "boolean", "default": False,
                  "description": "Require an @sha256 digest, not only a tag."}})
def image_pinned(subject: Subject, config: dict) -> list[Violation]:
    """Every image is pinned by a version tag or a digest, never latest.

    Every image names a tag other than latest, or a digest (a digest only, with requireDigest)."""
    out: list[Violation] = []
    require_digest = bool(config.get("requireDigest"))
    for c, image in each_container_field(subject, "image", out):
        if not isinstance(image, str) or not image:
            out.append(Violation(f"{c.where}: image is not set; set a pinned image such as repo/app:1.2.3"))
            continue
        name, _, digest = image.partition("@")
        last = name.rsplit("/", 1)[-1]
        tag = last.partition(":")[2]
        if digest:
            continue
        if require_digest:
            out.append(Violation(f"{c.where}: image {image!r} has no digest; pin it as {name}@sha256:…"))
        elif tag in ("", "latest"):
            out.append(Violation(f"{c.where}: image {image!r} has {'the tag latest' if tag else 'no tag'}; "
                                 "pin a version tag or a digest"))
    return out


def image_reference_problem(image: str) -> str | None:
    """Why an image reference is not pinned (no tag, `latest`), or None when it is."""
    name, _, digest = image.partition("@")
    if digest:
        return None if digest.startswith("sha256:") and len(digest) == 71 else "has a malformed digest"
    tag = name.rsplit("/", 1)[-1].partition(":")[2]
    if not tag:
        return "has no tag; pin a version tag or a digest"
    return "has the tag latest; pin a version tag or a digest" if tag == "latest" else None


@policy("no-literal-secrets-in-env", "high",
        remediation="Store the value in a Secret and reference it with env[].valueFrom.secretKeyRef or a mounted file.")
def no_literal_secrets_in_env(subject: Subject, config: dict) -> list[Violation]:
    """No secret is a literal env value."""
    out: list[Violation] = []
    for c, env in each_container_field(subject, "env", out):
        for index, var in enumerate(env if isinstance(env, list) else []):
            if not isinstance(var, dict) or var.get("value") in (None, ""):
                continue
            name, value = str(var.get("name", "")), var["value"]
            if is_unknown(value):
                out.append(unknown(c.where, f"env {name}"))
            elif is_secret_env(name, value):
                out.append(Violation(f"{c.where}: env[{index}] {name} has a literal value that looks like a "
                                     "secret; move it to a Secret and use valueFrom.secretKeyRef"))
    return out


@policy("no-default-namespace", "low",
        remediation="Set metadata.namespace to the stack's namespace.")
def no_default_namespace(subject: Subject, config: dict) -> list[Violation]:
    """Namespaced objects name their namespace, and it is not default."""
    if not subject.is_kubernetes or subject.kind in CLUSTER_SCOPED:
        return []
    namespace = subject.namespace
    if is_unknown(namespace):
        return [unknown(subject.describe(), "metadata.namespace")]
    if namespace == "default":
        return [Violation(f"{subject.describe()}: metadata.namespace is 'default'; use the stack's namespace")]
    if namespace in (None, "") and subject.kind in NAMESPACED_CORE:
        if subject.provider_namespace not in (None, "", "default"):
            return []
        return [Violation(f"{subject.describe()}: metadata.namespace is not set, so the provider's default "
                          "namespace (usually 'default') is used; set metadata.namespace")]
    return []


@policy("no-public-service-types", "high",
        remediation="Use ClusterIP Services behind the ingress; exempt the ingress controller's LoadBalancer with "
                    "the reason.")
def no_public_service_types(subject: Subject, config: dict) -> list[Violation]:
    """No NodePort or public LoadBalancer Services, no externalIPs.

    No NodePort, no public LoadBalancer, no externalIPs (CVE-2020-8554)."""
    if not subject.is_kubernetes or subject.kind != "Service":
        return []
    spec = subject.props.get("spec")
    if is_unknown(spec):
        return [unknown(subject.describe(), "spec")]
    spec = spec if isinstance(spec, dict) else {}
    where, service_type, out = subject.describe(), spec.get("type"), []
    if is_unknown(service_type):
        out.append(unknown(where, "spec.type"))
    elif service_type == "NodePort":
        out.append(Violation(f"{where}: spec.type is NodePort, which opens a port on every node; use ClusterIP "
                             "behind the ingress"))
    elif service_type == "LoadBalancer" and not _internal_lb(subject, spec):
        out.append(Violation(f"{where}: spec.type is LoadBalancer, which is public; use ClusterIP behind the "
                             "ingress, make it internal, or set spec.loadBalancerSourceRanges"))
    if spec.get("externalIPs"):
        out.append(Violation(f"{where}: spec.externalIPs is set (CVE-2020-8554); remove it"))
    return out


def _internal_lb(subject: Subject, spec: dict) -> bool:
    annotations = get(subject.props, "metadata", "annotations")
    annotations = annotations if isinstance(annotations, dict) else {}
    if any(annotations.get(k) in v for k, v in INTERNAL_LB_ANNOTATIONS.items()):
        return True
    ranges = spec.get("loadBalancerSourceRanges")
    return isinstance(ranges, list) and bool(ranges) and "0.0.0.0/0" not in ranges


@policy("ingress-requires-tls", "high",
        remediation="Add spec.tls entries covering every rules[].host.")
def ingress_requires_tls(subject: Subject, config: dict) -> list[Violation]:
    """Every Ingress host is served over TLS."""
    if not subject.is_kubernetes or subject.kind != "Ingress":
        return []
    where, spec = subject.describe(), subject.props.get("spec")
    if is_unknown(spec):
        return [unknown(where, "spec")]
    spec = spec if isinstance(spec, dict) else {}
    tls = spec.get("tls")
    if is_unknown(tls):
        return [unknown(where, "spec.tls")]
    covered = [h for entry in (tls if isinstance(tls, list) else []) for h in (entry.get("hosts") or [])]
    out = []
    if not covered:
        out.append(Violation(f"{where}: spec.tls is empty; add a tls entry with the hosts and a secretName "
                             "(cert-manager issues it)"))
    for index, rule in enumerate(spec.get("rules") or []):
        host = rule.get("host") if isinstance(rule, dict) else None
        if is_unknown(host):
            out.append(unknown(where, f"spec.rules[{index}].host"))
        elif not host:
            out.append(Violation(f"{where}: spec.rules[{index}] has no host, so TLS cannot cover it; set host"))
        elif covered and not any(_host_matches(pattern, host) for pattern in covered if isinstance(pattern, str)):
            out.append(Violation(f"{where}: host {host!r} is not in any spec.tls[].hosts; add it"))
    return out


def _host_matches(pattern: str, host: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and host.count(".") == pattern.count(".")
    return pattern == host


@policy("workloads-have-probes", "low",
        remediation="Add a readinessProbe on the health endpoint and a cheaper livenessProbe.")
def workloads_have_probes(subject: Subject, config: dict) -> list[Violation]:
    """Long-running containers have distinct readiness and liveness probes.

    Long-running containers have readiness and liveness probes, and they are not identical."""
    if not subject.is_kubernetes or subject.kind not in LONG_RUNNING:
        return []
    out: list[Violation] = []
    for pod in each_pod(subject, out):
        for c in each_container(pod, out, ("containers",)):
            readiness, liveness = c.data.get("readinessProbe"), c.data.get("livenessProbe")
            if is_unknown(readiness) or is_unknown(liveness):
                out.append(unknown(c.where, "the probes"))
                continue
            for name, probe in (("readinessProbe", readiness), ("livenessProbe", liveness)):
                if not isinstance(probe, dict):
                    out.append(Violation(f"{c.where}: {name} is not set; add one on the service's health endpoint"))
            if isinstance(readiness, dict) and isinstance(liveness, dict) and _action(readiness) == _action(liveness):
                out.append(Violation(f"{c.where}: livenessProbe checks the same thing as readinessProbe, so a "
                                     "busy pod is restarted instead of taken out of rotation; make liveness cheaper "
                                     "(e.g. a TCP check or a different path)"))
    return out


def _action(probe: dict) -> Any:
    return {k: probe.get(k) for k in ("httpGet", "tcpSocket", "exec", "grpc")}


@policy("stateful-data-protected", "critical",
        remediation="Create them with ResourceOptions(protect=True, retain_on_delete=True); keep the claim retention "
                    "policy Retain.")
def stateful_data_protected(subject: Subject, config: dict) -> list[Violation]:
    """StatefulSets and PersistentVolumeClaims are protected and keep their volumes."""
    if not subject.is_kubernetes or subject.kind not in ("StatefulSet", "PersistentVolumeClaim"):
        return []
    where, out = subject.describe(), []
    if not subject.protect:
        out.append(Violation(f"{where}: not protected; create it with ResourceOptions(protect=True, "
                             "retain_on_delete=True) so no `pulumi up` or `destroy` can delete its data"))
    if subject.kind == "StatefulSet":
        policy = get(subject.props, "spec", "persistentVolumeClaimRetentionPolicy")
        for key in ("whenDeleted", "whenScaled"):
            value = get(policy, key) if isinstance(policy, dict) else None
            if value == "Delete":
                out.append(Violation(f"{where}: spec.persistentVolumeClaimRetentionPolicy.{key} is Delete; set it "
                                     "to Retain"))
    return out


@policy("pod-templates-discoverable", "medium",
        remediation="Review the containers and exempt the resource with a justification, or extend the pack's "
                    "pod-spec paths.")
def pod_templates_discoverable(subject: Subject, config: dict) -> list[Violation]:
    """Containers embedded where no known pod-spec path leads are reported, not passed."""
    if not subject.is_kubernetes:
        return []
    paths = undiscovered_containers(subject.props, find_pods(subject.props))
    return [Violation(f"{subject.describe()}: {path} holds containers that no pod-spec path of kind {subject.kind} "
                      "leads to, so no rule checked them; exempt this resource with a justification after "
                      "reviewing them") for path in paths]


@policy("exemptions-justified", "high",
        remediation="Add policy.archon.io/justification explaining the exemption.")
def exemptions_justified(subject: Subject, config: dict) -> list[Violation]:
    """Exemption annotations name real rules and give a justification."""
    annotations = get(subject.props, "metadata", "annotations")
    if not isinstance(annotations, dict) or EXEMPT_ANNOTATION not in annotations:
        return []
    where, out = subject.describe(), []
    rules = [r.strip() for r in str(annotations.get(EXEMPT_ANNOTATION) or "").split(",") if r.strip()]
    justification = annotations.get(JUSTIFICATION_ANNOTATION)
    if not isinstance(justification, str) or not justification.strip():
        out.append(Violation(f"{where}: annotation {EXEMPT_ANNOTATION} exempts {', '.join(rules) or 'nothing'} "
                             f"without a reason; add {JUSTIFICATION_ANNOTATION} saying why (the exemption is not "
                             "honoured until then)"))
    known_rules = known_names()
    for rule in rules:
        if rule not in known_rules:
            out.append(Violation(f"{where}: annotation {EXEMPT_ANNOTATION} names {rule!r}, which is not a rule of "
                                 "this pack; fix the name"))
    return out


__all__ = ["CONTAINER_SETS"]
