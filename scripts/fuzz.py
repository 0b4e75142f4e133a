"""Fuzz the stack config (`make fuzz`): CASES mutated configs through the loader in process, PLANS of them through
the whole offline plan; prints what each ended in, the tracebacks and wrong verdicts, and the time.

    python scripts/fuzz.py [--cases 10000] [--plans 300] [--seed N]

Every case must end in a valid config (a plan) or in one line per problem naming a key (exit 2, no file written),
never in a traceback. Failing cases go to build/fuzz/config-failures.json with their config, to replay.
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
from fuzz.plan_cases import plan  # noqa: E402
from offline.variant import copy_project  # noqa: E402

OUT = ROOT / "build" / "fuzz"


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
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    failures: list[dict] = []
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
    run(args.cases, load, args.seed)
    loader_seconds = time.monotonic() - start
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
        if args.plans:
            run(args.plans, through_plan, args.seed + 1)
        plan_seconds = time.monotonic() - start
    (OUT / "config-failures.json").write_text(json.dumps(failures, indent=1, ensure_ascii=True) + "\n")
    print(f"config fuzz (seed {args.seed})")
    print(f"  loader: {sum(loader[k] for k in ('valid', 'refused', 'wrong verdict', 'traceback'))} cases in "
          f"{loader_seconds:.1f} s: {loader['valid']} valid, {loader['refused']} refused, "
          f"{loader['traceback']} tracebacks, {loader['wrong verdict']} wrong verdicts")
    exits = ", ".join(f"{n} {k}" for k, n in sorted(planned.items()) if k.startswith("exit"))
    print(f"  offline plan: {sum(n for k, n in planned.items() if k.startswith('exit'))} cases in "
          f"{plan_seconds:.1f} s: {exits or 'none'}; {planned['traceback']} tracebacks, "
          f"{planned['wrong verdict']} wrong verdicts")
    if failures:
        print(f"  {len(failures)} failing cases in {OUT / 'config-failures.json'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
