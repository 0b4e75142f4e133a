"""What a rule looks at (a resource as plain data) and what it returns (violations)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .values import get, is_unknown


@dataclass(frozen=True)
class Violation:
    """One problem, with a message that says where and what to set; `unknown` if preview cannot tell yet."""

    message: str
    unknown: bool = False


def unknown(where: str, what: str) -> Violation:
    """A check that cannot be decided during preview because a value is not known yet."""
    return Violation(f"{where}: {what} is unknown during preview; it is checked again at `pulumi up`", unknown=True)


@dataclass(frozen=True)
class Subject:
    """One resource as a rule sees it: Pulumi type, name, URN, plain props and the options policies can see."""

    type: str
    name: str
    urn: str
    props: dict[str, Any]
    protect: bool = False
    provider_namespace: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def is_kubernetes(self) -> bool:
        """A Kubernetes object (apiVersion and kind), not a Helm release, provider or component."""
        return self.type.startswith("kubernetes:") and "kind" in self.props and "apiVersion" in self.props

    @property
    def kind(self) -> str:
        kind = self.props.get("kind")
        return kind if isinstance(kind, str) else "?"

    @property
    def namespace(self) -> Any:
        return get(self.props, "metadata", "namespace")

    def describe(self) -> str:
        """`Deployment archon/archon-server`, or the Pulumi name where the object name is not known."""
        name = get(self.props, "metadata", "name")
        name = self.name if name is None or is_unknown(name) else name
        namespace = self.namespace
        prefix = f"{namespace}/" if isinstance(namespace, str) and namespace else ""
        return f"{self.kind} {prefix}{name}"
