"""Fuzz the stack config and the policy pack (`make fuzz`): CASES mutated configs through the loader in process,
PLANS of them through the whole offline plan, MANIFESTS generated pod-bearing objects through the pack's gRPC path
(judged by the local control plane's API server when it runs); prints what each ended in, the tracebacks, crashes,
hangs and wrong verdicts, and the time.

    python scripts/fuzz.py [--cases 10000] [--plans 300] [--manifests 2000] [--seed N] [--judge KUBECONFIG]

Every config case must end in a valid config (a plan) or in one line per problem naming a key (exit 2, no file
written), never in a traceback; every manifest in the pack's answer within the bound, with each Pod Security
control the API server says it breaks flagged by a mandatory rule. Failing cases go to build/fuzz/*-failures.json,
to replay.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from fuzz.config_cases import Case, cases, check  # noqa: E402
from fuzz.manifest_run import BOUND_S, run_manifests  # noqa: E402
from fuzz.plan_cases import plan  # noqa: E402
from offline.variant import copy_project  # noqa: E402

OUT = ROOT / "build" / "fuzz"
SAID: list[str] = []


def say(line: str) -> None:
    """Print a result line, and keep it for build/fuzz/summary.txt."""
    print(line, flush=True)
    SAID.append(line)


def run(count: int, body, rng_seed: int) -> None:
    """Feed `count` generated cases to `body` (which records, never raises)."""
    @seed(rng_seed)
    @settings(max_examples=count, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(cases())
    def each(case: Case) -> None:
        body(case)
    each()


def main() -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10000)
    parser.add_argument("--plans", type=int, default=300)
    parser.add_argument("--manifests", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--judge", type=Path, metavar="KUBECONFIG",
                        help="the API server whose Pod Security Admission judges the manifests (make fuzz: the "
                             "local control plane's); without it the manifests are only checked for crashes and time")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    failures: list[dict] = []
    loader, loader_seconds = loader_fuzz(args.cases, args.seed, failures)
    planned, plan_seconds = plan_fuzz(args.plans, args.seed + 1, failures)
    (OUT / "config-failures.json").write_text(json.dumps(failures, indent=1, ensure_ascii=True) + "\n")
    say(f"config fuzz (seed {args.seed})")
    say(f"  loader: {sum(loader[k] for k in ('valid', 'refused', 'wrong verdict', 'traceback'))} cases in "
          f"{loader_seconds:.1f} s: {loader['valid']} valid, {loader['refused']} refused, "
          f"{loader['traceback']} tracebacks, {loader['wrong verdict']} wrong verdicts")
    exits = ", ".join(f"{n} {k}" for k, n in sorted(planned.items()) if k.startswith("exit"))
    say(f"  offline plan: {sum(n for k, n in planned.items() if k.startswith('exit'))} cases in "
          f"{plan_seconds:.1f} s: {exits or 'none'}; {planned['traceback']} tracebacks, "
          f"{planned['wrong verdict']} wrong verdicts")
    if failures:
        say(f"  {len(failures)} failing cases in {OUT / 'config-failures.json'}")
    manifest_failures = manifests(args) if args.manifests else []
    (OUT / "summary.txt").write_text("\n".join(SAID) + "\n")  # for make figures
    return 1 if failures or manifest_failures else 0


def loader_fuzz(cases: int, seed: int, failures: list[dict]) -> tuple[collections.Counter, float]:
    """Fuzzed configs through the loader: counts by verdict, and the seconds taken; failures appended."""
    loader: collections.Counter = collections.Counter()

    def load(case: Case) -> None:
        try:
            loader[check(case)] += 1
        except AssertionError as exc:
            loader["wrong verdict"] += 1
            failures.append({"where": "loader", "stack": case.stack, "mutations": case.mutations,
                             "problem": str(exc)[:2000], "config": case.raw})
        except Exception:
            loader["traceback"] += 1
            failures.append({"where": "loader", "stack": case.stack, "mutations": case.mutations,
                             "problem": traceback.format_exc()[-3000:], "config": case.raw})

    start = time.monotonic()
    run(cases, load, seed)
    return loader, time.monotonic() - start


def plan_fuzz(plans: int, seed: int, failures: list[dict]) -> tuple[collections.Counter, float]:
    """Fuzzed configs through the offline plan of a project copy: counts by exit code and problem, and seconds."""
    planned: collections.Counter = collections.Counter()
    with tempfile.TemporaryDirectory() as work:
        project = copy_project(Path(work) / "project")

        def through_plan(case: Case) -> None:
            outcome = plan(case, Path(work), project)
            planned[f"exit {outcome['code']}"] += 1
            if outcome["problem"]:
                kind = "traceback" if outcome["problem"].startswith("traceback") else "wrong verdict"
                planned[kind] += 1
                failures.append({"where": "plan", "stack": case.stack, "mutations": case.mutations,
                                 "problem": outcome["problem"], "config": case.raw})

        start = time.monotonic()
        if plans:
            run(plans, through_plan, seed)
        return planned, time.monotonic() - start


def manifests(args: argparse.Namespace) -> list[dict]:
    """The manifest fuzz; prints its line, writes its failures, returns them."""
    start = time.monotonic()
    result = run_manifests(args.manifests, args.seed + 2, args.judge)
    seconds = time.monotonic() - start
    counts = result["counts"]
    (OUT / "manifest-failures.json").write_text(json.dumps(result["failures"], indent=1) + "\n")
    judged = (f"{counts['judged']} judged by the API server ({counts['breaks a control']} break a control, "
              f"{counts['meets restricted']} meet restricted), {counts['invalid to the API server']} invalid to it, "
              f"{counts['not judged']} with unknown or malformed values" if args.judge else "no judge")
    say(f"  policy pack: {args.manifests} manifests in {seconds:.1f} s: {counts['answered']} answered (median "
          f"{result['median_s'] * 1000:.1f} ms, p99 {result['p99_s'] * 1000:.1f} ms, max {result['max_s'] * 1000:.0f} "
          f"ms, bound {BOUND_S * 1000:.0f} ms); {judged}; {counts['crash']} crashes, {counts['hang']} hangs, "
          f"{counts['wrong verdict']} wrong verdicts")
    if result["failures"]:
        say(f"  {len(result['failures'])} failing manifests in {OUT / 'manifest-failures.json'}")
    return result["failures"]


if __name__ == "__main__":
    sys.exit(main())
