"""Fuzzed manifests through the policy pack's gRPC path (a running pack, configured as production: every rule
mandatory), each judged by the API server's Pod Security Admission when a cluster is there to ask."""

from __future__ import annotations

import collections
import statistics
import time
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings

from fuzz.judge import ApiServerJudge
from fuzz.manifest_cases import ManifestCase, controls_in, manifest_cases, plain_value
from offline.analyzer import PolicyPack, PolicyPackError, StackContext
from offline.policy_config import read_policy_config, reconcile, to_configure_request
from policies.archon_policies.catalog import PSS_RULES

ROOT = Path(__file__).resolve().parents[1]
BOUND_S = 2.0  # the pack answers one object within this, or it counts as a hang
CONTROL_TO_RULE = {control.lower(): rule.name for rule in PSS_RULES for control in rule.pss_controls}


def started_pack() -> PolicyPack:
    pack = PolicyPack(ROOT / "policies", StackContext(project="archon", stack="fuzz", config={}, secret_keys=[]))
    config = reconcile(pack.info(), read_policy_config(ROOT / "policies" / "config" / "production.json"), "production")
    pack.configure(to_configure_request(config))
    return pack


def wrong_verdict(case: ManifestCase, mandatory: set[str], warnings: list[str]) -> str | None:
    """Why the pack's mandatory findings miss a control the judge names, or None."""
    missed = []
    for controls in (c for warning in warnings for c in controls_in(warning)):
        rules = {CONTROL_TO_RULE[c] for c in controls if c in CONTROL_TO_RULE}
        if not rules:
            missed.append(f"{controls[0]} (no rule for it)")
        elif not rules & mandatory:
            missed.append(f"{'/'.join(controls)} (expected {' or '.join(sorted(rules))})")
    return f"passed {case.plain['kind']} that the API server says breaks {', '.join(missed)}" if missed else None


def run_manifests(count: int, rng_seed: int, kubeconfig: Path | None) -> dict:
    """Feed `count` cases; counts, failures (to replay) and the pack's answer times."""
    counts: collections.Counter = collections.Counter()
    failures: list[dict] = []
    times: list[float] = []
    judge = ApiServerJudge(kubeconfig) if kubeconfig else None
    pack = [started_pack()]  # replaced when one crashes
    index = [0]

    @seed(rng_seed)
    @settings(max_examples=count, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(manifest_cases())
    def each(case: ManifestCase) -> None:
        index[0] += 1
        registration = case.registration(index[0])
        start = time.perf_counter()
        try:
            diagnostics = pack[0].analyze([registration], deadline_s=BOUND_S)
        except PolicyPackError as error:
            kind = "hang" if "Deadline" in str(error) else "crash"
            counts[kind] += 1
            failures.append({"where": "pack", "problem": f"{kind}: {str(error)[:1500]}", "mutations": case.mutations,
                             "object": case.wire})
            pack[0].close()
            pack[0] = started_pack()
            return
        times.append(time.perf_counter() - start)
        counts["answered"] += 1
        mandatory = {d.policy for d in diagnostics if d.enforcement == "mandatory" and d.urn == registration.urn}
        if judge is None or case.unknowns:
            counts["not judged"] += 1
            return
        warnings = judge.verdict(plain_value(case.wire))
        if warnings is None:
            counts["invalid to the API server"] += 1
            return
        counts["judged"] += 1
        counts["breaks a control" if warnings else "meets restricted"] += 1
        problem = wrong_verdict(case, mandatory, warnings)
        if problem:
            counts["wrong verdict"] += 1
            failures.append({"where": "pack", "problem": problem, "warnings": warnings, "mandatory": sorted(mandatory),
                             "mutations": case.mutations, "object": case.wire})

    try:
        each()
    finally:
        pack[0].close()
        if judge:
            judge.close()
    ordered = sorted(times)
    return {"counts": counts, "failures": failures, "max_s": ordered[-1] if ordered else 0.0,
            "p99_s": ordered[int(len(ordered) * 0.99) - 1] if len(ordered) >= 100 else (ordered[-1] if ordered else 0),
            "median_s": statistics.median(ordered) if ordered else 0.0}
