"""Draw a plan with Graphviz: components as clusters, resources as nodes, dependencies as edges, findings marked."""

from __future__ import annotations

import shutil
from pathlib import Path

import graphviz

FORMATS = ("svg", "png")
# Fill colours by the worst finding on a resource.
FILL = {"mandatory": "#f4b6b6", "advisory": "#fde8a6", "exempted": "#dddddd", None: "#ffffff"}
LEGEND = (("mandatory", "mandatory violation"), ("advisory", "advisory finding"),
          ("exempted", "exempted finding (justified)"))


class GraphError(Exception):
    """The picture cannot be drawn (format, or the Graphviz program)."""


def check_graph_target(path: Path) -> str:
    """The output format for `path`, refusing an unknown suffix or a missing `dot` before anything runs."""
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise GraphError(f"--graph {path}: the file must end in .svg or .png")
    if shutil.which("dot") is None:
        raise GraphError("--graph needs the Graphviz `dot` program (Debian/Ubuntu: apt install graphviz)")
    return fmt


def plan_graph(stack: str, resources: list[dict], findings: list[dict]) -> graphviz.Digraph:
    """The Digraph of a plan (resources.json and policy-report.json findings)."""
    by_urn = {r["urn"]: r for r in resources}
    worst: dict[str, str] = {}
    notes: dict[str, list[str]] = {}
    for f in findings:
        level = "exempted" if f["exempted"] else f["enforcement"]
        if level == "disabled":
            continue
        rank = ("exempted", "advisory", "mandatory")
        if rank.index(level) >= rank.index(worst.get(f["urn"], "exempted")):
            worst[f["urn"]] = level
        notes.setdefault(f["urn"], []).append(f"{f['policy']} ({level})")
    root = next((r["urn"] for r in resources if r["parent"] is None), None)
    children: dict[str | None, list[dict]] = {}
    for r in resources:
        children.setdefault(r["parent"], []).append(r)

    graph = graphviz.Digraph(name=stack, graph_attr={
        "label": f"stack {stack}: {sum(r['custom'] for r in resources)} resources", "labelloc": "t",
        "rankdir": "LR", "compound": "true", "fontname": "Helvetica", "fontsize": "20"},
        node_attr={"shape": "box", "style": "rounded,filled", "fontname": "Helvetica", "fontsize": "10"},
        edge_attr={"color": "#8899aa", "arrowsize": "0.6"})
    anchor: dict[str, str] = {}  # component URN -> a node inside its cluster, for edges to the component

    def add(parent_graph: graphviz.Digraph, parent_urn: str | None) -> str | None:
        first = None
        for r in sorted(children.get(parent_urn, []), key=lambda r: (not r["custom"], r["type"], r["name"])):
            if r["custom"]:
                node = _node_id(r["urn"])
                kind = r["type"].rsplit(":", 1)[-1]
                label = f"{kind}\\n{r['name']}"
                if r["urn"] in notes:
                    label += "\\n" + "\\n".join(f"! {n}" for n in notes[r["urn"]])
                parent_graph.node(node, label=label, fillcolor=FILL[worst.get(r["urn"])],
                                  tooltip=r["urn"], **({"style": "rounded,filled,dashed"}
                                                       if worst.get(r["urn"]) == "exempted" else {}))
                first = first or node
            else:
                with parent_graph.subgraph(name=f"cluster_{_node_id(r['urn'])}") as cluster:
                    cluster.attr(label=f"{r['type'].rsplit(':', 1)[-1]} {r['name']}", style="rounded",
                                 color="#4a6fa5", fontname="Helvetica", fontsize="12")
                    inner = add(cluster, r["urn"])
                    if inner:
                        anchor[r["urn"]] = inner
                        first = first or inner
        return first

    add(graph, root)
    for r in resources:
        if not r["custom"]:
            continue
        for dep in sorted(set(r["dependencies"])):
            target = by_urn.get(dep)
            if target is None or dep == r["parent"]:
                continue
            if target["custom"]:
                graph.edge(_node_id(r["urn"]), _node_id(dep))
            elif dep in anchor:
                graph.edge(_node_id(r["urn"]), anchor[dep], lhead=f"cluster_{_node_id(dep)}")
    with graph.subgraph(name="cluster_legend") as legend:
        legend.attr(label="findings", style="rounded", color="#999999", fontname="Helvetica")
        for level, text in LEGEND:
            legend.node(f"legend_{level}", label=text, fillcolor=FILL[level])
    return graph


def _node_id(urn: str) -> str:
    return urn.split("::", 2)[-1].replace(":", "_").replace("$", "__").replace("/", "_").replace("-", "_")


def write_graph(path: Path, stack: str, resources: list[dict], findings: list[dict]) -> Path:
    """Render the plan picture to path (.svg or .png)."""
    fmt = check_graph_target(path)
    graph = plan_graph(stack, resources, findings)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        graph.render(outfile=path, format=fmt, cleanup=True)
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError) as exc:
        raise GraphError(f"--graph {path}: Graphviz failed: {exc}") from None
    path.with_suffix(".gv").unlink(missing_ok=True)
    return path
