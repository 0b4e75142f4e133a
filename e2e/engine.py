"""Run the program through the real Pulumi CLI: preview, up, refresh, destroy, outputs, export of one stack.

    python -m e2e.engine up --stack local [--set archon:KEY=VALUE ...] [--policy] [--expect-no-changes]
                            [--refresh] [--events FILE] [--target URN] [--clear-pending-creates]
    python -m e2e.engine cancel --stack local     (`pulumi cancel`: removes a killed CLI's lock)

Each operation first refreshes the project copy under build/e2e/project from the repo (e2e/project.py), with
the harness's settings and any --set applied, and runs there.

The CLI, the engine, the pulumi-kubernetes provider and the policy pack's runner are the real ones. Two pieces
could not be built from the Go module proxy and are replaced, each by Pulumi's own mechanism for it:
- pulumi-language-python: the program runs under the Automation API's language server (the `pulumi` package's
  own LanguageServer, which the CLI reaches through `--client`), one fresh Python process per operation, as
  the language host would start one;
- pulumi-random: `e2e.random_provider`, attached with PULUMI_DEBUG_PROVIDERS.
The policy pack runs as the CLI runs an executable pack (`e2e/bin/archon-policy-pack`), which starts it exactly as
that language host would. Exit code: the CLI's (0 ok, 255 failed), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import runpy
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

from e2e import paths
from e2e.project import PROJECT, prepare

PASSPHRASE = "archon-e2e"  # the local state's secrets passphrase: the state is throwaway, under build/e2e
POLICY_PACK = paths.ROOT / "e2e" / "bin" / "archon-policy-pack"
OPENAI_KEY = "sk-e2e-placeholder-not-a-key"  # nothing calls OpenAI on a simulated cluster


def state_url() -> str:
    """The file backend's URL. `metadata=skip`: gocloud's fileblob rewrites each blob's `.attrs` sidecar in place
    (os.Create, then encode; attrs.go), outside the rename that makes the checkpoint itself atomic, so a second
    CLI checking that the stack exists while the first saves a snapshot can read it empty and stop with "failed
    to load checkpoint: EOF" instead of reaching the lock. Pulumi reads none of the sidecar's fields."""
    paths.STATE.mkdir(parents=True, exist_ok=True)
    for stale in paths.STATE.rglob("*.attrs"):  # written before the option; a torn one would stay torn
        stale.unlink(missing_ok=True)
    return paths.STATE.as_uri() + "?metadata=skip"


@contextlib.contextmanager
def random_stand_in() -> Iterator[int]:
    """Serve the RandomPassword stand-in for the duration; yields its port."""
    process = subprocess.Popen([sys.executable, "-m", "e2e.random_provider"], stdout=subprocess.PIPE, text=True,
                               cwd=paths.ROOT)
    try:
        assert process.stdout is not None
        yield int(process.stdout.readline())
    finally:
        process.terminate()
        process.wait(timeout=10)


def cli_env(random_port: int, kubeconfig: Path, project: Path) -> dict[str, str]:
    """The environment every CLI invocation gets: its own PULUMI_HOME, file state, no downloads, the cluster."""
    return {
        "PULUMI_HOME": str(paths.pulumi_home()),
        "PULUMI_BACKEND_URL": state_url(),
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_DEBUG_PROVIDERS": f"random:{random_port}",
        "KUBECONFIG": str(kubeconfig),
        "ARCHON_POLICY_PYTHON": sys.executable,
        "ARCHON_POLICY_PACK": str(project / "policies"),
    }


def program(project: Path):
    """The project's __main__.py as the language host runs it: cwd and sys.path at the project."""
    def run() -> None:
        runpy.run_path(str(project / "__main__.py"), run_name="__main__")
    return run


def open_stack(stack: str, project: Path, env: dict[str, str]):
    """Select (or create) the stack in the file backend, with the project dir as the workspace."""
    import pulumi.automation as auto

    command = auto.PulumiCommand(root=str(paths.bin_dir().parent), skip_version_check=True)
    options = auto.LocalWorkspaceOptions(work_dir=str(project), pulumi_command=command, env_vars=env)
    workspace_stack = auto.create_or_select_stack(stack, project_name="archon", program=program(project),
                                                  opts=options)
    # Read from the stack file the CLI wrote (not `pulumi config`): one CLI call fewer before the operation.
    stack_file = yaml.safe_load((project / f"Pulumi.{stack}.yaml").read_text()) or {}
    if "archon:openaiApiKey" not in (stack_file.get("config") or {}):
        workspace_stack.set_config("openaiApiKey", auto.ConfigValue(OPENAI_KEY, secret=True))
    return workspace_stack


