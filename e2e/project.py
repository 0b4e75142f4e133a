"""The project copy the real engine runs: the repo's program and stack file, plus the harness's settings.

The CLI writes into the stack file (the secrets' salt, the placeholder OpenAI key), so the harness never runs
on the repo itself; it refreshes a copy under build/e2e/project and keeps what the CLI wrote there.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from e2e import paths
from offline.variant import copy_project, set_path

PROJECT = paths.BUILD / "project"
KEPT_BY_THE_CLI = ("encryptionsalt", "secretsprovider", "encryptedkey")


def harness_settings(stack: str) -> list[str]:
    """What the harness sets on every stack it runs: charts from ../shared/charts (no chart repository here)."""
    return [f"archon:charts.directory={paths.SHARED / 'charts'}"]


def prepare(stack: str, assignments: list[str] | None = None, dest: Path = PROJECT) -> Path:
    """Refresh the copy from the repo with `assignments` applied; keeps the CLI's salt and secret config."""
    stack_file = dest / f"Pulumi.{stack}.yaml"
    if not stack_file.is_file():  # a second copy of the project (another checkout) shares the first's salt
        stack_file = PROJECT / f"Pulumi.{stack}.yaml"
    previous = yaml.safe_load(stack_file.read_text()) if stack_file.is_file() else {}
    stack_file = dest / f"Pulumi.{stack}.yaml"
    copy_project(dest)
    doc = yaml.safe_load((paths.ROOT / f"Pulumi.{stack}.yaml").read_text())
    for key in KEPT_BY_THE_CLI:
        if key in previous:
            doc[key] = previous[key]
    secret = (previous.get("config") or {}).get("archon:openaiApiKey")
    if secret is not None:
        doc["config"]["archon:openaiApiKey"] = secret
    for assignment in [*harness_settings(stack), *(assignments or [])]:
        set_path(doc["config"], assignment)
    stack_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    return dest
