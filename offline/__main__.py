"""`python -m offline plan --stack STACK`: the offline plan of a stack (see DESIGN.md, "The offline engine")."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from offline.diff import Change, DiffError, diff, diff_json, diff_text, load_base, provider_mutable
from offline.graph import GraphError, check_graph_target, write_graph
from offline.planning import InvalidPlan, PlanRequest, PlanResult, plan_stack
from offline.policy_report import write_reports
from offline.render import clear_plan, manifests, ordered, write_plan
from offline.report import json_report, text_report

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
    request = PlanRequest(args.stack, args.project_dir, args.policy_config, args.policy_pack)
    return run_plan(request, out, args.format, args.diff, args.fail_on_replace, args.graph)


def run_plan(request: PlanRequest, out: Path, fmt: str = "text", diff_base: Path | None = None,
             fail_on_replace: bool = False, graph: Path | None = None) -> int:
    """Plan one stack and present it; messages for invalid input go to stderr and nothing is written."""
    out = out.resolve()
    request = dataclasses.replace(request, project_dir=request.project_dir.resolve())
    try:
        base = load_base(diff_base) if diff_base is not None else None  # before clear_plan: it may be `out`
        if graph is not None:
            check_graph_target(graph)
    except (DiffError, GraphError) as exc:
        return _invalid(exc)
    clear_plan(out)
    try:
        result = plan_stack(request)
    except InvalidPlan as exc:
        return _invalid(exc)
    written = write_files(out, request, result)
    printed = (json_report if fmt == "json" else text_report)(
        result.inputs, result.recording, out, len(manifests(result.recording)), result.outcome)
    changes = None
    if base is not None and diff_base is not None:
        changes = diff(base, written, provider_mutable(result.inputs.config))
        printed = _with_diff(printed, fmt, out, diff_base, changes)
    if graph is not None:
        findings = json.loads((out / "policy-report.json").read_text())["findings"] if result.outcome else []
        try:
            write_graph(graph, request.stack, written, findings)
        except GraphError as exc:
            return _invalid(exc)
        printed += f"\n\nPicture of the plan: {graph}"
    print(printed)
    return _exit_code(result, fail_on_replace, changes)


def write_files(out: Path, request: PlanRequest, result: PlanResult) -> list[dict]:
    """Write the plan's files (manifests, resources, outputs, policy reports); return resources.json as written."""
    write_plan(out, request.stack, result.recording)
    if result.outcome is not None:
        outcome = result.outcome
        write_reports(out, request.stack, outcome.info, outcome.levels, outcome.items, ordered(result.recording),
                      request.project_dir)
    # read back once for the diff and the picture (the URN-keyed plan format)
    return json.loads((out / "resources.json").read_text())


def _with_diff(printed: str, fmt: str, out: Path, diff_base: Path, changes: list[Change]) -> str:
    """The report with the diff against the earlier plan added, which is also written to diff.json."""
    report_json = diff_json(diff_base, changes)
    (out / "diff.json").write_text(json.dumps(report_json, indent=2) + "\n")
    if fmt == "json":
        return json.dumps({**json.loads(printed), "diff": report_json["summary"]}, indent=2)
    return printed + "\n\n" + diff_text(diff_base, changes)


def _exit_code(result: PlanResult, fail_on_replace: bool, changes: list[Change] | None) -> int:
    """Mandatory findings first, then (when asked) a replacement of something holding data."""
    if result.outcome is not None and result.outcome.summary["mandatory"]:
        return EXIT_POLICY
    if fail_on_replace and changes and any(c.data_loss for c in changes):
        print("error: --fail-on-replace: this change replaces something holding data (see DATA-LOSS RISK above)",
              file=sys.stderr)
        return EXIT_DATA_LOSS
    return EXIT_OK


def _invalid(error: Exception) -> int:
    print(f"error: {error}", file=sys.stderr)
    return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
