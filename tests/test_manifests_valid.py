"""Every rendered manifest passes `kubernetes-validate --strict` for the oldest and newest supported Kubernetes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, STACKS, plan

VERSIONS = ("1.30.0", "1.37.0")
VALIDATE = shutil.which("kubernetes-validate", path=str(Path(sys.executable).parent)) or "kubernetes-validate"


def validate(files: list[Path], version: str) -> subprocess.CompletedProcess:
    return subprocess.run([VALIDATE, "--strict", "--quiet", "-k", version, *map(str, files)],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("stack", STACKS)
def test_stack_manifests_are_schema_valid(plans, stack, version):
    files = sorted((plans[stack].out / "manifests").glob("*.yaml"))
    assert files
    result = validate(files, version)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("version", VERSIONS)
def test_builder_workloads_are_schema_valid(tmp_path, version):
    result = plan("test", tmp_path, project_dir=ROOT / "tests" / "programs" / "workloads")
    assert result.exit_code == 0, result.stderr
    files = sorted((tmp_path / "manifests").glob("*.yaml"))
    assert [f.name.split("-")[0] for f in files] == ["configmap", "cronjob", "deployment", "statefulset"]
    validation = validate(files, version)
    assert validation.returncode == 0, validation.stdout + validation.stderr


def test_the_validator_does_reject_unknown_fields(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n  lables: {a: b}\n")
    assert validate([bad], "1.37.0").returncode != 0
