"""Benchmark the real engine against the offline plan, on the local control plane (`make bench-e2e`).

Prints, for the local stack: the offline plan's wall time, the real `pulumi preview` and `pulumi up` (both with
the policy pack, from an empty stack), and their ratios to the offline plan; then the longest chain of waits
in the real up (from the engine's event log: each resource waits for the dependency that finished last before
it started) against the offline plan's longest dependency chain. Destroys what it created. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.plan_benchmark import longest_chain  # noqa: E402
from e2e import harness  # noqa: E402


def short(urn: str, types: dict[str, str]) -> str:
    """Type/name of a URN, as the plan benchmark prints them."""
    return f'{types.get(urn, urn.split("::")[-2]).split(":")[-1]}/{urn.rsplit("::", 1)[-1]}'


def step_times(events: list[dict]) -> dict[str, tuple[float, float]]:
    """URN -> (step started, step finished) in the real up, from resource_pre_event and res_outputs_event.
    A component's step is its registration (its children wait for that, not for it to finish), so it
    finishes when it starts; the stack, which finishes last by definition, is left out."""
    started: dict[str, float] = {}
    finished: dict[str, float] = {}
    for event in events:
        for kind, into in (("resource_pre_event", started), ("res_outputs_event", finished)):
            step = event.get(kind)
            meta = step["metadata"] if step else {}
            if not step or meta["type"].startswith("pulumi:providers:") or meta["type"] == "pulumi:pulumi:Stack":
                continue
            into.setdefault(meta["urn"], event["received"])
            if kind == "resource_pre_event" and not (meta.get("new") or {}).get("custom"):
                finished.setdefault(meta["urn"], event["received"])
    return {urn: (started[urn], finished[urn]) for urn in started if urn in finished}


def wait_chain(times: dict[str, tuple[float, float]], deployment: dict) -> list[tuple[str, float]]:
    """The chain of waits that ended the up: from the last resource to finish, back through the dependency or
    parent that finished last before it started (a child is registered once its parent is, and a resource
    once its dependencies are done). Each link: (URN, seconds its own step took)."""
    edges = {r["urn"]: set(r.get("dependencies") or []) | ({r["parent"]} if r.get("parent") else set())
             for r in deployment["resources"]}

    @cache
    def back(urn: str) -> tuple[tuple[str, float], ...]:
        waited = [dep for dep in edges.get(urn, ()) if dep in times]
        link = (urn, times[urn][1] - times[urn][0])
        if not waited:
            return (link,)
        return (*back(max(waited, key=lambda dep: times[dep][1])), link)

    last = max(times, key=lambda urn: times[urn][1])
    return list(back(last))


def timed(operation: str) -> harness.Run:
    """One real CLI operation with the policy pack and the event log; fails loudly if it fails."""
    run = harness.pulumi(operation, *(("--policy",) if operation != "destroy" else ()), events=True)
    if run.returncode != 0:
        raise SystemExit(f"pulumi {operation} failed:\n{run.output[-3000:]}")
    return run


def main() -> int:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()
    if harness.missing_tools() or not harness.cluster_running():
        raise SystemExit("the toolchain and the local control plane are needed: make e2e-tools cluster-up")
    if harness.pulumi("destroy").returncode != 0:  # start from an empty stack, whatever ran before
        raise SystemExit("could not empty the local stack first")

    with tempfile.TemporaryDirectory() as tmp:
        harness.offline_plan(Path(tmp) / "warm")  # imports and byte-compiles once, as the real runs had before
        start = time.perf_counter()
        plan = harness.offline_plan(Path(tmp) / "plan")
        offline_s = time.perf_counter() - start
        if plan.returncode != 0:
            raise SystemExit(f"offline plan failed:\n{plan.stderr}")
        resources = json.loads((Path(tmp) / "plan" / "resources.json").read_text())

    preview, up = timed("preview"), timed("up")
    exported = harness.pulumi("export")
    deployment = json.loads(exported.stdout.splitlines()[-1])
    types = {r["urn"]: r["type"] for r in deployment["resources"]}
    chain = wait_chain(step_times(up.events), deployment)
    offline_chain = longest_chain(resources)
    timed("destroy")

    results: dict = {
        "resources": len(resources),
        "offline_plan_s": round(offline_s, 2),
        "real_preview_s": round(preview.seconds, 2),
        "real_up_s": round(up.seconds, 2),
        "preview_over_offline": round(preview.seconds / offline_s, 1),
        "up_over_offline": round(up.seconds / offline_s, 1),
        "real_wait_chain": [{"resource": short(urn, types), "step_s": round(seconds, 2)} for urn, seconds in chain],
        "real_wait_chain_s": round(sum(seconds for _, seconds in chain), 2),
        "offline_dependency_chain": offline_chain,
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"local stack, {results['resources']} resources")
    print(f"  offline plan         {results['offline_plan_s']:7.2f} s")
    print(f"  real pulumi preview  {results['real_preview_s']:7.2f} s  ({results['preview_over_offline']}x the plan)")
    print(f"  real pulumi up       {results['real_up_s']:7.2f} s  ({results['up_over_offline']}x the plan)")
    print(f"longest chain of waits in the real up: {len(chain)} steps, {results['real_wait_chain_s']} s of steps")
    for link in results["real_wait_chain"]:
        print(f"  {link['step_s']:7.2f} s  {link['resource']}")
    print(f"offline plan's longest dependency chain: {len(offline_chain)} resources")
    for name in offline_chain:
        print(f"  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
