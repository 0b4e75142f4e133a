"""Fuzzed stack config: the committed stacks' config, mutated as users and tools get it wrong, and the property
every case must hold (a valid config, or one line per problem naming a key; never anything else).

A case is what the CLI hands the program: `archon:KEY` -> a string (objects and lists as JSON). Mutations reach
every node of the decoded tree: wrong types, out-of-range numbers, malformed quantities, CIDRs and DNS names,
unknown, misspelt and missing keys, deep nesting, huge values, lone surrogates (text that is not UTF-8) and the
strings YAML reads as something else.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from offline.project import read_stack
from stackconfig import ConfigError, load_stack_config
from stackconfig.errors import PROJECT
from stackconfig.loader import _allowed_keys
from stackconfig.model import StackConfig
from stackconfig.secrets import EXTERNAL_SECRETS

ROOT = Path(__file__).resolve().parents[1]
STACKS = ("staging", "production", "local")
QUANTITIES = ("2GB", "-1Mi", "1.5.3", "", "0", "1e3", "1Ei", "9" * 40 + "Gi", "Infinity", "0x10", " 1Gi", "1Gi ",
              "½Mi", "1m", "-0", "1.0000000000000001Gi", "NaN")
CIDRS = ("10.0.0.0/33", "abc", "::/129", "10.0.0.1", "300.1.1.1/8", "0.0.0.0/0 ", "fe80::/10", "10.0.0.1/8", "/8")
DNS_NAMES = ("UPPER.example.com", "-bad", "a" * 300, "ünïcode.example", "a..b", "", "a_b", "x." * 130, "*.example")
YAML_ODDITIES = ("yes", "no", "on", "off", "~", "null", "0x1F", "1e3", ".nan", "-.inf", "0o17", "!!python/object/apply:"
                 "os.system ['true']", "&anchor x", "*anchor", "<<: *a", "'quoted'", "- item", "{", "[", "}", "\t",
                 "2001-12-14", "12:30:00", "=", "|\n  block", "true ", "False", "NULL", "\x00", "\u2028")
SURROGATES = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=4)


@functools.cache
def _committed(stack: str) -> tuple[tuple[str, str], ...]:
    return tuple(read_stack(ROOT, stack).config.items())


def committed(stack: str) -> dict[str, str]:
    """A committed stack's config, as the CLI hands it to the program."""
    return dict(_committed(stack))


def decode(raw: dict[str, str]) -> dict[str, Any]:
    """`archon:KEY` strings -> a tree (JSON values decoded)."""
    tree: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
            tree[key] = json.loads(value)
        else:
            tree[key] = value
    return tree


def encode(tree: dict[str, Any]) -> dict[str, str]:
    """The tree back to what the CLI hands over: strings, objects and lists as compact JSON with sorted keys, as
    Go's encoding/json writes them (NaN and infinities as JSON extensions, lone surrogates escaped)."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, (dict, list)):
            out[key] = json.dumps(value, sort_keys=True, separators=(",", ":"))
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, float) and not math.isfinite(value):
            out[key] = str(value)
        else:
            out[key] = value if isinstance(value, str) else json.dumps(value)
    return out


def tree_paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into a tree (dict keys and list indexes), the root's children first."""
    found = []
    if isinstance(node, dict):
        for key, child in node.items():
            found.append((*prefix, key))
            found += tree_paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found.append((*prefix, index))
            found += tree_paths(child, (*prefix, index))
    return found


def parent_of(tree: Any, path: tuple) -> Any:
    """The node holding the last part of `path`."""
    node: Any = tree
    for part in path[:-1]:
        node = node[part]
    return node


def values() -> st.SearchStrategy[Any]:
    """A value of any shape a config key might wrongly get."""
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40), SURROGATES,
        st.sampled_from(QUANTITIES), st.sampled_from(CIDRS), st.sampled_from(DNS_NAMES),
        st.sampled_from(YAML_ODDITIES), st.just("x" * 200_000))
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=8)


@dataclass
class Case:
    """One fuzzed config: the stack, what the CLI would hand over, and the mutations that made it."""

    stack: str
    raw: dict[str, str]
    mutations: list[str] = field(default_factory=list)
    unknown_keys: list[str] = field(default_factory=list)  # dotted paths of keys the case added


