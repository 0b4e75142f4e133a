"""`python -m offline plan --graph FILE`: the plan as a picture (SVG or PNG) with components, dependencies, findings."""

from __future__ import annotations

import json
import struct
import xml.etree.ElementTree as ET

import pytest

from offline.__main__ import main
from offline.graph import FILL, plan_graph
from tests.helpers import require_tool

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(autouse=True)
def needs_dot():
    require_tool("dot", ".ci/run installs Debian's graphviz")


def test_the_svg_shows_every_resource_component_and_exemption(tmp_path, capsys):
    picture = tmp_path / "staging.svg"
    assert main(["plan", "--stack", "staging", "--out", str(tmp_path / "plan"), "--graph", str(picture)]) == 0
    assert f"Picture of the plan: {picture}" in capsys.readouterr().out
    root = ET.parse(picture).getroot()  # well-formed XML
    assert root.tag == f"{SVG}svg"
    resources = json.loads((tmp_path / "plan" / "resources.json").read_text())
    groups = {cls: [g for g in root.iter(f"{SVG}g") if g.get("class") == cls] for cls in ("node", "cluster", "edge")}
    assert len(groups["node"]) == sum(r["custom"] for r in resources) + 3  # and the three legend entries
    parents = {r["urn"]: r["parent"] for r in resources}
    drawn = set()  # components with a resource somewhere inside (Graphviz draws no empty cluster)
    for r in resources:
        parent = r["parent"] if r["custom"] else None
        while parent in parents and parents[parent] is not None:
            drawn.add(parent)
            parent = parents[parent]
    assert len(groups["cluster"]) == len(drawn) + 1  # and the legend
    assert len(groups["edge"]) > 100
    grey = [g for g in groups["node"] if any(p.get("fill") == FILL["exempted"] for p in g.iter(f"{SVG}path"))]
    texts = [" ".join(t.text or "" for t in g.iter(f"{SVG}text")) for g in grey]
    assert sorted(t.split()[1] for t in texts if not t.startswith("exempted")) == [
        "alloy", "kube-state-metrics", "prometheus"]


def test_a_png_is_a_png(tmp_path):
    picture = tmp_path / "production.png"
    assert main(["plan", "--stack", "production", "--out", str(tmp_path / "plan"), "--graph", str(picture)]) == 0
    data = picture.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 500 and height > 500


def test_findings_colour_and_label_their_resource():
    resources = [
        {"urn": "s", "type": "pulumi:pulumi:Stack", "name": "s", "parent": None, "custom": False, "dependencies": []},
        {"urn": "c", "type": "archon:components:Database", "name": "db", "parent": "s", "custom": False,
         "dependencies": []},
        {"urn": "a", "type": "kubernetes:apps/v1:StatefulSet", "name": "pg", "parent": "c", "custom": True,
         "dependencies": ["b"]},
        {"urn": "b", "type": "kubernetes:core/v1:Secret", "name": "creds", "parent": "c", "custom": True,
         "dependencies": []}]
    findings = [{"urn": "a", "policy": "containers-read-only-root-filesystem", "enforcement": "mandatory",
                 "exempted": False},
                {"urn": "a", "policy": "workloads-have-probes", "enforcement": "advisory", "exempted": False}]
    source = plan_graph("s", resources, findings).source
    assert f'fillcolor="{FILL["mandatory"]}"' in source
    assert "! containers-read-only-root-filesystem (mandatory)" in source and "cluster_" in source
    assert "->" in source  # the StatefulSet's dependency on its Secret


def test_an_unknown_picture_format_is_refused_before_planning(tmp_path, capsys):
    code = main(["plan", "--stack", "staging", "--out", str(tmp_path / "plan"), "--graph", str(tmp_path / "x.jpg")])
    assert code == 2
    assert "must end in .svg or .png" in capsys.readouterr().err
    assert not (tmp_path / "plan" / "resources.json").exists()


def test_waiting_for_a_whole_component_is_one_edge_to_its_cluster():
    def resource(urn, parent, custom=True, deps=()):
        return {"urn": urn, "type": f"t:{urn}", "name": urn, "parent": parent, "custom": custom,
                "dependencies": list(deps)}
    resources = [resource("s", None, False), resource("base", "s", False), resource("ns", "base"),
                 resource("quota", "base", deps=["ns"]), resource("app", "s", False),
                 resource("deploy", "app", deps=["ns", "quota"]), resource("svc", "app", deps=["ns"])]
    source = plan_graph("s", resources, []).source
    edges = [line.strip() for line in source.splitlines() if "->" in line]
    assert edges == ["quota -> ns", "deploy -> ns [lhead=cluster_base]", "svc -> ns"]
