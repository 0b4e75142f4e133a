"""Benchmark the offline plan: median wall time per stack, the SDK import floor, size and depth of the graph.

Run with `make bench`. Prints numbers; asserts nothing (the target is read by people, not by tests):
once the full stack exists, a plan should take at most the import floor + 1.5 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STACKS = ("staging", "production")
TARGET_OVER_FLOOR = 1.5
# The SDK modules the stack's resources come from: importing them is the least any plan can cost.
SDK_IMPORTS = ("pulumi", "pulumi_kubernetes.core.v1", "pulumi_kubernetes.apps.v1", "pulumi_kubernetes.networking.v1",
               "pulumi_kubernetes.policy.v1", "pulumi_kubernetes.autoscaling.v2", "pulumi_kubernetes.batch.v1",
               "pulumi_kubernetes.rbac.v1", "pulumi_kubernetes.helm.v3", "pulumi_random", "pulumi_docker")


def wall(cmd: list[str]) -> float:
    """Seconds one command takes, start to exit; fails loudly if it fails."""
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def longest_chain(resources: list[dict]) -> list[str]:
    """The longest path through the graph of dependencies and parent links, as resource names."""
    edges = {r["urn"]: set(r["dependencies"]) | ({r["parent"]} if r["parent"] else set()) for r in resources}
    names = {r["urn"]: f'{r["type"].split(":")[-1]}/{r["name"]}' for r in resources}

    @cache
    def chain(urn: str) -> tuple[str, ...]:
        before = max((chain(dep) for dep in edges.get(urn, ()) if dep in edges), key=len, default=())
        return (*before, urn)

    best = max((chain(urn) for urn in edges), key=len, default=())
    return [names[urn] for urn in best]


def main() -> int:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (median is reported)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()

    floor_cmd = [sys.executable, "-c", "import " + ", ".join(SDK_IMPORTS)]
    floor = statistics.median(wall(floor_cmd) for _ in range(args.runs))
    results = {"runs": args.runs, "sdk_import_floor_s": round(floor, 3), "stacks": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for stack in STACKS:
            out = Path(tmp) / stack
            cmd = [sys.executable, "-m", "offline", "plan", "--stack", stack, "--out", str(out)]
            median = statistics.median(wall(cmd) for _ in range(args.runs))
            resources = json.loads((out / "resources.json").read_text())
            chain = longest_chain(resources)
            results["stacks"][stack] = {
                "plan_median_s": round(median, 3),
                "over_floor_s": round(median - floor, 3),
                "within_target": median <= floor + TARGET_OVER_FLOOR,
                "resources": len(resources),
                "manifests": len(list((out / "manifests").glob("*.yaml"))),
                "longest_chain": len(chain),
                "chain": chain,
            }
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"offline plan benchmark, median of {args.runs} runs (python {sys.version.split()[0]})")
    print(f"SDK import floor: {floor:.3f} s   target: plan <= floor + {TARGET_OVER_FLOOR} s "
          f"= {floor + TARGET_OVER_FLOOR:.3f} s")
    print(f"{'stack':<12}{'plan (s)':>10}{'over floor':>12}{'target':>8}{'resources':>11}{'manifests':>11}"
          f"{'longest chain':>15}")
    for stack, r in results["stacks"].items():
        print(f"{stack:<12}{r['plan_median_s']:>10.3f}{r['over_floor_s']:>12.3f}"
              f"{'met' if r['within_target'] else 'MISSED':>8}{r['resources']:>11}{r['manifests']:>11}"
              f"{r['longest_chain']:>15}")
    for stack, r in results["stacks"].items():
        print(f"longest chain ({stack}): " + " -> ".join(r["chain"]))
    if any(r["over_floor_s"] < 0 for r in results["stacks"].values()):
        print("note: a plan below the floor imports fewer SDK modules than the full stack will (see SDK_IMPORTS)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