@st.composite
def cases(draw) -> Case:
    """A committed stack's config with one to three mutations anywhere in it."""
    stack = draw(st.sampled_from(STACKS))
    tree = decode(committed(stack))
    case = Case(stack, {})
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = tree_paths(tree)
        kind = draw(st.sampled_from(("replace", "replace", "replace", "delete", "unknown", "typo", "nest",
                                     "huge-list", "raw-text")))
        path = draw(st.sampled_from(paths)) if paths else ()
        if not path:
            continue
        parent, last = parent_of(tree, path), path[-1]
        dotted = ".".join(str(p) for p in path).removeprefix(f"{PROJECT}:")
        if kind == "replace":
            parent[last] = draw(values())
        elif kind == "delete":
            del parent[last]
        elif kind in ("unknown", "typo"):
            target = parent[last] if isinstance(parent[last], dict) else parent
            if not isinstance(target, dict):
                continue
            base = str(last) if kind == "typo" else draw(st.text(min_size=1, max_size=12))
            new_key = base[:-1] + "z" + base[-1] if kind == "typo" and len(base) > 1 else base + "_x"
            if isinstance(parent[last], dict):
                new_path = f"{dotted}.{new_key}"
            else:
                new_path = ".".join([*dotted.split(".")[:-1], new_key]) if "." in dotted else new_key
            if target is tree and ":" not in new_key:
                new_key = f"{PROJECT}:{new_key}"  # a root key the program sees
                new_path = new_key
            if new_key in target:
                continue
            target[new_key] = draw(values())
            case.unknown_keys.append(new_path.removeprefix(f"{PROJECT}:"))
        elif kind == "nest":
            depth = draw(st.sampled_from((10, 100, 400)))
            value = parent[last]
            for level in range(depth):
                value = {"a": value} if level % 2 else [value]
            parent[last] = value
        elif kind == "huge-list":
            item = draw(st.one_of(st.integers(), st.sampled_from(CIDRS), st.sampled_from(QUANTITIES)))
            parent[last] = [item] * draw(st.sampled_from((1000, 20000)))
        elif kind == "raw-text" and len(path) == 1:
            parent[last] = draw(st.one_of(st.sampled_from(YAML_ODDITIES), SURROGATES, st.just("{not json")))
        case.mutations.append(f"{kind} {dotted}")
    case.raw = encode(tree)
    return case


ROOT_KEYS = frozenset({*(f.alias for f in StackConfig.model_fields.values() if f.alias), *EXTERNAL_SECRETS})


def check(case: Case) -> str:
    """Load the case's config; 'valid' or 'refused'. Raises AssertionError if the refusal is not one line per
    problem naming a key (one the user wrote or one the schema requires); any other exception propagates."""
    try:
        load_stack_config(case.stack, case.raw)
    except ConfigError as error:
        assert error.issues, "a ConfigError with no problem in it"
        written = {key.partition(":")[2] for key in case.raw}
        for issue in error.issues:
            text = str(issue)
            assert "\n" not in text and "\r" not in text, f"more than one line: {text!r}"
            # The project's keys, or the Kubernetes provider's (a key it does not know, which it would ignore).
            assert issue.namespace in (PROJECT, "kubernetes") and text.startswith(f"{issue.namespace}:"), \
                f"names no key: {text!r}"
            if issue.namespace == "kubernetes":
                assert f"kubernetes:{issue.path}" in case.raw, f"names a provider key nobody wrote: {text!r}"
                continue
            # A written top-level key may itself hold dots ("archon:10.0.0.1/8_x"): match whole keys, not a split.
            by_user = any(issue.path == key or issue.path.startswith(key + ".") for key in written)
            assert by_user or issue.path.split(".")[0] in ROOT_KEYS, f"names a key nobody wrote or allows: {text!r}"
        if len(case.mutations) == 1 and case.unknown_keys:  # one added key, alone: it must be the one named
            (unknown,) = case.unknown_keys
            parent = unknown.split(".")[:-1]
            if _allowed_keys(parent):  # under a section with fixed keys (not a free-form map like podLabels)
                named = {issue.path if issue.namespace == PROJECT else f"{issue.namespace}:{issue.path}"
                         for issue in error.issues}
                assert unknown in named, f"added key {unknown} not named: {error}"
        return "refused"
    return "valid"
