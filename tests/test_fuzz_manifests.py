"""A sample of the manifest fuzzing `make fuzz` runs at scale through the pack's gRPC path (fuzz/), the faults it
found in the pack, each pinned, and the judging logic (the API server's verdicts are in tests/e2e)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from fuzz.manifest_cases import (
    MAX_DEPTH,
    NOISE,
    SECRET_SIG,
    ManifestCase,
    _deep,
    add_noise,
    controls_in,
    hardened,
    is_secret,
    manifest_cases,
    plain_value,
    pod_spec,
)
from fuzz.manifest_run import BOUND_S, started_pack, wrong_verdict

# Captured from kube-apiserver v1.36.1 (a dry run in a namespace warning at "restricted").
WARNING = ('would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "app" must '
           'set securityContext.allowPrivilegeEscalation=false), restricted volume types (volume "host" uses '
           'restricted volume type "hostPath"), seccompProfile (container "app" must not set '
           'securityContext.seccompProfile.type to "Unconfined")')


@pytest.fixture(scope="module")
def pack():
    running = started_pack()
    yield running
    running.close()


def mandatory(pack, obj: dict) -> set[str]:
    case = ManifestCase(plain=obj, wire=obj)
    registration = case.registration(1)
    return {d.policy for d in pack.analyze([registration], deadline_s=BOUND_S)
            if d.enforcement == "mandatory" and d.urn == registration.urn}


@settings(max_examples=150, database=None, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(manifest_cases())
def test_the_pack_answers_every_fuzzed_manifest_within_the_bound(pack, case):
    pack.analyze([case.registration(1)], deadline_s=BOUND_S)  # a crash or a hang raises PolicyPackError


def envelopes(node) -> list[dict]:
    """Every secret envelope in a wire object."""
    found = [node] if is_secret(node) else []
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    return found + [e for child in children for e in envelopes(child)]


def test_noise_inside_a_secret_envelope_is_left_out():
    # The engine never sends a signature without its value; CI's make fuzz once deleted one (the SDK then refuses
    # the request before any rule: "Invalid secret encountered when unmarshaling resource property").
    wire = {"spec": {"path": "/tmp"}}
    assert add_noise(wire, ("spec", "path"), "secret") == 0
    for action in NOISE:
        assert add_noise(wire, ("spec", "path", "value"), action, "odd", "odder") is None, action
    assert wire == {"spec": {"path": {**SECRET_SIG, "value": "/tmp"}}}


@settings(max_examples=300, database=None, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(manifest_cases())
def test_the_noise_keeps_every_secret_envelope_whole(case):
    assert all(set(e) == {*SECRET_SIG, "value"} for e in envelopes(case.wire)), case.mutations


def test_a_selinux_type_of_the_wrong_type_is_flagged_not_a_crash(pack):
    # Found by the fuzzer: `type` holding an object made the rule raise "unhashable type: 'dict'".
    obj = hardened("Pod", "selinux")
    pod_spec(obj)["containers"][0]["securityContext"]["seLinuxOptions"] = {"type": {"nested": ["x"]}}
    assert "restricted-selinux-options" in mandatory(pack, obj)


def test_an_added_capability_of_the_wrong_type_is_flagged_not_a_crash(pack):
    # Found by CI's make fuzz: capabilities.add holding a list made the rule raise "unhashable type: 'list'".
    obj = hardened("Job", "caps")
    pod_spec(obj)["containers"][0]["securityContext"]["capabilities"] = {"drop": ["ALL"], "add": [[27135, 27135]]}
    assert "drop-all-capabilities" in mandatory(pack, obj)


def test_an_object_nested_as_deep_as_a_client_can_send_is_answered(pack):
    # Found by the fuzzer: the SDK decodes a request recursively; about 120 levels exhausted Python's default
    # recursion limit and the pack failed the call (policies/__main__.py raises it).
    obj = hardened("Job", "deep")
    pod_spec(obj)["containers"][0]["securityContext"]["capabilities"] = _deep(MAX_DEPTH)
    assert "drop-all-capabilities" in mandatory(pack, obj)


def test_a_secret_wrapped_setting_is_judged_by_its_value(pack):
    obj = hardened("Deployment", "secret")
    context = pod_spec(obj)["containers"][0]["securityContext"]
    context["allowPrivilegeEscalation"] = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                                           "value": True}
    assert plain_value(obj)["spec"]["template"]["spec"]["containers"][0]["securityContext"][
        "allowPrivilegeEscalation"] is True
    assert "no-privilege-escalation" in mandatory(pack, obj)


def test_the_warning_names_its_controls():
    assert controls_in(WARNING) == [("allowprivilegeescalation",), ("restrictedvolumes", "hostpathvolumes"),
                                    ("seccompprofile_restricted", "seccompprofile_baseline")]
    assert controls_in('would violate PodSecurity "restricted:latest": something new (container "a")') == [
        ("something new",)]


def test_a_control_the_pack_misses_is_a_wrong_verdict():
    case = ManifestCase(plain=hardened("Pod", "x"), wire={})
    assert wrong_verdict(case, {"no-privilege-escalation", "restricted-volume-types", "seccomp-runtime-default"},
                         [WARNING]) is None
    missed = wrong_verdict(case, {"no-privilege-escalation"}, [WARNING])
    assert missed == ("passed Pod that the API server says breaks restrictedvolumes/hostpathvolumes (expected "
                      "no-host-path-volumes or restricted-volume-types), seccompprofile_restricted/"
                      "seccompprofile_baseline (expected seccomp-runtime-default)")
    assert "(no rule for it)" in wrong_verdict(case, set(), ['would violate PodSecurity "r": new thing (x)'])
