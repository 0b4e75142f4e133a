"""`python -m offline plan --diff BASE_DIR [--fail-on-replace]`: updates per field, replacements, data-loss risks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offline.__main__ import main
from offline.diff import diff, provider_mutable
from offline.variant import copy_project, edit_stack, set_path


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """An unchanged staging plan to compare with."""
    out = tmp_path_factory.mktemp("base")
    assert main(["plan", "--stack", "staging", "--out", str(out)]) == 0
    return out


def plan_changed(tmp_path: Path, capsys, *assignments: str, extra: tuple[str, ...] = ()) -> tuple[int, str, str]:
    project = copy_project(tmp_path / "project")
    edit_stack(project, "staging", lambda config: [set_path(config, a) for a in assignments])
    capsys.readouterr()
    code = main(["plan", "--stack", "staging", "--project-dir", str(project), "--out", str(tmp_path / "out"),
                 *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_replica_change_is_a_field_level_update(base, tmp_path, capsys):
    code, out, _ = plan_changed(tmp_path, capsys, "archon:services.mcp.replicas=2",
                                extra=("--diff", str(base), "--fail-on-replace"))
    assert code == 0
    report = json.loads((tmp_path / "out" / "diff.json").read_text())
    (update,) = [c for c in report["changes"] if c["action"] == "update"]
    assert (update["name"], update["fields"]) == ("archon-mcp", [{"path": "spec.replicas", "old": 1, "new": 2}])
    assert report["summary"]["replace"] == report["summary"]["dataLoss"] == report["summary"]["delete"] == 0
    assert "~  kubernetes:apps/v1:Deployment" in out and "spec.replicas: 1 => 2" in out


def test_a_storage_class_change_is_a_data_loss_replacement_and_fails_on_request(base, tmp_path, capsys):
    change = "archon:databases.postgres.storage.storageClass=fast"
    code, out, err = plan_changed(tmp_path, capsys, change, extra=("--diff", str(base), "--fail-on-replace"))
    assert code == 3
    assert "--fail-on-replace" in err
    report = json.loads((tmp_path / "out" / "diff.json").read_text())
    (replace,) = [c for c in report["changes"] if c["action"] == "replace"]
    assert (replace["name"], replace["forcedBy"], replace["dataLoss"]) == (
        "archon-postgres", ["spec.volumeClaimTemplates"], True)
    assert "archon-postgres" in out and "DATA-LOSS RISK" in out and "(forces replacement)" in out
    code, _, _ = plan_changed(tmp_path / "again", capsys, change, extra=("--diff", str(base)))
    assert code == 0  # reported, but only --fail-on-replace fails the run


def test_rotated_credentials_replace_only_the_passwords_and_update_secrets_without_showing_them(base, tmp_path,
                                                                                               capsys):
    code, out, _ = plan_changed(tmp_path, capsys, "archon:databases.credentialsRotation=1",
                                extra=("--diff", str(base), "--fail-on-replace"))
    assert code == 0  # a Secret's data changes, not its type: no data is lost
    report = json.loads((tmp_path / "out" / "diff.json").read_text())
    replaced = {c["name"]: c for c in report["changes"] if c["action"] == "replace"}
    updated = {c["name"]: c for c in report["changes"] if c["action"] == "update"}
    assert "archon-postgres-password" in replaced
    # kubernetes:enableSecretMutable (the committed stacks): the Secret changes in place, so its replacement
    # cannot drag the StatefulSet that mounts it into one (the real engine replaces such dependents).
    assert "archon-postgres-credentials" in updated and "archon-postgres-credentials" not in replaced
    secret_fields = updated["archon-postgres-credentials"]["fields"]
    assert secret_fields and all(f["old"] == f["new"] == "[secret]" for f in secret_fields
                                 if f["path"].startswith("data"))
    passwords = [r["inputs"].get("result") for r in json.loads((tmp_path / "out" / "resources.json").read_text())
                 if r["type"].startswith("random:")]
    assert not [pw for pw in passwords if pw and (pw in out or pw in json.dumps(report))]


def test_without_the_mutable_settings_secret_and_config_map_data_replace():
    old = [{"urn": "u1", "type": "kubernetes:core/v1:Secret", "name": "s", "inputs": {"data": {"a": "1"}}},
           {"urn": "u2", "type": "kubernetes:core/v1:ConfigMap", "name": "c", "inputs": {"data": {"a": "1"}}}]
    new = [{**r, "inputs": {"data": {"a": "2"}}} for r in old]
    assert [c.action for c in diff(old, new)] == ["replace", "replace"]
    mutable = provider_mutable({"kubernetes:enableSecretMutable": "true", "kubernetes:enableConfigMapMutable": "true"})
    assert [c.action for c in diff(old, new, mutable)] == ["update", "update"]
    assert provider_mutable({"kubernetes:enableSecretMutable": "false"}) == {}


def test_no_change_says_so(base, tmp_path, capsys):
    code, out, _ = plan_changed(tmp_path, capsys, extra=("--diff", str(base)))
    assert code == 0 and "no changes" in out
    assert json.loads((tmp_path / "out" / "diff.json").read_text())["summary"]["create"] == 0


def test_the_base_may_be_the_output_folder(tmp_path, capsys):
    assert main(["plan", "--stack", "staging", "--out", str(tmp_path)]) == 0
    assert main(["plan", "--stack", "staging", "--out", str(tmp_path), "--diff", str(tmp_path)]) == 0
    assert "no changes" in capsys.readouterr().out


def test_a_missing_base_is_refused_before_anything_is_touched(base, tmp_path, capsys):
    (tmp_path / "resources.json").write_text("[]")
    code = main(["plan", "--stack", "staging", "--out", str(tmp_path), "--diff", str(tmp_path / "nope")])
    assert code == 2
    assert "no resources.json there" in capsys.readouterr().err
    assert (tmp_path / "resources.json").read_text() == "[]"  # the earlier plan is kept


def test_fail_on_replace_needs_a_base(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["plan", "--stack", "staging", "--fail-on-replace"])
    assert exited.value.code == 2
    assert "--fail-on-replace needs --diff" in capsys.readouterr().err


def test_deleted_and_renamed_resources():
    old = [{"urn": "u1", "type": "kubernetes:core/v1:PersistentVolumeClaim", "name": "data",
            "inputs": {"metadata": {"name": "data"}, "spec": {"storageClassName": "a"}}},
           {"urn": "u2", "type": "kubernetes:core/v1:ConfigMap", "name": "gone", "inputs": {}}]
    new = [{"urn": "u1", "type": "kubernetes:core/v1:PersistentVolumeClaim", "name": "data",
            "inputs": {"metadata": {"name": "data-2"}, "spec": {"storageClassName": "a"}}}]
    (renamed, deleted) = diff(old, new)
    assert (renamed.action, renamed.forced_by, renamed.data_loss) == ("replace", ["metadata.name"], True)
    assert (deleted.action, deleted.name) == ("delete", "gone")


def test_rotated_credentials_roll_every_pod_that_reads_them(base, tmp_path, capsys):
    code, _, _ = plan_changed(tmp_path, capsys, "archon:databases.credentialsRotation=1", extra=("--diff", str(base)))
    assert code == 0
    report = json.loads((tmp_path / "out" / "diff.json").read_text())
    rolled = {c["name"] for c in report["changes"] if c["action"] == "update" and any(
        f["path"] == "spec.template.metadata.annotations.archon.io/secrets-checksum" for f in c["fields"])}
    # ... the data API too: PostgREST logs in with the rotated authenticator password
    assert rolled == {"archon-frontend", "archon-server", "archon-mcp", "archon-agents", "archon-data-api"}


def test_a_redis_memory_change_leaves_its_protected_credentials_alone(tmp_path, capsys):
    # Production protects the credentials Secret; redis.conf (with maxmemory) lives in a ConfigMap instead, which
    # changes in place (kubernetes:enableConfigMapMutable), so the protected StatefulSet only rolls.
    base_out = tmp_path / "base"
    project = copy_project(tmp_path / "project")
    edit_stack(project, "production", lambda c: set_path(c, "archon:databases.redis.enabled=true"))
    assert main(["plan", "--stack", "production", "--project-dir", str(project), "--out", str(base_out)]) == 0
    edit_stack(project, "production", lambda c: set_path(c, "archon:databases.redis.resources.limits.memory=2Gi"))
    capsys.readouterr()
    assert main(["plan", "--stack", "production", "--project-dir", str(project), "--out", str(tmp_path / "out"),
                 "--diff", str(base_out), "--fail-on-replace"]) == 0
    report = json.loads((tmp_path / "out" / "diff.json").read_text())
    changed = {c["name"]: c["action"] for c in report["changes"]}
    assert changed == {"archon-redis-config": "update", "archon-redis": "update"}
    assert report["summary"]["dataLoss"] == 0
