"""The real node's harness without a node: the image table against what the local stack runs, the cache keys, the
placement policy, the stand-in data API, and the node's prerequisites. The node itself runs in make e2e."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import sys
import time

import pytest

from e2e import images, node, placement
from tests.conftest import ROOT, plan

TABLE = ROOT / "tools" / "e2e" / "images.json"


@pytest.fixture(scope="module")
def local_images(tmp_path_factory) -> set[str]:
    """Every image the local stack's pods name, from its offline plan."""
    found: set[str] = set()

    def walk(value) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "image" and isinstance(inner, str):
                    found.add(inner)
                else:
                    walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    result = plan("local", tmp_path_factory.mktemp("local"))
    assert result.exit_code == 0, result.stderr
    walk(result.manifests)
    return found


def test_every_image_of_the_local_stack_is_built_here_or_said_why_not(local_images):
    raw = json.loads(TABLE.read_text())
    built = {tag for row in raw["images"] for tag in row["tags"]}
    unavailable = {row["image"]: row["why"] for row in raw["unavailable"]}
    assert local_images <= built | set(unavailable), sorted(local_images - built - set(unavailable))
    assert not built & set(unavailable)
    assert all(len(why) > 20 for why in unavailable.values())
    # The table names no image the stack does not run (a version bump in the program shows up here).
    stand_ins = {tag for tag in built if not tag.startswith("localhost/archon-e2e/")}
    assert stand_ins <= local_images, sorted(stand_ins - local_images)


def test_every_stand_in_says_what_it_runs_and_how_it_differs():
    _, rows = images.load_table(TABLE)
    for image in rows:
        if image.rootfs:
            continue
        assert image.software and image.role, image.name
        third_party = not any(t.startswith(("localhost/", "localhost:")) for t in image.tags)
        if third_party:
            assert image.differs, f"{image.name} stands in for {image.tags} and must say how it differs"


def test_the_app_images_build_with_the_catalogs_arguments_but_what_the_table_overrides():
    _, rows = images.load_table(TABLE)
    by_name = {i.name: i for i in rows}
    built = {i.name: i for i in rows}
    server = images.build_args(by_name["server"], built)
    assert server["APP_MODULE"] == "src.server.main:app" and server["APP_PORT"] == "8181"
    assert server["UV_GROUPS"] == "--group server" and server["WITH_PLAYWRIGHT"] == "false"
    assert server["PYTHON_IMAGE"] == "localhost/archon-e2e/python:3.12.12-bookworm"
    mcp = images.build_args(by_name["mcp"], built)
    assert mcp["UV_GROUPS"] == "--group mcp" and mcp["APP_MODULE"] == ""
    assert "server-reranking" in by_name["server"].differs and "Playwright" in by_name["server"].differs
    frontend = images.build_args(by_name["frontend"], built)
    assert frontend["NGINX_IMAGE"] == "docker.io/nginxinc/nginx-unprivileged:1.30.4-alpine-slim"


@pytest.mark.parametrize("ref, stored", [
    ("redis:7.4.11-bookworm", "docker.io/library/redis:7.4.11-bookworm"),
    ("pgvector/pgvector:0.8.6-pg17-bookworm", "docker.io/pgvector/pgvector:0.8.6-pg17-bookworm"),
    ("quay.io/prometheuscommunity/postgres-exporter:v0.20.1", "quay.io/prometheuscommunity/postgres-exporter:v0.20.1"),
    ("localhost:5001/archon/mcp:v0.1.0", "localhost:5001/archon/mcp:v0.1.0"),
    ("localhost/archon-e2e/pause:v1.36.1", "localhost/archon-e2e/pause:v1.36.1"),
])
def test_references_are_stored_as_containerd_names_them(ref, stored):
    assert images.normalize(ref) == stored


def test_an_image_built_on_one_the_table_does_not_list_first_is_refused(tmp_path):
    raw = json.loads(TABLE.read_text())
    raw["images"].reverse()
    table = tmp_path / "images.json"
    table.write_text(json.dumps(raw))
    with pytest.raises(images.ImageError, match=r"builds on .*which is not an earlier image"):
        images.load_table(table)


