"""`python -m offline plan --stack STACK`: the offline plan of a stack (see DESIGN.md, "The offline engine")."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

from offline.analyzer import PolicyPackError
from offline.charts import ChartValuesError, check_local_charts
from offline.diff import DiffError, diff, diff_json, diff_text, load_base, provider_mutable
from offline.graph import GraphError, check_graph_target, write_graph
from offline.policy_config import PolicyConfigError
from offline.policy_report import write_reports
from offline.policy_step import default_config_path, run_policies
from offline.project import ProjectError, read_stack
from offline.render import clear_plan, manifests, ordered, write_plan
from offline.report import json_report, text_report
from offline.runner import ProgramError, run_program

EXIT_OK, EXIT_POLICY, EXIT_INVALID, EXIT_DATA_LOSS = 0, 1, 2, 3


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, plan the stack, write the files; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m offline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    plan = commands.add_parser("plan", help="run the program under mocks and write the plan")
    plan.add_argument("--stack", required=True, help="stack name (reads Pulumi.STACK.yaml)")
    plan.add_argument("--out", type=Path, help="output folder (default: build/STACK in the project folder)")
    plan.add_argument("--policy-config", type=Path,
                      help="policy pack config (--policy-pack-config format; default: policies/config/STACK.json)")
    plan.add_argument("--policy-pack", type=Path, help="policy pack folder (default: policies/ in the project)")
    plan.add_argument("--format", choices=("text", "json"), default="text", help="what to print on stdout")
    plan.add_argument("--project-dir", type=Path, default=Path.cwd(), help="folder with Pulumi.yaml (default: .)")
    plan.add_argument("--diff", type=Path, metavar="BASE_DIR",
                      help="compare with an earlier plan's output folder; writes diff.json")
    plan.add_argument("--graph", type=Path, metavar="FILE",
                      help="draw the plan (components, resources, dependencies, findings) to FILE.svg or FILE.png")
    plan.add_argument("--fail-on-replace", action="store_true",
                      help="with --diff: exit 3 when a change replaces something holding data")
    args = parser.parse_args(argv)
    if args.fail_on_replace and args.diff is None:
        parser.error("--fail-on-replace needs --diff BASE_DIR (the earlier plan to compare with)")
    out = args.out or args.project_dir / "build" / args.stack
    return run_plan(args.stack, out, args.project_dir, args.policy_config, args.format, args.policy_pack,
                    args.diff, args.fail_on_replace, args.graph)


def run_plan(stack: str, out: Path, project_dir: Path, policy_config: Path | None, fmt: str,
             policy_pack: Path | None = None, diff_base: Path | None = None, fail_on_replace: bool = False,
             graph: Path | None = None) -> int:
    """Plan one stack; messages for invalid input go to stderr and nothing is written."""
    out, project_dir = out.resolve(), project_dir.resolve()
    pack_dir = (policy_pack or project_dir / "policies").resolve()
    try:
        base = load_base(diff_base) if diff_base is not None else None  # before clear_plan: it may be `out`
        if graph is not None:
            check_graph_target(graph)
    except (DiffError, GraphError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    clear_plan(out)
    try:
        inputs = read_stack(project_dir, stack)
        if policy_config is None and (pack_dir / "PulumiPolicy.yaml").is_file():
            policy_config = default_config_path(inputs, pack_dir)
        elif policy_config is not None and not (pack_dir / "PulumiPolicy.yaml").is_file():
            raise PolicyConfigError(f"--policy-config given, but {pack_dir} has no PulumiPolicy.yaml")
        recording = run_program(inputs)
        check_local_charts(recording, project_dir)
        outcome = (run_policies(inputs, recording, pack_dir, policy_config)
                   if (pack_dir / "PulumiPolicy.yaml").is_file() else None)
    except (ProjectError, ProgramError, ChartValuesError, PolicyConfigError, PolicyPackError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except Exception:  # any failure of the program is reported, never a partial plan
        print(f"error: the program failed for stack '{stack}':\n{traceback.format_exc()}", file=sys.stderr)
        return EXIT_INVALID
    write_plan(out, stack, recording)
    if outcome is not None:
        write_reports(out, stack, outcome.info, outcome.levels, outcome.items, ordered(recording), project_dir)
    count = len(manifests(recording))
    report = json_report if fmt == "json" else text_report
    printed = report(inputs, recording, out, count, outcome)
    # resources.json as written, read back once for the diff and the picture (the URN-keyed plan format)
    written = json.loads((out / "resources.json").read_text()) if base is not None or graph is not None else []
    changes = None
    if base is not None and diff_base is not None:
        changes = diff(base, written, provider_mutable(inputs.config))
        report_json = diff_json(diff_base, changes)
        (out / "diff.json").write_text(json.dumps(report_json, indent=2) + "\n")
        if fmt == "json":
            printed = json.dumps({**json.loads(printed), "diff": report_json["summary"]}, indent=2)
        else:
            printed += "\n\n" + diff_text(diff_base, changes)
    if graph is not None:
        findings = json.loads((out / "policy-report.json").read_text())["findings"] if outcome is not None else []
        try:
            write_graph(graph, stack, written, findings)
        except GraphError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_INVALID
        printed += f"\n\nPicture of the plan: {graph}"
    print(printed)
    if outcome is not None and outcome.summary["mandatory"]:
        return EXIT_POLICY
    if fail_on_replace and changes and any(c.data_loss for c in changes):
        print("error: --fail-on-replace: this change replaces something holding data (see DATA-LOSS RISK above)",
              file=sys.stderr)
        return EXIT_DATA_LOSS
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
