"""Resource options shared by the components."""

from __future__ import annotations

import pulumi


def fixed_name(parent: pulumi.Resource | None, **extra) -> pulumi.ResourceOptions:
    """Options for an object with a fixed metadata.name: a replacement (e.g. a Secret's or ConfigMap's data
    changing) must delete the old object first, or the new one collides on the name."""
    return pulumi.ResourceOptions(parent=parent, delete_before_replace=True, **extra)
