"""Deterministic, obviously fake values for what only a real provider computes."""

from __future__ import annotations

import copy
import hashlib
import json
import uuid

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
