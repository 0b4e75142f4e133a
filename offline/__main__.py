"""`python -m offline plan --stack STACK`: the offline plan of a stack (see DESIGN.md, "The offline engine")."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

from offline.project import ProjectError, read_stack
from offline.render import clear_plan, manifests, write_plan
from offline.report import json_report, text_report
from offline.runner import ProgramError, run_program

EXIT_OK, EXIT_POLICY, EXIT_INVALID = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, plan the stack, write the files; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m offline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    plan = commands.add_parser("plan", help="run the program under mocks and write the plan")
    plan.add_argument("--stack", required=True, help="stack name (reads Pulumi.STACK.yaml)")
    plan.add_argument("--out", type=Path, help="output folder (default: build/STACK in the project folder)")
    plan.add_argument("--policy-config", type=Path, help="policy pack config file (--policy-pack-config format)")
    plan.add_argument("--format", choices=("text", "json"), default="text", help="what to print on stdout")
    plan.add_argument("--project-dir", type=Path, default=Path.cwd(), help="folder with Pulumi.yaml (default: .)")
    args = parser.parse_args(argv)
    out = args.out or args.project_dir / "build" / args.stack
    return run_plan(args.stack, out, args.project_dir, args.policy_config, args.format)


def run_plan(stack: str, out: Path, project_dir: Path, policy_config: Path | None, fmt: str) -> int:
    """Plan one stack; messages for invalid input go to stderr and nothing is written."""
    out = out.resolve()
    clear_plan(out)
    try:
        if policy_config is not None:
            _check_policy_config(policy_config)
        inputs = read_stack(project_dir.resolve(), stack)
        recording = run_program(inputs)
    except (ProjectError, ProgramError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except Exception:  # any failure of the program is reported, never a partial plan
        print(f"error: the program failed for stack '{stack}':\n{traceback.format_exc()}", file=sys.stderr)
        return EXIT_INVALID
    write_plan(out, stack, recording)
    count = len(manifests(recording))
    report = json_report if fmt == "json" else text_report
    print(report(inputs, recording, out, count))
    return EXIT_OK


def _check_policy_config(path: Path) -> None:
    try:
        json.loads(path.read_text())
    except FileNotFoundError:
        raise ProjectError(f"--policy-config: no such file {path}") from None
    except json.JSONDecodeError as exc:
        raise ProjectError(f"--policy-config: {path} is not valid JSON ({exc})") from None


if __name__ == "__main__":
    sys.exit(main())
