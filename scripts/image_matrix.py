"""Print the delivery pipeline's image build matrix for a stack (`python scripts/image_matrix.py STACK`).

One entry per enabled service whose `images.prebuilt` reference is in the stack's own `images.registry` (the
images the pipeline publishes): where its source is (repository and commit from docker/sources.json, the folder
inside it), which Dockerfile and build arguments build it, and the tag to push. The pipeline builds each for
linux/amd64 and linux/arm64 with an SBOM and provenance, scans it, pushes it, and pins the stack to its digest.
"""

from __future__ import annotations

import json
import posixpath
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from components.images import DOCKERFILES  # noqa: E402
from components.service_catalog import BY_KEY  # noqa: E402
from offline.project import read_stack  # noqa: E402
from stackconfig import load_stack_config  # noqa: E402

SOURCES = json.loads((ROOT / "docker" / "sources.json").read_text())
PLATFORMS = "linux/amd64,linux/arm64"


def matrix(stack: str) -> dict:
    """The GitHub Actions matrix (`include` entries) of the images this stack's pipeline builds."""
    cfg = load_stack_config(stack, dict(read_stack(ROOT, stack).config))
    entries = []
    for key in cfg.enabled_services():
        reference = cfg.images.prebuilt.get(key, "")
        repository, _, tag = reference.rpartition(":")
        if not reference.startswith(f"{cfg.images.registry}/") or "@" in reference or not repository:
            continue  # built by the program from appSource, someone else's image, or already pinned by digest
        spec = BY_KEY[key]
        source = SOURCES[spec.source]
        entries.append({
            "service": key, "image": reference, "repository": repository, "tag": tag,
            "source-repository": source["repository"], "source-commit": source["commit"],
            "context": posixpath.normpath(posixpath.join(source["path"] or ".", spec.context)),
            "dockerfile": f"{DOCKERFILES}/{spec.dockerfile}",
            "build-args": "\n".join(f"{k}={v}" for k, v in spec.build_args.items()),
            "platforms": PLATFORMS})
    return {"include": entries}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/image_matrix.py STACK")
    print(json.dumps(matrix(sys.argv[1]), separators=(",", ":")))
