"""Turn the raw Pulumi config of a stack into a validated StackConfig, or one clear ConfigError."""

from __future__ import annotations

import difflib
import functools
import json
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from stackconfig import rules
from stackconfig.errors import PROJECT, ConfigError, ConfigIssue
from stackconfig.model import StackConfig
from stackconfig.secrets import EXTERNAL_SECRETS

# What a value of each pattern-checked key must look like, by key name.
PATTERN_HINTS = {
    "registry": "is not an image repository such as ghcr.io/acme/archon",
    "endpoint": "is not an https URL such as https://s3.eu-west-1.amazonaws.com",
    "schedule": "is not a cron schedule such as '0 3 * * *' or @daily",
    "prefix": "may hold only letters, digits, '.', '_', '-' and '/'",
    "supabaseUrl": "is not a URL such as https://xyz.supabase.co",
}


def pulumi_config() -> dict[str, Any]:
    """Every config value the running program was given (CLI env or mocks), keyed `ns:key`."""
    from pulumi.runtime import config as runtime_config

    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def engine_secret_keys(raw: Mapping[str, Any]) -> frozenset[str]:
    """The keys of `raw` the engine handed over as secrets."""
    from pulumi.runtime import config as runtime_config

    env = set(runtime_config.get_config_secret_keys_env())
    return frozenset(key for key in raw if key in env or runtime_config.is_config_secret(key))


def parse_raw_config(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[ConfigIssue]]:
    """Keep the project's keys, without namespace, decoding structured (JSON) values."""
    data: dict[str, Any] = {}
    issues = []
    for full_key, value in raw.items():
        namespace, _, key = full_key.partition(":")
        if namespace == "kubernetes" and key not in provider_keys():
            issues.append(_unknown_provider_key(key, value))
        if namespace != PROJECT or key in EXTERNAL_SECRETS:
            continue
        if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                issues.append(ConfigIssue(key, value, f"is not valid structured config ({exc.msg})"))
                continue
        data[key] = value
    return data, issues


def load_stack_config(stack: str, raw: Mapping[str, Any] | None = None,
                      secret_keys: frozenset[str] | None = None) -> StackConfig:
    """Validate a stack's config; raise ConfigError listing every problem by key. `secret_keys` (the engine's
    by default) are the keys set with --secret: a credential given in plain text is refused."""
    if raw is None:
        raw = pulumi_config()
        secret_keys = engine_secret_keys(raw) if secret_keys is None else secret_keys
    data, issues = parse_raw_config(raw)
    if secret_keys is not None:
        issues += [ConfigIssue(key, None, f"is a secret ({EXTERNAL_SECRETS[key]}) but is set in plain text, so it "
                               f"would be stored and shown as such; set it with `pulumi config set --secret {key} …`",
                               has_value=False)
                   for key in sorted(EXTERNAL_SECRETS)
                   if f"{PROJECT}:{key}" in raw and f"{PROJECT}:{key}" not in secret_keys]
    if issues:
        raise ConfigError(stack, issues)
    try:
        cfg = StackConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(stack, [_issue(err) for err in exc.errors()]) from None
    present = frozenset(key.partition(":")[2] for key in raw if key.startswith(f"{PROJECT}:"))
    issues = rules.check(cfg, present)
    if issues:
        raise ConfigError(stack, issues)
    return cfg


def _issue(err: Mapping[str, Any]) -> ConfigIssue:
    loc = [str(part) for part in err["loc"]]
    path = ".".join(loc)
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "extra_forbidden":
        return ConfigIssue(path, err["input"], _unknown_key(loc))
    if kind == "missing":
        return ConfigIssue(path, None, "is required but not set", has_value=False)
    messages = {
        "greater_than_equal": lambda: f"must be at least {ctx.get('ge')}",
        "less_than_equal": lambda: f"must be at most {ctx.get('le')}",
        "int_parsing": lambda: "must be a whole number",
        "int_type": lambda: "must be a whole number",
        "int_from_float": lambda: "must be a whole number",
        "bool_parsing": lambda: "must be true or false",
        "bool_type": lambda: "must be true or false",
        "literal_error": lambda: f"must be one of {ctx.get('expected')}",
        "string_type": lambda: "must be a string",
        "model_type": lambda: "must be a mapping of keys (a YAML object)",
        "model_attributes_type": lambda: "must be a mapping of keys (a YAML object)",
        "string_pattern_mismatch": lambda: PATTERN_HINTS.get(loc[-1], f"does not match {ctx.get('pattern')}"),
        "string_too_short": lambda: "must not be empty",
    }
    message = messages[kind]() if kind in messages else err["msg"].removeprefix("Value error, ")
    return ConfigIssue(path, err.get("input"), message)


def _unknown_key(loc: list[str]) -> str:
    allowed = _allowed_keys(loc[:-1])
    if not loc[:-1]:
        allowed += list(EXTERNAL_SECRETS)
    close = difflib.get_close_matches(loc[-1], allowed, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown key; {hint}allowed keys here: {', '.join(sorted(allowed))}"


@functools.cache
def provider_keys() -> tuple[str, ...]:
    """The Kubernetes provider's config keys, as its SDK (the pinned version) lists its arguments."""
    import inspect

    from pulumi_kubernetes.provider import Provider

    names = [n for n in inspect.signature(Provider._internal_init).parameters
             if n not in ("__self__", "resource_name", "opts", "__props__")]
    return tuple(n.split("_")[0] + "".join(part.title() for part in n.split("_")[1:]) for n in names)


def _unknown_provider_key(key: str, value: Any) -> ConfigIssue:
    """The provider ignores keys it does not know, so a typo would silently keep its default."""
    allowed = provider_keys()
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return ConfigIssue(key, value, f"unknown key of the Kubernetes provider, which would ignore it; {hint}allowed "
                       f"keys: {', '.join(sorted(allowed))}", namespace="kubernetes")


def _allowed_keys(parent: list[str]) -> list[str]:
    model: type[BaseModel] = StackConfig
    for part in parent:
        field = next((f for f in model.model_fields.values() if f.alias == part), None)
        if field is None:
            return []
        inner = _model_of(field.annotation)
        if inner is None:
            return []
        model = inner
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found:
            return found
    return None
