"""Generated passwords: one shape for every credential the stack makes."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_random as random


def generated_password(name: str, opts: pulumi.ResourceOptions,
                       keepers: Mapping[str, str] | None = None) -> random.RandomPassword:
    """32 characters with no character that needs escaping in a DSN, a URL or a config file; new keepers, new value."""
    return random.RandomPassword(name, opts=opts, keepers=keepers, length=32, special=False, min_upper=2,
                                 min_lower=2, min_numeric=2)
