"""Resource options shared by the builders."""

from __future__ import annotations

import pulumi


def replaced_first(opts: pulumi.ResourceOptions, **extra) -> pulumi.ResourceOptions:
    """`opts` for an object with a fixed metadata.name: a replacement (e.g. a Secret's or ConfigMap's data
    changing) must delete the old object first, or the new one collides on the name."""
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(delete_before_replace=True, **extra))
