"""Where the harness keeps things: the tool cache outside the repo, and its run state under build/e2e."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
VERSIONS = ROOT / "tools" / "e2e" / "versions.env"
BUILD = ROOT / "build" / "e2e"
KUBECONFIG = BUILD / "kubeconfig"
STATE = BUILD / "state"


def cache_dir() -> Path:
    """The tool cache (binaries, Go caches), outside the repo: $ARCHON_E2E_CACHE or ~/.cache/archon-e2e."""
    return Path(os.environ.get("ARCHON_E2E_CACHE", Path.home() / ".cache" / "archon-e2e"))


def bin_dir() -> Path:
    """The built tools, one name per tool (links into the versioned cache entries)."""
    return cache_dir() / "bin"


def pulumi_home() -> Path:
    """PULUMI_HOME for the harness: the built provider plugins are installed here, nothing else."""
    return cache_dir() / "pulumi-home"


def versions() -> dict[str, str]:
    """The pinned versions (tools/e2e/versions.env)."""
    out = {}
    for line in VERSIONS.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out
