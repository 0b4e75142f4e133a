"""Helpers for editing a stack's raw config the way `pulumi config set --path` would."""

from __future__ import annotations

import json
from typing import Any

DELETE = object()


def changed(raw: dict[str, str], path: str, value: Any) -> dict[str, str]:
    """A copy of `raw` with `ns:key.sub.path` set to value (or removed with DELETE)."""
    raw = dict(raw)
    key, _, rest = path.partition(".")
    if not rest:
        if value is DELETE:
            raw.pop(key, None)
        else:
            raw[key] = value if isinstance(value, str) else json.dumps(value)
        return raw
    doc = json.loads(raw[key])
    node = doc
    parts = rest.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    if value is DELETE:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = value
    raw[key] = json.dumps(doc)
    return raw
