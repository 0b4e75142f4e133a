"""A fuzzed config through the whole offline plan (`python -m offline plan` in its own process): it ends in a plan
(exit 0, or 1 for a mandatory policy finding) when the loader accepts the config, and in exit 2 with the loader's
messages, no traceback and no file written when it refuses it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from fuzz.config_cases import ROOT, Case
from offline.project import placeholder_value
from offline.variant import copy_project
from stackconfig import ConfigError, load_stack_config

YAML_BREAKS = ("\x85", "\u2028", "\u2029")  # line breaks to YAML 1.1 (PyYAML, and libyaml's port in the CLI)


class _Dumper(yaml.SafeDumper):
    """Writes a string holding a YAML line break double-quoted, where it is escaped: plain or single-quoted, the
    reader would fold it into a space, and the file would no longer say what the case's config says."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if any(c in value for c in YAML_BREAKS) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def stack_file_text(case: Case) -> bytes:
    """Pulumi.STACK.yaml for the case: structured values as YAML objects, the rest as strings. Text that is not
    UTF-8 (lone surrogates) is written as the bytes it would be, making the file itself invalid UTF-8."""
    original = yaml.safe_load((ROOT / f"Pulumi.{case.stack}.yaml").read_text())
    config = {}
    for key, value in case.raw.items():
        if value == placeholder_value(key):  # a declared secret the committed file leaves unset: unset here too
            continue
        try:
            config[key] = json.loads(value) if value.lstrip()[:1] in ("{", "[") else value
        except json.JSONDecodeError:
            config[key] = value
    original["config"] = config
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20000)  # PyYAML writes nesting recursively; the deepest cases need more than 1000 frames
    try:
        return yaml.dump(original, Dumper=_Dumper, allow_unicode=True, sort_keys=False).encode("utf-8",
                                                                                            "surrogatepass")
    finally:
        sys.setrecursionlimit(limit)


TRACEBACK = "Traceback (most recent call last):"  # Python's own header (a fuzzed value may hold the word)


@dataclass(frozen=True)
class Prepared:
    """A case ready to plan: the stack file it writes and the loader's verdict on it. Made in the fuzzer's own
    thread (writing deep nesting raises the process's recursion limit for a moment)."""

    case: Case
    text: bytes
    expected: ConfigError | None


def prepare(case: Case) -> Prepared:
    """The case's stack file, and what the loader says of its config (None: valid)."""
    try:
        load_stack_config(case.stack, case.raw)
        expected = None
    except ConfigError as error:
        expected = error
    return Prepared(case, stack_file_text(case), expected)


def plan(case: Case, workdir: Path, project: Path | None = None) -> dict:
    """Plan the case; what happened, and whether it held the property ('ok') or why not ('problem')."""
    return plan_prepared(prepare(case), workdir, project)


def plan_prepared(prepared: Prepared, workdir: Path, project: Path | None = None) -> dict:
    """Plan a prepared case in its own process (safe to run several at once, each in its own project copy)."""
    case, expected = prepared.case, prepared.expected
    project = project or copy_project(workdir / "project")
    (project / f"Pulumi.{case.stack}.yaml").write_bytes(prepared.text)
    out = workdir / "out"
    shutil.rmtree(out, ignore_errors=True)
    done = subprocess.run([sys.executable, "-m", "offline", "plan", "--stack", case.stack, "--project-dir",
                           str(project), "--out", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=600,
                          errors="replace")
    problem = None
    if TRACEBACK in done.stderr or TRACEBACK in done.stdout:
        problem = "traceback: " + done.stderr[-1500:]
    elif done.returncode == 2:
        written = sorted(p.name for p in out.rglob("*")) if out.exists() else []
        lines = [line for line in done.stderr.splitlines() if line.startswith("  ")]
        if written:
            problem = f"exit 2 but files written: {written[:5]}"
        elif not done.stderr.startswith("error: "):
            problem = "exit 2 without an error line: " + done.stderr[:300]
        elif not lines and len(done.stderr.strip().splitlines()) != 1:
            problem = "exit 2 with a message of several lines that lists no problem: " + done.stderr[:300]
        elif expected is None and ("invalid config for stack" in done.stderr or "no policy config" in done.stderr):
            # The program (or the plan's own setup) refusing what the loader accepts; the CLI's and the provider's
            # own checks (types of declared keys, secrets in plain text, provider booleans) may refuse it first.
            problem = "refused (exit 2) a config the loader accepts: " + done.stderr[:300]
        elif expected is not None and lines and lines != [f"  {issue}" for issue in expected.issues]:
            problem = f"messages differ from the loader's: {lines[:3]} vs {[str(i) for i in expected.issues][:3]}"
    elif done.returncode in (0, 1):
        if expected is not None:
            problem = f"planned (exit {done.returncode}) a config the loader refuses: {expected}"
        elif not (out / "resources.json").is_file():
            problem = "a plan without resources.json"
    else:
        problem = f"exit {done.returncode}: {done.stderr[-800:]}"
    return {"code": done.returncode, "problem": problem, "stderr": done.stderr[-400:]}
