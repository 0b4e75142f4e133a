"""Shared fixtures: the project root, raw stack config, and offline plans of both stacks."""

from __future__ import annotations

import contextlib
import functools
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from offline.__main__ import run_plan
from offline.planning import PlanRequest
from offline.project import read_stack
from offline.variant import copy_project, edit_stack
from tests import reachability

ROOT = Path(__file__).resolve().parents[1]
STACKS = ("staging", "production")


@dataclass
class Plan:
    """A finished offline plan, read back from the files it wrote."""

    out: Path
    exit_code: int
    stdout: str
    stderr: str

    @property
    def resources(self) -> list[dict]:
        return json.loads((self.out / "resources.json").read_text())

    @property
    def outputs(self) -> dict:
        return json.loads((self.out / "outputs.json").read_text())

    @property
    def manifests(self) -> list[dict]:
        return [d for d in yaml.safe_load_all((self.out / "manifests.yaml").read_text()) if d]

    def resource(self, type_: str, name: str) -> dict:
        matches = [r for r in self.resources if r["type"] == type_ and r["name"] == name]
        assert len(matches) == 1, f"expected one {type_} {name}, found {len(matches)}"
        return matches[0]

    def objects(self, kind: str) -> list[dict]:
        return [m for m in self.manifests if m["kind"] == kind]

    @functools.cached_property
    def connections(self) -> set[tuple[str, str, int, str]]:
        """What the plan's NetworkPolicies allow (tests/reachability.py)."""
        return reachability.connections(self.manifests)


def plan(stack: str, out: Path, project_dir: Path = ROOT, fmt: str = "text") -> Plan:
    """Run the offline plan in-process and capture what it prints."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = run_plan(PlanRequest(stack, project_dir), out, fmt)
    return Plan(out, code, stdout.getvalue(), stderr.getvalue())


@pytest.fixture(scope="session")
def plans(tmp_path_factory) -> dict[str, Plan]:
    """One offline plan per stack, shared by every test that only reads it."""
    result = {}
    for stack in STACKS:
        result[stack] = plan(stack, tmp_path_factory.mktemp(f"plan-{stack}"))
        assert result[stack].exit_code == 0, result[stack].stderr
    return result


def raw_config(stack: str) -> dict[str, str]:
    """The config map the CLI would hand the program for a committed stack file."""
    return dict(read_stack(ROOT, stack).config)


def plan_with(tmp_path: Path, stack: str, edit) -> Plan:
    """Plan a copy of the project whose `Pulumi.STACK.yaml` config mapping `edit` changed in place."""
    project = copy_project(tmp_path / "project")
    edit_stack(project, stack, edit)
    return plan(stack, tmp_path / "out", project_dir=project)


@pytest.fixture
def project_copy(tmp_path) -> Path:
    """A scratch copy of the Pulumi project whose stack files a test may edit."""
    return copy_project(tmp_path)
