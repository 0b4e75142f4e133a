"""Component: the one ordering rule of the stack's ComponentResources; Placement: where their objects live."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.options import replaced_first
from components.traffic import TrafficGraph


class Component(pulumi.ComponentResource):
    """A ComponentResource whose children wait for what the component was told to wait for.

    A component's own `depends_on` does not reach the resources it parents, so it is handed down here: every child
    built with `self.options()` (or `self.child`, or `self.fixed_name()`) waits for it, on up and on destroy alike.
    """

    def __init__(self, type_: str, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_, name, None, opts)
        depends_on = opts.depends_on if opts else None
        if isinstance(depends_on, pulumi.Resource):
            depends_on = [depends_on]
        elif depends_on is not None and not isinstance(depends_on, (list, tuple)):
            raise TypeError(f"{name}: depends_on must be a resource or a list of them, not {type(depends_on)}")
        self.after: list[pulumi.Input[pulumi.Resource]] = list(depends_on or [])

    def options(self, *, depends_on: list | None = None, **extra) -> pulumi.ResourceOptions:
        """Options of a child: parented here, after what the component waits for (and `depends_on`)."""
        after = [*self.after, *(depends_on or [])]
        return pulumi.ResourceOptions(parent=self, depends_on=after or None, **extra)

    @property
    def child(self) -> pulumi.ResourceOptions:
        """Options of a plain child."""
        return self.options()

    def fixed_name(self, **extra) -> pulumi.ResourceOptions:
        """Options of a child with a fixed metadata.name (components.options.replaced_first)."""
        return replaced_first(self.options(), **extra)


@dataclass(frozen=True)
class Placement:
    """Where a component's objects live and how they are kept: the namespace, the stack instance their labels name,
    the traffic graph their NetworkPolicies come from, and whether the stateful ones are protected."""

    namespace: pulumi.Input[str]
    instance: str
    traffic: TrafficGraph
    protect: bool
