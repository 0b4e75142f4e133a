"""The reliability figures (`make figures`): each real-engine scenario's outcome and time from the last `make e2e`
(build/e2e-report.xml), and the fuzz counts from the last `make fuzz` (build/fuzz/summary.txt).

    python scripts/figures.py [--report build/e2e-report.xml] [--fuzz build/fuzz/summary.txt]

Prints what it finds; exit 1 if either is missing (it names the target that makes it) or a scenario failed.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def scenarios(report: Path) -> tuple[list[str], bool]:
    """One line per scenario (outcome, seconds, file and name) and whether all passed."""
    suite = ET.parse(report).getroot()
    lines, ok = [], True
    for case in suite.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            outcome, ok = "FAILED", False
        elif case.find("skipped") is not None:
            outcome, ok = "skipped", False
        else:
            outcome = "passed"
        module = case.get("classname", "").rsplit(".", 1)[-1]
        lines.append(f"  {outcome:7} {float(case.get('time', 0)):7.1f} s  {module}::{case.get('name')}")
    total = sum(float(c.get("time", 0)) for c in suite.iter("testcase"))
    lines.append(f"  {len(lines)} scenarios, {total / 60:.1f} min")
    return lines, ok


def main() -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=ROOT / "build" / "e2e-report.xml")
    parser.add_argument("--fuzz", type=Path, default=ROOT / "build" / "fuzz" / "summary.txt")
    args = parser.parse_args()
    status = 0
    if args.report.is_file():
        lines, ok = scenarios(args.report)
        print(f"real-engine scenarios ({args.report}):")
        print("\n".join(lines))
        status |= 0 if ok else 1
    else:
        print(f"no scenario report at {args.report}: run make e2e", file=sys.stderr)
        status = 1
    if args.fuzz.is_file():
        print(args.fuzz.read_text().rstrip())
    else:
        print(f"no fuzz summary at {args.fuzz}: run make fuzz", file=sys.stderr)
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
