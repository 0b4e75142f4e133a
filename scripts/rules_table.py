"""Print the README's policy table from the pack's catalog and the per-stack configs (`make rules-table`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from policies.archon_policies.catalog import RULES  # noqa: E402
from policies.archon_policies.rule import EXEMPTED_FINDINGS, EXEMPTED_FINDINGS_REPORTER  # noqa: E402

STACKS = ("staging", "production")


def level(config: dict, rule: str, default: str) -> str:
    value = config.get(rule, config.get("all", default))
    return value.get("enforcementLevel", config.get("all", default)) if isinstance(value, dict) else value


def table() -> str:
    """The markdown table: rule, severity, level per stack, what it checks."""
    configs = {s: json.loads((ROOT / "policies" / "config" / f"{s}.json").read_text()) for s in STACKS}
    lines = ["| rule | severity | staging | production | checks |", "|---|---|---|---|---|"]
    for rule in sorted(RULES, key=lambda r: (not r.pss_controls, r.name)):
        levels = [level(configs[s], rule.name, rule.default_level) for s in STACKS]
        lines.append(f"| `{rule.name}` | {rule.severity} | {levels[0]} | {levels[1]} | {rule.description} |")
    levels = [level(configs[s], EXEMPTED_FINDINGS, "advisory") for s in STACKS]
    reporter = EXEMPTED_FINDINGS_REPORTER
    lines.append(f"| `{EXEMPTED_FINDINGS}` | {reporter['severity']} | {levels[0]} | {levels[1]} | "
                 f"{reporter['description']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
