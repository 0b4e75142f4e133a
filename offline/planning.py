"""Planning one stack: read its inputs, run the program under mocks, run the policy pack; nothing is printed or
written here (offline/__main__.py presents the result)."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path

from offline.analyzer import PolicyPackError
from offline.charts import ChartValuesError, check_local_charts
from offline.policy_config import PolicyConfigError
from offline.policy_step import PolicyOutcome, default_config_path, run_policies
from offline.project import ProjectError, StackInputs, read_stack
from offline.recorder import Recording
from offline.runner import ProgramError, run_program


@dataclass(frozen=True)
class PlanRequest:
    """What to plan: one stack of one project (an absolute folder), with which policy pack and config."""

    stack: str
    project_dir: Path
    policy_config: Path | None = None
    policy_pack: Path | None = None

    @property
    def pack_dir(self) -> Path:
        """The policy pack folder (default: policies/ in the project)."""
        return (self.policy_pack or self.project_dir / "policies").resolve()


@dataclass(frozen=True)
class PlanResult:
    """A finished plan: the stack's inputs, what the program registered, and the policy pack's verdicts."""

    inputs: StackInputs
    recording: Recording
    outcome: PolicyOutcome | None  # None when the project has no policy pack


class InvalidPlan(Exception):
    """The stack cannot be planned; the message says why (config, program, chart, policy config or pack)."""


def plan_stack(request: PlanRequest) -> PlanResult:
    """Plan the stack, or raise InvalidPlan naming the problem."""
    pack_dir = request.pack_dir
    has_pack = (pack_dir / "PulumiPolicy.yaml").is_file()
    try:
        inputs = read_stack(request.project_dir, request.stack)
        policy_config = request.policy_config
        if policy_config is None and has_pack:
            policy_config = default_config_path(inputs, pack_dir)
            if policy_config is None:
                # `make preview`/`up` pass policies/config/STACK.json, so the CLI would refuse the stack too.
                raise PolicyConfigError(
                    f"stack '{request.stack}' has no policy config ({pack_dir.name}/config/{request.stack}.json): "
                    "without one every rule runs at the pack's default level, mostly advisory; copy "
                    f"{pack_dir.name}/config/staging.json or production.json to it, or pass --policy-config")
        elif policy_config is not None and not has_pack:
            raise PolicyConfigError(f"--policy-config given, but {pack_dir} has no PulumiPolicy.yaml")
        recording = run_program(inputs)
        check_local_charts(recording, request.project_dir)
        outcome = run_policies(inputs, recording, pack_dir, policy_config) if has_pack else None
    except (ProjectError, ProgramError, ChartValuesError, PolicyConfigError, PolicyPackError) as exc:
        raise InvalidPlan(str(exc)) from exc
    except Exception as exc:  # any failure of the program is reported, never a partial plan
        raise InvalidPlan(f"the program failed for stack '{request.stack}':\n{traceback.format_exc()}") from exc
    return PlanResult(inputs, recording, outcome)
