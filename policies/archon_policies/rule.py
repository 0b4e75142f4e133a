"""A rule of the pack, declared where its function is: `@policy(name, severity, remediation=...)` on the check,
whose docstring's first paragraph is the description every report shows."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

MANDATORY_EVERYWHERE = ("pods-run-as-non-root", "containers-have-resource-limits",
                        "containers-read-only-root-filesystem", "exemptions-justified")
SEVERITIES = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class Rule:
    """One policy: what it checks, how bad a violation is, and what fixes it."""

    name: str
    description: str
    severity: str  # low | medium | high | critical
    check: Callable
    remediation: str
    scope: str = "resource"  # resource | stack
    pss_controls: tuple[str, ...] = ()  # the PSA control ids it implements (conformance fixtures by these names)
    settings: Mapping[str, dict] = field(default_factory=dict)  # JSON schema of its config properties

    @property
    def default_level(self) -> str:
        return "mandatory" if self.name in MANDATORY_EVERYWHERE else "advisory"


REGISTERED: list[Rule] = []  # in the order the modules declare them
# The pack's last stack policy: it reports the findings that justified exemptions set aside (pack.py).
EXEMPTED_FINDINGS = "exempted-findings"
EXEMPTED_FINDINGS_REPORTER = {
    "severity": "low",
    "description": "Reports every exempted finding with its justification; keep it advisory, or exemptions would "
                   "block.",
    "remediation": "Review the justification; remove the exemption when it no longer holds.",
}


def known_names() -> frozenset[str]:
    """Every policy name of the pack, the exempted-findings reporter's too."""
    return frozenset(rule.name for rule in REGISTERED) | {EXEMPTED_FINDINGS}


def description_of(check: Callable) -> str:
    """The first paragraph of the check's docstring, on one line."""
    doc = inspect.getdoc(check) or ""
    return " ".join(doc.split("\n\n", 1)[0].split())


def policy(name: str, severity: str, *, remediation: str, scope: str = "resource",
           pss_controls: tuple[str, ...] = (), settings: Mapping[str, dict] | None = None) -> Callable:
    """Declare the decorated check as the rule `name` of the pack."""
    if severity not in SEVERITIES:
        raise ValueError(f"rule {name}: severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    if scope not in ("resource", "stack"):
        raise ValueError(f"rule {name}: scope {scope!r} is not resource or stack")

    def register(check: Callable) -> Callable:
        description = description_of(check)
        if not description:
            raise ValueError(f"rule {name}: {check.__name__} needs a docstring, the rule's description")
        if any(rule.name == name for rule in REGISTERED):
            raise ValueError(f"rule {name} is declared twice")
        REGISTERED.append(Rule(name, description, severity, check, remediation, scope, tuple(pss_controls),
                               dict(settings or {})))
        return check
    return register
