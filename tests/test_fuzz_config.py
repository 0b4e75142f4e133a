"""A sample of the config fuzzing `make fuzz` runs at scale (fuzz/), and the faults it found, each pinned."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from fuzz.config_cases import Case, cases, check, committed, decode, encode
from fuzz.plan_cases import YAML_BREAKS, plan, stack_file_text
from offline.analyzer import PolicyPack, PolicyPackError, StackContext
from offline.variant import copy_project
from policies.archon_policies import quantities
from stackconfig import ConfigError, load_stack_config
from stackconfig.errors import ConfigIssue
from tests.conftest import ROOT, plan_with
from tests.helpers import changed


@settings(max_examples=300, database=None, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(cases())
def test_a_fuzzed_config_is_valid_or_refused_one_line_per_problem_naming_a_key(case):
    assert check(case) in ("valid", "refused")


@settings(max_examples=4, database=None, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(cases())
def test_a_fuzzed_config_plans_or_exits_2_with_the_same_messages_and_no_file(tmp_path_factory, case):
    outcome = plan(case, tmp_path_factory.mktemp("fuzz"))
    assert outcome["problem"] is None, outcome


def test_the_checker_fails_a_message_of_two_lines():
    # What the fuzzer first caught: an unknown key holding a line break made its message two lines.
    raw = changed(committed("staging"), "archon:quota.requests", {"cpu": "6", "memory": "12Gi", "storage": "100Gi",
                                                                   "a\nb": 1})
    with pytest.raises(ConfigError) as caught:
        load_stack_config("staging", raw)
    (issue,) = caught.value.issues
    assert str(issue).startswith("archon:quota.requests.a\\nb = 1: unknown key") and "\n" not in str(issue)
    assert check(Case("staging", raw)) == "refused"
    assert str(ConfigIssue("x", None, "line\u2028two", has_value=False)) == "archon:x: line\\u2028two"


def test_the_checker_takes_a_provider_key_named_in_its_own_namespace():
    # The loader names a typo of a Kubernetes provider key as kubernetes:KEY, which the checker first took for a
    # message naming no key (193 of 10,000 cases).
    raw = committed("staging") | {"kubernetes:enableSecretMutablze": "null"}
    assert check(Case("staging", raw)) == "refused"
    assert check(Case("staging", raw, ["typo kubernetes:enableSecretMutable"],
                      ["kubernetes:enableSecretMutablze"])) == "refused"  # the added key, named


@pytest.mark.parametrize("size", ["9" * 40 + "Gi", "8Ei", "1e300"])
def test_a_quantity_beyond_what_kubernetes_holds_is_refused_not_a_traceback(size):
    # Found by the fuzzer: a 40-digit storage size overflowed the quota arithmetic (decimal.InvalidOperation).
    with pytest.raises(quantities.QuantityError, match="larger than Kubernetes can hold"):
        quantities.memory(size)
    raw = changed(committed("staging"), "archon:databases.qdrant.storage.size", size)
    with pytest.raises(ConfigError, match=r"archon:databases\.qdrant\.storage\.size = .*larger than Kubernetes"):
        load_stack_config("staging", raw)


def test_a_provider_setting_that_is_not_a_boolean_is_refused_by_the_offline_engine(tmp_path):
    # Found by the fuzzer: a huge list in kubernetes:enableConfigMapMutable reached the policy pack's environment
    # and failed its start with a traceback (E2BIG); the provider's own CheckConfig refuses it first.
    result = plan_with(tmp_path, "staging", lambda config: config.update(
        {"kubernetes:enableConfigMapMutable": list(range(30000))}))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: kubernetes:enableConfigMapMutable = [0, 1, 2") and \
        "must be true or false (a setting of the Kubernetes provider" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out" / "resources.json").exists()


def test_a_config_too_large_for_the_pack_environment_is_a_clear_error():
    context = StackContext(project="archon", stack="staging", organization="organization", dry_run=True,
                           config={"archon:big": "x" * 200_000}, secret_keys=[])
    with pytest.raises(PolicyPackError, match=r"could not start .*200\d{3} bytes as JSON.*128 KiB"):
        PolicyPack(ROOT / "policies", context)


def test_the_case_codec_round_trips_the_committed_stacks():
    for stack in ("staging", "production", "local"):
        raw = committed(stack)
        assert {k: json.loads(v) if v[:1] in "{[" else v for k, v in encode(decode(raw)).items()} == decode(raw)


def test_the_checker_matches_a_written_key_that_holds_dots():
    # The 10,000-case run's 6 "wrong verdicts": the loader named "archon:10.0.0.1/8_x" as written, and the checker,
    # splitting the path on dots, looked for a key "10" instead.
    raw = {**committed("staging"), "archon:10.0.0.1/8_x": ""}
    case = Case("staging", raw, ["unknown archon:10.0.0.1/8_x"])
    assert check(case) == "refused"
    with pytest.raises(ConfigError) as caught:
        load_stack_config("staging", raw)
    assert [issue.path for issue in caught.value.issues] == ["10.0.0.1/8_x"]


def test_a_stack_file_nested_too_deeply_to_read_is_refused_not_a_traceback(tmp_path):
    # Found by `make fuzz` in CI: two nesting mutations made a stack file PyYAML cannot read within Python's
    # recursion limit, and the offline plan died with a RecursionError traceback.
    project = copy_project(tmp_path / "project")
    value: object = "x"
    for _ in range(400):
        value = {"a": [value]}
    stack = project / "Pulumi.local.yaml"
    stack.write_text(stack.read_text() + "  archon:deep: " + json.dumps(value) + "\n")
    done = subprocess.run([sys.executable, "-m", "offline", "plan", "--stack", "local", "--project-dir", str(project),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == "error: Pulumi.local.yaml is nested too deeply to read (hundreds of levels)"
    assert not (tmp_path / "out").exists()


def test_the_stack_file_a_plan_case_writes_says_what_its_config_says():
    # Found by CI's make fuzz: a key holding U+0085 was written single-quoted and read back as a space (YAML 1.1
    # folds its line breaks; the CLI's libyaml port reads it the same way), so the plan's message quoted another
    # key than the loader's.
    raw = dict(committed("local"))
    raw["archon:limitRange"] = json.dumps({"default": {"cpu": {f"a{c}b": f"x{c}y" for c in YAML_BREAKS}}})
    written = yaml.safe_load(stack_file_text(Case("local", raw)).decode())
    assert written["config"]["archon:limitRange"] == json.loads(raw["archon:limitRange"])


@pytest.mark.parametrize("stack", ["staging", "production", "local"])
def test_the_committed_stacks_plan_from_the_stack_files_the_fuzzer_writes(tmp_path, stack):
    # The fuzzer wrote the offline placeholder of an unset declared secret as plain text, which the CLI (and now the
    # offline plan) refuses: every plan case exited 2, and the oracle did not ask why.
    result = plan(Case(stack, committed(stack)), tmp_path)
    assert (result["code"], result["problem"]) == (0, None), result["stderr"]


def test_a_value_that_holds_the_word_traceback_is_not_a_traceback(tmp_path):
    # A fuzzed key under databases.qdrant held {"Traceback": "["}; the refusal echoes it, and the oracle took the
    # echo for a crash of the plan.
    raw = changed(committed("staging"), "archon:databases.qdrant", {
        **decode(committed("staging"))["archon:databases"]["qdrant"], "x": {"Traceback": "["}})
    result = plan(Case("staging", raw, ["unknown databases.qdrant.x"], ["databases.qdrant.x"]), tmp_path)
    assert result["code"] == 2 and result["problem"] is None and "Traceback" in result["stderr"]
