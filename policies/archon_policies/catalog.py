"""Every rule of the pack as data: name, description, severity, check, scope, PSS controls, settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from . import platform, pss, stack_rules

MANDATORY_EVERYWHERE = ("pods-run-as-non-root", "containers-have-resource-limits",
                        "containers-read-only-root-filesystem", "exemptions-justified")


@dataclass(frozen=True)
class Rule:
    """One policy: what it checks, how bad a violation is, and what fixes it."""

    name: str
    description: str
    severity: str  # low | medium | high | critical
    check: Callable
    remediation: str
    scope: str = "resource"  # resource | stack
    pss_controls: tuple[str, ...] = ()  # the PSA control ids it implements (conformance fixtures by these names)
    settings: Mapping[str, dict] = field(default_factory=dict)  # JSON schema of its config properties

    @property
    def default_level(self) -> str:
        return "mandatory" if self.name in MANDATORY_EVERYWHERE else "advisory"


R = Rule
RULES: tuple[Rule, ...] = (
    R("pods-run-as-non-root", "Pods and containers assert runAsNonRoot and never run as UID 0 (PSS restricted).",
      "high", pss.pods_run_as_non_root,
      "Set securityContext.runAsNonRoot: true and a numeric non-zero runAsUser on the pod; remove any runAsUser: 0.",
      pss_controls=("runAsNonRoot", "runAsUser"),
      settings={"allowUserNamespaces": {"type": "boolean", "default": False, "description":
                "Relax the rule for pods with hostUsers: false, as PSS does from policy version v1.35."}}),
    R("containers-have-resource-limits", "Every container and init container sets CPU and memory requests and "
      "limits (requests default to limits).", "medium", platform.containers_have_resource_limits,
      "Set resources.requests and resources.limits for cpu and memory on every container."),
    R("containers-read-only-root-filesystem", "Every container runs with a read-only root filesystem.", "high",
      pss.containers_read_only_root_filesystem,
      "Set securityContext.readOnlyRootFilesystem: true and mount emptyDir volumes where the container writes."),
    R("no-privilege-escalation", "Containers set allowPrivilegeEscalation: false (PSS restricted).", "high",
      pss.no_privilege_escalation, "Set securityContext.allowPrivilegeEscalation: false on every container.",
      pss_controls=("allowPrivilegeEscalation",)),
    R("drop-all-capabilities", "Containers drop ALL capabilities and add none but NET_BIND_SERVICE (PSS restricted).",
      "high", pss.drop_all_capabilities,
      "Set securityContext.capabilities.drop: [ALL]; remove capabilities.add other than NET_BIND_SERVICE.",
      pss_controls=("capabilities_baseline", "capabilities_restricted")),
    R("seccomp-runtime-default", "Pods use the RuntimeDefault (or a Localhost) seccomp profile (PSS restricted).",
      "medium", pss.seccomp_runtime_default, "Set securityContext.seccompProfile.type: RuntimeDefault on the pod.",
      pss_controls=("seccompProfile_baseline", "seccompProfile_restricted")),
    R("no-privileged-containers", "No container runs privileged (PSS baseline).", "critical",
      pss.no_privileged_containers, "Remove securityContext.privileged or set it to false.",
      pss_controls=("privileged",)),
    R("no-host-namespaces", "Pods do not share the host's network, PID or IPC namespace (PSS baseline).",
      "critical", pss.no_host_namespaces, "Remove hostNetwork, hostPID and hostIPC, or set them to false.",
      pss_controls=("hostNamespaces",)),
    R("no-host-path-volumes", "Pods mount no hostPath volumes (PSS baseline).", "critical",
      pss.no_host_path_volumes, "Replace hostPath volumes with a PersistentVolumeClaim or an emptyDir.",
      pss_controls=("hostPathVolumes",)),
    R("no-host-ports", "Containers bind no host ports (PSS baseline).", "high", pss.no_host_ports,
      "Remove ports[].hostPort and expose the port through a Service.", pss_controls=("hostPorts",)),
    R("restricted-volume-types", "Pods use only the volume types the restricted profile allows.", "high",
      pss.restricted_volume_types, "Use configMap, csi, downwardAPI, emptyDir, ephemeral, image, "
      "persistentVolumeClaim, projected or secret volumes.", pss_controls=("restrictedVolumes",)),
    R("safe-sysctls", "Pods set only the safe, namespaced sysctls (PSS baseline).", "high", pss.safe_sysctls,
      "Remove unsafe sysctls from securityContext.sysctls; tune the node instead.", pss_controls=("sysctls",)),
    R("default-proc-mount", "Containers keep the Default /proc mount (PSS restricted).", "high",
      pss.default_proc_mount, "Remove securityContext.procMount or set it to Default.",
      pss_controls=("procMount", "procMount_restricted")),
    R("no-host-probes-or-lifecycle", "Probes and lifecycle hooks never target another host (PSS baseline).",
      "medium", pss.no_host_probes_or_lifecycle, "Remove host from httpGet/tcpSocket probes and lifecycle hooks.",
      pss_controls=("hostProbesAndHostLifecycle",)),
    R("restricted-selinux-options", "SELinux options use only container types and no custom user or role "
      "(PSS baseline).", "high", pss.restricted_selinux_options,
      "Use seLinuxOptions.type container_t (or leave it unset) and remove seLinuxOptions.user and .role.",
      pss_controls=("seLinuxOptions",)),
    R("restricted-apparmor-profile", "AppArmor profiles are RuntimeDefault or Localhost (PSS baseline).", "high",
      pss.restricted_apparmor_profile, "Set appArmorProfile.type: RuntimeDefault; never Unconfined.",
      pss_controls=("appArmorProfile",)),
    R("no-windows-host-process", "No Windows HostProcess pods or containers (PSS baseline).", "critical",
      pss.no_windows_host_process, "Remove windowsOptions.hostProcess.", pss_controls=("windowsHostProcess",)),
    R("image-pinned", "Every image is pinned by a version tag or a digest, never latest.", "medium",
      platform.image_pinned, "Use repo/image:1.2.3 or repo/image@sha256:…",
      settings={"requireDigest": {"type": "boolean", "default": False,
                                  "description": "Require an @sha256 digest, not only a tag."}}),
    R("no-service-account-token-automount", "Pods get no API token unless they talk to the API.", "medium",
      stack_rules.no_service_account_token_automount,
      "Set automountServiceAccountToken: false on the pod; exempt workloads that use the API, with the reason.",
      scope="stack"),
    R("no-literal-secrets-in-env", "No secret is a literal env value.", "high", platform.no_literal_secrets_in_env,
      "Store the value in a Secret and reference it with env[].valueFrom.secretKeyRef or a mounted file."),
    R("no-default-namespace", "Namespaced objects name their namespace, and it is not default.", "low",
      platform.no_default_namespace, "Set metadata.namespace to the stack's namespace."),
    R("no-public-service-types", "No NodePort or public LoadBalancer Services, no externalIPs.", "high",
      platform.no_public_service_types, "Use ClusterIP Services behind the ingress; exempt the ingress "
      "controller's LoadBalancer with the reason."),
    R("ingress-requires-tls", "Every Ingress host is served over TLS.", "high", platform.ingress_requires_tls,
      "Add spec.tls entries covering every rules[].host."),
    R("workloads-have-probes", "Long-running containers have distinct readiness and liveness probes.", "low",
      platform.workloads_have_probes, "Add a readinessProbe on the health endpoint and a cheaper livenessProbe."),
    R("workloads-have-network-policy", "Every workload's namespace has a default-deny NetworkPolicy and its pods "
      "are selected for ingress and egress.", "medium", stack_rules.workloads_have_network_policy,
      "Add a default-deny NetworkPolicy to the namespace and policies that allow each workload's traffic.",
      scope="stack"),
    R("replicated-workloads-have-pdb", "Workloads with 2+ replicas have a PodDisruptionBudget that allows a "
      "disruption.", "low", stack_rules.replicated_workloads_have_pdb,
      "Add a PodDisruptionBudget selecting the pods with maxUnavailable: 1.", scope="stack"),
    R("stateful-data-protected", "StatefulSets and PersistentVolumeClaims are protected and keep their volumes.",
      "critical", platform.stateful_data_protected,
      "Create them with ResourceOptions(protect=True, retain_on_delete=True); keep the claim retention policy Retain."),
    R("pod-templates-discoverable", "Containers embedded where no known pod-spec path leads are reported, not "
      "passed.", "medium", platform.pod_templates_discoverable,
      "Review the containers and exempt the resource with a justification, or extend the pack's pod-spec paths."),
    R("exemptions-justified", "Exemption annotations name real rules and give a justification.", "high",
      lambda subject, config: platform.exemptions_justified(subject, config, frozenset(BY_NAME) | {EXEMPTED_FINDINGS}),
      "Add policy.archon.io/justification explaining the exemption."),
)
# Reports exempted findings (advisory); it must stay the last stack policy so every rule has run before it.
EXEMPTED_FINDINGS = "exempted-findings"
BY_NAME: dict[str, Rule] = {rule.name: rule for rule in RULES}
PSS_RULES: tuple[Rule, ...] = tuple(rule for rule in RULES if rule.pss_controls)
