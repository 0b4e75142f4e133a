"""Deserialize each resource once per request, not once per policy.

The SDK's Analyze and AnalyzeStack loops turn the same protobuf Struct into a dict, a deserialized
dict and an unknown-checking proxy again for every policy: with 30 policies that is ~70% of the
pack's time. Every policy here only reads its props, so memoizing those three calls (MessageToDict
by the message's bytes, the other two by the identity of their input) changes no result: the SDK's
own loops still run, they just stop recomputing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import pulumi_policy.policy as sdk
from google.protobuf import json_format

CACHE_SIZE = 8192  # entries per memo; AnalyzeStack walks every resource once per stack policy


class Memo:
    """Memoize a read-only conversion on the identity of its first argument, optionally also on its content.

    Identity hits keep the argument alive while cached, so its id cannot be reused; reads take no lock
    (a dict lookup is atomic), writes do.
    """

    def __init__(self, fn: Callable[..., Any], content_key: Callable[[Any], Any] | None = None,
                 size: int = CACHE_SIZE) -> None:
        self.fn = fn
        self.content_key = content_key
        self.size = size
        self._lock = threading.Lock()
        self._by_id: OrderedDict[tuple, tuple[Any, Any]] = OrderedDict()
        self._by_content: OrderedDict[tuple, Any] = OrderedDict()

    def __call__(self, first: Any, *args: Any, **kwargs: Any) -> Any:
        extra = (args, tuple(kwargs.items())) if args or kwargs else ()
        key = (id(first), extra)
        hit = self._by_id.get(key)
        if hit is not None and hit[0] is first:
            return hit[1]
        content = (self.content_key(first), extra) if self.content_key else None
        result = self._by_content.get(content) if content is not None else None
        if result is None:
            result = self.fn(first, *args, **kwargs)
        with self._lock:
            self._by_id[key] = (first, result)
            if content is not None:
                self._by_content[content] = result
            for cache in (self._by_id, self._by_content):
                while len(cache) > self.size:
                    cache.popitem(last=False)
        return result


def _message_bytes(message: Any) -> tuple[str, bytes]:
    return type(message).__name__, message.SerializeToString(deterministic=True)


class _JsonFormat:
    """The json_format module as the SDK's policy module sees it, with MessageToDict memoized."""

    def __init__(self) -> None:
        self.MessageToDict = Memo(json_format.MessageToDict, content_key=_message_bytes)

    def __getattr__(self, name: str) -> Any:
        return getattr(json_format, name)


def install() -> None:
    """Point the SDK's policy module at the memoized functions (idempotent)."""
    if isinstance(sdk.json_format, _JsonFormat):
        return
    sdk.json_format = _JsonFormat()
    # Swapping the SDK's module functions for memoizing wrappers with the same call signature.
    sdk.deserialize_properties = Memo(sdk.deserialize_properties)  # type: ignore[assignment]
    sdk.unknown_checking_proxy = Memo(sdk.unknown_checking_proxy)  # type: ignore[assignment]
