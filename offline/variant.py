"""Copy the project with some stack config changed, to plan a what-if (e.g. operator mode) without editing files.

    python -m offline.variant --stack staging --set archon:monitoring.mode=operator --into build/variant
then plan it with `python -m offline plan --stack staging --project-dir build/variant`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "components", "docker", "monitoring", "policies", "scripts",
                 "stackconfig")


def copy_project(dest: Path) -> Path:
    """Copy the Pulumi project (program, stacks, components, config code, policy pack) into dest."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in (*PROJECT_FILES, *sorted(path.name for path in ROOT.glob("Pulumi.*.yaml"))):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
        else:
            shutil.copy(src, dest / name)
    return dest


def edit_stack(project: Path, stack: str, edit: Callable[[dict], None]) -> None:
    """Apply `edit` to the config mapping of the copy's Pulumi.STACK.yaml."""
    stack_file = project / f"Pulumi.{stack}.yaml"
    doc = yaml.safe_load(stack_file.read_text())
    edit(doc["config"])
    stack_file.write_text(yaml.safe_dump(doc))


def set_path(config: dict, assignment: str) -> None:
    """Set `archon:section.key=value` (the value read as YAML) in a stack config mapping."""
    path, sep, raw = assignment.partition("=")
    top, _, rest = path.partition(".")
    if not sep or ":" not in top:
        raise ValueError(f"--set {assignment!r}: expected project:key.path=value, e.g. archon:monitoring.mode=operator")
    node = config.setdefault(top, {}) if rest else config
    keys = rest.split(".") if rest else [top]
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = yaml.safe_load(raw)


def main(argv: list[str] | None = None) -> int:
    """Command line: copy the project into --into with every --set applied to --stack."""
    parser = argparse.ArgumentParser(prog="python -m offline.variant", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="assignments")
    parser.add_argument("--into", type=Path, required=True)
    args = parser.parse_args(argv)
    if not (ROOT / f"Pulumi.{args.stack}.yaml").is_file():
        parser.error(f"no stack {args.stack!r}: Pulumi.{args.stack}.yaml does not exist")
    try:
        for assignment in args.assignments:
            set_path({}, assignment)  # reject malformed assignments before copying anything
    except ValueError as error:
        parser.error(str(error))
    project = copy_project(args.into)
    def apply(config: dict) -> None:
        for assignment in args.assignments:
            set_path(config, assignment)

    edit_stack(project, args.stack, apply)
    return 0


if __name__ == "__main__":
    sys.exit(main())
