"""Step 4 of the plan: run the policy pack over what the program registered."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pulumi.runtime.proto import analyzer_pb2

from offline.analyzer import PolicyPack, StackContext
from offline.policy_config import read_policy_config, reconcile, to_configure_request
from offline.policy_report import Finding, findings, summary
from offline.project import StackInputs
from offline.recorder import Recording
from offline.render import ordered


@dataclass
class PolicyOutcome:
    """The pack's answer for one plan."""

    info: analyzer_pb2.AnalyzerInfo
    levels: dict[str, str]
    config_source: str
    items: list[Finding]

    @property
    def summary(self) -> dict[str, int]:
        return summary(self.items)


def default_config_path(inputs: StackInputs, pack_dir: Path) -> Path | None:
    """policies/config/STACK.json when it exists: the stack's own enforcement levels and exemptions."""
    path = pack_dir / "config" / f"{inputs.stack}.json"
    return path if path.is_file() else None


def run_policies(inputs: StackInputs, recording: Recording, pack_dir: Path,
                 config_path: Path | None) -> PolicyOutcome:
    """Start the pack, configure it as the CLI would, analyze every resource and the stack."""
    file_config = read_policy_config(config_path) if config_path else {}
    source = _shown(config_path, inputs.project_dir) if config_path else "(no policy config)"
    resources = ordered(recording)
    context = StackContext(project=inputs.project, stack=inputs.stack, config=dict(inputs.config),
                           secret_keys=list(inputs.secret_keys))
    with PolicyPack(pack_dir, context) as pack:
        info = pack.info()
        # Python packs report a fixed version; the CLI uses the one in PulumiPolicy.yaml, and so do we.
        version = (yaml.safe_load((pack_dir / "PulumiPolicy.yaml").read_text()) or {}).get("version")
        if version:
            info.version = str(version)
        config = reconcile(info, file_config, source)
        pack.configure(to_configure_request(config))
        diagnostics = pack.analyze(resources)
    levels = {name: entry["enforcementLevel"] for name, entry in config.items()}
    return PolicyOutcome(info, levels, source, findings(diagnostics, info, levels, resources))


def _shown(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base))
    except ValueError:
        return str(path)
