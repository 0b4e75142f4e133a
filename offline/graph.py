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
    graph = graphviz.Digraph(name=stack, graph_attr={
        "label": f"stack {stack}: {sum(r['custom'] for r in resources)} resources", "labelloc": "t",
        "rankdir": "LR", "compound": "true", "fontname": "Helvetica", "fontsize": "20"},
        node_attr={"shape": "box", "style": "rounded,filled", "fontname": "Helvetica", "fontsize": "10"},
        edge_attr={"color": "#8899aa", "arrowsize": "0.6"})
    drawing = _Drawing(resources, findings)
    root = next((r["urn"] for r in resources if r["parent"] is None), None)
    drawing.add(graph, root)
    drawing.connect(graph)
    with graph.subgraph(name="cluster_legend") as legend:
        legend.attr(label="findings", style="rounded", color="#999999", fontname="Helvetica")
        for level, text in LEGEND:
            legend.node(f"legend_{level}", label=text, fillcolor=FILL[level])
    return graph


class _Drawing:
    """The plan's resources as nested clusters and nodes, marked by their findings, and their dependencies."""

    def __init__(self, resources: list[dict], findings: list[dict]) -> None:
        self.resources = resources
        self.by_urn = {r["urn"]: r for r in resources}
        self.children: dict[str | None, list[dict]] = {}
        for r in resources:
            self.children.setdefault(r["parent"], []).append(r)
        self.worst: dict[str, str] = {}
        self.notes: dict[str, list[str]] = {}
        rank = ("exempted", "advisory", "mandatory")
        for f in findings:
            level = "exempted" if f["exempted"] else f["enforcement"]
            if level == "disabled":
                continue
            if rank.index(level) >= rank.index(self.worst.get(f["urn"], "exempted")):
                self.worst[f["urn"]] = level
            self.notes.setdefault(f["urn"], []).append(f"{f['policy']} ({level})")
        self.anchor: dict[str, str] = {}  # component URN -> a node inside its cluster, for edges to the component

    def add(self, parent_graph: graphviz.Digraph, parent_urn: str | None) -> str | None:
        """Draw the children of `parent_urn` (components as clusters); return a node inside, if any."""
        first = None
        for r in sorted(self.children.get(parent_urn, []), key=lambda r: (not r["custom"], r["type"], r["name"])):
            if r["custom"]:
                node = _node_id(r["urn"])
                kind = r["type"].rsplit(":", 1)[-1]
                label = f"{kind}\\n{r['name']}"
                if r["urn"] in self.notes:
                    label += "\\n" + "\\n".join(f"! {n}" for n in self.notes[r["urn"]])
                worst = self.worst.get(r["urn"])
                parent_graph.node(node, label=label, fillcolor=FILL[worst], tooltip=r["urn"],
                                  **({"style": "rounded,filled,dashed"} if worst == "exempted" else {}))
                first = first or node
            else:
                with parent_graph.subgraph(name=f"cluster_{_node_id(r['urn'])}") as cluster:
                    cluster.attr(label=f"{r['type'].rsplit(':', 1)[-1]} {r['name']}", style="rounded",
                                 color="#4a6fa5", fontname="Helvetica", fontsize="12")
                    inner = self.add(cluster, r["urn"])
                    if inner:
                        self.anchor[r["urn"]] = inner
                        first = first or inner
        return first

    def connect(self, graph: graphviz.Digraph) -> None:
        """An edge per dependency; a resource that waits for every resource of a component (what a component's
        depends_on records) gets one edge to that component's cluster instead of one to each."""
        inside = self._resources_inside()
        outermost_first = sorted(inside, key=lambda urn: -len(inside[urn]))
        for r in self.resources:
            if not r["custom"]:
                continue
            deps = set(r["dependencies"]) - {r["parent"]}
            for component in outermost_first:
                members = inside[component]
                if component in self.anchor and members <= deps and not self._is_ancestor(component, r):
                    graph.edge(_node_id(r["urn"]), self.anchor[component], lhead=f"cluster_{_node_id(component)}")
                    deps -= members | {component}
            for dep in sorted(deps):
                target = self.by_urn.get(dep)
                if target is None:
                    continue
                if target["custom"]:
                    graph.edge(_node_id(r["urn"]), _node_id(dep))
                elif dep in self.anchor:
                    graph.edge(_node_id(r["urn"]), self.anchor[dep], lhead=f"cluster_{_node_id(dep)}")

    def _resources_inside(self) -> dict[str, set[str]]:
        """Every component's resources, at any depth (components with at least two)."""
        inside: dict[str, set[str]] = {}
        for r in self.resources:
            if not r["custom"]:
                continue
            parent = r["parent"]
            while parent in self.by_urn and self.by_urn[parent]["parent"] is not None:
                inside.setdefault(parent, set()).add(r["urn"])
                parent = self.by_urn[parent]["parent"]
        return {urn: members for urn, members in inside.items() if len(members) >= 2}

    def _is_ancestor(self, component: str, resource: dict) -> bool:
        parent = resource["parent"]
        while parent is not None:
            if parent == component:
                return True
            parent = self.by_urn[parent]["parent"] if parent in self.by_urn else None
        return False


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
