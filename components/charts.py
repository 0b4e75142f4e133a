"""The Helm charts the stack installs, pinned, and where each comes from: upstream, a mirror, or a local folder."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple


class Chart(NamedTuple):
    """One pinned chart and its upstream repository."""

    name: str
    version: str
    repository: str


TRAEFIK = Chart("traefik", "41.3.0", "https://traefik.github.io/charts")  # Traefik v3.7.11
CERT_MANAGER = Chart("cert-manager", "v1.21.1", "https://charts.jetstack.io")


def local_folder(directory: str, chart: Chart) -> Path:
    """Where a chart sits in a local charts folder: CHART-VERSION/, as `helm pull --untar` lays it out."""
    return Path(directory).expanduser() / f"{chart.name}-{chart.version.lstrip('v')}"


def chart_version(folder: Path) -> str | None:
    """The version a chart folder's Chart.yaml declares ("" if it declares none), or None if it has no Chart.yaml."""
    import yaml

    chart_file = folder / "Chart.yaml"
    if not chart_file.is_file():
        return None
    return str((yaml.safe_load(chart_file.read_text()) or {}).get("version", ""))


def local_chart_problem(directory: str, chart: Chart) -> str | None:
    """Why the local folder cannot serve this chart (missing, or another version), or None."""
    folder = local_folder(directory, chart)
    found = chart_version(folder)
    if found is None:
        return (f"has no {folder.name}/Chart.yaml for the {chart.name} chart {chart.version}; fetch it with "
                f"`helm pull {chart.name} --repo {chart.repository} --version {chart.version} --untar "
                f"--untardir {directory}` and rename the folder to {folder.name}")
    if found.lstrip("v") != chart.version.lstrip("v"):
        return f"holds {chart.name} {found or '(no version)'} in {folder.name}/, but the stack pins {chart.version}"
    return None


def release_source(chart: Chart, repository: str | None, directory: str | None) -> dict:
    """The chart arguments of a helm.v3.Release: a local folder, or the chart by name from a repository."""
    import pulumi_kubernetes as k8s

    if directory:
        return {"chart": str(local_folder(directory, chart))}
    return {"chart": chart.name, "version": chart.version,
            "repository_opts": k8s.helm.v3.RepositoryOptsArgs(repo=repository or chart.repository)}
