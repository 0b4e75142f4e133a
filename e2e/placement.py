"""Where pods run: the harness, not the program, decides, with a MutatingAdmissionPolicy on Pod creation.

A pod whose every image is on the real node (e2e/images.py) gets the node's selector and toleration, unless its app
is kept simulated (KEPT_SIMULATED: it cannot become ready without a peer that cannot run here); every other pod stays
on the simulated nodes, which the node's taint keeps it off anyway. The program's objects are untouched: only the
Pods the controllers create are placed, as a cluster's own admission policy would.
"""

from __future__ import annotations

import json

from e2e import node

POLICY = "archon-e2e-real-node"

# App name (app.kubernetes.io/name) -> why its pods stay simulated although their images are built here.
KEPT_SIMULATED = {
    "archon-server": "exits at startup without the data API (PostgREST cannot run here): its init container would "
                     "wait for good; its start is proven against a stand-in data API instead (test_real_node.py)",
    "archon-agents": "fetches its credentials from archon-server at startup for up to ten minutes before it serves, "
                     "and archon-server is simulated; its start is proven beside the server's",
}


def policy_manifests(refs: list[str], namespace: str, kept: dict[str, str] | None = None) -> list[dict]:
    """The policy and its binding: pods of `namespace` whose images are all in `refs` (and every pod elsewhere whose
    images are) go to the real node, but for the apps kept simulated in `namespace`."""
    kept = KEPT_SIMULATED if kept is None else kept
    images = json.dumps(sorted(set(refs)))
    names = json.dumps(sorted(kept))
    key, value = node.LABEL
    toleration = (f'Object.spec.tolerations{{key: "{key}", operator: "Equal", value: "{value}", '
                  f'effect: "{node.TAINT["effect"]}"}}')
    return [
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicy",
         "metadata": {"name": POLICY},
         "spec": {
             "failurePolicy": "Fail", "reinvocationPolicy": "Never",
             "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                     "operations": ["CREATE"], "resources": ["pods"]}]},
             # Match conditions see only the request and the object, so the lists are written into them.
             "matchConditions": [
                 {"name": "every-image-is-on-the-real-node", "expression":
                  f"object.spec.containers.all(c, c.image in {images}) && "
                  f"(!has(object.spec.initContainers) || object.spec.initContainers.all(c, c.image in {images}))"},
                 {"name": "not-kept-simulated", "expression":
                  f"!(request.namespace == '{namespace}' && has(object.metadata.labels) && "
                  f"'app.kubernetes.io/name' in object.metadata.labels && "
                  f"object.metadata.labels['app.kubernetes.io/name'] in {names})"},
                 {"name": "not-placed-already", "expression":
                  f"!has(object.spec.nodeSelector) || !('{key}' in object.spec.nodeSelector)"},
             ],
             "mutations": [{"patchType": "JSONPatch", "jsonPatch": {"expression": (
                 "[has(object.spec.nodeSelector) ? "
                 f"JSONPatch{{op: 'add', path: '/spec/nodeSelector/' + jsonpatch.escapeKey('{key}'), value: '{value}'}}"
                 f" : JSONPatch{{op: 'add', path: '/spec/nodeSelector', value: {{'{key}': '{value}'}}}}, "
                 "has(object.spec.tolerations) ? "
                 f"JSONPatch{{op: 'add', path: '/spec/tolerations/-', value: {toleration}}}"
                 f" : JSONPatch{{op: 'add', path: '/spec/tolerations', value: [{toleration}]}}]")}}],
         }},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingAdmissionPolicyBinding",
         "metadata": {"name": POLICY}, "spec": {"policyName": POLICY}},
    ]


def enable(namespace: str, kept: dict[str, str] | None = None) -> None:
    """Place pods from now on (pods that exist stay where they are)."""
    from e2e import images

    refs = images.node_refs()
    raw = {tag for image, _ in images.node_images() for tag in image.tags}
    node.apply(policy_manifests([*refs, *raw], namespace, kept))


def disable() -> None:
    """Stop placing pods: every new pod stays simulated."""
    node.kubectl("delete", "mutatingadmissionpolicybinding,mutatingadmissionpolicy", POLICY, "--ignore-not-found")
