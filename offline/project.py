"""Read Pulumi.yaml and Pulumi.<stack>.yaml and hand config to the program the way the CLI does."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ProjectError(Exception):
    """The project or stack files are missing or invalid; the message says which and why."""


@dataclass(frozen=True)
class Placeholder:
    """A secret config value the offline plan cannot know; `pulumi up` needs the real one."""

    key: str
    reason: str


@dataclass
class StackInputs:
    """What the CLI would hand to the program: project, stack, main file, config and secret keys."""

    project_dir: Path
    project: str
    stack: str
    main: Path
    config: dict[str, str] = field(default_factory=dict)
    secret_keys: list[str] = field(default_factory=list)
    placeholders: list[Placeholder] = field(default_factory=list)


_TYPES = {"string": str, "integer": int, "boolean": bool, "array": list}


def placeholder_value(key: str) -> str:
    """The marked stand-in for a secret that cannot be read offline."""
    return f"offline-placeholder:{key}"


def read_stack(project_dir: Path, stack: str) -> StackInputs:
    """Load the project and stack files and build the config map the program will see."""
    project_file = _find(project_dir, "Pulumi")
    project_doc = _load_yaml(project_file)
    name = project_doc.get("name")
    if not isinstance(name, str) or not name:
        raise ProjectError(f"{project_file.name}: 'name' is required")
    stack_dir = project_dir / project_doc.get("stackConfigDir", ".")
    stack_file = stack_dir / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in stack_dir.glob("Pulumi.*.yaml"))
        raise ProjectError(f"no stack file {stack_file.name} in {stack_dir}; stacks here: {', '.join(known) or 'none'}")
    stack_doc = _load_yaml(stack_file)
    main = project_dir / project_doc.get("main", ".")
    main = main / "__main__.py" if main.is_dir() else main
    inputs = StackInputs(project_dir=project_dir, project=name, stack=stack, main=main)

    values: dict[str, Any] = {}
    for raw_key, value in _section(stack_doc, "config", stack_file).items():
        values[_qualify(name, raw_key)] = value
    for raw_key, decl in _section(project_doc, "config", project_file).items():
        _apply_declaration(inputs, values, _qualify(name, raw_key), decl, stack_file.name)
    for key in PROVIDER_BOOLEANS:
        if key in values and not _is_secure(values[key]) and not _cli_accepts("boolean", values[key]):
            # The Kubernetes provider's CheckConfig refuses it before anything is planned.
            raise ProjectError(f"{key} = {_short(values[key])}: must be true or false (a setting of the "
                               f"Kubernetes provider, in {stack_file.name})")
    for key, value in values.items():
        secret, text = _encode(inputs, key, value)
        inputs.config[key] = text
        if secret:
            inputs.secret_keys.append(key)
    return inputs


# The Kubernetes provider's boolean settings (its schema's config variables): the stacks set two of them.
PROVIDER_BOOLEANS = tuple(f"kubernetes:{name}" for name in (
    "enableSecretMutable", "enableConfigMapMutable", "enableServerSideApply", "deleteUnreachable",
    "skipUpdateUnreachable", "suppressDeprecationWarnings", "suppressHelmHookWarnings", "strictMode"))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _apply_declaration(inputs: StackInputs, values: dict, key: str, decl: Any, stack_file: str) -> None:
    if not isinstance(decl, dict) or "type" not in decl:
        # A plain value (or {value: ...}) in Pulumi.yaml is a project-wide default.
        default = decl.get("value") if isinstance(decl, dict) else decl
        values.setdefault(key, default)
        return
    if decl["type"] not in _TYPES:
        raise ProjectError(f"Pulumi.yaml: config key '{key}' has type {decl['type']!r}; the Pulumi CLI allows "
                           f"only {', '.join(_TYPES)} (structured keys stay undeclared)")
    if key not in values:
        if "default" in decl:
            values[key] = decl["default"]
        elif decl.get("secret"):
            values[key] = {"secure": None}
            inputs.placeholders.append(Placeholder(key, f"declared secret, not set in {stack_file}"))
        else:
            close = difflib.get_close_matches(key, [k for k in values if k.startswith(key.split(":")[0] + ":")], n=1,
                                              cutoff=0.75)
            hint = f" ({close[0]} is set in {stack_file}: a typo of it?)" if close else ""
            raise ProjectError(f"Stack '{inputs.stack}' is missing configuration value '{key}'{hint}")
        return
    value = values[key]
    if _is_secure(value):
        return
    if decl.get("secret"):  # the CLI's own refusal (and a plaintext secret would land in the manifests)
        raise ProjectError(f"Stack '{inputs.stack}' with configuration key '{key}' must be encrypted as it's secret")
    if not _cli_accepts(decl["type"], value):
        raise ProjectError(f"Stack '{inputs.stack}' with configuration key '{key}' must be of type "
                           f"'{decl['type']}' (got {_short(value)} in {stack_file})")


def _cli_accepts(type_name: str, value: Any) -> bool:
    """The CLI's check (workspace.ValidateConfigValue) on the value as the CLI stores it: scalars as their text,
    so `"false"` passes as a boolean and `"3"` as an integer, and YAML's `true` passes as a string."""
    if isinstance(value, (dict, list)):
        return type_name == "array" and isinstance(value, list)
    text = "true" if value is True else "false" if value is False else "" if value is None else str(value)
    if type_name == "integer":
        return re.fullmatch(r"[+-]?\d+", text) is not None
    if type_name == "boolean":
        return text in ("true", "false")
    return type_name == "string"


def _encode(inputs: StackInputs, key: str, value: Any) -> tuple[bool, str]:
    """Config reaches the program as strings; structured values as JSON, like the CLI sends them."""
    if _is_secure(value):
        if not any(p.key == key for p in inputs.placeholders):
            inputs.placeholders.append(Placeholder(key, "encrypted (secure:) value, cannot be decrypted offline"))
        return True, placeholder_value(key)
    if isinstance(value, (dict, list)):
        secret = [False]
        plain = _strip_secure(inputs, key, value, secret)
        return secret[0], json.dumps(plain, separators=(",", ":"), sort_keys=True)  # Go's encoding/json sorts keys
    if isinstance(value, bool):
        return False, "true" if value else "false"
    return False, "" if value is None else str(value)


def _strip_secure(inputs: StackInputs, key: str, value: Any, secret: list) -> Any:
    if _is_secure(value):
        secret[0] = True
        inputs.placeholders.append(Placeholder(key, "contains an encrypted (secure:) value"))
        return placeholder_value(key)
    if isinstance(value, dict):
        return {k: _strip_secure(inputs, key, v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_secure(inputs, key, v, secret) for v in value]
    return value


def _section(doc: dict, name: str, path: Path) -> dict:
    section = doc.get(name) or {}
    if not isinstance(section, dict):
        raise ProjectError(f"{path.name}: '{name}' must be a mapping of keys to values")
    return section


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def _qualify(project: str, key: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def _find(project_dir: Path, stem: str) -> Path:
    for suffix in (".yaml", ".yml"):
        path = project_dir / f"{stem}{suffix}"
        if path.is_file():
            return path
    raise ProjectError(f"no {stem}.yaml in {project_dir}")


def _load_yaml(path: Path) -> dict:
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ProjectError(f"{path.name} is not valid YAML: {exc}") from None
    except RecursionError:  # PyYAML reads nesting recursively: a few hundred levels exhaust Python's stack
        raise ProjectError(f"{path.name} is nested too deeply to read (hundreds of levels)") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ProjectError(f"{path.name} must be a YAML mapping")
    return doc
