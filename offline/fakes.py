"""Deterministic, obviously fake values for what only a real provider computes."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import uuid
from pathlib import Path

from components.charts import chart_version

AUTONAMED = "pulumi.com/autonamed"


def digest(*parts: str) -> str:
    """A stable hex digest of the given parts."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def is_kubernetes_object(type_: str, inputs: dict) -> bool:
    """A first-class Kubernetes object (it has apiVersion and kind), not a Helm release or a provider."""
    return type_.startswith("kubernetes:") and "apiVersion" in inputs and "kind" in inputs


def autoname(type_: str, name: str, inputs: dict) -> dict:
    """What the Kubernetes provider's Check does to an unnamed object: name it and mark it autonamed."""
    if not is_kubernetes_object(type_, inputs):
        return inputs
    metadata = inputs.get("metadata") or {}
    if metadata.get("name") or metadata.get("generateName"):
        return inputs
    checked = copy.deepcopy(inputs)
    meta = checked.setdefault("metadata", {})
    meta["name"] = f"{name}-{digest(type_, name)[:8]}"
    meta["annotations"] = {**(meta.get("annotations") or {}), AUTONAMED: "true"}
    return checked


RELEASE = "kubernetes:helm.sh/v3:Release"
# helm.v3.Release's Check decodes the inputs into the provider's Release struct and back: every field below is
# then present (zero when unset), an unset name is autonamed, the timeout defaults to 300 s unless skipAwait,
# and inputs the struct does not have (the SDK's `compat`) are gone (pulumi-kubernetes helm_release.go).
RELEASE_DEFAULTS = {
    "allowNullValues": False, "atomic": False, "chart": "", "cleanupOnFail": False, "createNamespace": False,
    "dependencyUpdate": False, "description": "", "devel": False, "disableCRDHooks": False,
    "disableOpenapiValidation": False, "disableWebhooks": False, "forceUpdate": False, "keyring": "", "lint": False,
    "namespace": "default", "postrender": "", "recreatePods": False, "renderSubchartNotes": False, "replace": False,
    "resetValues": False, "reuseValues": False, "skipCrds": False, "verify": False, "version": "",
    "skipAwait": False, "waitForJobs": False,
}
RELEASE_FIELDS = {*RELEASE_DEFAULTS, "name", "timeout", "values", "repositoryOpts", "maxHistory"}


def check(type_: str, name: str, inputs: dict) -> dict:
    """What the Kubernetes provider's Check returns for these inputs, which is what the engine stores and what
    policy packs see: objects autonamed, a Secret's stringData turned into base64 data (clients.Normalize), a
    Helm release with its defaults."""
    if type_ == RELEASE:
        return _check_release(name, inputs)
    checked = autoname(type_, name, inputs)
    if is_kubernetes_object(type_, checked) and checked.get("kind") == "Secret" and checked.get("stringData"):
        checked = copy.deepcopy(checked)
        data = checked.get("data") or {}
        for key, value in checked.pop("stringData").items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        checked["data"] = data
    return checked


def _check_release(name: str, inputs: dict) -> dict:
    checked = RELEASE_DEFAULTS | {key: value for key, value in inputs.items() if key in RELEASE_FIELDS}
    if not checked.get("name"):
        checked["name"] = f"{name}-{digest(RELEASE, name)[:8]}"
    if not checked["skipAwait"] and "timeout" not in checked:
        checked["timeout"] = 300
    version = chart_version(Path(str(checked["chart"])))
    if version is not None:  # a local chart: Check reads the version from it
        checked["version"] = version
    return checked


def computed_outputs(type_: str, name: str, inputs: dict) -> dict:
    """Outputs a real provider would compute, faked so every manifest is complete."""
    seed = digest(type_, name)
    if type_.startswith("random:") and inputs.get("keepers"):
        # New keepers make the real provider generate a new value; so do they here, so a rotation shows.
        seed = digest(type_, name, json.dumps(inputs["keepers"], sort_keys=True))
    if type_ == "random:index/randomPassword:RandomPassword":
        length = int(inputs.get("length", 32))
        value = ("offlinefake" + seed)[:length].ljust(length, "x")
        return {"result": value, "bcryptHash": "$2a$10$offlinefake" + seed[:43]}
    if type_ == "random:index/randomString:RandomString":
        length = int(inputs.get("length", 16))
        return {"result": ("offlinefake" + seed)[:length].ljust(length, "x")}
    if type_ == "random:index/randomId:RandomId":
        size = int(inputs.get("byteLength", 8))
        return {"hex": seed[: size * 2], "dec": str(int(seed[: size * 2], 16)), "b64Url": seed[: size * 2],
                "b64Std": seed[: size * 2]}
    if type_ == "random:index/randomUuid:RandomUuid":
        return {"result": str(uuid.uuid5(uuid.NAMESPACE_URL, seed))}
    if type_ == "docker:index/image:Image":
        image = str(inputs.get("imageName", name))
        repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
        return {"repoDigest": f"{repo}@sha256:{digest('image', image)}", "baseImageName": image,
                "registryServer": repo.split("/", 1)[0]}
    return {}


def resource_id(type_: str, name: str, inputs: dict) -> str:
    """The id a provider would report: `namespace/name` for namespaced Kubernetes objects."""
    metadata = inputs.get("metadata") or {}
    if is_kubernetes_object(type_, inputs) and metadata.get("name"):
        namespace = metadata.get("namespace")
        return f"{namespace}/{metadata['name']}" if namespace else str(metadata["name"])
    return f"{name}-offline-id"
