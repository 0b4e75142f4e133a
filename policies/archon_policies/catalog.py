"""The pack's rules, each declared beside its check with `@policy` (pss.py, platform.py, rbac.py, stack_rules.py),
in the order the pack runs them: the PSS rules, the platform rules, the RBAC rules, then the stack rules."""

from __future__ import annotations

from . import platform, pss, rbac, stack_rules
from .rule import EXEMPTED_FINDINGS, MANDATORY_EVERYWHERE, REGISTERED, Rule

MODULES = (pss, platform, rbac, stack_rules)  # importing them declares their rules
_ORDER = [module.__name__ for module in MODULES]
RULES: tuple[Rule, ...] = tuple(sorted(REGISTERED, key=lambda rule: _ORDER.index(rule.check.__module__)))
BY_NAME: dict[str, Rule] = {rule.name: rule for rule in RULES}
PSS_RULES: tuple[Rule, ...] = tuple(rule for rule in RULES if rule.pss_controls)

__all__ = ["BY_NAME", "EXEMPTED_FINDINGS", "MANDATORY_EVERYWHERE", "PSS_RULES", "RULES", "Rule"]
