"""Helm's values check, done offline: a release's values against its chart's values.schema.json.

Helm validates the chart's default values merged with the release's values against the chart's JSON Schema
before it installs anything, and a `pulumi up` fails there (`values don't meet the specifications of the
schema(s)`) after the preview passed. The offline plan runs the same check wherever the chart is on disk: a
release installed from a local folder (`charts.directory`), or any chart folder a caller names.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from offline.recorder import Recording

RELEASE = "kubernetes:helm.sh/v3:Release"


class ChartValuesError(Exception):
    """A release's values break its chart's schema (the message lists every violation, as Helm does)."""


def merged_values(defaults: dict, values: dict) -> dict:
    """Helm's coalesce: the release's values over the chart's defaults, maps merged key by key, null deletes."""
    out = dict(defaults)
    for key, value in values.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged_values(out[key], value)
        else:
            out[key] = value
    return out


def schema_problems(chart_dir: Path, values: dict) -> list[str]:
    """Each schema violation of these values in the chart at chart_dir, as `at 'PATH': message`."""
    schema_file = chart_dir / "values.schema.json"
    if not schema_file.is_file():
        return []
    schema = json.loads(schema_file.read_text())
    defaults = yaml.safe_load((chart_dir / "values.yaml").read_text()) or {}
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(merged_values(defaults, values)), key=lambda e: list(e.absolute_path))
    return [f"at '/{'/'.join(str(part) for part in error.absolute_path)}': {error.message}" for error in errors]


def check_local_charts(recording: Recording, project_dir: Path) -> None:
    """Raise ChartValuesError for any release from a local chart folder whose values Helm would refuse."""
    problems = []
    for resource in recording.resources:
        if resource.type != RELEASE or "repositoryOpts" in resource.inputs:
            continue
        chart_dir = project_dir / str(resource.inputs.get("chart", ""))
        if chart_dir.is_dir():
            problems += [f"{resource.name} ({chart_dir.name}): {p}"
                         for p in schema_problems(chart_dir, resource.inputs.get("values") or {})]
    if problems:
        raise ChartValuesError("values don't meet the specifications of the charts' schemas (Helm refuses the "
                               "release at `pulumi up`):\n  " + "\n  ".join(problems))
