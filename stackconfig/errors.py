"""Config errors that name the key as the user wrote it, the value, and what is allowed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

PROJECT = "archon"


@dataclass(frozen=True)
class ConfigIssue:
    """One problem with one config key."""

    path: str  # dotted path below the project namespace, e.g. "services.server.replicas"
    value: Any
    message: str
    has_value: bool = True
    namespace: str = PROJECT  # the config namespace: the project's, or a provider's (kubernetes)

    def key(self) -> str:
        """The key as `pulumi config` spells it, e.g. `archon:services.server.replicas`."""
        return f"{self.namespace}:{self.path}" if self.path else f"{self.namespace}:"

    def __str__(self) -> str:
        # A key or message may hold what the user typed, control characters and line breaks included: escaped,
        # so each problem stays one line.
        if not self.has_value:
            return f"{_printable(self.key())}: {_printable(self.message)}"
        return f"{_printable(self.key())} = {_show(self.value)}: {_printable(self.message)}"


def _printable(text: str) -> str:
    """Text with every non-printable character (line breaks, controls, lone surrogates) escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii")
                   for c in text)


def _show(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class ConfigError(Exception):
    """Invalid stack configuration; raised before any resource is registered."""

    def __init__(self, stack: str, issues: list[ConfigIssue]):
        self.stack = stack
        self.issues = issues
        lines = "\n".join(f"  {issue}" for issue in issues)
        noun = "problem" if len(issues) == 1 else "problems"
        super().__init__(f"invalid config for stack '{stack}' ({len(issues)} {noun}):\n{lines}")