def run(operation: str, stack: str, project: Path, *, policy: bool, expect_no_changes: bool,
        refresh: bool, events: Path | None, extra: dict, clear_pending_creates: bool = False) -> int:
    """One CLI operation; prints the CLI's output as it comes, returns its exit code."""
    import pulumi.automation as auto

    os.chdir(project)
    sys.path.insert(0, str(project))
    kubeconfig = Path(os.environ.get("KUBECONFIG", paths.KUBECONFIG))
    event_file = events.open("w") if events else None

    def on_event(event) -> None:
        if event_file:
            # The engine's own timestamps are whole seconds; "received" is when the event reached us (the CLI
            # streams its event log as it goes), precise enough for the benchmark's chain of waits.
            record = {**event.__dict__, "received": time.time()}
            event_file.write(json.dumps(record, default=lambda o: getattr(o, "__dict__", str(o))) + "\n")
            event_file.flush()  # read while the operation runs (the fault scenarios interrupt on an event)

    with random_stand_in() as port:
        target = open_stack(stack, project, cli_env(port, kubeconfig, project))
        common = {"on_output": lambda line: print(line, flush=True), "color": "never"}
        policies = {"policy_packs": [str(POLICY_PACK)],
                    "policy_pack_configs": [str(project / "policies" / "config" / f"{stack}.json")]} if policy else {}
        try:
            if operation == "preview":
                result = target.preview(expect_no_changes=expect_no_changes or None, refresh=refresh or None,
                                        diff=True, on_event=on_event, **policies, **common, **extra)
                print(json.dumps({"changeSummary": result.change_summary}))
            elif operation == "up":
                result = target.up(expect_no_changes=expect_no_changes or None, refresh=refresh or None,
                                   on_event=on_event, **policies, **common, **extra)
                print(json.dumps({"changeSummary": result.summary.resource_changes}))
            elif operation == "refresh":
                result = target.refresh(expect_no_changes=expect_no_changes or None, on_event=on_event,
                                        clear_pending_creates=clear_pending_creates or None, **common, **extra)
                print(json.dumps({"changeSummary": result.summary.resource_changes}))
            elif operation == "destroy":
                result = target.destroy(on_event=on_event, **common, **extra)
                print(json.dumps({"changeSummary": result.summary.resource_changes}))
            elif operation == "unprotect":
                # `pulumi state unprotect URN` for each --target (the rotation procedure), or `--all` without any
                # (the documented way to let a destroy remove protected resources).
                urns = extra.get("target") or ["--all"]
                target.workspace.pulumi_command.run(["state", "unprotect", *urns, "--yes", "--stack", stack],
                                                    str(project), target.workspace.env_vars, print)
            elif operation == "cancel":
                target.cancel()
                print("cancelled")
            elif operation == "export":
                print(json.dumps(target.export_stack().deployment))
            elif operation == "outputs":
                print(json.dumps({key: ("[secret]" if value.secret else value.value)
                                  for key, value in target.outputs().items()}))
        except auto.CommandError as error:
            print(str(error), file=sys.stderr, flush=True)
            return 255
        finally:
            if event_file:
                event_file.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(prog="python -m e2e.engine", description=__doc__.splitlines()[0])
    parser.add_argument("operation", choices=["preview", "up", "refresh", "destroy", "outputs", "unprotect", "export",
                                              "cancel"])
    parser.add_argument("--stack", default="local")
    parser.add_argument("--set", action="append", default=[], dest="assignments", metavar="archon:KEY=VALUE",
                        help="stack config for this run (the value read as YAML), on top of Pulumi.STACK.yaml")
    parser.add_argument("--policy", action="store_true", help="run the policy pack with policies/config/STACK.json")
    parser.add_argument("--expect-no-changes", action="store_true")
    parser.add_argument("--refresh", action="store_true")
    parser.add_argument("--events", type=Path, help="write the engine's events here, one JSON object per line")
    parser.add_argument("--target", action="append", default=[], help="only this URN (repeatable)")
    parser.add_argument("--project-dir", type=Path, default=PROJECT,
                        help="the project copy to run in (another one is another checkout of the same stack)")
    parser.add_argument("--clear-pending-creates", action="store_true",
                        help="refresh: drop the creates a killed CLI left pending from the state")
    args = parser.parse_args(argv)
    extra = {"target": args.target} if args.target else {}
    if not (paths.ROOT / f"Pulumi.{args.stack}.yaml").is_file():
        parser.error(f"no stack {args.stack!r}: Pulumi.{args.stack}.yaml does not exist")
    project = prepare(args.stack, args.assignments, dest=args.project_dir)
    return run(args.operation, args.stack, project, policy=args.policy,
               expect_no_changes=args.expect_no_changes, refresh=args.refresh, events=args.events, extra=extra,
               clear_pending_creates=args.clear_pending_creates)


if __name__ == "__main__":
    sys.exit(main())