def test_the_cache_key_changes_with_every_input_and_only_then(tmp_path):
    _, rows = images.load_table(TABLE)
    image = next(i for i in rows if i.name == "redis")
    context = tmp_path / "context"
    shutil.copytree(images.RECIPES / "redis", context)
    args = {"DEBIAN_IMAGE": "localhost/archon-e2e/debian:bookworm"}
    key = images.image_key(image, args, images.tree_digest(context), ["parent-key"])
    assert key == images.image_key(image, dict(args), images.tree_digest(context), ["parent-key"])
    assert key != images.image_key(image, args, images.tree_digest(context), ["another-parent"])
    assert key != images.image_key(image, {**args, "X": "1"}, images.tree_digest(context), ["parent-key"])
    (context / "docker-entrypoint.sh").write_text("#!/bin/sh\nexec \"$@\"\n")
    assert key != images.image_key(image, args, images.tree_digest(context), ["parent-key"])
    (context / "docker-entrypoint.sh").chmod(0o600)
    before = images.tree_digest(context)
    (context / "docker-entrypoint.sh").chmod(0o755)
    assert images.tree_digest(context) != before, "a mode is part of the context"


def test_archons_source_must_match_its_pin(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "cache_dir", lambda: tmp_path / "cache")
    monkeypatch.setenv("ARCHON_SOURCE_DIR", str(tmp_path))
    pin = {"source": "archon.tar.gz", "sha256": "0" * 64}
    with pytest.raises(images.ImageError, match="is missing"):
        images.archon_source(pin)
    (tmp_path / "archon.tar.gz").write_bytes(b"not the pinned archive")
    with pytest.raises(images.ImageError, match="expected 0000"):
        images.archon_source(pin)


def test_placement_sends_pods_whose_images_are_all_on_the_node_there_unless_kept_simulated():
    policy, binding = placement.policy_manifests(["a/b:1", "c:2"], "archon-local")
    assert binding["spec"]["policyName"] == policy["metadata"]["name"] == placement.POLICY
    conditions = {c["name"]: c["expression"] for c in policy["spec"]["matchConditions"]}
    assert '["a/b:1", "c:2"]' in conditions["every-image-is-on-the-real-node"]
    assert "initContainers" in conditions["every-image-is-on-the-real-node"]
    kept = conditions["not-kept-simulated"]
    assert "request.namespace == 'archon-local'" in kept and '"archon-server"' in kept and '"archon-agents"' in kept
    patch = policy["spec"]["mutations"][0]["jsonPatch"]["expression"]
    assert node.LABEL[0] in patch and node.TAINT["effect"] in patch
    assert set(placement.KEPT_SIMULATED) == {"archon-server", "archon-agents"}
    assert all(len(why) > 40 for why in placement.KEPT_SIMULATED.values())


def test_the_node_names_what_it_lacks(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHON_E2E_CACHE", str(tmp_path))
    missing = node.missing_prerequisites()
    assert any("kubelet" in m and "make e2e-tools" in m for m in missing)
    assert all(str(tmp_path) in m for m in missing if "make e2e-tools" in m)


def test_the_static_volumes_follow_their_nodes():
    objects = node.storage_manifests()
    (storage_class,) = [o for o in objects if o["kind"] == "StorageClass"]
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"
    volumes = [o for o in objects if o["kind"] == "PersistentVolume"]
    real = [v for v in volumes if "local" in v["spec"]]
    assert len(real) == node.REAL_VOLUMES and len(volumes) == node.REAL_VOLUMES + 3 * node.KWOK_VOLUMES
    for volume in volumes:
        (term,) = volume["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
        (host,) = term["matchExpressions"][0]["values"]
        assert (host == node.NODE_NAME) == ("local" in volume["spec"]), volume["metadata"]["name"]


def test_the_stand_in_data_api_answers_reads_empty_and_writes_back(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, str(ROOT / "e2e" / "data_api_stand_in.py"), str(port)],
                              stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/archon_settings?select=*")
                break
            except OSError:
                time.sleep(0.05)
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b"[]")
        connection.request("GET", "/archon_settings?key=eq.X", headers={"Accept": "application/vnd.pgrst.object+json"})
        response = connection.getresponse()
        assert response.status == 406 and b"PGRST116" in response.read()
        connection.request("POST", "/archon_settings", body=b'{"key": "a"}',
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        assert (response.status, response.read()) == (201, b'[{"key": "a"}]')
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=10)
    logged = [json.loads(line) for line in out.splitlines()]
    assert [(r["method"], r["status"]) for r in logged] == [("GET", 200), ("GET", 406), ("POST", 201)]


def test_the_readme_lists_what_stays_simulated_and_why():
    section = (ROOT / "README.md").read_text().split("### The real node", 1)[1].split("\n## ", 1)[0]
    for app in placement.KEPT_SIMULATED:
        assert f"`{app}`" in section, app
    for row in json.loads(TABLE.read_text())["unavailable"]:
        assert f"`{row['image']}`" in section, row["image"]
