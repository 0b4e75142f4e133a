"""The reliability figures (`make figures`): each real-engine scenario's outcome and time from the last `make e2e`
(build/e2e-report.xml), the connections the real node tried (build/e2e/real-node-connections.json), and the fuzz
counts from the last `make fuzz` (build/fuzz/config-summary.txt and manifest-summary.txt).

    python scripts/figures.py [--report build/e2e-report.xml] [--fuzz build/fuzz]

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


def connections(report: Path) -> list[str]:
    """The real node's NetworkPolicy check: how many connections were tried, allowed and refused, and any that
    disagreed with the traffic graph."""
    import json

    tried = json.loads(report.read_text())
    allowed = [t for t in tried if t["allowed"]]
    wrong = [t for t in tried if t["allowed"] != t["connected"]]
    lines = [f"  {len(tried)} connections tried: {len(allowed)} the graph allows "
             f"({sum(t['connected'] for t in allowed)} connected), {len(tried) - len(allowed)} it does not "
             f"({sum(not t['connected'] for t in tried if not t['allowed'])} refused); {len(wrong)} disagree"]
    lines += [f"    {t['client']} -> {t['server']}:{t['port']} allowed={t['allowed']} connected={t['connected']}"
              for t in wrong]
    return lines


def main() -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=ROOT / "build" / "e2e-report.xml")
    parser.add_argument("--fuzz", type=Path, default=ROOT / "build" / "fuzz", help="make fuzz's summaries")
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
    tried = args.report.parent / "e2e" / "real-node-connections.json"
    if tried.is_file():
        print(f"real node, NetworkPolicy ({tried}):")
        print("\n".join(connections(tried)))
    for part, target in (("config", "fuzz-config"), ("manifest", "fuzz-manifests")):
        summary = args.fuzz / f"{part}-summary.txt"
        if summary.is_file():
            print(summary.read_text().rstrip())
        else:
            print(f"no {part} fuzz summary at {summary}: run make {target} (or make fuzz)", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
