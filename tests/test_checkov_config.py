"""The checkov skip list: every skipped check carries a one-line reason."""

from __future__ import annotations

import re

import yaml

from tests.conftest import ROOT

ENTRY = re.compile(r"^\s*-\s*(CKV2?_[A-Z0-9_]+)\s*(#\s*(?P<reason>\S.*))?$")


def skipped_with_reasons(text: str) -> dict[str, str | None]:
    doc = yaml.safe_load(text)
    skipped = doc.get("skip-check") or []
    reasons = {m[1]: m["reason"] for line in text.splitlines() if (m := ENTRY.match(line))}
    return {check: reasons.get(check) for check in skipped}


def test_every_skipped_check_has_a_reason():
    text = (ROOT / ".checkov.yaml").read_text()
    assert yaml.safe_load(text)["framework"] == ["kubernetes"]
    assert {check: reason for check, reason in skipped_with_reasons(text).items() if not reason} == {}


def test_the_reason_check_can_fail():
    text = "framework: [kubernetes]\nskip-check:\n  - CKV_K8S_15  # pinned tags make Always pointless\n  - CKV_K8S_40\n"
    assert skipped_with_reasons(text) == {"CKV_K8S_15": "pinned tags make Always pointless", "CKV_K8S_40": None}
