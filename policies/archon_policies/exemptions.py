"""Exemptions with a reason: from resource annotations or from name/URN patterns in the policy config."""

from __future__ import annotations

import fnmatch
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .platform import EXEMPT_ANNOTATION, JUSTIFICATION_ANNOTATION
from .subject import Subject
from .values import get

# The config schema every rule accepts: patterns, each with the reason. The CLI (and the offline
# engine) reject an entry without a justification before anything runs.
EXEMPTIONS_SCHEMA = {
    "type": "array",
    "description": "Resources exempted from this rule: a glob on the URN, the Pulumi name or namespace/name, "
                   "and why.",
    "items": {
        "type": "object",
        "properties": {"resource": {"type": "string", "minLength": 1},
                       "justification": {"type": "string", "minLength": 1, "pattern": r"\S"}},
        "required": ["resource", "justification"],
        "additionalProperties": False,
    },
}


def justification_for(rule: str, subject: Subject, config: Mapping[str, Any]) -> str | None:
    """Why the subject is exempt from the rule, or None when it is not (an exemption needs a reason)."""
    annotations = get(subject.props, "metadata", "annotations")
    if isinstance(annotations, dict):
        names = {n.strip() for n in str(annotations.get(EXEMPT_ANNOTATION) or "").split(",")}
        reason = annotations.get(JUSTIFICATION_ANNOTATION)
        if rule in names and isinstance(reason, str) and reason.strip():
            return reason.strip()
    name = get(subject.props, "metadata", "name")
    candidates = [subject.urn, subject.name]
    if isinstance(name, str):
        candidates += [name, f"{subject.namespace}/{name}" if isinstance(subject.namespace, str) else name]
    for entry in config.get("exemptions") or []:
        pattern, reason = entry.get("resource"), entry.get("justification")
        if isinstance(reason, str) and reason.strip() and any(fnmatch.fnmatchcase(c, pattern) for c in candidates):
            return reason.strip()
    return None


@dataclass(frozen=True)
class ExemptedFinding:
    """A violation that an exemption set aside; it is still reported, as exempted, with the reason."""

    urn: str
    rule: str
    message: str
    justification: str

    def report_text(self) -> str:
        """The advisory message `exempted-findings` reports: the rule, the reason as a JSON string (so any text in
        it reads back exactly), then the violation's message."""
        return f"{_PREFIX}{self.rule} (reason: {json.dumps(self.justification)}): {self.message}"

    @classmethod
    def from_report(cls, urn: str, text: str) -> ExemptedFinding | None:
        """The finding a report_text message carries, or None for any other message."""
        rule, sep, rest = text.removeprefix(_PREFIX).partition(" (reason: ")
        if not text.startswith(_PREFIX) or not sep:
            return None
        try:
            justification, end = json.JSONDecoder().raw_decode(rest)
        except json.JSONDecodeError:
            return None
        if not isinstance(justification, str) or not rest[end:].startswith("): "):
            return None
        return cls(urn, rule, rest[end + 3:], justification)


_PREFIX = "exempted from "


class ExemptedLedger:
    """Exempted findings of one pack process, handed from the rules to the `exempted-findings` reporter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str, str], ExemptedFinding] = {}

    def add(self, finding: ExemptedFinding) -> None:
        with self._lock:
            self._items[(finding.urn, finding.rule, finding.message)] = finding

    def drain(self) -> list[ExemptedFinding]:
        with self._lock:
            items, self._items = list(self._items.values()), {}
        return sorted(items, key=lambda f: (f.urn, f.rule, f.message))
