"""Turn the rule catalog into pulumi_policy policies: plain props, exemptions, and unknowns handled."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from .catalog import RULES, Rule
from .exemptions import EXEMPTIONS_SCHEMA, ExemptedFinding, ExemptedLedger, justification_for
from .rule import EXEMPTED_FINDINGS, EXEMPTED_FINDINGS_REPORTER
from .sharing import Memo, install
from .subject import Subject, Violation
from .values import UNKNOWN_SENTINELS, to_plain

PACK_NAME = "archon-security"
LEDGER = ExemptedLedger()
# With sharing installed every policy of a request gets the same proxy, so it is flattened once.
plain_props = Memo(to_plain)


class UnknownDuringPreview(UnknownValueError):
    """Raised after the known violations are reported: the SDK turns it into an advisory diagnostic."""

    def __init__(self, violations: list[Violation]) -> None:
        super().__init__(next(iter(UNKNOWN_SENTINELS)), [])
        self.message = "; ".join(v.message for v in violations)


def _subject(args: Any) -> Subject:
    provider_namespace = None
    provider = getattr(args, "provider", None)
    if provider is not None and str(getattr(provider, "resource_type", "")) == "pulumi:providers:kubernetes":
        namespace = plain_props(provider.props).get("namespace")
        provider_namespace = namespace if isinstance(namespace, str) else None
    opts = getattr(args, "opts", None)
    return Subject(type=args.resource_type, name=args.name, urn=args.urn, props=plain_props(args.props),
                   protect=bool(getattr(opts, "protect", False)), provider_namespace=provider_namespace)


def _settle(rule: Rule, subject: Subject, config: Mapping[str, Any], violations: list[Violation],
            report: Callable[[Violation], None]) -> None:
    """Report definite violations (or ledger them when exempted); raise for the unknown ones."""
    pending = [v for v in violations if v.unknown]
    for violation in violations:
        if violation.unknown:
            continue
        reason = justification_for(rule.name, subject, config)
        if reason:
            LEDGER.add(ExemptedFinding(subject.urn, rule.name, violation.message, reason))
        else:
            report(violation)
    if pending:
        raise UnknownDuringPreview(pending)


def _resource_validator(rule: Rule):
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        subject = _subject(args)
        config = args.get_config() or {}
        _settle(rule, subject, config, rule.check(subject, config), lambda v: report_violation(v.message, None))
    return validate


def _stack_validator(rule: Rule):
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        subjects = [_subject(resource) for resource in args.resources]
        by_urn = {s.urn: s for s in subjects}
        config = args.get_config() or {}
        unknowns: list[Violation] = []
        for urn, violation in rule.check(subjects, config):
            try:
                def report(v: Violation, u: str = urn) -> None:
                    report_violation(v.message, u)

                _settle(rule, by_urn[urn], config, [violation], report)
            except UnknownDuringPreview:
                unknowns.append(violation)
        if unknowns:
            raise UnknownDuringPreview(unknowns)
    return validate


def _report_exempted(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for finding in LEDGER.drain():
        report_violation(finding.report_text(), finding.urn)


def _level(name: str) -> EnforcementLevel:
    return EnforcementLevel.MANDATORY if name == "mandatory" else EnforcementLevel.ADVISORY


def build_policies() -> list:
    """Every rule as a pulumi_policy policy, resource rules first and the exempted-findings reporter last."""
    install()
    policies: list = []
    for rule in sorted(RULES, key=lambda r: r.scope != "resource"):
        common: dict[str, Any] = {
            "name": rule.name,
            "description": rule.description,
            "enforcement_level": _level(rule.default_level),
            "config_schema": PolicyConfigSchema(properties={**rule.settings, "exemptions": EXEMPTIONS_SCHEMA}),
            "severity": Severity[rule.severity.upper()],
            "remediation_steps": rule.remediation,
            "tags": ["pss"] if rule.pss_controls else ["platform"],
        }
        if rule.scope == "resource":
            policies.append(ResourceValidationPolicy(validate=_resource_validator(rule), **common))
        else:
            policies.append(StackValidationPolicy(validate=_stack_validator(rule), **common))
    reporter = EXEMPTED_FINDINGS_REPORTER
    policies.append(StackValidationPolicy(
        name=EXEMPTED_FINDINGS,
        description=reporter["description"],
        validate=_report_exempted,
        enforcement_level=EnforcementLevel.ADVISORY,
        severity=Severity[reporter["severity"].upper()],
        remediation_steps=reporter["remediation"],
        tags=["exemptions"],
    ))
    return policies
