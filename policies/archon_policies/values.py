"""Plain views of policy props: the SDK's proxies unwrapped, unknown preview values as one marker."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# The sentinels the engine sends for values that are unknown during preview (pulumi_policy.proxy).
UNKNOWN_SENTINELS = frozenset({
    "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",  # boolean
    "3eeb2bf0-c639-47a8-9e75-3b44932eb421",  # number
    "04da6b54-80e4-46f7-96ec-b56ff0331ba9",  # string
    "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",  # array
    "030794c1-ac77-496b-92df-f27374a8bd58",  # asset
    "e48ece36-62e2-4504-bad9-02848725956a",  # archive
    "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",  # object
})


class Allowed(frozenset):
    """A set of allowed values that a value of the wrong type (a dict or list where a name belongs) is simply not
    in, instead of raising TypeError: unhashable."""

    def __contains__(self, value: object) -> bool:
        try:
            return super().__contains__(value)
        except TypeError:
            return False


class _Unknown:
    """A value the engine cannot know until `pulumi up`."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        raise TypeError("an unknown value has no truth value; test it with is_unknown() first")


UNKNOWN = _Unknown()


def is_unknown(value: Any) -> bool:
    """True for a value that is unknown during preview."""
    return value is UNKNOWN


def to_plain(value: Any) -> Any:
    """Plain dicts and lists from the SDK's unknown-checking proxies, without ever raising.

    The proxies raise on reading an unknown; their `__target` holds the raw values, so this walks
    those and turns each unknown sentinel into UNKNOWN, and whole floats back into ints.
    """
    if isinstance(value, str):
        return UNKNOWN if value in UNKNOWN_SENTINELS else value
    if isinstance(value, float) and value.is_integer():
        return int(value)  # numbers cross the wire as floats; replicas: 2.0 is 2
    if isinstance(value, Mapping):
        target = _target(value)
        return {key: to_plain(target[key]) for key in target}
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        target = _target(value)
        return [to_plain(target[i]) for i in range(len(target))]
    return value


def _target(proxy: Any) -> Any:
    try:
        return proxy["__target"]
    except (KeyError, TypeError, IndexError):
        return proxy


def get(node: Any, *path: Any) -> Any:
    """The value at path, None where anything on the way is missing, UNKNOWN where something is unknown."""
    for key in path:
        if is_unknown(node):
            return UNKNOWN
        if isinstance(key, int):
            if not isinstance(node, list) or key >= len(node):
                return None
            node = node[key]
        else:
            if not isinstance(node, dict):
                return None
            node = node.get(key)
    return node


def as_list(value: Any) -> list | _Unknown:
    """A list field as a list (missing is empty), or UNKNOWN."""
    if is_unknown(value):
        return UNKNOWN
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict | _Unknown:
    """A mapping field as a dict (missing is empty), or UNKNOWN."""
    if is_unknown(value):
        return UNKNOWN
    return value if isinstance(value, dict) else {}
