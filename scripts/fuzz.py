"""Fuzz the stack config and the policy pack (`make fuzz`): CASES mutated configs through the loader in process,
PLANS of them through the whole offline plan, MANIFESTS generated pod-bearing objects through the pack's gRPC path
(judged by the local control plane's API server when it runs); prints what each ended in, the tracebacks, crashes,
hangs and wrong verdicts, and the time.

    python scripts/fuzz.py [--cases 10000] [--plans 300] [--manifests 2000] [--seed N] [--judge KUBECONFIG]

A count of 0 leaves that part out (make fuzz-config runs the config parts, make fuzz-manifests the manifests).

Every config case must end in a valid config (a plan) or in one line per problem naming a key (exit 2, no file
written), never in a traceback; every manifest in the pack's answer within the bound, with each Pod Security
control the API server says it breaks flagged by a mandatory rule. Failing cases go to build/fuzz/*-failures.json,
to replay.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import queue
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
from fuzz.plan_cases import Prepared, plan_prepared, prepare  # noqa: E402
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
    if args.cases or args.plans:
        config_fuzz(args)
    manifest_failures = manifests(args) if args.manifests else []
    config_failures = json.loads((OUT / "config-failures.json").read_text()) if args.cases or args.plans else []
    return 1 if config_failures or manifest_failures else 0


def config_fuzz(args: argparse.Namespace) -> None:
    """The loader and offline-plan fuzz: prints and writes its lines (build/fuzz/config-summary.txt) and failures."""
    failures: list[dict] = []
    # The offline plans run as subprocesses, two at a time, while the loader cases run here: the machine's two
    # cores both work, and each case is the one its seed generates.
    plan_cases: list[Case] = []
    if args.plans:
        run(args.plans, plan_cases.append, args.seed + 1)
    prepared = [prepare(case) for case in plan_cases]
    with concurrent.futures.ThreadPoolExecutor(1) as background:
        planning = background.submit(plan_fuzz, prepared, failures)
        loader, loader_seconds = loader_fuzz(args.cases, args.seed, failures)
        planned, plan_seconds = planning.result()
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
    (OUT / "config-summary.txt").write_text("\n".join(SAID) + "\n")  # for make figures
    SAID.clear()


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
    if cases:
        run(cases, load, seed)
    return loader, time.monotonic() - start


PLAN_WORKERS = 2  # offline plans at a time (each its own project copy)


def plan_fuzz(generated: list[Prepared], failures: list[dict]) -> tuple[collections.Counter, float]:
    """Fuzzed configs through the offline plan of project copies: counts by exit code and problem, and seconds."""
    planned: collections.Counter = collections.Counter()
    with tempfile.TemporaryDirectory() as work:
        copies: queue.Queue = queue.Queue()
        for index in range(PLAN_WORKERS):
            folder = Path(work) / f"worker-{index}"
            copies.put((folder, copy_project(folder / "project")))

        def through_plan(prepared: Prepared) -> tuple[Case, dict]:
            folder, project = copies.get()
            try:
                return prepared.case, plan_prepared(prepared, folder, project)
            finally:
                copies.put((folder, project))

        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(PLAN_WORKERS) as pool:
            for case, outcome in pool.map(through_plan, generated):
                planned[f"exit {outcome['code']}"] += 1
                if outcome["problem"]:
                    kind = "traceback" if outcome["problem"].startswith("traceback") else "wrong verdict"
                    planned[kind] += 1
                    failures.append({"where": "plan", "stack": case.stack, "mutations": case.mutations,
                                     "problem": outcome["problem"], "config": case.raw})
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
    (OUT / "manifest-summary.txt").write_text("\n".join(SAID) + "\n")  # for make figures
    SAID.clear()
    return result["failures"]


if __name__ == "__main__":
    sys.exit(main())
