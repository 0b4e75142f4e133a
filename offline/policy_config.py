"""Policy pack config as the CLI reconciles it: schema defaults, the pack's initial config, then the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from google.protobuf import json_format
from pulumi.runtime.proto import analyzer_pb2

LEVELS = {"advisory": analyzer_pb2.ADVISORY, "mandatory": analyzer_pb2.MANDATORY,
          "disabled": analyzer_pb2.DISABLED, "remediate": analyzer_pb2.REMEDIATE}
LEVEL_NAMES = {value: name for name, value in LEVELS.items()}


class PolicyConfigError(Exception):
    """The policy config file is missing, malformed, or does not fit the pack's schemas."""


def read_policy_config(path: Path) -> dict[str, Any]:
    """The `--policy-pack-config` JSON file: {"all": level, "<policy>": level | {"enforcementLevel", ...}}."""
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise PolicyConfigError(f"--policy-config: no such file {path}") from None
    except json.JSONDecodeError as exc:
        raise PolicyConfigError(f"--policy-config: {path} is not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise PolicyConfigError(f"--policy-config: {path} must be a JSON object of policy names")
    return doc


def reconcile(info: analyzer_pb2.AnalyzerInfo, file_config: dict[str, Any], source: str) -> dict[str, dict]:
    """{policy: {"enforcementLevel": level, **properties}} for every policy of the pack, validated."""
    policies = {p.name: p for p in info.policies}
    result: dict[str, dict] = {}
    for name, policy in policies.items():
        schema = json_format.MessageToDict(policy.configSchema.properties) if policy.HasField("configSchema") else {}
        defaults = {key: prop["default"] for key, prop in schema.items()
                    if isinstance(prop, dict) and "default" in prop}
        result[name] = {"enforcementLevel": LEVEL_NAMES[policy.enforcementLevel], **defaults}
    for name, initial in info.initialConfig.items():
        result[name].update({"enforcementLevel": LEVEL_NAMES[initial.enforcementLevel],
                             **json_format.MessageToDict(initial.properties)})
    unknown = sorted(set(file_config) - set(policies) - {"all"})
    if unknown:
        raise PolicyConfigError(f"{source}: {', '.join(unknown)} is not a policy of pack {info.name} "
                                f"(policies: {', '.join(sorted(policies))})")
    if "all" in file_config:
        for entry in result.values():
            entry["enforcementLevel"] = _level(file_config["all"], f"{source}: all")
    for name, value in file_config.items():
        if name == "all":
            continue
        if isinstance(value, str):
            result[name]["enforcementLevel"] = _level(value, f"{source}: {name}")
        elif isinstance(value, dict):
            value = dict(value)
            if "enforcementLevel" in value:
                result[name]["enforcementLevel"] = _level(value.pop("enforcementLevel"), f"{source}: {name}")
            result[name].update(value)
        else:
            raise PolicyConfigError(f"{source}: {name} must be an enforcement level or an object")
    for name, policy in policies.items():
        _validate(name, policy, result[name], source)
    return result


def _level(value: Any, where: str) -> str:
    if value not in LEVELS:
        raise PolicyConfigError(f"{where}: {value!r} is not an enforcement level ({', '.join(LEVELS)})")
    return value


def _validate(name: str, policy: analyzer_pb2.PolicyInfo, config: dict, source: str) -> None:
    properties = json_format.MessageToDict(policy.configSchema.properties) if policy.HasField("configSchema") else {}
    schema = {"type": "object", "properties": {**properties, "enforcementLevel": {"enum": list(LEVELS)}},
              "required": list(policy.configSchema.required), "additionalProperties": False}
    try:
        jsonschema.validate(config, schema)
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path)
        raise PolicyConfigError(f"{source}: {name}{'.' + where if where else ''}: {exc.message}") from None


def to_configure_request(config: dict[str, dict]) -> analyzer_pb2.ConfigureAnalyzerRequest:
    """The Configure call the CLI makes: every policy with its level and properties."""
    request = analyzer_pb2.ConfigureAnalyzerRequest()
    for name, entry in config.items():
        properties = {k: v for k, v in entry.items() if k != "enforcementLevel"}
        request.policyConfig[name].enforcementLevel = LEVELS[entry["enforcementLevel"]]
        request.policyConfig[name].properties.update(properties)
    return request
