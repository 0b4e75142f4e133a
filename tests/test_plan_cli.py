"""`python -m offline plan` as users and CI run it: exit codes, files written, messages on stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.helpers import DELETE


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "offline", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def edit_stack(project: Path, stack: str, key: str, path: str, value) -> None:
    """Change one value in the copy's Pulumi.<stack>.yaml, as a user editing the file would."""
    stack_file = project / f"Pulumi.{stack}.yaml"
    doc = yaml.safe_load(stack_file.read_text())
    node = doc["config"]
    parts = [key, *path.split(".")] if path else [key]
    for part in parts[:-1]:
        node = node[part]
    if value is DELETE:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value
    stack_file.write_text(yaml.safe_dump(doc))


@pytest.mark.parametrize("stack", ["staging", "production"])
def test_plan_writes_every_file_and_exits_zero(stack, tmp_path):
    result = run_cli("plan", "--stack", stack, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for name in ("resources.json", "outputs.json", "manifests.yaml", "policy-report.json", "policy-report.sarif"):
        assert (tmp_path / name).is_file()
    assert sorted(p.name for p in (tmp_path / "manifests").iterdir())
    assert "Previewing update" in result.stdout
    assert f"config policies/config/{stack}.json" in result.stdout
    assert result.stderr == ""


def test_default_out_dir_is_build_stack(project_copy):
    result = run_cli("plan", "--stack", "staging", "--project-dir", str(project_copy))
    assert result.returncode == 0, result.stderr
    assert (project_copy / "build" / "staging" / "resources.json").is_file()


DONE_WHEN = [
    # (stack, top-level key, path below it, new value, the one line naming the key)
    ("staging", "archon:services", "server.replcas", 1,
     "archon:services.server.replcas = 1: unknown key; did you mean 'replicas'?"),
    ("staging", "archon:services", "server.replicas", -1, "archon:services.server.replicas = -1: must be at least 0"),
    ("staging", "archon:services", "server.resources.limits.memory", "2GB",
     "archon:services.server.resources.limits.memory = '2GB': is not a Kubernetes quantity"),
    ("staging", "archon:services", "mcp.resources.limits.cpu", "10m",
     "archon:services.mcp.resources.limits.cpu = '10m': the limit must be at least the request (50m)"),
    ("production", "archon:domain", "", DELETE, None),
]


@pytest.mark.parametrize("stack, key, path, value, line", DONE_WHEN, ids=[f"{c[1]}.{c[2]}" for c in DONE_WHEN])
def test_invalid_config_exits_2_with_one_message_and_writes_nothing(project_copy, tmp_path, stack, key, path,
                                                                     value, line):
    edit_stack(project_copy, stack, key, path, value)
    out = tmp_path / "out"
    out.mkdir()
    (out / "resources.json").write_text("[] stale, from an earlier run")
    result = run_cli("plan", "--stack", stack, "--out", str(out), "--project-dir", str(project_copy))
    assert result.returncode == 2
    assert result.stdout == ""
    assert not (out / "resources.json").exists()
    assert not (out / "manifests").exists()
    if line is None:  # a key declared in Pulumi.yaml without a default: the CLI's own wording
        assert result.stderr == f"error: Stack '{stack}' is missing configuration value 'archon:domain'\n"
    else:
        header, *issues = result.stderr.strip().splitlines()
        assert header == f"error: invalid config for stack '{stack}' (1 problem):"
        assert len(issues) == 1 and issues[0].strip().startswith(line)


def test_unknown_stack_names_the_stacks_that_exist():
    result = run_cli("plan", "--stack", "qa")
    assert result.returncode == 2
    assert "no stack file Pulumi.qa.yaml" in result.stderr
    assert "stacks here: local, production, staging" in result.stderr


def test_wrong_type_for_a_declared_key_is_refused_like_the_cli(project_copy, tmp_path):
    edit_stack(project_copy, "staging", "archon:protectStatefulResources", "", "yes")
    result = run_cli("plan", "--stack", "staging", "--out", str(tmp_path), "--project-dir", str(project_copy))
    assert result.returncode == 2
    assert ("Stack 'staging' with configuration key 'archon:protectStatefulResources' must be of type 'boolean'"
            in result.stderr)


def test_program_crash_exits_2_with_the_traceback(project_copy, tmp_path):
    (project_copy / "__main__.py").write_text("raise RuntimeError('boom in the program')\n")
    result = run_cli("plan", "--stack", "staging", "--out", str(tmp_path), "--project-dir", str(project_copy))
    assert result.returncode == 2
    assert "the program failed for stack 'staging'" in result.stderr and "boom in the program" in result.stderr
    assert not (tmp_path / "resources.json").exists()


def test_json_format_summarises_the_plan(tmp_path):
    result = run_cli("plan", "--stack", "staging", "--out", str(tmp_path), "--format", "json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["stack"] == "staging"
    assert summary["summary"]["create"] == len(json.loads((tmp_path / "resources.json").read_text()))
    assert summary["placeholders"] == [{"key": "archon:openaiApiKey",
                                        "reason": "declared secret, not set in Pulumi.staging.yaml"}]
    assert summary["policy"] == {"ran": True, "policyPack": {"name": "archon-security", "version": "0.1.0"},
                                 "config": "policies/config/staging.json", "mandatory": 0, "advisory": 0,
                                 "exempted": 3}


def test_missing_policy_config_file_is_an_input_error(tmp_path):
    result = run_cli("plan", "--stack", "staging", "--out", str(tmp_path), "--policy-config", "nope.json")
    assert result.returncode == 2
    assert "--policy-config: no such file nope.json" in result.stderr
