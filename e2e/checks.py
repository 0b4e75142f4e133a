"""What every fault scenario ends by proving: the stack converged. A preview expects no changes; the state holds
no pending operation and each resource the offline plan of the same config declares, once; and the cluster holds
exactly the objects the state records (by the program's field manager: nothing missing, nothing twice under
another generated name, nothing left over). Names the provider generates (a random suffix) come from the state."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from e2e import harness

FIELD_MANAGER = "pulumi-kubernetes-"  # the provider's server-side apply manager, one suffix per stack


def offline_resources(sets: tuple[str, ...]) -> list[dict]:
    """The offline plan's resources for the same config."""
    with tempfile.TemporaryDirectory() as out:
        done = harness.offline_plan(Path(out), "local", sets)
        assert done.returncode == 0, done.stderr
        return json.loads((Path(out) / "resources.json").read_text())


def declared_kinds(sets: tuple[str, ...]) -> set[str]:
    """apiVersion/kind of every Kubernetes object the program declares with this config."""
    return {f"{r['inputs']['apiVersion']}/{r['inputs']['kind']}" for r in offline_resources(sets)
            if r["type"].startswith("kubernetes:") and "kind" in r["inputs"]}


def identity(manifest: dict) -> tuple[str, str, str]:
    meta = manifest["metadata"]
    return f"{manifest['apiVersion']}/{manifest['kind']}", meta.get("namespace") or "", meta["name"]


def applied(kinds: set[str]) -> list[tuple[str, str, str]]:
    """The objects of these kinds (apiVersion/kind) in the cluster that the program's field manager applied."""
    names = sorted({f"{kind.rsplit('/', 1)[1]}.{group}" if (group := kind.rsplit("/", 1)[0].partition("/")[0])
                    and "/" in kind.rsplit("/", 1)[0] else kind.rsplit("/", 1)[1] for kind in kinds})
    listed = json.loads(harness.kubectl("get", ",".join(names), "-A", "-o", "json", "--show-managed-fields").stdout)
    return sorted(identity(item) for item in listed["items"]
                  if any(m.get("manager", "").startswith(FIELD_MANAGER)
                         for m in item["metadata"].get("managedFields") or []))


def converged(*sets: str) -> None:
    """Assert the stack converged (see the module docstring)."""
    preview = harness.pulumi("preview", "--expect-no-changes", sets=sets)
    assert preview.returncode == 0, "a preview after recovery still has changes:\n" + preview.output[-3000:]
    state = json.loads(harness.pulumi("export", sets=sets).stdout)
    assert not state.get("pending_operations"), state.get("pending_operations")
    resources = [r for r in state["resources"] if r.get("custom") and not r["type"].startswith("pulumi:providers:")]
    urns = [r["urn"] for r in resources]
    assert len(urns) == len(set(urns)), "a resource is in the state twice"
    plan = offline_resources(tuple(sets))
    assert set(urns) == {r["urn"] for r in plan if r["custom"]}, "the state holds what the program declares"
    recorded = {identity(r["outputs"]) for r in resources if r["type"].startswith("kubernetes:")
                and "kind" in (r.get("outputs") or {})}
    have = applied({kind for kind, _, _ in recorded})
    assert len(have) == len(set(have)), "an object is in the cluster twice"
    assert set(have) == recorded, {"missing": sorted(recorded - set(have)),
                                   "not in the state": sorted(set(have) - recorded)}


def in_cluster(manifest: dict) -> bool:
    """Whether the object a manifest (a Kubernetes resource's inputs) describes exists in the cluster."""
    meta = manifest["metadata"]
    scope = ["-n", meta["namespace"]] if meta.get("namespace") else []
    return harness.kubectl("get", manifest["kind"], meta["name"], *scope, check=False).returncode == 0


def namespace_exists(name: str) -> bool:
    return in_cluster({"kind": "namespace", "metadata": {"name": name}})


def wait_gone(*namespaces: str) -> None:
    """Wait for the namespaces to be deleted; fails if one is stuck terminating."""
    for name in namespaces:
        harness.kubectl("wait", "--for=delete", f"namespace/{name}", "--timeout=120s", check=False, timeout=150)
        assert not namespace_exists(name), f"namespace {name} is still there (stuck terminating?)"


def claims(namespace: str) -> dict[str, tuple[str, str, str]]:
    """The namespace's volume claims: name -> (uid, phase, volume)."""
    return {c["metadata"]["name"]: (c["metadata"]["uid"], c.get("status", {}).get("phase", ""),
                                    c["spec"].get("volumeName", ""))
            for c in harness.objects("persistentvolumeclaims", namespace)}
