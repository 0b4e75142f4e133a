"""The real engine's preview against the offline plan: the same resources, the same Kubernetes inputs.

The real side is the engine's events (each step's checked inputs, as the provider returned them from Check);
the offline side is resources.json. Normalized on both sides, and only these: autonamed suffixes (random on
a cluster, derived here), values unknown during preview (the engine's unknown sentinel matches anything),
and secret values (the events show a secret as an opaque marker; both sides must be secret there).
"""

from __future__ import annotations

import re
from typing import Any

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's marker for a value unknown during preview
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # the marker key of a secret value on the wire


def real_steps(events: list[dict]) -> dict[str, dict]:
    """URN -> {type, inputs} of every step the engine previewed, providers left out (offline has none)."""
    steps = {}
    for event in events:
        pre = event.get("resource_pre_event")
        if not pre:
            continue
        meta = pre["metadata"]
        if meta["type"].startswith("pulumi:providers:"):
            continue
        new = meta.get("new") or {}
        steps[meta["urn"]] = {"type": meta["type"], "inputs": new.get("inputs") or {}}
    return steps


def offline_steps(resources: list[dict]) -> dict[str, dict]:
    """URN -> {type, inputs} of the offline plan's registrations."""
    return {r["urn"]: {"type": r["type"], "inputs": r["inputs"]} for r in resources}


def _autonamed(inputs: dict) -> bool:
    return ((inputs.get("metadata") or {}).get("annotations") or {}).get("pulumi.com/autonamed") == "true"


def autonames(real: dict[str, dict], offline: dict[str, dict]) -> dict[str, str]:
    """Real autoname -> offline autoname, for every object both sides autonamed (and Helm releases' names,
    which the provider autonames the same way), so references to them compare equal."""
    renames = {}
    for urn in set(real) & set(offline):
        a, b = real[urn]["inputs"], offline[urn]["inputs"]
        name = urn.rsplit("::", 1)[-1]
        if real[urn]["type"] == "kubernetes:helm.sh/v3:Release":
            pair = (a.get("name"), b.get("name"))
        elif _autonamed(a) and _autonamed(b):
            pair = (a["metadata"]["name"], b["metadata"]["name"])
        else:
            continue
        if all(isinstance(n, str) and re.fullmatch(re.escape(name) + r"-[0-9a-f]{8}", n) for n in pair):
            renames[pair[0]] = pair[1]
    return renames


def _differences(path: str, real: Any, offline: Any, out: list[str], renames: dict[str, str]) -> None:
    if isinstance(real, str) and real in renames:
        real = renames[real]
    if real == UNKNOWN:
        return
    if isinstance(real, dict) and SECRET_SIG in real:
        return  # a secret: its value cannot be compared (the offline one is fake anyway)
    if isinstance(real, dict) and isinstance(offline, dict):
        for key in sorted(set(real) | set(offline)):
            if key not in real:
                out.append(f"{path}.{key}: only offline ({offline[key]!r:.80})")
            elif key not in offline:
                out.append(f"{path}.{key}: only real ({real[key]!r:.80})")
            else:
                _differences(f"{path}.{key}", real[key], offline[key], out, renames)
        return
    if isinstance(real, list) and isinstance(offline, list) and len(real) == len(offline):
        for index, (a, b) in enumerate(zip(real, offline, strict=True)):
            _differences(f"{path}[{index}]", a, b, out, renames)
        return
    if real != offline:
        out.append(f"{path}: real {real!r:.80} != offline {offline!r:.80}")


def compare(real: dict[str, dict], offline: dict[str, dict]) -> list[str]:
    """Every difference, one line each: resources on one side only, types, and Kubernetes inputs."""
    out = [f"only in the real preview: {urn}" for urn in sorted(set(real) - set(offline))]
    out += [f"only in the offline plan: {urn}" for urn in sorted(set(offline) - set(real))]
    renames = autonames(real, offline)
    for urn in sorted(set(real) & set(offline)):
        a, b = real[urn], offline[urn]
        if a["type"] != b["type"]:
            out.append(f"{urn}: type {a['type']} != {b['type']}")
            continue
        if not a["type"].startswith("kubernetes:"):
            continue
        found: list[str] = []
        _differences("", a["inputs"], b["inputs"], found, renames)
        out += [f"{urn.rsplit('::', 1)[-1]} ({a['type']}): {line}" for line in found]
    return out
